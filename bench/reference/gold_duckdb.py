"""DuckDB reference of all of gold for the latest month: the slices, the roll-up, the scores and the routing.

`taoqi aggregate` + `taoqi score` recompute gold from silver: the slices of
every batch (gold.user_month), the 12-month roll-up per member as of a month
(gold.user_features, transforms/gold/features.py), the score, grade and
credit level (gold.scores, transforms/gold/score.py) and the service queue
(gold.service_routing). This module computes the same tables for a month M
in one DuckDB connection, one query per part, each result materialized as a
DuckDB table:

- user_month: the slices of every batch up to M, by
  user_month_duckdb.user_month_sql (the same query that module checks);
- user_features: the roll-up as of M - 1 and M, from DuckDB's own slices
  (not Spark's), and the accounts of silver.accounts;
- scores: gold.scores of M, and gold.service_routing of M from it. M's
  change since M - 1 needs the score of M - 1, which is why the roll-up of
  M - 1 is computed too (as `taoqi score` does for the months of one plan).

Each table is then compared row for row, on every column, with Spark's rows
of month M (read from their Delta snapshot's Parquet files, as
user_month_duckdb reads gold.user_month); gold.user_month for every batch up
to M.

What is mirrored, exactly:
- Which slices count as of a month A: for each of the 12 months ending with
  A, the month's latest slice of a batch <= A (point in time: a batch after
  A never changes A's roll-up). The members are the accounts known by batch
  A and registered by A's last day, plus anyone with a slice.
- The roll-up: the monthly caps on orders and interactions apply to each
  month's slice, then the months add up into the window. "carry" columns
  leave out the window's oldest month.
- Amounts: Spark sums them in fen (longs, for its speed) and turns them
  back into decimal(22,2); here the decimals themselves are summed (DuckDB
  sums them exactly, in 128 bits; converting every slice to fen first cost
  more than the sums). Both are exact, so the sums are the same whatever
  the order of the rows.
- The sellers' sketches: the union of the window's sketches, the 256
  smallest hashes, and the estimate (exact below 256, else 255 / u_256,
  rounded). A member without any sketch counts 0 (Spark's size() of a null
  array is null under ANSI mode, so its estimate falls back to 0).
- Genders through their position in ("M", "F", "U"), as the roll-up carries them.
- Account age: Spark's months_between (whole months when the days of month
  agree or both are month ends, else the day difference over 31 days,
  rounded to 8 decimals), divided by 12.
- Spark's round() of a double is HALF_UP on the double's shortest decimal
  form (round(0.285, 2) is 0.29, though the double is 0.28499...); DuckDB's
  round works on the binary value. The macro spark_round reproduces Spark's:
  the half-way point between two results, as a double, decides. It rounds
  the account age (4 decimals), the credit score (2), the components and the
  sketch estimate (0).
- Every double is computed with the same operations in the same order as
  Spark's expressions (sums of weighted terms from 0.0, left to right;
  integers cast to double before dividing; literals as doubles, never as
  DuckDB's decimal literals), so the doubles match bit for bit; the
  comparison therefore needs no tolerance. pow() is the C library's in
  DuckDB and Java's Math.pow in Spark: both are within an ulp of exact and
  agreed on every member of the 10 k- and 30 k-member test worlds; were
  they to differ, it would show as a mismatching credit_score or component,
  not be hidden by a tolerance.

Like user_month_duckdb, the file lists come from Spark's Delta snapshot
(DuckDB's delta extension cannot be installed here) and every table's row
count is checked against Spark's. The timed figure of each part is its
query alone, the result materialized as a DuckDB table (Spark's figures
include writing Delta); the scores part includes the routing, a projection
of the scores. Listing the files is timed apart.

    python -m bench.reference.gold_duckdb --root LAKEHOUSE [--month M] [--threads N]
        [--conf FILE] [--set key=value]   # prints rows, seconds, and whether each gold table matches
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field

import duckdb
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from bench.reference.user_month_duckdb import KEY as USER_MONTH_KEY
from bench.reference.user_month_duckdb import (
    USER_MONTH,
    RowDiff,
    SilverFiles,
    _duck_type,
    _quote,
    attach_gold,
    attach_silver,
    build_reference,
    by_platform,
    categories_in,
    connect,
    default_batches,
    diff_rows,
    list_silver,
    merged_category_masks,
    no_categories,
    platforms_in,
    reference_parser,
    reference_session,
    register_parquet,
    snapshot_files,
)
from jobs.runtime import tables
from jobs.runtime.config import Config
from jobs.runtime.registry import configured_platforms
from transforms.domain import GRADE_BY_BAND
from transforms.gold.features import _BY_PLATFORM, _NOT_SUMMED, GENDERS, INTERACTION_COLUMNS
from transforms.gold.params import (
    COMPONENTS,
    INTERACTION_KINDS,
    CreditConf,
    ScoringConf,
)
from transforms.gold.score import CARRY
from transforms.gold.sketch import K
from transforms.months import add_months
from transforms.schemas import (
    GOLD_SCORES,
    GOLD_SERVICE_ROUTING,
    GOLD_USER_FEATURES,
    GOLD_USER_MONTH,
    SILVER_ACCOUNTS,
)

FEATURES = "gold.user_features"
SCORES = "gold.scores"
ROUTING = "gold.service_routing"
ACCOUNTS = "silver.accounts"
PARTS = ("user_month", "user_features", "scores")  # the timed queries (scores includes the routing)
# gold table -> (DuckDB table of the reference, schema, partition column = the month, key)
TABLES = {
    USER_MONTH: ("reference", GOLD_USER_MONTH, "month", USER_MONTH_KEY),
    FEATURES: ("features", GOLD_USER_FEATURES, "as_of_month", ("user_id", "as_of_month")),
    SCORES: ("scores", GOLD_SCORES, "month", ("user_id", "month")),
    ROUTING: ("routing", GOLD_SERVICE_ROUTING, "month", ("user_id", "month")),
}

# --------------------------------------------------------------------------- Spark's round() of a double

# round_half_up(x, p): x >= 0 rounded to 1/p (p = 10^scale, a DOUBLE), ties up, as Spark rounds the
# shortest decimal form of x. That form is exactly the half-way point h = (c + 1/2) / p when x is the
# double nearest h; otherwise it rounds like x itself. (2c + 1) / (2p) is that nearest double (one
# correctly rounded division of exact integers), so x >= it decides both cases. c = floor(x * p) may be
# one too high when x * p rounds up to an integer, but then x is far below the next half-way point.
# The result, (c or c + 1) / p, is the correctly rounded double of the decimal, as BigDecimal.doubleValue
# gives it.
SPARK_ROUND_MACROS = [
    (
        "CREATE OR REPLACE TEMP MACRO _round_half_up(x, p) AS "
        "(floor(x * p) + CASE WHEN x >= (2 * floor(x * p) + 1) / (2 * p) THEN 1 ELSE 0 END) / p"
    ),
    # HALF_UP rounds away from zero: symmetric
    (
        "CREATE OR REPLACE TEMP MACRO spark_round(x, p) AS "
        "CASE WHEN x < 0 THEN -_round_half_up(-x, p) ELSE _round_half_up(x, p) END"
    ),
]


def _double(value: float) -> str:
    """A Python float as a DuckDB DOUBLE literal (a bare 1.5 would be a DECIMAL, and so would its arithmetic)."""
    return f"CAST('{float(value)!r}' AS DOUBLE)"


def _scale(decimals: int) -> str:
    return _double(10.0**decimals)


# --------------------------------------------------------------------------- user_features


def user_features_sql(
    as_of_months: list[str],
    *,
    window: int,
    orders_monthly_cap: int,
    interaction_monthly_caps: dict[str, int],
    interaction_weights: dict[str, float],
    platforms: tuple[str, ...],
    user_month: str = "reference",
    accounts: str = "accounts",
) -> str:
    """The DuckDB query of gold.user_features as of each month of ``as_of_months`` (its columns, in order).

    ``user_month``: a table of gold.user_month's columns (the reference's own
    slices); ``accounts``: silver.accounts.
    """
    as_of_rows = ", ".join(f"({_quote(m)}, {_quote(add_months(m, -(window - 1)))})" for m in sorted(set(as_of_months)))
    spends = [f"_spend_{i}" for i in range(len(platforms))]
    summed = [
        f.name for f in GOLD_USER_MONTH.fields if f.name not in (*_NOT_SUMMED, *_BY_PLATFORM) and f.name != "batch"
    ]
    sketches = ("sellers_sketch", "chat_sellers_sketch")
    bit = "CASE p " + " ".join(f"WHEN {_quote(p)} THEN {i}" for i, p in enumerate(platforms)) + " END"
    slice_columns = ", ".join(
        [
            *(f"u.{c}" for c in [*summed, "max_order_cny", "active_days_mask", "category_mask", *sketches]),
            f"coalesce(list_sum(list_transform(u.platforms, lambda p: 1 << ({bit}))), 0)::INTEGER AS _platform_mask",
            *(
                f"coalesce(map_extract_value(u.spend_by_platform_cny, {_quote(p)}), 0) AS {c}"
                for p, c in zip(platforms, spends, strict=True)
            ),
        ]
    )
    summed += spends
    units = {k: f"least({INTERACTION_COLUMNS[k]}, {interaction_monthly_caps[k]})" for k in INTERACTION_KINDS}
    orders_counted = f"least(orders, {orders_monthly_cap})"
    carry = "FILTER (WHERE month > first_month)"  # the month still counts next month
    active_days = "bit_count(active_days_mask)"

    def weighted(prefix: str) -> str:  # Spark: sum of units * weight from 0.0, kind by kind, in this order
        total = _double(0.0)
        for k in INTERACTION_KINDS:
            total = f"({total} + coalesce({prefix}{k}, 0)::DOUBLE * {_double(interaction_weights[k])})"
        return total

    def zero(column: str) -> str:
        return f"coalesce({column}, 0)"

    # Spark's months_between(A's last day, registered_date), dates at midnight
    d1, d2 = "m.last_day", "f.registered_date"
    month_diff = f"((year({d1}) * 12 + month({d1})) - (year({d2}) * 12 + month({d2})))::DOUBLE"
    months_between = (
        f"CASE WHEN day({d1}) = day({d2}) OR ({d1} = last_day({d1}) AND {d2} = last_day({d2})) "
        f"THEN {month_diff} ELSE round(({month_diff} + ((day({d1}) - day({d2})) * 86400)::DOUBLE "
        f"/ {_double(31 * 86400)}) * {_double(1e8)}) / {_double(1e8)} END"
    )
    age_years = f"({months_between}) / {_double(12)}"
    genders = "[" + ", ".join(map(_quote, GENDERS)) + "]"
    # array_position: the 1-based position, 0 for another value, null for null
    gender_code = (
        "CASE WHEN a.gender IS NULL THEN NULL "
        + " ".join(f"WHEN a.gender = {_quote(g)} THEN {i}" for i, g in enumerate(GENDERS, 1))
        + " ELSE 0 END"
    )

    def kmv_estimate(sketch: str) -> str:
        u_k = f"(({sketch})[{K}]::DOUBLE + {_double(2.0**63)}) / {_double(2.0**64)}"
        return (
            f"CASE WHEN {sketch} IS NULL THEN 0 WHEN len({sketch}) < {K} THEN len({sketch}) "
            f"ELSE spark_round({_double(K - 1)} / ({u_k}), {_scale(0)}) END"
        )

    def merged(column: str) -> str:  # the union of the sketches, ascending; null when there is none
        return f"list_sort(list_distinct(flatten(list({column}) FILTER (WHERE {column} IS NOT NULL))))"

    def kmv_union(union: str) -> str:  # its K smallest: null when empty
        return f"CASE WHEN len({union}) > 0 THEN list_slice({union}, 1, {K}) END"

    out = {
        "user_id": "f.user_id",
        "as_of_month": "f.as_of_month",
        "registered_date": "f.registered_date",
        "account_age_years": f"coalesce(spark_round(greatest({age_years}, {_double(0)}), {_scale(4)}), {_double(0)})",
        "identity_verified": "coalesce(f.identity_verified, false)",
        "gender": f"CASE WHEN f.gender_code > 0 THEN {genders}[f.gender_code] END",
        "birth_year": "f.birth_year",
        "city_tier": "f.city_tier",
        "device_mobile_share": "f.mobile_share",
        "months_active": zero("f.months_active"),
        "active_days": zero("f.active_days"),
        **{c: zero(f"f.{c}") for c in summed},
        "max_order_cny": "f.max_order_cny",
        "net_spend_cny": f"greatest({zero('f.capped_spend_cny')} - {zero('f.capped_refund_cny')}, 0)",
        "net_gross_spend_cny": f"greatest({zero('f.spend_cny')} - {zero('f.refund_cny')}, 0)",
        "spend_by_platform_cny": by_platform([zero(f"f.{c}") for c in spends], platforms),
        "platforms": platforms_in("f._platform_mask", platforms),
        "platforms_used": f"bit_count({zero('f._platform_mask')})",
        "categories_used": categories_in("f.category_mask"),
        "distinct_sellers": kmv_estimate("s.sellers"),
        "chat_sellers": kmv_estimate("s.chat_sellers"),
        "category_mask": f"coalesce(f.category_mask, {no_categories()})",
        "scored_orders": zero("f.scored_orders"),
        "interaction_units": weighted("f._units_"),
        "carry_net_spend_cny": f"greatest({zero('f._carry_net')}, 0)",
        "carry_scored_orders": zero("f.carry_scored_orders"),
        "carry_active_days": zero("f.carry_active_days"),
        "carry_interaction_units": weighted("f._carry_units_"),
    }
    final = ",\n    ".join(f"({out[f.name]})::{_duck_type(f.dataType)} AS {f.name}" for f in GOLD_USER_FEATURES.fields)
    return f"""
WITH
as_of(as_of_month, first_month) AS (VALUES {as_of_rows}),
months AS (SELECT as_of_month, first_month, last_day((as_of_month || '-01')::DATE) AS last_day FROM as_of),
-- every slice once per as-of month that sees it: the latest slice of its month up to the as-of batch, its
-- month in the window
restated AS (
    SELECT *, lead(batch) OVER (PARTITION BY user_id, month ORDER BY batch) AS next_batch FROM {user_month}),
slices AS MATERIALIZED (
    SELECT m.as_of_month, u.user_id, u.month, {slice_columns}
    FROM restated u JOIN months m
        ON u.batch <= m.as_of_month AND (u.next_batch IS NULL OR u.next_batch > m.as_of_month)
        AND u.month BETWEEN m.first_month AND m.as_of_month),
-- each month of the window (one slice): the monthly caps apply to its totals
by_month AS (
    SELECT user_id, as_of_month, month,
        {", ".join(f"sum({c}) AS {c}" for c in summed)},
        max(max_order_cny) AS max_order_cny, bit_or(active_days_mask) AS active_days_mask,
        bit_or(_platform_mask) AS _platform_mask, {merged_category_masks("category_mask")} AS category_mask
    FROM slices GROUP BY user_id, as_of_month, month),
rolled AS (
    SELECT user_id, as_of_month,
        count(*) FILTER (WHERE orders > 0) AS months_active,
        sum({active_days}) AS active_days,
        {", ".join(f"sum({c}) AS {c}" for c in summed)},
        max(max_order_cny) AS max_order_cny, bit_or(_platform_mask) AS _platform_mask,
        {merged_category_masks("category_mask")} AS category_mask,
        sum({orders_counted}) AS scored_orders,
        {", ".join(f"sum({units[k]}) AS _units_{k}" for k in INTERACTION_KINDS)},
        sum(capped_spend_cny - capped_refund_cny) {carry} AS _carry_net,
        sum({orders_counted}) {carry} AS carry_scored_orders,
        sum({active_days}) {carry} AS carry_active_days,
        {", ".join(f"sum({units[k]}) {carry} AS _carry_units_{k}" for k in INTERACTION_KINDS)}
    FROM by_month JOIN months USING (as_of_month) GROUP BY user_id, as_of_month),
-- the members as of A: accounts known by batch A and registered by A's last day. Spark unions them
-- with the slices before aggregating; aggregated apart and joined, they give the same rows, as no
-- column mixes an account's values with a slice's.
members AS (
    SELECT a.user_id, m.as_of_month, max(a.registered_date) AS registered_date,
        max(a.identity_verified) AS identity_verified, max({gender_code}) AS gender_code,
        max(a.birth_year) AS birth_year, max(a.city_tier) AS city_tier, max(a.mobile_share) AS mobile_share
    FROM {accounts} a JOIN months m ON a.registered_date <= m.last_day AND a.ingest_month <= m.as_of_month
    GROUP BY a.user_id, m.as_of_month),
both_sides AS (
    SELECT coalesce(a.user_id, r.user_id) AS user_id, coalesce(a.as_of_month, r.as_of_month) AS as_of_month,
        a.* EXCLUDE (user_id, as_of_month), r.* EXCLUDE (user_id, as_of_month)
    FROM members a FULL JOIN rolled r ON a.user_id = r.user_id AND a.as_of_month = r.as_of_month),
merged AS (
    SELECT user_id, as_of_month,
        {merged("sellers_sketch")} AS sellers, {merged("chat_sellers_sketch")} AS chat_sellers
    FROM slices WHERE sellers_sketch IS NOT NULL OR chat_sellers_sketch IS NOT NULL
    GROUP BY user_id, as_of_month),
sketches AS (
    SELECT user_id, as_of_month, {kmv_union("sellers")} AS sellers, {kmv_union("chat_sellers")} AS chat_sellers
    FROM merged)
SELECT
    {final}
FROM both_sides f JOIN months m ON m.as_of_month = f.as_of_month
    LEFT JOIN sketches s ON s.user_id = f.user_id AND s.as_of_month = f.as_of_month
"""


# --------------------------------------------------------------------------- scores and routing


def _saturating(x: str, half_at: float) -> str:
    """1 - 2^(-max(x, 0) / half_at), as score.saturating writes it."""
    return f"({_double(1.0)} - pow({_double(2.0)}, (-greatest(({x})::DOUBLE, {_double(0.0)})) / {_double(half_at)}))"


def _curve(x: str, curve: str, at: float) -> str:
    """A credit dimension's sub-score, as score.curve writes it."""
    if curve == "saturating":
        return _saturating(x, at)
    if curve == "penalty":
        return f"greatest({_double(1.0)} - ({x}) / {_double(at)}, {_double(0.0)})"
    return f"least(greatest((({x}) - {_double(at)}) / {_double(1.0 - at)}, {_double(0.0)}), {_double(1.0)})"


def _credit_values(credit: CreditConf) -> dict[str, str]:
    """Each credit dimension's value from the columns of gold.user_features, as doubles (score.py)."""
    w = float(credit.review_prior.weight)

    def rate(part: str, whole: str) -> str:  # Spark's / on longs: both cast to double
        return f"({part}::DOUBLE / greatest({whole}, 1)::DOUBLE)"

    return {
        "account_age_years": "account_age_years",
        "identity_verified": "identity_verified::DOUBLE",
        "active_months": "months_active::DOUBLE",
        "active_days": "active_days::DOUBLE",
        "orders": "orders::DOUBLE",
        "net_spend_cny": "net_spend_cny::DOUBLE",  # decimal -> the nearest double, as Spark's cast
        "platforms_used": "platforms_used::DOUBLE",
        "review_positivity": f"((positive_reviews::DOUBLE + {_double(credit.review_prior.positivity * w)}) "
        f"/ (reviews::DOUBLE + {_double(w if w > 0 else 1e-9)}))",
        "refund_rate": rate("refunds", "orders"),
        "return_rate": rate("returns", "orders"),
        "dispute_rate": rate("disputes", "orders"),
        "flagged_order_rate": rate("flagged_orders", "orders + flagged_orders"),
    }


def scores_sql(month: str, scoring: ScoringConf, features: str = "features") -> str:
    """The DuckDB query of gold.scores of ``month`` (its columns, in order).

    ``features``: gold.user_features as of ``month`` and the month before
    (whose score gives the change).
    """
    previous = add_months(month, -1)
    credit = scoring.credit
    values = _credit_values(credit)
    credit_score = _double(0.0)
    for name, dim in credit.dimensions.items():  # Spark: the points summed from 0.0 in the config's order
        credit_score = f"({credit_score} + {_curve(values[name], dim.curve, dim.at)} * {_double(dim.weight)})"
    reached = "0"
    for bound in credit.levels:
        reached = f"({reached} + CASE WHEN credit_score >= {_double(bound)} THEN 1 ELSE 0 END)"
    shopping = [c for c in COMPONENTS if c != "credit"]

    def component(name: str, prefix: str = "") -> str:
        total = _double(0.0)
        for input_name, term in scoring.components.get(name, {}).items():
            total = f"({total} + {_double(term.max_points)} * {_saturating(prefix + input_name, term.half_at)})"
        return f"spark_round({total}, {_scale(0)})::INTEGER"

    # the points of each level as score.py makes them integers (Python's round)
    credit_points = "[" + ", ".join(str(round(p)) for p in scoring.credit_points_by_level) + "][credit_level_num + 1]"
    carry_score = "credit_points"
    for c in shopping:
        carry_score = f"({carry_score} + {component(c, CARRY)})"
    score = "0"
    for c in COMPONENTS:
        score = f"({score} + {c}_points)"
    floors = scoring.bands.floors()
    band = "1"
    for f in floors:
        band = f"({band} + CASE WHEN score >= {f} THEN 1 ELSE 0 END)"
    grades = "[" + ", ".join(map(_quote, GRADE_BY_BAND)) + "]"
    queue = (
        "CASE "
        + " ".join(f"WHEN credit_level_num >= {q.min_level} THEN {_quote(q.queue)}" for q in scoring.service_queues)
        + f" ELSE {_quote(scoring.service_queues[-1].queue)} END"
    )
    fee = scoring.vip_fee_cny
    out = {
        "user_id": "user_id",
        "month": "month",
        **{f"{c}_points": f"{c}_points" for c in COMPONENTS},
        "score": "score",
        "band": "band",
        "grade": f"{grades}[band]",
        "vip_fee_cny": f"CASE WHEN score >= {scoring.bands.super} THEN {fee.member} ELSE {fee.standard} END",
        "credit_score": "credit_score",
        "credit_level": "'C' || credit_level_num::VARCHAR",
        "previous_score": "previous_score",
        "score_change": "score_change",
        "growth_perk": "growth_perk",
        "next_band_gap": f"CASE WHEN band < 4 THEN [{', '.join(map(str, [*floors, 0]))}][band] - score END",
        "carry_score": "carry_score",
        "keep_band_points": f"CASE WHEN band > 1 THEN greatest([{', '.join(map(str, [0, *floors]))}][band] "
        f"- carry_score, 0) END",
        "service_queue": queue,
    }
    final = ",\n    ".join(f"({out[f.name]})::{_duck_type(f.dataType)} AS {f.name}" for f in GOLD_SCORES.fields)
    return f"""
WITH
rated AS (
    SELECT *, spark_round({credit_score}, {_scale(2)}) AS credit_score
    FROM {features} WHERE as_of_month IN ({_quote(previous)}, {_quote(month)})),
leveled AS (
    SELECT *, CASE WHEN identity_verified THEN {reached} ELSE least({reached}, {credit.max_level_unverified}) END
        AS credit_level_num
    FROM rated),
credited AS (SELECT *, {credit_points} AS credit_points FROM leveled),
scored AS (
    SELECT user_id, as_of_month AS month, credit_score, credit_level_num,
        {", ".join(f"{component(c)} AS {c}_points" for c in shopping)},
        credit_points AS credit_points, {carry_score} AS carry_score
    FROM credited),
totalled AS (SELECT *, {score} AS score FROM scored),
-- the change since the month before: the member's score then, if scored
changed AS (
    SELECT s.*, p.score AS previous_score, s.score - p.score AS score_change,
        coalesce(s.score - p.score >= {scoring.growth_perk_rise}, false) AS growth_perk
    FROM totalled s LEFT JOIN totalled p ON p.user_id = s.user_id AND p.month = {_quote(previous)}
    WHERE s.month = {_quote(month)}),
banded AS (SELECT *, {band} AS band FROM changed)
SELECT
    {final}
FROM banded
"""


def routing_sql(scoring: ScoringConf, scores: str = "scores") -> str:
    """gold.service_routing from the reference's gold.scores: each member's queue and its rank."""
    rank = (
        "CASE service_queue "
        + " ".join(f"WHEN {_quote(q.queue)} THEN {i}" for i, q in enumerate(scoring.service_queues, start=1))
        + " END"
    )
    out = {
        "user_id": "user_id",
        "month": "month",
        "credit_level": "credit_level",
        "queue": "service_queue",
        "queue_rank": rank,
    }
    return (
        "SELECT "
        + ", ".join(f"({out[f.name]})::{_duck_type(f.dataType)} AS {f.name}" for f in GOLD_SERVICE_ROUTING.fields)
        + f" FROM {scores}"
    )


# --------------------------------------------------------------------------- building gold


@dataclass
class GoldInputs:
    """The Parquet files of silver's event tables and of silver.accounts, and Spark's row counts."""

    silver: SilverFiles
    accounts: list[str]
    accounts_rows: int
    seconds: float  # listing the files (Spark: snapshot + inputFiles), not the row counts


def list_inputs(spark: SparkSession, config: Config) -> GoldInputs:
    """List the files gold is computed from (timed) and count silver.accounts' rows (not timed)."""
    silver = list_silver(spark, config)
    started = time.perf_counter()
    accounts = snapshot_files(spark, config, ACCOUNTS)
    seconds = silver.seconds + time.perf_counter() - started
    return GoldInputs(silver, accounts, tables.read(spark, config, ACCOUNTS).count(), seconds)


def attach_inputs(con: duckdb.DuckDBPyConnection, inputs: GoldInputs) -> None:
    """The silver views of user_month_duckdb, and the view accounts (silver.accounts as Spark reads it)."""
    attach_silver(con, inputs.silver)
    register_parquet(con, "accounts", inputs.accounts, SILVER_ACCOUNTS, None)
    got = con.execute("SELECT count(*) FROM accounts").fetchall()[0][0]
    if got != inputs.accounts_rows:
        raise RuntimeError(
            f"{ACCOUNTS}: the snapshot's Parquet files hold {got} rows, Delta reads "
            f"{inputs.accounts_rows} (deletion vectors?): the Parquet reference cannot read it"
        )
    for macro in SPARK_ROUND_MACROS:
        con.execute(macro)


def _timed(con: duckdb.DuckDBPyConnection, table: str, sql: str) -> float:
    started = time.perf_counter()
    con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {sql}").fetchall()
    return time.perf_counter() - started


def build_gold(con: duckdb.DuckDBPyConnection, config: Config, batches: list[str], month: str) -> dict[str, float]:
    """Materialize DuckDB tables reference (gold.user_month of ``batches``), features (as of ``month`` - 1 and
    ``month``), scores and routing (of ``month``); the seconds of each part's query (PARTS)."""
    s = config.scoring
    seconds = {"user_month": build_reference(con, config, batches, table="reference")}
    seconds["user_features"] = _timed(
        con,
        "features",
        user_features_sql(
            [add_months(month, -1), month],
            window=s.window_months,
            orders_monthly_cap=s.orders_monthly_cap,
            interaction_monthly_caps=s.interaction_monthly_caps,
            interaction_weights=s.interaction_weights,
            platforms=configured_platforms(config),
        ),
    )
    # the routing is a projection of the scores: timed with them
    seconds["scores"] = _timed(con, "scores", scores_sql(month, s)) + _timed(con, "routing", routing_sql(s))
    return seconds


# --------------------------------------------------------------------------- the checker


@dataclass
class GoldComparison:
    """DuckDB's gold against Spark's: gold.user_month of every batch up to ``latest``, and the month's rows of
    gold.user_features, gold.scores and gold.service_routing."""

    latest: str
    batches: list[str]
    seconds: dict[str, float]  # per part (PARTS): DuckDB's query, its result materialized
    total_seconds: float
    threads: int
    rows: dict[str, int]  # the reference's rows, per table
    gold_rows: dict[str, int]  # Spark's, per table
    mismatches: dict[str, int]  # per table: rows only one side has + rows on both with any column different
    listing_seconds: float = 0.0
    diffs: dict[str, RowDiff] = field(default_factory=dict)  # per table: the differing columns, examples

    @property
    def matches(self) -> bool:
        return not any(self.mismatches.values())


def check(
    spark: SparkSession, config: Config, latest: str, *, threads: int | None = None, memory_limit: str | None = None
) -> GoldComparison:
    """Compute gold up to ``latest`` with DuckDB and compare it with Spark's, row for row, on every column.

    gold.user_month: every batch up to ``latest`` (the whole of it, as a full
    recompute writes it); the other tables: their rows of ``latest``. Every
    column must be equal (IS NOT DISTINCT FROM), doubles included: see the
    module's docstring. Both sides stay in DuckDB; nothing per member is
    collected to the driver.
    """
    batches = [b for b in default_batches(spark, config) if b <= latest]
    if not batches:
        raise RuntimeError(f"no batch up to {latest} in gold's log: run `taoqi aggregate` first")
    threads = threads or os.cpu_count() or 1
    inputs = list_inputs(spark, config)
    batch_list = ", ".join(map(_quote, batches))
    # Spark's side: the files of each table's snapshot and its row count of what is compared
    where = {USER_MONTH: F.col("batch").isin(batches)}
    where_sql = {USER_MONTH: f"batch IN ({batch_list})"}
    gold_files, gold_rows = {}, {}
    for name, (_, _, partition, _) in TABLES.items():
        condition = where.get(name, F.col(partition) == latest)
        where_sql.setdefault(name, f"{partition} = {_quote(latest)}")
        gold_files[name] = snapshot_files(spark, config, name)
        gold_rows[name] = tables.read(spark, config, name).filter(condition).count()
    con = connect(threads, config.spark.session_time_zone, memory_limit)
    try:
        attach_inputs(con, inputs)
        seconds = build_gold(con, config, batches, latest)
        diffs = {}
        for name, (table, schema, partition, key) in TABLES.items():
            view = "gold_" + name.partition(".")[2]
            attach_gold(con, view, gold_files[name], schema, partition, where_sql[name], gold_rows[name], name)
            reference = table if name == USER_MONTH else f"(SELECT * FROM {table} WHERE {where_sql[name]})"
            diffs[name] = diff_rows(con, reference, view, key, [f.name for f in schema.fields if f.name not in key])
    finally:
        con.close()
    return GoldComparison(
        latest=latest,
        batches=batches,
        seconds=seconds,
        total_seconds=sum(seconds.values()),
        threads=threads,
        rows={n: d.reference_rows for n, d in diffs.items()},
        gold_rows={n: d.gold_rows for n, d in diffs.items()},
        mismatches={n: d.mismatches for n, d in diffs.items()},
        listing_seconds=inputs.seconds,
        diffs=diffs,
    )


def main(argv: list[str] | None = None) -> int:
    parser = reference_parser(__doc__, world="a scored world", settings="the scoring settings must be the score's")
    parser.add_argument("--month", default=None, help="the month YYYY-MM (default: the latest batch)")
    args = parser.parse_args(argv)
    config, spark = reference_session(args, "taoqi-duckdb-gold-reference")
    month = args.month or max(default_batches(spark, config))
    result = check(spark, config, month, threads=args.threads, memory_limit=args.memory_limit)
    print(
        f"month {result.latest}; gold.user_month of batches {result.batches[0]} .. {result.batches[-1]} "
        f"({len(result.batches)})"
    )
    print(f"listing files (Spark): {result.listing_seconds:.2f} s")
    print(
        f"DuckDB queries ({result.threads} threads): "
        + ", ".join(f"{part} {result.seconds[part]:.2f} s" for part in PARTS)
        + f"; total {result.total_seconds:.2f} s"
    )
    for name, found in result.diffs.items():
        verdict = (
            "yes"
            if not found.mismatches
            else (
                f"NO, {found.mismatches:,} mismatching rows (only reference {found.only_reference:,}, only gold "
                f"{found.only_gold:,}); differing columns: {found.columns}"
            )
        )
        print(f"{name}: rows reference {found.reference_rows:,}, gold {found.gold_rows:,}; matches: {verdict}")
        for example in found.examples if found.mismatches else []:
            print(f"  {example}")
    return 0 if result.matches else 1


if __name__ == "__main__":
    sys.exit(main())
