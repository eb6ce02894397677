"""Fliggy (travel) bookings: Parquet with nested fields; booked_at is already an instant."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from transforms.bronze.raw_schemas import FLIGGY_BOOKINGS
from transforms.silver import common
from transforms.sources import ConformParams, SourceSpec

NAME = "fliggy_bookings"
PLATFORM = "fliggy"
REQUIRED = (
    "booking_id",
    "traveller.member_id",
    "product.type",
    "product.destination.country",
    "price.amount",
    "price.currency",
    "supplier_id",
    "booked_at",
    "channel",
)
CATEGORIES = {"FLIGHT": "travel_flight", "HOTEL": "travel_hotel", "TRAIN": "travel_train", "PACKAGE": "travel_package"}
CABINS = {"ECONOMY": "economy", "BUSINESS": "business", "FIRST": "first"}
CHANNELS = {"app": "mobile", "web": "pc"}


def conform(bronze: DataFrame, *, params: ConformParams) -> DataFrame:
    """Every bronze row once, as a silver.orders row plus its reason (null when valid)."""
    is_flight = F.col("product.type") == "FLIGHT"
    cabin = common.lookup(CABINS, "product.cabin_class")
    star = F.col("product.hotel_star")
    # Out-of-domain optional values: a cabin class nobody sells, a star rating outside 1..5.
    bad_optional = (
        is_flight & common.present_but_invalid("product.cabin_class", cabin.isNotNull())
    ) | common.present_but_invalid(star, star.between(1, 5))
    typed = bronze.select(
        *common.order_columns(
            platform=PLATFORM,
            order_id=F.col("booking_id"),
            user_id=F.col("traveller.member_id"),
            seller=F.col("supplier_id"),
            category=common.lookup(CATEGORIES, "product.type"),
            # A booking without a traveller count is for one traveller.
            quantity=F.coalesce(F.col("traveller.traveller_count"), F.lit(1)),
            amount=common.parse_amount("price.amount"),
            currency=F.col("price.currency"),
            event_time=F.col("booked_at"),
            channel=common.lookup(CHANNELS, "channel"),
            is_overseas=F.col("product.destination.country") != "CN",
            travel_class=F.when(is_flight, cabin),
            hotel_star=star,
            params=params,
        ),
        common.any_blank(*REQUIRED).alias("_missing"),
        bad_optional.alias("_bad_optional"),
        *common.bronze_carry(NAME, FLIGGY_BOOKINGS),
    )
    return common.orders_with_reason(typed, params, bad_value=F.col("_bad_optional"))


SOURCE = SourceSpec(
    name=NAME,
    platform=PLATFORM,
    format="parquet",
    file_suffix=".parquet",
    raw_schema=FLIGGY_BOOKINGS,
    target="orders",
    natural_key=("platform", "order_id"),
    event_time_checked=True,
    user_checked=True,
    member_field="traveller.member_id",
    conform=conform,
)
