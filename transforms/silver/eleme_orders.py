"""Ele.me (food delivery) orders: JSON lines in camelCase, yuan amounts, Asia/Shanghai wall-clock times.

Ele.me is an ecosystem partner, not a marketplace: its orders have no
overseas, group-buy or company-invoice flavour and are always paid in CNY,
so the feed sends no currency. Its categories (meals, groceries, medicine
brought to the door) are of their own kind of goods, ``food_delivery``,
which the score caps with a row of its own (``scoring.caps.by_kind``).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from transforms.bronze.raw_schemas import ELEME_ORDERS
from transforms.silver import common
from transforms.sources import ConformParams, SourceSpec

NAME = "eleme_orders"
PLATFORM = "eleme"
REQUIRED = tuple(ELEME_ORDERS.fieldNames())  # every field the feed sends
CATEGORIES = {"RESTAURANT": "meal_delivery", "GROCERY": "grocery_delivery", "PHARMACY": "pharmacy_delivery"}
CHANNELS = {"APP": "mobile", "ALIPAY": "mobile", "WEB": "pc"}
CREATED_AT = "yyyy-MM-dd HH:mm:ss"


def conform(bronze: DataFrame, *, params: ConformParams) -> DataFrame:
    """Every bronze row once, as a silver.orders row plus its reason (null when valid)."""
    typed = bronze.select(
        *common.order_columns(
            platform=PLATFORM,
            order_id=F.col("orderId"),
            user_id=common.parse_long("userId"),
            seller=F.col("shopId"),
            category=common.lookup(CATEGORIES, "bizType"),
            quantity=common.parse_int("itemCount"),
            amount=common.parse_amount("totalPrice"),
            currency=F.lit("CNY"),
            event_time=common.parse_local_time("createdAt", CREATED_AT),
            channel=common.lookup(CHANNELS, "orderFrom"),
            params=params,
        ),
        common.any_blank(*REQUIRED).alias("_missing"),
        *common.bronze_carry(NAME, ELEME_ORDERS),
    )
    return common.orders_with_reason(typed, params)


SOURCE = SourceSpec(
    name=NAME,
    platform=PLATFORM,
    format="json",
    file_suffix=".json",
    raw_schema=ELEME_ORDERS,
    target="orders",
    natural_key=("platform", "order_id"),
    event_time_checked=True,
    user_checked=True,
    member_field="userId",
    conform=conform,
)
