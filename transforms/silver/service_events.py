"""After-sales events (refunds, returns, disputes): CSV with a header, Asia/Shanghai wall-clock times."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from transforms.bronze.raw_schemas import SERVICE_EVENTS
from transforms.schemas import SILVER_SERVICE_EVENTS
from transforms.silver import common
from transforms.sources import ConformParams, SourceSpec

NAME = "service_events"
REQUIRED = ("ticket_id", "order_ref", "platform", "user_id", "type", "amount", "currency", "created_at", "status")
KINDS = {"REFUND": "refund", "RETURN": "return", "DISPUTE": "dispute"}


def conform(bronze: DataFrame, *, params: ConformParams) -> DataFrame:
    """Every bronze row once, as a silver.service_events row plus its reason (null when valid)."""
    typed = bronze.select(
        F.when(F.col("platform").isin(*params.platforms), F.col("platform")).alias("platform"),
        F.col("ticket_id"),
        F.col("order_ref").alias("order_id"),
        common.parse_long("user_id").alias("user_id"),
        common.lookup(KINDS, "type").alias("kind"),
        common.to_cny(common.parse_amount("amount"), "currency", params.fx_to_cny).alias("amount_cny"),
        F.col("status"),
        *common.event_time_columns(common.parse_local_time("created_at", "yyyy-MM-dd HH:mm:ss")),
        common.any_blank(*REQUIRED).alias("_missing"),
        F.col("currency"),
        *common.bronze_carry(NAME, SERVICE_EVENTS),
    )
    # A dispute may be about nothing refundable (amount 0.00); refunds and returns move money.
    money = common.money_checks(params, allow_zero=F.col("kind") == "dispute")
    invalid = F.col("user_id").isNull() | F.col("platform").isNull() | F.col("kind").isNull()
    return common.with_reason(typed, SILVER_SERVICE_EVENTS, invalid=invalid, money=money)


SOURCE = SourceSpec(
    name=NAME,
    format="csv",
    file_suffix=".csv",
    raw_schema=SERVICE_EVENTS,
    target="service_events",
    natural_key=("platform", "ticket_id"),
    event_time_checked=True,
    user_checked=True,
    member_field="user_id",
    conform=conform,
    reader_options={"header": "true"},
)
