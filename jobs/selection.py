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
"""

from __future__ import annotations

import argparse
import logging
import sys

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs import apass_inputs, model_registry
from jobs.runtime import gold_log, quality, tables
from jobs.runtime.config import Config
from jobs.runtime.logs import timed
from transforms.schemas import GOLD_TABLES, OPS_APASS_OVERRIDES, OPS_STABILITY, conform_to
from transforms.silver.common import add_months

log = logging.getLogger(__name__)

DESCRIPTION = __doc__
CANDIDATES = "gold.apass_candidates"
SELECTION = "gold.apass_selection"
OVERRIDES = "ops.apass_overrides"
PROFILE = "gold.apass_profile"
PROFILE_SCHEMA = GOLD_TABLES["apass_profile"][0]
STABILITY = "ops.stability"
SELECTOR_METRICS = "selector."  # prefix of the selector's rows in ops.stability (the score's have none)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--month", help="month YYYY-MM to select (default: the latest scored month)")


def execute(spark: SparkSession, config: Config, args: argparse.Namespace) -> None:
    select(spark, config, apass_inputs.scored_month(spark, config, args.month))


def candidates(spark: SparkSession, config: Config, month: str) -> DataFrame:
    """Members at score >= the APASS band floor in ``month``, their indicators and failed gates."""
    floor = config.scoring.bands.apass_eligible
    keys = (tables.read(spark, config, apass_inputs.SCORES)
            .filter((F.col("month") == month) & (F.col("score") >= floor))
            .select("user_id", F.lit(month).alias("as_of_month")))
    rows = apass_inputs.indicator_rows(spark, config, keys)
    level = F.col("credit_level_number").cast("int")
    min_level = config.apass.min_credit_level
    failures = F.filter(F.array(
        F.when(level < min_level, F.concat(F.lit("gate: credit level "), F.col("credit_level"),
                                           F.lit(f" below C{min_level}"))),
    ), lambda x: x.isNotNull())
    schema, _ = GOLD_TABLES["apass_candidates"]
    return conform_to(rows.select("*", F.col("as_of_month").alias("month"), (F.size(failures) == 0).alias("passes_gates"),
                                  failures.alias("gate_failures")), schema)


def active_overrides(spark: SparkSession, config: Config, month: str) -> DataFrame:
    """The latest override per member for ``month`` (user_id, action, reason)."""
    if not tables.exists(spark, config, OVERRIDES):
        return spark.createDataFrame([], "user_id long, action string, override_reason string")
    latest = Window.partitionBy("user_id").orderBy(F.col("created_at").desc())
    return (tables.read(spark, config, OVERRIDES).filter(F.col("month") == month)
            .select("*", F.row_number().over(latest).alias("_n")).filter(F.col("_n") == 1)
            .select("user_id", "action", F.col("reason").alias("override_reason")))


def decisions(cands: DataFrame, scored: DataFrame, overrides: DataFrame, members: DataFrame, *, month: str,
              model_version: int, capacity: int) -> DataFrame:
    """Decisions for every candidate and every overridden member: the overrides, then the quota by rank."""
    invite_overrides = overrides.filter(F.col("action") == "invite").join(members, "user_id", "left_semi")
    rows = (cands.select("user_id", "passes_gates", "gate_failures")
            .join(invite_overrides.select("user_id"), "user_id", "full")
            .join(scored, "user_id", "left")
            .join(overrides, "user_id", "left"))
    excluded = F.coalesce(F.col("action") == "exclude", F.lit(False))
    forced = F.coalesce(F.col("action") == "invite", F.lit(False))
    eligible = F.coalesce(F.col("passes_gates"), F.lit(False)) & ~excluded & ~forced
    forced_count = F.sum(F.when(forced, 1).otherwise(0)).over(Window.partitionBy("_month"))
    ranked = rows.select("*", F.lit(month).alias("_month")).select(
        "*", F.when(eligible, F.row_number().over(
            Window.partitionBy("_month", eligible).orderBy(F.col("model_score").desc(), F.col("user_id"))))
        .alias("_eligible_rank"), forced_count.alias("_forced"))
    model_invited = eligible & (F.col("_eligible_rank") <= F.greatest(F.lit(capacity) - F.col("_forced"), F.lit(0)))
    decision = (F.when(excluded, F.lit("excluded_by_override"))
                .when(forced, F.lit("invited_by_override"))
                .when(~F.coalesce(F.col("passes_gates"), F.lit(False)), F.lit("gated_out"))
                .when(model_invited, F.lit("invited"))
                .otherwise(F.lit("waitlisted")))
    gates = F.coalesce(F.col("gate_failures"), F.array().cast("array<string>"))
    reasons = F.concat(gates, F.when(model_invited | forced, F.coalesce(F.col("reasons_up"), F.array()))
                       .otherwise(F.coalesce(F.col("reasons_down"), F.array())).cast("array<string>"))
    schema, _ = GOLD_TABLES["apass_selection"]
    return conform_to(ranked.select(
        "user_id", F.lit(month).alias("month"), F.lit(model_version).alias("model_version"), "model_score",
        F.when(eligible, F.col("_eligible_rank")).alias("rank"),
        (model_invited | forced).alias("invited"), decision.alias("decision"),
        F.when(excluded | forced, F.col("override_reason")).alias("override_reason"),
        reasons.alias("reason_codes"), F.lit(capacity).alias("capacity")), schema)


def select(spark: SparkSession, config: Config, month: str) -> None:
    """Candidates, scores, overrides and the quota of ``month``; prints the invitations' profile."""
    from transforms.apass.selector import SCORED_SCHEMA, scorer

    booster, champion = model_registry.load_booster(config, model_registry.CHAMPION)
    for name in ("apass_candidates", "apass_selection", "apass_profile"):
        schema, partition = GOLD_TABLES[name]
        tables.ensure(spark, config, f"gold.{name}", schema, partition_by=(partition,))
    members_n, _ = apass_inputs.month_counts(spark, config, month)
    capacity = apass_inputs.capacity(members_n, config)
    with timed("select", f"candidates {month}") as t:
        with quality.gate(spark, config, "select", CANDIDATES, candidates(spark, config, month), month=month) as checked:
            t.rows_out = tables.replace_where(checked, config, CANDIDATES, f"month = {tables.sql_literal(month)}")
    with timed("select", f"selection {month}") as t:
        cands = tables.read(spark, config, CANDIDATES).filter(F.col("month") == month)
        features = booster.feature_name()
        scored = cands.filter("passes_gates").select("user_id", *features).mapInPandas(
            scorer(booster.model_to_string(), features, config.apass.reason_codes), SCORED_SCHEMA)
        members = tables.read(spark, config, apass_inputs.SCORES).filter(F.col("month") == month).select("user_id")
        result = decisions(cands, scored, active_overrides(spark, config, month), members, month=month,
                           model_version=champion.version, capacity=capacity)
        with quality.gate(spark, config, "select", SELECTION, result, month=month) as checked:
            t.rows_out = tables.replace_where(checked, config, SELECTION, f"month = {tables.sql_literal(month)}")
    gold_log.record(spark, config, SELECTION, month, f"v{champion.version}", t.rows_out)
    counts = {r["decision"]: r["count"] for r in tables.read(spark, config, SELECTION)
              .filter(F.col("month") == month).groupBy("decision").count().collect()}
    print(f"APASS {month}: capacity {capacity} of {members_n:,} members; champion v{champion.version}; "
          + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print(f"selection: {tables.location(config, SELECTION)} (month = '{month}')")
    print(profile_check(spark, config, month))
    monitor_stability(spark, config, month, features)


def profile_check(spark: SparkSession, config: Config, month: str) -> str:
    """The invited candidates' profile beside the published APASS one, stored in gold.apass_profile; returns a table."""
    from transforms.apass.profile import invited_profile, profile_lines

    invited = tables.read(spark, config, CANDIDATES).filter(F.col("month") == month).join(
        tables.read(spark, config, SELECTION).filter((F.col("month") == month) & F.col("invited")).select("user_id"),
        "user_id", "left_semi")
    measured = invited_profile(invited, year=int(month[:4])).first().asDict()  # one row of figures
    lines = profile_lines(measured)
    rows = spark.createDataFrame([(month, f, m, p, ok) for f, m, p, ok in lines], PROFILE_SCHEMA)
    with quality.gate(spark, config, "select", PROFILE, rows, month=month) as checked:
        tables.replace_where(checked, config, PROFILE, f"month = {tables.sql_literal(month)}")
    table = [f"invited profile {month}: the invited candidates beside the published APASS profile",
             f"{'figure':<34} {'measured':>14}  {'published':<22} ok"]
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
    specs = [(f"selector.{name}", _bin(F.col(name), sorted(set(cuts))), len(set(cuts)) + 1)
             for name, cuts in zip(features, edges)]
    specs.append(("selector.model_score", _bin(F.coalesce(F.col("model_score"), F.lit(-1.0)),
                                               [i / 10 for i in range(0, 10)]), 11))
    tables.ensure(spark, config, STABILITY, OPS_STABILITY)
    with timed("select", f"stability {month}"):
        psi = stability(current, previous, month=month, previous_month=before, specs=specs)
        with quality.gate(spark, config, "select", STABILITY, psi, month=month) as checked:
            tables.replace_where(checked, config, STABILITY, f"month = {tables.sql_literal(month)} AND "
                                 f"metric LIKE '{SELECTOR_METRICS}%'")


def _bin(value, cuts: list[float]):
    """How many of ``cuts`` the value reaches: bins 0..len(cuts)."""
    return sum((F.when(value >= c, 1).otherwise(0) for c in cuts), F.lit(0))


def add_override(spark: SparkSession, config: Config, row: dict) -> None:
    """Append one audited override (the table is append-only: the latest per member and month wins)."""
    tables.ensure(spark, config, OVERRIDES, OPS_APASS_OVERRIDES)
    df = conform_to(spark.createDataFrame([row], OPS_APASS_OVERRIDES), OPS_APASS_OVERRIDES)
    with quality.gate(spark, config, "override", OVERRIDES, df, month=row["month"]) as checked:
        tables.append(checked, config, OVERRIDES)


def main(argv: list[str] | None = None) -> int:
    from jobs.cli import main as cli_main

    return cli_main(["select", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
