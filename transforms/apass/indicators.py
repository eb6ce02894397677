"""The APASS selector's indicators: 68 measures of spending power, credit and engagement per member.

Every indicator is computed point in time, as of a month, from the member's
row of ``gold.user_features`` (the 12-month roll-up), ``gold.scores`` (the
score and credit level of that month) and, for the month-to-month stability
measures, the member's ``gold.user_month`` slices of the window known by that
month's batch. Indicators are shares and rates where a raw amount would let
spend size dominate, and every one is a double (the model's input type).
The catalogue (``INDICATORS``) is the table in docs/apass.md#selector-indicators.

Demographics (gender, birth year, city tier) are *not* indicators: the
selector must not invite by them. They ride along for the profile check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from transforms.domain import CATEGORY_GROUPS

_COMPONENTS = ("purchase_amount", "purchase_frequency", "interaction", "credit")
_DAYS_PER_MONTH = 365.25 / 12
RECENT_MONTHS = 3  # recent_spend_share: the last quarter of the window


@dataclass(frozen=True)
class Indicator:
    name: str
    family: str  # spending | breadth | credit | engagement | score | stability
    window: str  # "12 months" | "account" | "month"
    definition: str
    expression: Callable[[], Column]


def number(name: str) -> Column:
    """The column as a double, 0 where it is null."""
    return F.coalesce(F.col(name).cast("double"), F.lit(0.0))


def ratio(numerator: Column, denominator: Column) -> Column:
    """numerator / denominator, 0 where the denominator is not positive (no orders: no rate)."""
    return F.when(denominator > 0, numerator / denominator).otherwise(F.lit(0.0))


def top_platform_spend() -> Column:
    """The genuine spend on the member's largest platform (0 without any): a measure of loyalty that
    holds for any set of configured platforms."""
    return F.coalesce(F.array_max(F.map_values(F.col("spend_by_platform_cny"))).cast("double"), F.lit(0.0))


def _share(name: str, of: str = "spend_cny") -> Callable[[], Column]:
    return lambda: ratio(number(name), number(of))


def _rate(name: str, per: str = "orders") -> Callable[[], Column]:
    return lambda: ratio(number(name), number(per))


def _col(name: str) -> Callable[[], Column]:
    return lambda: number(name)


_W = "12 months"
INDICATORS: tuple[Indicator, ...] = (
    # spending power
    Indicator(
        "net_spend_cny",
        "spending",
        _W,
        "capped spend net of capped refunds (the score's purchase amount)",
        _col("net_spend_cny"),
    ),
    Indicator(
        "gross_spend_cny",
        "spending",
        _W,
        "genuine spend: risk-flagged orders excluded, before refunds and caps",
        _col("spend_cny"),
    ),
    Indicator(
        "net_gross_spend_cny", "spending", _W, "genuine spend net of refunds, no caps", _col("net_gross_spend_cny")
    ),
    Indicator("orders", "spending", _W, "genuine orders", _col("orders")),
    Indicator("aov_cny", "spending", _W, "average order value: genuine spend / orders", _rate("spend_cny")),
    Indicator("max_order_cny", "spending", _W, "the largest genuine order", _col("max_order_cny")),
    Indicator(
        "max_order_share", "spending", _W, "largest order / genuine spend (one-off purchases)", _share("max_order_cny")
    ),
    Indicator("big_order_share", "spending", _W, "orders of 1,000 CNY or more / orders", _rate("big_orders")),
    Indicator("active_days", "spending", _W, "days with a genuine order", _col("active_days")),
    Indicator(
        "active_day_share",
        "spending",
        _W,
        "active days / days of the window",
        lambda: number("active_days") / F.lit(12 * _DAYS_PER_MONTH),
    ),
    Indicator("months_active", "spending", _W, "months with a genuine order", _col("months_active")),
    Indicator("orders_per_active_day", "spending", _W, "orders / active days", _rate("orders", "active_days")),
    # breadth: platforms, categories, sellers, channels
    Indicator("platforms_used", "breadth", _W, "platforms with a genuine order", _col("platforms_used")),
    Indicator(
        "top_platform_share",
        "breadth",
        _W,
        "spend on the member's largest platform / genuine spend",
        lambda: ratio(top_platform_spend(), number("spend_cny")),
    ),
    *[
        Indicator(f"{g}_share", "breadth", _W, f"spend on {g} categories / genuine spend", _share(f"spend_{g}_cny"))
        for g in CATEGORY_GROUPS
    ],
    Indicator("categories_used", "breadth", _W, "taxonomy categories bought", _col("categories_used")),
    Indicator("group_buy_share", "breadth", _W, "group-buy spend / genuine spend", _share("group_buy_spend_cny")),
    Indicator(
        "overseas_spend_share",
        "breadth",
        _W,
        "overseas (global buy) spend / genuine spend",
        _share("overseas_spend_cny"),
    ),
    Indicator("overseas_order_share", "breadth", _W, "overseas orders / orders", _rate("overseas_orders")),
    Indicator(
        "company_invoice_share",
        "breadth",
        _W,
        "spend invoiced to a company / genuine spend",
        _share("company_invoice_spend_cny"),
    ),
    Indicator(
        "mobile_order_share",
        "breadth",
        _W,
        "orders placed on mobile / orders with a channel",
        lambda: ratio(number("mobile_orders"), number("mobile_orders") + number("pc_orders")),
    ),
    Indicator("night_order_share", "breadth", _W, "orders placed 00:00-05:59 Shanghai / orders", _rate("night_orders")),
    Indicator(
        "premium_travel_orders",
        "breadth",
        _W,
        "business or first class flights and 5-star hotels",
        _col("premium_travel_orders"),
    ),
    Indicator("first_class_orders", "breadth", _W, "first class flights", _col("first_class_orders")),
    Indicator("distinct_sellers", "breadth", _W, "shops ordered from (KMV estimate)", _col("distinct_sellers")),
    Indicator(
        "orders_per_seller",
        "breadth",
        _W,
        "orders / shops ordered from (seller concentration)",
        _rate("orders", "distinct_sellers"),
    ),
    Indicator("chat_sellers", "breadth", _W, "sellers contacted (KMV estimate)", _col("chat_sellers")),
    # credit
    Indicator("refund_rate", "credit", _W, "refunds / orders", _rate("refunds")),
    Indicator("return_rate", "credit", _W, "returns / orders", _rate("returns")),
    Indicator("dispute_rate", "credit", _W, "disputes / orders", _rate("disputes")),
    Indicator("refund_amount_share", "credit", _W, "refunded amount / genuine spend", _share("refund_cny")),
    Indicator(
        "flagged_order_share",
        "credit",
        _W,
        "risk-flagged orders / all orders",
        lambda: ratio(number("flagged_orders"), number("orders") + number("flagged_orders")),
    ),
    Indicator(
        "flagged_spend_share",
        "credit",
        _W,
        "risk-flagged spend / all spend",
        lambda: ratio(number("flagged_spend_cny"), number("spend_cny") + number("flagged_spend_cny")),
    ),
    Indicator("account_age_years", "credit", "account", "years since registration", _col("account_age_years")),
    Indicator(
        "identity_verified",
        "credit",
        "account",
        "1 if the identity is verified",
        lambda: F.col("identity_verified").cast("double"),
    ),
    Indicator("credit_score", "credit", "month", "the credit score behind the level (0-100)", _col("credit_score")),
    Indicator(
        "credit_level_number",
        "credit",
        "month",
        "the credit level C0-C6 as 0-6",
        lambda: F.substring(F.col("credit_level"), 2, 1).cast("double"),
    ),
    # engagement
    Indicator("reviews", "engagement", _W, "reviews written", _col("reviews")),
    Indicator(
        "positive_review_rate", "engagement", _W, "positive reviews / reviews", _rate("positive_reviews", "reviews")
    ),
    Indicator("reviews_per_order", "engagement", _W, "reviews / orders (cash-back reviews run high)", _rate("reviews")),
    Indicator("qa", "engagement", _W, "questions and answers", _col("qa")),
    Indicator("likes", "engagement", _W, "likes", _col("likes")),
    Indicator("live", "engagement", _W, "live-stream sessions", _col("live")),
    Indicator("content", "engagement", _W, "content posts", _col("content")),
    Indicator(
        "live_minutes_per_session",
        "engagement",
        _W,
        "live-stream minutes / sessions",
        lambda: ratio(number("live_seconds") / 60, number("live")),
    ),
    Indicator("seller_chats", "engagement", _W, "chats with sellers", _col("seller_chats")),
    Indicator("seller_chats_per_order", "engagement", _W, "chats with sellers / orders", _rate("seller_chats")),
    Indicator(
        "interaction_units",
        "engagement",
        _W,
        "weighted, monthly-capped interactions (the score's input)",
        _col("interaction_units"),
    ),
    Indicator(
        "device_mobile_share",
        "engagement",
        "account",
        "share of sessions on mobile (account registry)",
        _col("device_mobile_share"),
    ),
    # the score
    Indicator("score", "score", "month", "the Taoqi score", _col("score")),
    *[
        Indicator(f"{c}_points", "score", "month", f"the score's {c.replace('_', ' ')} component", _col(f"{c}_points"))
        for c in _COMPONENTS
    ],
    Indicator("score_change", "score", "month", "score change since the month before (0 if new)", _col("score_change")),
    # month-to-month stability of spend (from gold.user_month)
    Indicator(
        "monthly_spend_cv",
        "stability",
        _W,
        "standard deviation / mean of monthly genuine spend (12 months)",
        _col("_monthly_spend_cv"),
    ),
    Indicator(
        "top_month_spend_share",
        "stability",
        _W,
        "the largest month's share of genuine spend",
        _col("_top_month_spend_share"),
    ),
    Indicator(
        "recent_spend_share",
        "stability",
        _W,
        f"genuine spend of the last {RECENT_MONTHS} months / of 12",
        _col("_recent_spend_share"),
    ),
    Indicator(
        "monthly_aov_cv",
        "stability",
        _W,
        "standard deviation / mean of the monthly order value (price variance)",
        _col("_monthly_aov_cv"),
    ),
)
NAMES: tuple[str, ...] = tuple(i.name for i in INDICATORS)
PROFILE_COLUMNS = ("gender", "birth_year", "city_tier")


def monthly_stability(user_month: DataFrame, keys: DataFrame, *, window: int) -> DataFrame:
    """Per (user_id, as_of_month) of ``keys``: how evenly genuine spend spreads over the window's months.

    Reads only the slices of the keys' members (``keys`` is small: candidates
    or labelled members, broadcast), of the window's months, known by the
    batch of ``as_of_month`` (each month's latest slice up to that batch).
    """
    # here, not at the top: gold.user_month's schema module imports this catalogue
    from transforms.gold.user_month import known_by, with_next_batch

    months_back = F.date_format(
        F.add_months(F.to_date(F.concat(F.col("as_of_month"), F.lit("-01"))), -(window - 1)), "yyyy-MM"
    )
    recent_from = F.date_format(
        F.add_months(F.to_date(F.concat(F.col("as_of_month"), F.lit("-01"))), -(RECENT_MONTHS - 1)), "yyyy-MM"
    )
    in_window = (
        (F.col("month") >= months_back) & (F.col("month") <= F.col("as_of_month")) & known_by(F.col("as_of_month"))
    )
    members = F.broadcast(keys.select("user_id").distinct())
    per_month = (
        user_month.select("user_id", "month", "batch", "spend_cny", "orders")
        .join(members, on="user_id", how="left_semi")
        .transform(with_next_batch)
        .join(F.broadcast(keys.select("user_id", "as_of_month").distinct()), on="user_id", how="inner")
        .filter(in_window)
        .groupBy("user_id", "as_of_month", "month")
        .agg(F.sum(F.col("spend_cny").cast("double")).alias("spend"), F.sum("orders").alias("orders"))
    )
    spend = F.col("spend")
    # months without a slice count as zero spend: the window always has `window` months
    mean = F.sum(spend) / F.lit(float(window))
    variance = F.greatest(F.sum(spend * spend) / F.lit(float(window)) - mean * mean, F.lit(0.0))
    aov = F.when(F.col("orders") > 0, spend / F.col("orders"))
    return per_month.groupBy("user_id", "as_of_month").agg(
        ratio(F.sqrt(variance), mean).alias("_monthly_spend_cv"),
        ratio(F.max(spend), F.sum(spend)).alias("_top_month_spend_share"),
        ratio(F.sum(F.when(F.col("month") >= recent_from, spend).otherwise(F.lit(0.0))), F.sum(spend)).alias(
            "_recent_spend_share"
        ),
        F.coalesce(ratio(F.stddev_pop(aov), F.avg(aov)), F.lit(0.0)).alias("_monthly_aov_cv"),
    )


def indicators(features: DataFrame, scores: DataFrame, user_month: DataFrame, *, window: int) -> DataFrame:
    """One row per (user_id, as_of_month) of ``features``: every indicator, plus score, level and demographics.

    ``features`` are gold.user_features rows (any months, usually few
    members), ``scores`` the gold.scores rows of the same members and months.
    """
    keyed_scores = scores.select(
        "user_id",
        F.col("month").alias("as_of_month"),
        "score",
        "credit_level",
        "credit_score",
        "score_change",
        *[f"{c}_points" for c in _COMPONENTS],
    )
    stability = monthly_stability(user_month, features.select("user_id", "as_of_month"), window=window)
    joined = features.join(keyed_scores, on=["user_id", "as_of_month"], how="inner").join(
        stability, on=["user_id", "as_of_month"], how="left"
    )
    return joined.select(
        "user_id",
        "as_of_month",
        "credit_level",
        *PROFILE_COLUMNS,
        *[F.coalesce(i.expression(), F.lit(0.0)).cast("double").alias(i.name) for i in INDICATORS],
    )
