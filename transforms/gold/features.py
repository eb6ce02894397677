"""gold.user_features: the 12-month roll-up of gold.user_month per member, as of a month.

Point in time: only months up to ``as_of``, each as batch ``as_of`` knew it
(its latest slice up to that batch), accounts known by that batch and
registered by the month's last day. Members without any event in the window are still members (the score
has a credit part for them too). The accounts and the 12 months of slices
are unioned, clustered by member once (before each is exploded into the
as-of months that see it) and aggregated; the sellers'
sketches are merged on the same clustering and joined back.

Every aggregation buffer is fixed-width, so Spark aggregates in a hash map:
one string or array among the aggregates makes it sort every row instead
(measured on the 100 k-member world, warm: the roll-up 9.2 s -> 5.9 s). Hence
amounts are summed in fen (longs) and published as decimals, the gender rides
through as a number, the sellers' sketches (arrays) are merged apart and
joined back by member, and interaction units are counted before they are
weighted: a sum of doubles depends on the order rows arrive in, and
incremental must equal full bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from transforms.gold.params import INTERACTION_KINDS
from transforms.gold.sketch import kmv_estimate, kmv_union
from transforms.gold.user_month import (
    NEXT_BATCH,
    by_platform,
    categories_in,
    cny,
    fen,
    known_by,
    merged_category_masks,
    platform_bits,
    platforms_in,
    with_next_batch,
)
from transforms.months import add_months
from transforms.schemas import AMOUNT_SUM, GOLD_USER_FEATURES, conform_to

# user_month count columns of each interaction kind
INTERACTION_COLUMNS = {"review": "reviews", "qa": "qa", "like": "likes", "live": "live", "content": "content"}
GENDERS = ("M", "F", "U")  # silver.accounts.gender; aggregated as its position in this list (1-based)
_ACCOUNT = ("registered_date", "identity_verified", "gender_code", "birth_year", "city_tier", "mobile_share")
_BY_PLATFORM = ("platforms", "spend_by_platform_cny")  # rolled up per platform, by position (_platform_mask, _spend_i)
_NOT_SUMMED = {
    "user_id",
    "month",
    "max_order_cny",
    "active_days_mask",
    "_platform_mask",
    "category_mask",
    "sellers_sketch",
    "chat_sellers_sketch",
}


def month_end(month: str | Column) -> Column:
    """The last calendar day of ``month`` (YYYY-MM, a string or a column)."""
    month = F.lit(month) if isinstance(month, str) else month
    return F.last_day(F.to_date(F.concat(month, F.lit("-01"))))


def _genders() -> Column:
    return F.array(*[F.lit(g) for g in GENDERS])


def _gender_code(gender: Column) -> Column:
    """1, 2, 3 for M, F, U (0 for anything else): a number Spark can aggregate in a hash map."""
    return F.array_position(_genders(), gender).cast("int")


def _gender(code: Column) -> Column:
    """The gender behind ``_gender_code`` (null for 0 or null)."""
    return F.when(code > 0, F.element_at(_genders(), code))


def window_months(as_of: str, months: int) -> list[str]:
    """The ``months`` calendar months ending with ``as_of``, oldest first."""
    return [add_months(as_of, -back) for back in range(months - 1, -1, -1)]


def literals_where(values: list[str], holds: Callable[[str], Column]) -> Column:
    """The ``values`` (in their order) for which ``holds(value)`` is true, as an array column: one CASE per
    value, each with the value a literal, which Spark compiles with the rest of the row. A lambda over an array
    of the values (``F.filter``) is interpreted for each element: in profiles of the roll-up, whose rows each see
    up to 13 as-of months, it was 6-12 % of the JVM's CPU samples, most of it date arithmetic per element."""
    return F.array_compact(F.array(*[F.when(holds(v), F.lit(v)) for v in values]))


def user_features(
    user_month: DataFrame,
    accounts: DataFrame,
    *,
    as_of_months: list[str],
    window: int,
    orders_monthly_cap: int,
    interaction_monthly_caps: dict[str, int],
    interaction_weights: dict[str, float],
    platforms: tuple[str, ...],
) -> DataFrame:
    """Roll the slices of ``window`` months known by batch M up to one row per member, for every M of
    ``as_of_months``, in one plan.

    Members are the accounts registered by the month's last day and known by
    its batch. Each month of the window is the month's slice as batch M knows
    it (the latest up to M: :func:`~transforms.gold.user_month.known_by`), so
    the monthly caps apply to whole months; the months roll up into the window
    on one shuffle by member. A slice (or an account) feeds every as-of month
    of the set that sees it: one explode, then one aggregation for all of them. ``platforms`` are the
    configured platforms (transforms.domain.platforms_of): per-platform spend
    and the platforms used are summed and OR-ed per platform, by position.
    """
    as_of_months = sorted(as_of_months)
    window_start = {m: add_months(m, -(window - 1)) for m in as_of_months}  # the first month of M's window
    oldest = window_start[as_of_months[0]]
    # Amounts (AMOUNT_SUM: 2 decimals) are summed as longs of fen: exact like decimals, and measured
    # 21 s -> 11 s for the roll-up of a 100 k-member world (Spark sums DECIMAL(22,2) as BigDecimals).
    decimals = {f.name for f in user_month.schema.fields if f.dataType == AMOUNT_SUM}
    # a slice counts as of M when its month is in M's window and it is the month as batch M knows it
    seen_by_slice = literals_where(
        as_of_months, lambda m: known_by(F.lit(m)) & F.col("month").between(window_start[m], m)
    )
    partials = user_month.filter(
        F.col("month").between(oldest, as_of_months[-1]) & (F.col("batch") <= as_of_months[-1])
    ).select(
        *[fen(F.col(c)).alias(c) if c in decimals else F.col(c) for c in user_month.columns if c not in _BY_PLATFORM],
        F.aggregate("platforms", F.lit(0), lambda mask, p: mask.bitwiseOR(platform_bits(p, platforms))).alias(
            "_platform_mask"
        ),
        *[
            fen(F.coalesce(F.col("spend_by_platform_cny")[p], F.lit(0))).alias(f"_spend_{i}")
            for i, p in enumerate(platforms)
        ],
    )
    spends = [f"_spend_{i}" for i in range(len(platforms))]
    seen_by_account = literals_where(
        as_of_months, lambda m: (F.col("registered_date") <= month_end(m)) & (F.col("ingest_month") <= m)
    )
    members = accounts.filter(F.col("ingest_month") <= as_of_months[-1]).select(
        "user_id",
        "ingest_month",
        *[_gender_code(F.col("gender")).alias(c) if c == "gender_code" else c for c in _ACCOUNT],
    )
    # Exploded after the shuffle by member, which both aggregations reuse: a slice crosses it once, not
    # once per as-of month that sees it (up to 12).
    shuffled = partials.unionByName(members, allowMissingColumns=True).repartition("user_id").transform(with_next_batch)
    rows = shuffled.select(
        F.explode(F.when(F.col("month").isNotNull(), seen_by_slice).otherwise(seen_by_account)).alias("as_of_month"),
        *[c for c in shuffled.columns if c not in ("batch", "ingest_month", NEXT_BATCH)],
    )

    summed = [c for c in partials.columns if c not in _NOT_SUMMED and c != "batch"]
    # still counts next month: after the first month of its as-of month's window (looked up among literals: no
    # date arithmetic per row)
    first_month = F.create_map(*[F.lit(v) for m in as_of_months for v in (m, window_start[m])])
    carry = F.col("month") > first_month[F.col("as_of_month")]
    # each month of the window is one slice (its latest, as M knows it): the monthly caps apply to its row
    # least() skips nulls: guard so the accounts' rows (no partials) count nothing, not the cap
    is_partial = F.col("month").isNotNull()
    orders_counted = F.when(is_partial, F.least(F.col("orders"), F.lit(orders_monthly_cap)))
    capped = {
        k: F.when(is_partial, F.least(F.col(INTERACTION_COLUMNS[k]), F.lit(interaction_monthly_caps[k])))
        for k in INTERACTION_KINDS
    }
    net_capped = F.col("capped_spend_cny") - F.col("capped_refund_cny")
    active_days = F.bit_count("active_days_mask").cast("long")

    def zero_sum(col: Column, dtype: T.DataType) -> Column:
        return F.coalesce(F.sum(col), F.lit(0)).cast(dtype)

    rolled = rows.groupBy("user_id", "as_of_month").agg(
        *[F.max(c).alias(c) for c in _ACCOUNT],
        F.count(F.when(F.col("orders") > 0, 1)).alias("months_active"),
        zero_sum(active_days, T.LongType()).alias("active_days"),
        *[F.sum(c).alias(c) for c in summed],
        F.max("max_order_cny").alias("max_order_cny"),
        F.bit_or("_platform_mask").alias("_platform_mask"),
        merged_category_masks(F.col("category_mask")).alias("category_mask"),
        zero_sum(orders_counted, T.LongType()).alias("scored_orders"),
        *[zero_sum(capped[k], T.LongType()).alias(f"_units_{k}") for k in INTERACTION_KINDS],
        zero_sum(F.when(carry, net_capped), T.LongType()).alias("_carry_net"),
        zero_sum(F.when(carry, orders_counted), T.LongType()).alias("carry_scored_orders"),
        zero_sum(F.when(carry, active_days), T.LongType()).alias("carry_active_days"),
        *[zero_sum(F.when(carry, capped[k]), T.LongType()).alias(f"_carry_units_{k}") for k in INTERACTION_KINDS],
    )
    # merging sketches is associative: the window's sketch straight from the slices, no month step
    has_sketch = F.col("sellers_sketch").isNotNull() | F.col("chat_sellers_sketch").isNotNull()
    sketches = (
        rows.filter(has_sketch)
        .groupBy("user_id", "as_of_month")
        .agg(
            kmv_union(F.col("sellers_sketch")).alias("_sellers"),
            kmv_union(F.col("chat_sellers_sketch")).alias("_chat_sellers"),
        )
    )
    rolled = rolled.join(sketches, on=["user_id", "as_of_month"], how="left")
    zero = F.lit(0).cast("long")

    def weighted_units(prefix: str) -> Column:
        return sum((F.col(prefix + k) * F.lit(float(interaction_weights[k])) for k in INTERACTION_KINDS), F.lit(0.0))

    summed_filled = [
        (cny(F.coalesce(F.col(c), zero)) if c in decimals else F.coalesce(F.col(c), zero)).alias(c)
        for c in summed
        if c not in spends
    ]
    age_years = F.months_between(month_end(F.col("as_of_month")), F.col("registered_date")) / 12
    return rolled.select(
        "user_id",
        "as_of_month",
        "registered_date",
        F.coalesce(F.round(F.greatest(age_years, F.lit(0.0)), 4), F.lit(0.0)).alias("account_age_years"),
        F.coalesce(F.col("identity_verified"), F.lit(False)).alias("identity_verified"),
        _gender(F.col("gender_code")).alias("gender"),
        "birth_year",
        "city_tier",
        F.col("mobile_share").alias("device_mobile_share"),
        "months_active",
        "active_days",
        *summed_filled,
        cny(F.col("max_order_cny")).alias("max_order_cny"),
        cny(
            F.greatest(F.coalesce(F.col("capped_spend_cny"), zero) - F.coalesce(F.col("capped_refund_cny"), zero), zero)
        ).alias("net_spend_cny"),
        cny(F.greatest(F.coalesce(F.col("spend_cny"), zero) - F.coalesce(F.col("refund_cny"), zero), zero)).alias(
            "net_gross_spend_cny"
        ),
        by_platform([cny(F.coalesce(F.col(c), zero)) for c in spends], platforms).alias("spend_by_platform_cny"),
        platforms_in(F.col("_platform_mask"), platforms).alias("platforms"),
        F.bit_count(F.coalesce(F.col("_platform_mask"), F.lit(0))).cast("long").alias("platforms_used"),
        categories_in(F.col("category_mask")).alias("categories_used"),
        kmv_estimate(F.col("_sellers")).alias("distinct_sellers"),
        kmv_estimate(F.col("_chat_sellers")).alias("chat_sellers"),
        "category_mask",
        "scored_orders",
        weighted_units("_units_").alias("interaction_units"),
        cny(F.greatest(F.col("_carry_net"), zero)).alias("carry_net_spend_cny"),
        "carry_scored_orders",
        "carry_active_days",
        weighted_units("_carry_units_").alias("carry_interaction_units"),
    ).transform(conform_to, GOLD_USER_FEATURES)
