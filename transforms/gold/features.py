"""gold.user_features: the 12-month roll-up of gold.user_month per member, as of a month.

Point in time: only months up to ``as_of`` and accounts registered by its
last day. Members without any event in the window are still members (the
score has a credit part for them too). One shuffle: the accounts and the
12 months of partials are unioned and grouped by member once.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from transforms.gold.params import INTERACTION_KINDS
from transforms.schemas import AMOUNT_SUM, GOLD_USER_FEATURES, conform_to

# user_month count columns of each interaction kind
INTERACTION_COLUMNS = {"review": "reviews", "qa": "qa", "like": "likes", "live": "live", "content": "content"}
_ACCOUNT = ("registered_date", "identity_verified", "gender", "birth_year", "city_tier", "mobile_share")
_NOT_SUMMED = {"user_id", "month", "max_order_cny", "active_days_mask", "platform_mask", "category_mask",
               "sellers_sketch", "chat_sellers_sketch"}


def month_end(month: str) -> Column:
    """The last calendar day of ``month`` (YYYY-MM)."""
    return F.last_day(F.to_date(F.lit(month + "-01")))


def window_months(as_of: str, months: int) -> list[str]:
    """The ``months`` calendar months ending with ``as_of``, oldest first."""
    year, month = (int(p) for p in as_of.split("-"))
    out = []
    for back in range(months - 1, -1, -1):
        y, m = divmod(year * 12 + month - 1 - back, 12)
        out.append(f"{y:04d}-{m + 1:02d}")
    return out


def user_features(user_month: DataFrame, accounts: DataFrame, *, as_of: str, window: int,
                  orders_monthly_cap: int, interaction_monthly_caps: dict[str, int],
                  interaction_weights: dict[str, float]) -> DataFrame:
    """Roll ``window`` months of partials up to one row per member as of ``as_of``."""
    months = window_months(as_of, window)
    partials = user_month.filter(F.col("month").isin(months))
    members = accounts.filter(F.col("registered_date") <= month_end(as_of)).select(
        "user_id", *_ACCOUNT)
    rows = partials.unionByName(members, allowMissingColumns=True)

    summed = [c for c in user_month.columns if c not in _NOT_SUMMED]
    carry = F.col("month") > months[0]  # the months that still count next month
    # least() skips nulls: guard so the accounts' rows (no partials) count nothing, not the cap
    is_partial = F.col("month").isNotNull()
    orders_counted = F.when(is_partial, F.least(F.col("orders"), F.lit(orders_monthly_cap)))
    units = F.when(is_partial, sum((F.least(F.col(INTERACTION_COLUMNS[k]), F.lit(interaction_monthly_caps[k]))
                                    * F.lit(float(interaction_weights[k])) for k in INTERACTION_KINDS), F.lit(0.0)))
    net_capped = F.col("capped_spend_cny") - F.col("capped_refund_cny")
    active_days = F.bit_count("active_days_mask").cast("long")

    def zero_sum(col: Column, dtype: T.DataType) -> Column:
        return F.coalesce(F.sum(col), F.lit(0)).cast(dtype)

    rolled = rows.groupBy("user_id").agg(
        *[F.max(c).alias(c) for c in _ACCOUNT],
        F.count(F.when(F.col("orders") > 0, 1)).alias("months_active"),
        zero_sum(active_days, T.LongType()).alias("active_days"),
        *[F.sum(c).alias(c) for c in summed],
        F.max("max_order_cny").alias("max_order_cny"),
        F.bit_or("platform_mask").alias("platform_mask"),
        F.bit_or("category_mask").alias("category_mask"),
        F.hll_union_agg("sellers_sketch").alias("_sellers"),
        F.hll_union_agg("chat_sellers_sketch").alias("_chat_sellers"),
        zero_sum(orders_counted, T.LongType()).alias("scored_orders"),
        zero_sum(units, T.DoubleType()).alias("interaction_units"),
        zero_sum(F.when(carry, net_capped), AMOUNT_SUM).alias("_carry_net"),
        zero_sum(F.when(carry, orders_counted), T.LongType()).alias("carry_scored_orders"),
        zero_sum(F.when(carry, active_days), T.LongType()).alias("carry_active_days"),
        zero_sum(F.when(carry, units), T.DoubleType()).alias("carry_interaction_units"),
    )
    zero = F.lit(0).cast(AMOUNT_SUM)
    summed_filled = [F.coalesce(F.col(c), F.lit(0)).alias(c) for c in summed]
    age_years = F.months_between(month_end(as_of), F.col("registered_date")) / 12
    return rolled.select(
        "user_id", F.lit(as_of).alias("as_of_month"),
        "registered_date",
        F.coalesce(F.round(F.greatest(age_years, F.lit(0.0)), 4), F.lit(0.0)).alias("account_age_years"),
        F.coalesce(F.col("identity_verified"), F.lit(False)).alias("identity_verified"),
        "gender", "birth_year", "city_tier", F.col("mobile_share").alias("device_mobile_share"),
        "months_active", "active_days", *summed_filled,
        "max_order_cny",
        F.greatest(F.coalesce(F.col("capped_spend_cny"), zero) - F.coalesce(F.col("capped_refund_cny"), zero), zero)
        .alias("net_spend_cny"),
        F.greatest(F.coalesce(F.col("spend_cny"), zero) - F.coalesce(F.col("refund_cny"), zero), zero)
        .alias("net_gross_spend_cny"),
        F.coalesce(F.col("platform_mask"), F.lit(0)).alias("platform_mask"),
        F.bit_count(F.coalesce(F.col("platform_mask"), F.lit(0))).cast("long").alias("platforms_used"),
        F.bit_count(F.coalesce(F.col("category_mask"), F.lit(0).cast("long"))).cast("long").alias("categories_used"),
        F.coalesce(F.hll_sketch_estimate("_sellers"), F.lit(0)).alias("distinct_sellers"),
        F.coalesce(F.hll_sketch_estimate("_chat_sellers"), F.lit(0)).alias("chat_sellers"),
        F.coalesce(F.col("category_mask"), F.lit(0).cast("long")).alias("category_mask"),
        "scored_orders", "interaction_units",
        F.greatest(F.col("_carry_net"), zero).alias("carry_net_spend_cny"),
        "carry_scored_orders", "carry_active_days", "carry_interaction_units",
    ).transform(conform_to, GOLD_USER_FEATURES)
