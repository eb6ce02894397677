"""Taopiaopiao (cinema and show tickets): TSV with a header, Asia/Shanghai wall-clock times."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from transforms.bronze.raw_schemas import TAOPIAOPIAO_TICKETS
from transforms.silver import common
from transforms.sources import ConformParams, SourceSpec

NAME = "taopiaopiao_tickets"
PLATFORM = "taopiaopiao"
# show_local (when the show is) is not needed by silver; a ticket without it is still an order.
REQUIRED = ("ticket_no", "user", "venue_id", "show_type", "seats", "price_yuan", "currency", "purchase_local", "client")
CATEGORIES = {"CINEMA": "cinema", "CONCERT": "shows", "DRAMA": "shows", "SPORTS": "shows"}
CHANNELS = {"app": "mobile", "pc": "pc"}


def conform(bronze: DataFrame, *, params: ConformParams) -> DataFrame:
    """Every bronze row once, as a silver.orders row plus its reason (null when valid)."""
    typed = bronze.select(
        F.lit(PLATFORM).alias("platform"),
        F.col("ticket_no").alias("order_id"),
        common.parse_long("user").alias("user_id"),
        F.concat(F.lit(f"{PLATFORM}:"), F.col("venue_id")).alias("seller_id"),
        *common.category_columns(common.lookup(CATEGORIES, "show_type")),
        common.parse_int("seats").alias("quantity"),
        common.to_cny(common.parse_amount("price_yuan"), "currency", params.fx_to_cny).alias("amount_cny"),
        F.col("currency"),
        *common.event_time_columns(common.parse_local_time("purchase_local", "yyyy/MM/dd HH:mm")),
        common.lookup(CHANNELS, "client").alias("channel"),
        F.lit(False).alias("is_overseas"),
        F.lit(False).alias("is_group_buy"),
        F.lit(False).alias("company_invoice"),
        F.lit(None).cast(T.StringType()).alias("travel_class"),
        F.lit(None).cast(T.IntegerType()).alias("hotel_star"),
        *common.order_constants(),
        common.any_blank(*REQUIRED).alias("_missing"),
        *common.bronze_carry(NAME, TAOPIAOPIAO_TICKETS),
    )
    return common.orders_with_reason(typed, params)


SOURCE = SourceSpec(
    name=NAME,
    format="csv",
    file_suffix=".tsv",
    raw_schema=TAOPIAOPIAO_TICKETS,
    target="orders",
    natural_key=("platform", "order_id"),
    event_time_checked=True,
    user_checked=True,
    conform=conform,
    reader_options={"header": "true", "sep": "\t"},
)
