"""Taopiaopiao (cinema and show tickets): TSV with a header, Asia/Shanghai wall-clock times."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

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
        *common.order_columns(
            platform=PLATFORM,
            order_id=F.col("ticket_no"),
            user_id=common.parse_long("user"),
            seller=F.col("venue_id"),
            category=common.lookup(CATEGORIES, "show_type"),
            quantity=common.parse_int("seats"),
            amount=common.parse_amount("price_yuan"),
            currency=F.col("currency"),
            event_time=common.parse_local_time("purchase_local", "yyyy/MM/dd HH:mm"),
            channel=common.lookup(CHANNELS, "client"),
            params=params,
        ),
        common.any_blank(*REQUIRED).alias("_missing"),
        *common.bronze_carry(NAME, TAOPIAOPIAO_TICKETS),
    )
    return common.orders_with_reason(typed, params)


SOURCE = SourceSpec(
    name=NAME,
    platform=PLATFORM,
    format="csv",
    file_suffix=".tsv",
    raw_schema=TAOPIAOPIAO_TICKETS,
    target="orders",
    natural_key=("platform", "order_id"),
    event_time_checked=True,
    user_checked=True,
    member_field="user",
    conform=conform,
    reader_options={"header": "true", "sep": "\t"},
)
