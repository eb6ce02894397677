"""Interaction feed of all platforms: JSON lines, ts in epoch milliseconds."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from transforms.bronze.raw_schemas import INTERACTIONS
from transforms.schemas import SILVER_INTERACTIONS
from transforms.silver import common
from transforms.sources import ConformParams, SourceSpec

NAME = "interactions"
REQUIRED = ("event_id", "user_id", "platform", "kind", "ts")
KINDS = ("review", "qa", "like", "live", "content", "seller_chat")


def conform(bronze: DataFrame, *, params: ConformParams) -> DataFrame:
    """Every bronze row once, as a silver.interactions row plus its reason (null when valid).

    A platform outside ``params.platforms`` is not valid.
    """
    rating = common.parse_int("rating")
    duration = common.parse_int("duration_s")
    # A review is its rating (review positivity, a credit dimension); a chat is with a seller
    # (sellers contacted, a persona trait).
    missing = (
        common.any_blank(*REQUIRED)
        | ((F.col("kind") == "review") & common.is_blank("rating"))
        | ((F.col("kind") == "seller_chat") & common.is_blank("target_id"))
    )
    bad_optional = common.present_but_invalid("rating", rating.between(1, 5)) | common.present_but_invalid(
        "duration_s", duration >= 0
    )
    platform = F.when(F.col("platform").isin(*params.platforms), F.col("platform"))
    typed = bronze.select(
        platform.alias("platform"),
        F.col("event_id"),
        common.parse_long("user_id").alias("user_id"),
        F.when(F.col("kind").isin(*KINDS), F.col("kind")).alias("kind"),
        # Targets are the platform's seller ids: written "<platform>:<id>" like silver.orders.seller_id.
        F.when(~common.is_blank("target_id"), F.concat(platform, F.lit(":"), F.col("target_id"))).alias("target_id"),
        rating.alias("rating"),
        (rating >= 4).alias("is_positive"),
        duration.alias("duration_s"),
        *common.event_time_columns(common.epoch_millis("ts")),
        missing.alias("_missing"),
        bad_optional.alias("_bad_optional"),
        *common.bronze_carry(NAME, INTERACTIONS),
    )
    invalid = F.col("user_id").isNull() | F.col("platform").isNull() | F.col("kind").isNull() | F.col("_bad_optional")
    return common.with_reason(typed, SILVER_INTERACTIONS, invalid=invalid)


SOURCE = SourceSpec(
    name=NAME,
    format="json",
    file_suffix=".json",
    raw_schema=INTERACTIONS,
    target="interactions",
    natural_key=("platform", "event_id"),
    event_time_checked=True,
    user_checked=True,
    member_field="user_id",
    conform=conform,
)
