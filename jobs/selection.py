"""Select the month's APASS invitations with the champion selector: gold.apass_candidates and gold.apass_selection.

For month M: the candidates are the members at score >= 2500 (band 4), each
with the selector's indicators as of M and the gates they fail (credit
below apass.min_credit_level). The champion (models:/apass_selector@champion)
scores the members past the gates as a Spark job, with per-feature
contributions as reason codes. Audited overrides (ops.apass_overrides,
`taoqi override`) apply after the model and before the quota: an exclusion
removes a member, an invitation takes a place first. The best-ranked fill
the capacity (ceil(members x apass.invite_rate)). Every candidate gets a
row with its decision and reason codes: failed gates first, then the
features that raised (invited) or lowered (not invited) its chance most.
Ends with the invited members' profile beside the one published for
APASS members. Without --month, the latest scored month.

The rules (gates, capacity, overrides, quota) are transforms/apass/gates.py
and transforms/apass/selection.py; this job reads, scores and publishes.
"""

from __future__ import annotations

import argparse
import logging
import sys

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs import apass_inputs, model_registry
from jobs.runtime import gold_log, quality, tables
from jobs.runtime.config import Config
from jobs.runtime.logs import timed
from transforms import catalog
from transforms.apass.selection import OVERRIDE_COLUMNS, candidate_keys, candidate_rows, decisions, latest_overrides
from transforms.apass.stability import SELECTOR_METRICS, selector_bins
from transforms.months import add_months
from transforms.schemas import OPS_APASS_OVERRIDES, conform_to

log = logging.getLogger(__name__)

DESCRIPTION = __doc__
CANDIDATES = "gold.apass_candidates"
SELECTION = "gold.apass_selection"
OVERRIDES = "ops.apass_overrides"
PROFILE = "gold.apass_profile"
STABILITY = "ops.stability"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--month", help="month YYYY-MM to select (default: the latest scored month)")


def execute(spark: SparkSession, config: Config, args: argparse.Namespace) -> None:
    select(spark, config, apass_inputs.scored_month(spark, config, args.month))


def candidates(spark: SparkSession, config: Config, month: str) -> DataFrame:
    """gold.apass_candidates of ``month``: the members past the score gate, their indicators and failed gates."""
    gates = apass_inputs.gates(config)
    keys = candidate_keys(tables.read(spark, config, apass_inputs.SCORES), month=month, gates=gates)
    return candidate_rows(apass_inputs.indicator_rows(spark, config, keys), gates=gates)


def active_overrides(spark: SparkSession, config: Config, month: str) -> DataFrame:
    """The override in force per member for ``month`` (user_id, action, override_reason)."""
    if not tables.exists(spark, config, OVERRIDES):
        return spark.createDataFrame([], OVERRIDE_COLUMNS)
    return latest_overrides(tables.read(spark, config, OVERRIDES), month=month)


def select(spark: SparkSession, config: Config, month: str) -> None:
    """Candidates, scores, overrides and the quota of ``month``; prints the invitations' profile."""
    from transforms.apass.selector import SCORED_SCHEMA, scorer

    booster, champion = model_registry.load_booster(config, model_registry.CHAMPION)
    for name in (CANDIDATES, SELECTION, PROFILE):
        tables.ensure(spark, config, catalog.table(name))
    members_n, _ = apass_inputs.month_counts(spark, config, month)
    capacity = apass_inputs.capacity(members_n, config)
    this_month = f"month = {tables.sql_literal(month)}"
    with timed("select", f"candidates {month}") as t:
        t.rows_out = quality.publish(
            spark, config, "select", CANDIDATES, candidates(spark, config, month), replacing=this_month, month=month
        )
    with timed("select", f"selection {month}") as t:
        cands = tables.read(spark, config, CANDIDATES).filter(F.col("month") == month)
        features = booster.feature_name()
        scored = (
            cands.filter("passes_gates")
            .select("user_id", *features)
            .mapInPandas(scorer(booster.model_to_string(), features, config.apass.reason_codes), SCORED_SCHEMA)
        )
        members = tables.read(spark, config, apass_inputs.SCORES).filter(F.col("month") == month).select("user_id")
        result = decisions(
            cands,
            scored,
            active_overrides(spark, config, month),
            members,
            month=month,
            model_version=champion.version,
            capacity=capacity,
        )
        t.rows_out = quality.publish(spark, config, "select", SELECTION, result, replacing=this_month, month=month)
    selected = t.rows_out
    counts = {
        r["decision"]: r["count"]
        for r in tables.read(spark, config, SELECTION)
        .filter(F.col("month") == month)
        .groupBy("decision")
        .count()
        .collect()
    }
    print(
        f"APASS {month}: capacity {capacity} of {members_n:,} members; champion v{champion.version}; "
        + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    )
    print(f"selection: {tables.location(config, SELECTION)} (month = '{month}')")
    print(profile_check(spark, config, month))
    monitor_stability(spark, config, month, features)
    # recorded last: a run lost before this selects the month again (`taoqi run` goes by this record)
    gold_log.record(spark, config, SELECTION, month, f"v{champion.version}", selected)


def profile_check(spark: SparkSession, config: Config, month: str) -> str:
    """The invited candidates' profile beside the published APASS one, stored in gold.apass_profile; returns a table."""
    from transforms.apass.profile import invited_profile, profile_lines

    invited = (
        tables.read(spark, config, CANDIDATES)
        .filter(F.col("month") == month)
        .join(
            tables.read(spark, config, SELECTION)
            .filter((F.col("month") == month) & F.col("invited"))
            .select("user_id"),
            "user_id",
            "left_semi",
        )
    )
    measured = invited_profile(invited, year=int(month[:4])).first().asDict()  # one row of figures
    lines = profile_lines(measured)
    rows = spark.createDataFrame([(month, f, m, p, ok) for f, m, p, ok in lines], catalog.table(PROFILE).schema)
    quality.publish(
        spark, config, "select", PROFILE, rows, replacing=f"month = {tables.sql_literal(month)}", month=month
    )
    table = [
        f"invited profile {month}: the invited candidates beside the published APASS profile",
        f"{'figure':<34} {'measured':>14}  {'published':<22} ok",
    ]
    table += [f"{f:<34} {m:>14}  {p:<22} {'' if ok is None else 'yes' if ok else 'NO'}" for f, m, p, ok in lines]
    return "\n".join(table)


def monitor_stability(spark: SparkSession, config: Config, month: str, features: list[str]) -> None:
    """PSI of every selector input and of the model score against the month before (ops.stability, metric
    ``selector.<name>``): deciles of the month before for the inputs, tenths of [0, 1] for the score."""
    from transforms.gold.stability import stability

    before = add_months(month, -1)
    all_cands = tables.read(spark, config, CANDIDATES)
    previous = all_cands.filter(F.col("month") == before)
    if previous.isEmpty():
        return
    scored = tables.read(spark, config, SELECTION).select("user_id", "month", "model_score")
    current = all_cands.filter(F.col("month") == month).join(scored, ["user_id", "month"], "left")
    previous = previous.join(scored, ["user_id", "month"], "left")
    edges = previous.approxQuantile(features, [i / 10 for i in range(1, 10)], 0.001)  # 9 numbers per input
    specs = selector_bins(dict(zip(features, edges, strict=True)))
    tables.ensure(spark, config, catalog.table(STABILITY))
    with timed("select", f"stability {month}"):
        psi = stability(current, previous, month=month, previous_month=before, specs=specs)
        replacing = f"month = {tables.sql_literal(month)} AND metric LIKE '{SELECTOR_METRICS}%'"
        quality.publish(spark, config, "select", STABILITY, psi, replacing=replacing, month=month)


def add_override(spark: SparkSession, config: Config, row: dict) -> None:
    """Append one audited override (the table is append-only: the latest per member and month wins)."""
    tables.ensure(spark, config, catalog.table(OVERRIDES))
    df = conform_to(spark.createDataFrame([row], OPS_APASS_OVERRIDES), OPS_APASS_OVERRIDES)
    quality.publish(spark, config, "override", OVERRIDES, df, replacing=None, month=row["month"])


def main(argv: list[str] | None = None) -> int:
    from jobs.cli import main as cli_main

    return cli_main(["select", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
