"""Behavioural features of the persona segmentation, point in time from gold.user_features.

Shares and rates, so that spend size does not dominate the segments (the
published personas are told apart by *how* they shop: luxury and hobbies,
group buys, buying for the company, family and overseas). Counts that grow
without bound (orders, sellers contacted) enter as log10(1 + x). The catalogue
(``FEATURES``) is the table in docs/personas.md#persona-features.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from transforms.apass.indicators import number, ratio, top_platform_spend  # the selector's helpers
from transforms.domain import CATEGORY_GROUPS
from transforms.taxonomy import CATEGORIES

_MONTHS = 12.0


@dataclass(frozen=True)
class Feature:
    name: str
    definition: str
    expression: Callable[[], Column]


def _share(name: str) -> Callable[[], Column]:
    return lambda: ratio(number(name), number("spend_cny"))


def _log(value: Callable[[], Column]) -> Callable[[], Column]:
    return lambda: F.log10(F.lit(1.0) + F.greatest(value(), F.lit(0.0)))


def _hour_spread() -> Column:
    """Standard deviation of the hour (0-23, Shanghai) orders were placed at: time-poor members shop in a
    narrow evening slot, time-rich ones all day."""
    n = number("orders")
    mean = ratio(number("order_hour_sum"), n)
    return F.sqrt(F.greatest(ratio(number("order_hour_sq_sum"), n) - mean * mean, F.lit(0.0)))


FEATURES: tuple[Feature, ...] = (
    Feature("luxury_share", "spend on luxury and designer brands / genuine spend", _share("spend_luxury_cny")),
    Feature(
        "hobby_share",
        "spend on hobby categories (collectibles, gardening, photography, car parts, wine, tea) / genuine spend",
        _share("spend_hobby_cny"),
    ),
    Feature("group_buy_share", "group-buy spend / genuine spend", _share("group_buy_spend_cny")),
    Feature("orders_per_month_log", "log10(1 + genuine orders / 12)", _log(lambda: number("orders") / _MONTHS)),
    Feature(
        "aov_log", "log10(1 + average order value in CNY)", _log(lambda: ratio(number("spend_cny"), number("orders")))
    ),
    Feature(
        "category_breadth",
        f"taxonomy categories bought / {len(CATEGORIES)} (the taxonomy's size)",
        lambda: number("categories_used") / F.lit(float(len(CATEGORIES))),
    ),
    Feature(
        "sellers_contacted_log", "log10(1 + sellers chatted with, KMV estimate)", _log(lambda: number("chat_sellers"))
    ),
    Feature("office_share", "spend on office and business supplies / genuine spend", _share("spend_office_cny")),
    Feature(
        "company_invoice_share", "spend invoiced to a company / genuine spend", _share("company_invoice_spend_cny")
    ),
    Feature("overseas_share", "overseas (global buy) spend / genuine spend", _share("overseas_spend_cny")),
    Feature(
        "family_share",
        "spend on family categories (kitchen, groceries, home decor, baby) / genuine spend",
        _share("spend_family_cny"),
    ),
    Feature("jewelry_share", "spend on jewelry and jade / genuine spend", _share("spend_jewelry_cny")),
    Feature("travel_share", "spend on Fliggy travel / genuine spend", _share("spend_travel_cny")),
    Feature(
        "premium_travel_rate",
        "business or first class flights and 5-star hotels / genuine orders",
        lambda: ratio(number("premium_travel_orders"), number("orders")),
    ),
    Feature(
        "first_class_share",
        "first class flights / premium travel orders (0: premium but never first class)",
        lambda: ratio(number("first_class_orders"), number("premium_travel_orders")),
    ),
    Feature(
        "platform_loyalty",
        "the largest platform's share of genuine spend (low: compares prices across platforms)",
        lambda: ratio(top_platform_spend(), number("spend_cny")),
    ),
    Feature(
        "mobile_share",
        "orders placed on mobile / orders with a channel",
        lambda: ratio(number("mobile_orders"), number("mobile_orders") + number("pc_orders")),
    ),
    Feature("hour_spread", "standard deviation of the order hour (0-23, Shanghai) / 12", lambda: _hour_spread() / 12),
)
NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
# carried beside the features for the profiles, never clustered on
PROFILE_COLUMNS = ("gender", "birth_year", "city_tier", "score", "spend_cny", "aov_cny")


def persona_features(features: DataFrame, scores: DataFrame, *, month: str, min_score: int) -> DataFrame:
    """One row per member of the population (score >= ``min_score`` in ``month``): features and profile columns.

    ``features`` are gold.user_features rows, ``scores`` gold.scores rows;
    both are filtered to ``month`` here.
    """
    population = scores.filter((F.col("month") == month) & (F.col("score") >= min_score)).select("user_id", "score")
    rows = features.filter(F.col("as_of_month") == month).join(population, on="user_id", how="inner")
    return rows.select(
        "user_id",
        F.lit(month).alias("month"),
        "gender",
        "birth_year",
        "city_tier",
        "score",
        number("spend_cny").alias("spend_cny"),
        ratio(number("spend_cny"), number("orders")).alias("aov_cny"),
        *[F.coalesce(f.expression(), F.lit(0.0)).cast("double").alias(f.name) for f in FEATURES],
        *[_share(f"spend_{g}_cny")().alias(f"{g}_spend_share") for g in SPEND_GROUPS],
    )


# spend groups of the taxonomy whose shares the profiles rank as "top categories"
SPEND_GROUPS = tuple(g for g in CATEGORY_GROUPS if g != "whale")  # a one-off whale purchase says nothing of taste
