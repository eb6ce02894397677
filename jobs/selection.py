"""Select the month's APASS invitations with the champion selector and keep the membership: gold.apass_candidates,
gold.apass_selection and gold.apass_members.

For month M: the candidates are the members at score >= 2500 (band 4), each
with the selector's indicators as of M and the gates they fail (credit
below apass.min_credit_level). The champion (models:/apass_selector@champion)
scores the members past the gates as a Spark job, with per-feature
contributions as reason codes. The membership of M follows from the month
before: membership reviews, exclusions, warnings and the yearly A-energy
renewal (transforms/apass/membership.py). The program holds
ceil(members x apass.member_share) APASS members; the invitations of M fill
the gap from everyone who is not a member. Audited overrides
(ops.apass_overrides, `taoqi override`) apply after the model and before
the quota: an exclusion removes a member or a candidate, an invitation
takes a place first. Every candidate gets a row with its decision and
reason codes: failed gates first, then the features that raised (invited)
or lowered (not invited) its chance most. Ends with the membership against
its target and the invited members' profile beside the one published for
APASS members. Without --month, the latest scored month.

The membership of a month needs the month before, so select M also keeps
every month from the first one gold.apass_members lacks (on an empty table:
from the first membership review, the program's members before the job)
and decides again every month after M it had decided; months never
selected have no invitations.

The rules (gates, target, overrides, quota, membership) are
transforms/apass/gates.py, selection.py and membership.py; this job reads,
scores and publishes.
"""

from __future__ import annotations

import argparse
import logging
import sys
from functools import reduce

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs import apass_inputs, model_registry
from jobs.runtime import gold_log, quality, tables
from jobs.runtime.config import Config
from jobs.runtime.logs import month_span, timed
from transforms import catalog
from transforms.apass import membership
from transforms.apass.selection import candidate_keys, candidate_rows, decisions, latest_overrides
from transforms.apass.stability import SELECTOR_METRICS, selector_stability
from transforms.months import add_months
from transforms.schemas import OPS_APASS_OVERRIDES, conform_to

log = logging.getLogger(__name__)

DESCRIPTION = __doc__
CANDIDATES = "gold.apass_candidates"
SELECTION = "gold.apass_selection"
MEMBERS = "gold.apass_members"
OVERRIDES = "ops.apass_overrides"
PROFILE = "gold.apass_profile"
STABILITY = "ops.stability"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--month",
        help="scored month YYYY-MM to select, or several as YYYY-MM,YYYY-MM,... (selected in order; default: the "
        "latest scored month)",
    )


def execute(spark: SparkSession, config: Config, args: argparse.Namespace) -> None:
    months = [m.strip() for m in args.month.split(",")] if args.month else [None]
    select(spark, config, sorted({apass_inputs.scored_month(spark, config, m) for m in months}))


def candidates(spark: SparkSession, config: Config, months: list[str]) -> DataFrame:
    """gold.apass_candidates of ``months``: the members past the score gate, their indicators and failed gates."""
    gates = apass_inputs.gates(config)
    keys = candidate_keys(tables.read(spark, config, apass_inputs.SCORES), months=months, gates=gates)
    return candidate_rows(apass_inputs.indicator_rows(spark, config, keys), gates=gates)


def override_log(spark: SparkSession, config: Config) -> DataFrame:
    """ops.apass_overrides, read once (empty before the first override)."""
    if not tables.exists(spark, config, OVERRIDES):
        return spark.createDataFrame([], OPS_APASS_OVERRIDES)
    return tables.read(spark, config, OVERRIDES).localCheckpoint(eager=True)  # an audit log: a handful of rows


def membership_span(spark: SparkSession, config: Config, months: list[str]) -> tuple[list[str], list[str]]:
    """(the months whose membership ``select`` computes, in order; those of them it decides invitations for)."""
    kept = sorted(gold_log.computed(spark, config, MEMBERS)) if tables.exists(spark, config, MEMBERS) else []
    start, end = months[0], months[-1]
    if kept and kept[-1] < start:
        start = add_months(kept[-1], 1)  # the months in between follow from the last one kept
    if not kept or start <= kept[0]:
        opened = membership_reviews(spark, config).agg(F.min("ingest_month")).first()[0]
        if opened is not None and opened < start:
            start = opened  # the program's members before the job come with its membership reviews
    if kept:
        end = max(end, kept[-1])
    span = [start]
    while span[-1] < end:
        span.append(add_months(span[-1], 1))
    decided = set(gold_log.computed(spark, config, SELECTION))
    return span, [m for m in span if m in months or m in decided]


def membership_reviews(spark: SparkSession, config: Config) -> DataFrame:
    """The membership reviews of silver.apass_reviews: user_id, outcome, invited_month and ingest_month (the month
    its batch brought it, when it takes effect)."""
    return (
        tables.read(spark, config, apass_inputs.REVIEWS)
        .filter(F.col("kind") == "membership")
        .select("user_id", "outcome", "invited_month", "ingest_month")
    )


def select(spark: SparkSession, config: Config, months: list[str]) -> None:
    """Candidates, scores, membership, overrides and the quota of ``months`` (scored, in order), with every month
    the membership needs (:func:`membership_span`); prints the stock against the target and the invited profile."""
    from transforms.apass.selector import SCORED_SCHEMA, scorer

    booster, champion = model_registry.load_booster(config, model_registry.CHAMPION)
    for name in (CANDIDATES, SELECTION, MEMBERS, PROFILE):
        tables.ensure(spark, config, catalog.table(name))
    span, decide = membership_span(spark, config, months)
    in_decided = f"month IN ({', '.join(tables.sql_literal(m) for m in decide)})"
    with timed("select", f"candidates {month_span(decide)}") as t:
        t.rows_out = quality.publish(
            spark,
            config,
            "select",
            CANDIDATES,
            candidates(spark, config, decide),
            replacing=in_decided,
            month=decide[-1],
        )
    cands = tables.read(spark, config, CANDIDATES).filter(F.col("month").isin(decide))
    features = booster.feature_name()
    scored = (
        cands.filter("passes_gates")
        .select("user_id", "month", *features)
        .mapInPandas(scorer(booster.model_to_string(), features, config.apass.reason_codes), SCORED_SCHEMA)
        .localCheckpoint(eager=True)
    )
    scores = tables.read(spark, config, apass_inputs.SCORES).filter(F.col("month").isin(decide))
    with timed("select", f"membership {month_span(span)}") as t:
        selected, members = keep_membership(spark, config, span, decide, cands, scored, scores, champion.version)
    with timed("select", f"selection {month_span(decide)}") as t:
        t.rows_out = quality.publish(
            spark, config, "select", SELECTION, selected, replacing=in_decided, month=decide[-1]
        )
    # not BETWEEN: Delta's replaceWhere fails to resolve Spark 4.1's rewrite of it
    span_predicate = f"month >= {tables.sql_literal(span[0])} AND month <= {tables.sql_literal(span[-1])}"
    with timed("select", f"members {month_span(span)}") as t:
        t.rows_out = quality.publish(
            spark, config, "select", MEMBERS, members, replacing=span_predicate, month=span[-1]
        )
    by_month = {  # a dozen rows: one per month
        r["month"]: r.asDict()
        for r in membership.monthly_counts(tables.read(spark, config, MEMBERS).filter(span_predicate)).collect()
    }
    print(stock_table(by_month, apass_inputs.targets(spark, config, span), span))
    print(f"selection: {tables.location(config, SELECTION)}; members: {tables.location(config, MEMBERS)}")
    print(profile_check(spark, config, decide))
    monitor_stability(spark, config, decide, features)
    # recorded last: a run lost before this selects the months again (`taoqi run` goes by this record)
    rows = {m: by_month.get(m, {}).get("rows", 0) for m in span}
    gold_log.record_months(spark, config, [MEMBERS], rows, f"v{champion.version}")
    decided = {
        r["month"]: r["count"]
        for r in tables.read(spark, config, SELECTION).filter(in_decided).groupBy("month").count().collect()
    }
    gold_log.record_months(spark, config, [SELECTION], {m: decided.get(m, 0) for m in decide}, f"v{champion.version}")


def keep_membership(
    spark: SparkSession,
    config: Config,
    span: list[str],
    decide: list[str],
    cands: DataFrame,
    scored: DataFrame,
    scores: DataFrame,
    model_version: int,
) -> tuple[DataFrame, DataFrame]:
    """(gold.apass_selection rows of ``decide``, gold.apass_members rows of ``span``), month after month.

    Each month's members follow from the month before's and its invitations fill the gap the month leaves, so
    the months run in order; each is a few jobs over the members (1 in 10,000) and the month's candidates."""
    r = config.apass.renewal
    targets = apass_inputs.targets(spark, config, decide)
    reviews = membership_reviews(spark, config).localCheckpoint(eager=True)
    # the A-energy of every member the span can hold: the reviewed, the candidates and who was a member before
    before = add_months(span[0], -1)
    previous = (
        tables.read(spark, config, MEMBERS).filter(F.col("month") == before).localCheckpoint(eager=True)
        if before in gold_log.computed(spark, config, MEMBERS)
        else spark.createDataFrame([], catalog.table(MEMBERS).schema)
    )
    logged = override_log(spark, config)
    people = reduce(
        DataFrame.union,
        [reviews.select("user_id"), cands.select("user_id"), previous.select("user_id"), logged.select("user_id")],
    ).distinct()
    user_month = (
        tables.read(spark, config, apass_inputs.USER_MONTH)
        .filter(F.col("batch") <= span[-1])
        .join(F.broadcast(people), "user_id", "left_semi")
        .localCheckpoint(eager=True)
    )
    selections, months_rows = [], []
    for month in span:
        overrides = latest_overrides(logged, month=month)
        rows = membership.before_invitations(
            previous,
            month=month,
            reviews=reviews.filter(F.col("ingest_month") == month).drop("ingest_month"),
            exclusions=overrides.filter(F.col("action") == "exclude").select(
                "user_id", "override_author", "override_reason"
            ),
            user_month=user_month,
            curve=r.points_curve,
            pass_points=r.pass_points,
            warn_before=r.warn_months_before_expiry,
        ).localCheckpoint(eager=True)
        if month in decide:
            stock = membership.in_stock(rows).count()
            target = targets[month]
            selected = decisions(
                cands.filter(F.col("month") == month),
                scored.filter(F.col("month") == month).drop("month"),
                overrides,
                scores.filter(F.col("month") == month).select("user_id"),
                rows,
                month=month,
                model_version=model_version,
                capacity=max(0, target - stock),
                target_stock=target,
            ).localCheckpoint(eager=True)
            selections.append(selected)
            invited = (
                selected.filter("invited")
                .select("user_id", "decision", "override_reason")
                .join(overrides.select("user_id", "override_author"), "user_id", "left")
            )
            by_override = F.col("decision") == "invited_by_override"
            new = membership.joined(
                invited.select(
                    "user_id",
                    F.when(by_override, "override").otherwise("invitation").alias("joined_by"),
                    F.when(by_override, F.col("override_author")).alias("override_author"),
                    F.when(by_override, F.col("override_reason")).alias("override_reason"),
                ),
                month=month,
            )
            rows = rows.unionByName(new).localCheckpoint(eager=True)
        months_rows.append(rows)
        previous = rows
    return reduce(DataFrame.unionByName, selections), reduce(DataFrame.unionByName, months_rows)


def stock_table(by_month: dict[str, dict], targets: dict[str, int], months: list[str]) -> str:
    """The membership of ``months`` (:func:`membership.monthly_counts` by month) against the target."""
    lines = [
        "APASS membership (gold.apass_members): the stock is the active and warned members",
        f"{'month':<8} {'target':>6} {'stock':>6} {'warned':>6} {'joined':>6} {'lapsed':>6} {'removed':>7}",
    ]
    for month in months:
        row = by_month.get(month, {})
        lines.append(
            f"{month:<8} {targets.get(month, '-'):>6} {row.get('stock', 0):>6} {row.get('warned', 0):>6} "
            f"{row.get('joined', 0):>6} {row.get('lapsed', 0):>6} {row.get('removed', 0):>7}"
        )
    return "\n".join(lines)


def profile_check(spark: SparkSession, config: Config, months: list[str]) -> str:
    """The profile of each month's first choices of the selector beside the published APASS one, stored in
    gold.apass_profile; returns the table of the last month.

    The first choices are the month's candidates past the gates with the champion's best P(kept), members or
    not, as many as the target: the members the selector would hold. Its invitations alone are too few to
    profile (a month invites only what its lapses and removals left)."""
    from transforms.apass.profile import invited_profiles, profile_lines

    best_first = Window.partitionBy("month").orderBy(F.desc("model_score"), "user_id")
    first_choices = (
        tables.read(spark, config, SELECTION)
        .filter(F.col("month").isin(months) & F.col("model_score").isNotNull())
        .select("user_id", "month", "target_stock", F.row_number().over(best_first).alias("_n"))
        .filter(F.col("_n") <= F.col("target_stock"))
        .select("user_id", "month")
    )
    chosen = tables.read(spark, config, CANDIDATES).join(first_choices, ["user_id", "month"], "left_semi")
    measured = {r["month"]: r.asDict() for r in invited_profiles(chosen).collect()}  # one row per month
    rows, lines = [], []
    for month in months:
        lines = profile_lines(measured.get(month, {"members": 0}))
        rows += [(month, f, m, p, ok) for f, m, p, ok in lines]
    in_months = f"month IN ({', '.join(tables.sql_literal(m) for m in months)})"
    profile = spark.createDataFrame(rows, catalog.table(PROFILE).schema)
    quality.publish(spark, config, "select", PROFILE, profile, replacing=in_months, month=months[-1])
    table = [
        f"invited profile {months[-1]}: the selector's first choices (as many as the target) beside the "
        "published APASS profile",
        f"{'figure':<34} {'measured':>14}  {'published':<22} ok",
    ]
    table += [f"{f:<34} {m:>14}  {p:<22} {'' if ok is None else 'yes' if ok else 'NO'}" for f, m, p, ok in lines]
    return "\n".join(table)


def monitor_stability(spark: SparkSession, config: Config, months: list[str], features: list[str]) -> None:
    """PSI of every selector input and of the model score against the month before (ops.stability, metrics
    ``selector.<name>``), for every month of ``months`` whose month before has candidates: one plan, one
    validation and one commit for all of them (transforms/apass/stability.py)."""
    read = sorted({*months, *(add_months(m, -1) for m in months)})
    candidates = tables.read(spark, config, CANDIDATES).filter(F.col("month").isin(read))
    scored = tables.read(spark, config, SELECTION).filter(F.col("month").isin(read))
    rows = candidates.join(scored.select("user_id", "month", "model_score"), ["user_id", "month"], "left")
    tables.ensure(spark, config, catalog.table(STABILITY))
    in_months = ", ".join(tables.sql_literal(m) for m in months)
    with timed("select", f"stability {month_span(months)}") as t:
        psi = selector_stability(rows, months=months, features=features)
        replacing = f"month IN ({in_months}) AND metric LIKE '{SELECTOR_METRICS}%'"
        t.rows_out = quality.publish(spark, config, "select", STABILITY, psi, replacing=replacing, month=months[-1])


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
