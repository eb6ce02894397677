"""APASS program reviews (the selector's labels; a membership review also keeps or ends a membership): JSON
lines, reviewed_at ISO 8601 with offset."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from transforms.bronze.raw_schemas import APASS_REVIEWS
from transforms.schemas import SILVER_APASS_REVIEWS
from transforms.silver import common
from transforms.sources import ConformParams, SourceSpec

NAME = "apass_reviews"
REQUIRED = ("review_id", "member_id", "kind", "invited_month", "reviewed_at", "outcome")
KINDS = ("membership", "assessment")
OUTCOMES = ("kept", "removed")
# What a removal names (docs/apass.md#labels): an adversarial behaviour, or too little activity.
REMOVAL_REASONS = ("brushing", "resale", "serial_returns", "one_off_purchase", "low_activity")


def conform(bronze: DataFrame, *, params: ConformParams) -> DataFrame:
    """Every bronze row once, as a silver.apass_reviews row plus its reason (null when valid).

    ``params`` is unused (reviews carry no amounts) but kept for the common conformer signature.
    A removal needs a known reason; a kept member has none.
    """
    outcome = F.lower(F.col("outcome"))
    kind = F.lower(F.col("kind"))
    reason = F.when(outcome == "removed", F.col("reason"))
    typed = bronze.select(
        F.col("review_id"),
        common.parse_long("member_id").alias("user_id"),
        F.when(kind.isin(*KINDS), kind).alias("kind"),
        F.when(F.col("invited_month").rlike(r"^\d{4}-(0[1-9]|1[0-2])$"), F.col("invited_month")).alias("invited_month"),
        F.when(outcome.isin(*OUTCOMES), outcome).alias("outcome"),
        reason.alias("reason"),
        *common.event_time_columns(common.parse_offset_time("reviewed_at")),
        common.any_blank(*REQUIRED).alias("_missing"),
        (reason.isNotNull() & ~reason.isin(*REMOVAL_REASONS) | ((outcome == "removed") & reason.isNull())).alias(
            "_bad_reason"
        ),
        *common.bronze_carry(NAME, APASS_REVIEWS),
    )
    invalid = (
        F.col("user_id").isNull()
        | F.col("kind").isNull()
        | F.col("invited_month").isNull()
        | F.col("outcome").isNull()
        | F.col("_bad_reason")
    )
    return common.with_reason(typed, SILVER_APASS_REVIEWS, invalid=invalid)


SOURCE = SourceSpec(
    name=NAME,
    format="json",
    file_suffix=".json",
    raw_schema=APASS_REVIEWS,
    target="apass_reviews",
    natural_key=("review_id",),
    event_time_checked=True,
    user_checked=True,
    member_field="member_id",
    conform=conform,
)
