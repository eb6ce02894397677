"""Tmall (B2C brand stores) orders: CSV with a header, yuan strings, ISO 8601 times with offset."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from transforms.bronze.raw_schemas import TMALL_ORDERS
from transforms.silver import common
from transforms.sources import ConformParams, SourceSpec

NAME = "tmall_orders"
PLATFORM = "tmall"
REQUIRED = (
    "TradeNo",
    "MemberId",
    "ShopId",
    "CategoryCode",
    "Qty",
    "PayAmount",
    "Currency",
    "PaidAt",
    "Channel",
    "CrossBorder",
    "InvoiceType",
    "Juhuasuan",
)
CHANNELS = {"APP": "mobile", "PC": "pc"}
YES_NO = {"Y": True, "N": False}
COMPANY_INVOICE = {"COMPANY": True, "PERSONAL": False, "NONE": False}


def conform(bronze: DataFrame, *, params: ConformParams) -> DataFrame:
    """Every bronze row once, as a silver.orders row plus its reason (null when valid)."""
    typed = bronze.select(
        F.lit(PLATFORM).alias("platform"),
        F.col("TradeNo").alias("order_id"),
        common.parse_long("MemberId").alias("user_id"),
        F.concat(F.lit(f"{PLATFORM}:"), F.col("ShopId")).alias("seller_id"),
        *common.category_columns(common.category_from_tmall_code("CategoryCode")),
        common.parse_int("Qty").alias("quantity"),
        common.to_cny(common.parse_amount("PayAmount"), "Currency", params.fx_to_cny).alias("amount_cny"),
        F.col("Currency").alias("currency"),
        *common.event_time_columns(common.parse_offset_time("PaidAt")),
        common.lookup(CHANNELS, "Channel").alias("channel"),
        common.lookup(YES_NO, "CrossBorder").alias("is_overseas"),
        common.lookup(YES_NO, "Juhuasuan").alias("is_group_buy"),
        common.lookup(COMPANY_INVOICE, "InvoiceType").alias("company_invoice"),
        F.lit(None).cast(T.StringType()).alias("travel_class"),
        F.lit(None).cast(T.IntegerType()).alias("hotel_star"),
        *common.order_constants(),
        common.any_blank(*REQUIRED).alias("_missing"),
        *common.bronze_carry(NAME, TMALL_ORDERS),
    )
    return common.orders_with_reason(typed, params)


SOURCE = SourceSpec(
    name=NAME,
    format="csv",
    file_suffix=".csv",
    raw_schema=TMALL_ORDERS,
    target="orders",
    natural_key=("platform", "order_id"),
    event_time_checked=True,
    user_checked=True,
    conform=conform,
    reader_options={"header": "true"},
)
