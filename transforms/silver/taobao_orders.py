"""Taobao (C2C marketplace) orders: JSON lines, amounts in fen, pay_time in epoch seconds."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from transforms.bronze.raw_schemas import TAOBAO_ORDERS
from transforms.silver import common
from transforms.sources import ConformParams, SourceSpec

NAME = "taobao_orders"
PLATFORM = "taobao"
REQUIRED = (
    "order_id",
    "buyer_id",
    "seller_id",
    "cat_id",
    "quantity",
    "total_fee",
    "currency",
    "pay_time",
    "terminal",
    "group_buy",
    "global_buy",
)
CHANNELS = {"mobile": "mobile", "pc": "pc"}


def conform(bronze: DataFrame, *, params: ConformParams) -> DataFrame:
    """Every bronze row once, as a silver.orders row plus its reason (null when valid)."""
    amount = common.amount_from_fen("total_fee")
    typed = bronze.select(
        F.lit(PLATFORM).alias("platform"),
        F.col("order_id"),
        common.parse_long("buyer_id").alias("user_id"),
        F.concat(F.lit(f"{PLATFORM}:"), F.col("seller_id")).alias("seller_id"),
        *common.category_columns(common.category_from_taobao_id("cat_id")),
        common.parse_int("quantity").alias("quantity"),
        common.to_cny(amount, "currency", params.fx_to_cny).alias("amount_cny"),
        F.col("currency"),
        *common.event_time_columns(common.epoch_seconds("pay_time")),
        common.lookup(CHANNELS, "terminal").alias("channel"),
        common.lookup(common.TRUE_FALSE, "global_buy").alias("is_overseas"),
        common.lookup(common.TRUE_FALSE, "group_buy").alias("is_group_buy"),
        F.lit(False).alias("company_invoice"),
        F.lit(None).cast(T.StringType()).alias("travel_class"),
        F.lit(None).cast(T.IntegerType()).alias("hotel_star"),
        *common.order_constants(),
        common.any_blank(*REQUIRED).alias("_missing"),
        *common.bronze_carry(NAME, TAOBAO_ORDERS),
    )
    return common.orders_with_reason(typed, params)


SOURCE = SourceSpec(
    name=NAME,
    format="json",
    file_suffix=".json",
    raw_schema=TAOBAO_ORDERS,
    target="orders",
    natural_key=("platform", "order_id"),
    event_time_checked=True,
    user_checked=True,
    conform=conform,
)
