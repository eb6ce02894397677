"""Taobao (C2C marketplace) orders: JSON lines, amounts in fen, pay_time in epoch seconds."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from transforms.bronze.raw_schemas import TAOBAO_ORDERS
from transforms.silver import common
from transforms.sources import ConformParams, SourceSpec

NAME = "taobao_orders"
PLATFORM = "taobao"
REQUIRED = tuple(TAOBAO_ORDERS.fieldNames())  # every field the feed sends
CHANNELS = {"mobile": "mobile", "pc": "pc"}


def conform(bronze: DataFrame, *, params: ConformParams) -> DataFrame:
    """Every bronze row once, as a silver.orders row plus its reason (null when valid)."""
    typed = bronze.select(
        *common.order_columns(
            platform=PLATFORM,
            order_id=F.col("order_id"),
            user_id=common.parse_long("buyer_id"),
            seller=F.col("seller_id"),
            category=common.category_from_taobao_id("cat_id"),
            quantity=common.parse_int("quantity"),
            amount=common.amount_from_fen("total_fee"),
            currency=F.col("currency"),
            event_time=common.epoch_seconds("pay_time"),
            channel=common.lookup(CHANNELS, "terminal"),
            is_overseas=common.lookup(common.TRUE_FALSE, "global_buy"),
            is_group_buy=common.lookup(common.TRUE_FALSE, "group_buy"),
            params=params,
        ),
        common.any_blank(*REQUIRED).alias("_missing"),
        *common.bronze_carry(NAME, TAOBAO_ORDERS),
    )
    return common.orders_with_reason(typed, params)


SOURCE = SourceSpec(
    name=NAME,
    platform=PLATFORM,
    format="json",
    file_suffix=".json",
    raw_schema=TAOBAO_ORDERS,
    target="orders",
    natural_key=("platform", "order_id"),
    event_time_checked=True,
    user_checked=True,
    member_field="buyer_id",
    conform=conform,
)
