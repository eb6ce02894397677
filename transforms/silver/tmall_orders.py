"""Tmall (B2C brand stores) orders: CSV with a header, yuan strings, ISO 8601 times with offset."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from transforms.bronze.raw_schemas import TMALL_ORDERS
from transforms.silver import common
from transforms.sources import ConformParams, SourceSpec

NAME = "tmall_orders"
PLATFORM = "tmall"
REQUIRED = tuple(TMALL_ORDERS.fieldNames())  # every field the feed sends
CHANNELS = {"APP": "mobile", "PC": "pc"}
YES_NO = {"Y": True, "N": False}
COMPANY_INVOICE = {"COMPANY": True, "PERSONAL": False, "NONE": False}


def conform(bronze: DataFrame, *, params: ConformParams) -> DataFrame:
    """Every bronze row once, as a silver.orders row plus its reason (null when valid)."""
    typed = bronze.select(
        *common.order_columns(
            platform=PLATFORM,
            order_id=F.col("TradeNo"),
            user_id=common.parse_long("MemberId"),
            seller=F.col("ShopId"),
            category=common.category_from_tmall_code("CategoryCode"),
            quantity=common.parse_int("Qty"),
            amount=common.parse_amount("PayAmount"),
            currency=F.col("Currency"),
            event_time=common.parse_offset_time("PaidAt"),
            channel=common.lookup(CHANNELS, "Channel"),
            is_overseas=common.lookup(YES_NO, "CrossBorder"),
            is_group_buy=common.lookup(YES_NO, "Juhuasuan"),
            company_invoice=common.lookup(COMPANY_INVOICE, "InvoiceType"),
            params=params,
        ),
        common.any_blank(*REQUIRED).alias("_missing"),
        *common.bronze_carry(NAME, TMALL_ORDERS),
    )
    return common.orders_with_reason(typed, params)


SOURCE = SourceSpec(
    name=NAME,
    platform=PLATFORM,
    format="csv",
    file_suffix=".csv",
    raw_schema=TMALL_ORDERS,
    target="orders",
    natural_key=("platform", "order_id"),
    event_time_checked=True,
    user_checked=True,
    member_field="MemberId",
    conform=conform,
    reader_options={"header": "true"},
)
