"""The members of the synthetic world: segment, behaviour parameters, demographics and hidden truth.

Each user draws a segment by share, then per-user parameters around the
segment's profile (lognormal activity and order value, demographics). The
profile of every segment is a setting (``generator.segments``,
docs/generator.md#members); nothing here is specific to one segment name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from transforms.synthetic.profiles import SegmentProfile
from transforms.synthetic.rand import choice, choice_fixed, normal, uniform

# Taobao opened on 2003-05-10: no account is older.
FIRST_REGISTRATION = date(2003, 5, 10)

SCALAR_PARAMS = (
    "orders_per_month",
    "activity_sigma",
    "active_month_prob",
    "aov_cny",
    "user_aov_sigma",
    "order_aov_sigma",
    "quantity_mean",
    "group_buy_share",
    "overseas_share",
    "mobile_share",
    "company_invoice_share",
    "interactions_per_month",
    "review_positive_rate",
    "seller_chats_per_month",
    "seller_pool",
    "refund_rate",
    "return_rate",
    "dispute_rate",
    "fake_order_share",
    "whale_order_cny",
    "male_share",
    "birth_year_mean",
    "birth_year_sd",
    "identity_verified_rate",
    "account_age_years",
    "peak_hour",
    "hour_spread",
    "hotel_star_mean",
    "elite_share",
    "elite_multiplier",
)
MIXES = ("platform_mix", "category_mix", "interaction_mix", "cabin_mix", "city_tier_mix")


@dataclass(frozen=True)
class HeavyUsers:
    """Members of a skewed world made heavy (``generator.skew``, transforms/synthetic/skew.py)."""

    ids: tuple[int, ...]
    segment: str  # the segment they join, whatever they drew
    registered_by: date  # they exist before the world starts, so their volume spans every month


def mix_keys(segments: dict[str, SegmentProfile], mix: str) -> list[str]:
    """All keys any segment uses in one mix, in first-seen order."""
    return list(dict.fromkeys(k for seg in segments.values() for k in getattr(seg, mix)))


def _per_segment(segment: Column, segments: dict[str, SegmentProfile], value) -> Column:
    expr = None
    for name, profile in segments.items():
        branch = F.lit(value(profile))
        expr = F.when(segment == name, branch) if expr is None else expr.when(segment == name, branch)
    return expr


def _cumulative(segment: Column, segments: dict[str, SegmentProfile], mix: str) -> dict[str, Column]:
    """Per-row cumulative weights of a mix (each segment normalised to 1)."""
    keys = mix_keys(segments, mix)
    out = {}
    for i, key in enumerate(keys):

        def upto(profile, i=i):
            weights = getattr(profile, mix)
            total = sum(weights.values())
            return sum(weights.get(k, 0.0) for k in keys[: i + 1]) / total

        out[key] = _per_segment(segment, segments, upto)
    return out


def population(
    ids: DataFrame, *, seed: int, segments: dict[str, SegmentProfile], world_end: date, heavy: HeavyUsers | None = None
) -> DataFrame:
    """One row per user (from ``ids.id``) with segment, parameters, demographics and truth columns.

    With ``heavy``, those members join ``heavy.segment`` and registered by
    ``heavy.registered_by``, and a boolean ``heavy`` column marks them.
    """
    user = F.col("id").alias("user_id")
    seg_col = choice_fixed(uniform(seed, "segment", "id"), {n: s.share for n, s in segments.items()})
    if heavy is None:
        base = ids.select(user, seg_col.alias("segment"))
    else:
        is_heavy = F.col("id").isin(*heavy.ids)
        base = ids.select(
            user, F.when(is_heavy, F.lit(heavy.segment)).otherwise(seg_col).alias("segment"), is_heavy.alias("heavy")
        )
    segment = F.col("segment")

    params = [
        _per_segment(segment, segments, lambda p, n=n: float(getattr(p, n))).alias(f"p_{n}") for n in SCALAR_PARAMS
    ]
    kind = _per_segment(segment, segments, lambda p: p.kind).alias("segment_kind")
    mixes = [col.alias(f"cum_{mix}_{key}") for mix in MIXES for key, col in _cumulative(segment, segments, mix).items()]
    with_params = base.select(*base.columns, kind, *params, *mixes)

    p = lambda name: F.col(f"p_{name}")  # noqa: E731 - reads as the profile's field
    is_elite = (F.col("segment_kind") == "persona") & (uniform(seed, "elite", "user_id") < p("elite_share"))
    multiplier = F.when(is_elite, p("elite_multiplier")).otherwise(F.lit(1.0))
    # Lognormal around the profile's mean: exp(sigma z - sigma^2 / 2) has mean 1.
    activity = p("orders_per_month") * F.exp(
        p("activity_sigma") * normal(seed, "activity", "user_id") - p("activity_sigma") ** 2 / 2
    )
    unit_price = p("aov_cny") * F.exp(p("user_aov_sigma") * normal(seed, "aov", "user_id"))
    age_days = p("account_age_years") * 365.25 * -F.log(F.greatest(uniform(seed, "age", "user_id"), F.lit(1e-12)))
    max_age_days = (world_end - FIRST_REGISTRATION).days
    birth_year = F.round(p("birth_year_mean") + p("birth_year_sd") * normal(seed, "birth", "user_id"))
    tiers = mix_keys(segments, "city_tier_mix")
    registered = F.date_sub(F.lit(world_end), F.least(age_days, F.lit(float(max_age_days))).cast("int"))
    if heavy is not None:
        registered = F.when(F.col("heavy"), F.least(registered, F.lit(heavy.registered_by))).otherwise(registered)

    return with_params.select(
        "*",
        is_elite.alias("elite"),
        (activity * F.sqrt(multiplier)).alias("order_rate"),
        (unit_price * F.sqrt(multiplier)).alias("unit_price"),
        # Genuine quality consumers also engage more (reviews, content): the elite multiplier reaches them too.
        (
            p("interactions_per_month") * F.sqrt(multiplier) * F.exp(0.5 * normal(seed, "inter", "user_id") - 0.125)
        ).alias("interaction_rate"),
        (p("seller_chats_per_month") * F.exp(0.4 * normal(seed, "chat", "user_id") - 0.08)).alias("chat_rate"),
        F.least(F.greatest(p("mobile_share") + 0.08 * normal(seed, "mobile", "user_id"), F.lit(0.0)), F.lit(1.0)).alias(
            "mobile_pref"
        ),
        F.when(uniform(seed, "gender", "user_id") < p("male_share"), F.lit("M")).otherwise(F.lit("F")).alias("gender"),
        F.least(F.greatest(birth_year, F.lit(1940.0)), F.lit(float(world_end.year - 16)))
        .cast("int")
        .alias("birth_year"),
        choice(uniform(seed, "tier", "user_id"), tiers, [F.col(f"cum_city_tier_mix_{t}") for t in tiers])
        .cast("int")
        .alias("city_tier"),
        (uniform(seed, "verified", "user_id") < p("identity_verified_rate")).alias("identity_verified"),
        registered.alias("registered_date"),
        F.pmod(F.xxhash64(F.lit(seed), F.lit("seller_base"), "user_id"), F.lit(1 << 30)).alias("seller_base"),
        F.when(F.col("segment_kind") == "persona", segment).otherwise(F.lit("other")).alias("persona"),
        F.when(F.col("segment_kind") == "adversary", segment).otherwise(F.lit("none")).alias("adversary_type"),
    )


def truth(users: DataFrame) -> DataFrame:
    """The hidden truth per user, for evaluation and tests only (no pipeline stage reads it)."""
    return users.select(
        "user_id",
        "segment",
        "persona",
        "adversary_type",
        "elite",
        F.col("elite").alias("genuine_quality"),
        F.round("order_rate", 4).alias("order_rate"),
        F.round("unit_price", 2).alias("unit_price"),
    )
