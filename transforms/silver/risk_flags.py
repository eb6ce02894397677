"""Platform risk control flags (suspected brushed orders): JSON lines, flagged_at ISO 8601 with offset."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from transforms.bronze.raw_schemas import RISK_FLAGS
from transforms.schemas import SILVER_RISK_FLAGS
from transforms.silver import common
from transforms.sources import ConformParams, SourceSpec

NAME = "risk_flags"
REQUIRED = ("flag_id", "order_ref", "platform", "user_id", "rule", "flagged_at")


def conform(bronze: DataFrame, *, params: ConformParams) -> DataFrame:
    """Every bronze row once, as a silver.risk_flags row plus its reason (null when valid).

    A platform outside ``params.platforms`` is not valid.
    """
    score = common.parse_double("risk_score")
    typed = bronze.select(
        F.when(F.col("platform").isin(*params.platforms), F.col("platform")).alias("platform"),
        F.col("flag_id"),
        F.col("order_ref").alias("order_id"),
        common.parse_long("user_id").alias("user_id"),
        F.col("rule"),
        score.alias("risk_score"),
        *common.event_time_columns(common.parse_offset_time("flagged_at")),
        common.any_blank(*REQUIRED).alias("_missing"),
        common.present_but_invalid("risk_score", score.isNotNull() & ~F.isnan(score)).alias("_bad_optional"),
        *common.bronze_carry(NAME, RISK_FLAGS),
    )
    invalid = F.col("user_id").isNull() | F.col("platform").isNull() | F.col("_bad_optional")
    return common.with_reason(typed, SILVER_RISK_FLAGS, invalid=invalid)


SOURCE = SourceSpec(
    name=NAME,
    format="json",
    file_suffix=".json",
    raw_schema=RISK_FLAGS,
    target="risk_flags",
    natural_key=("platform", "flag_id"),
    event_time_checked=True,
    user_checked=True,
    member_field="user_id",
    conform=conform,
)
