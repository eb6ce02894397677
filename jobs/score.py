"""Score members as of a month: gold.user_features, gold.scores and gold.service_routing.

For a month M: roll the 12 months of gold.user_month ending at M up per
member (gold.user_features), then compute the four components, the score,
band, grade, 88VIP fee, credit level C0-C6, the change since M-1 and the
growth perk, the gap to the next band and the points needed to keep the
band (gold.scores), and the customer-service queue (gold.service_routing).

The score of month M is what was known by batch M: the slices of batches up
to M, so a published score never changes when later batches bring late
events (those count from the month they arrive in). With --month M, month
M is (re)scored. Without it, every month whose inputs changed since it was
scored is, oldest first: new months, months whose batches were aggregated
again, months after a rescored month, and every month if conf/scoring.yaml
changed.
"""

from __future__ import annotations

import argparse
import logging
import sys

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs import apass_inputs
from jobs.runtime import gold_log, quality, storage, tables
from jobs.runtime.config import Config, check_month
from jobs.runtime.errors import UserError
from jobs.runtime.logs import month_span, timed
from jobs.runtime.registry import configured_platforms
from transforms import catalog
from transforms.gold.calibration import check_lines, eligible_by_segment, score_shares
from transforms.gold.features import user_features
from transforms.gold.score import scores, service_routing
from transforms.gold.stability import metric_bins, stability_by_month
from transforms.months import add_months

log = logging.getLogger(__name__)

DESCRIPTION = __doc__
USER_MONTH = "gold.user_month"
FEATURES = "gold.user_features"
SCORES = "gold.scores"
ROUTING = "gold.service_routing"
STABILITY = "ops.stability"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--month",
        help="month YYYY-MM to (re)score, or several as YYYY-MM,YYYY-MM,... (one plan "
        "for all of them; default: every month whose inputs changed)",
    )


def execute(spark: SparkSession, config: Config, args: argparse.Namespace) -> None:
    tables.read(spark, config, USER_MONTH)  # missing -> "run `taoqi aggregate` first"
    if args.month:
        aggregated = gold_log.computed(spark, config, USER_MONTH)
        months = sorted({check_month(m.strip()) for m in args.month.split(",")})
        for month in months:
            if month not in aggregated:
                raise UserError(
                    f"gold.user_month has no slices of batch {month}: run `taoqi aggregate --month {month}` first"
                )
    else:
        months = stale_months(spark, config)
    if not months:
        log.info("score: every month is up to date (use --month to redo one)")
        return
    score_months(spark, config, months)


def scoring_fingerprint(config: Config) -> str:
    return gold_log.settings_fingerprint(config.scoring)


def stale_months(spark: SparkSession, config: Config) -> list[str]:
    """Months whose scores are missing or older than what they were computed from, oldest first.

    The score of month M uses the slices of batches up to M, the accounts
    known by batch M and the score of M-1; rescoring a month therefore makes
    the months after it stale too. A new batch leaves every earlier month as
    it was: only its own month is scored.
    """
    aggregated = gold_log.computed(spark, config, USER_MONTH)
    done = gold_log.computed(spark, config, SCORES)
    accounts = [b for b in gold_log.batches(spark, config) if b.target == gold_log.ACCOUNTS_TARGET]
    settings = scoring_fingerprint(config)
    stale: list[str] = []
    for month in sorted(aggregated):
        last = done.get(month)
        if (
            stale
            or last is None
            or last.settings != settings
            or any(b <= month and at.at > last.at for b, at in aggregated.items())
            or any(b.ingest_month <= month and b.conformed_at > last.at for b in accounts)
        ):
            stale.append(month)
    return stale


def score_months(spark: SparkSession, config: Config, months: list[str]) -> None:
    """Compute features, scores, routing and stability for ``months`` in one plan per table.

    Each table gets one validation and one Delta commit for all of ``months``:
    the roll-ups of every month from one pass over the slices, each month's
    change against the month before (in the set or already published).
    """
    for name in (FEATURES, SCORES, ROUTING):
        tables.ensure(spark, config, catalog.table(name))
    s = config.scoring
    settings = scoring_fingerprint(config)
    months = sorted(months)
    span = month_span(months)
    month_list = ", ".join(tables.sql_literal(m) for m in months)
    with timed("score", f"features {span}") as t:
        features = user_features(
            tables.read(spark, config, USER_MONTH),
            tables.read(spark, config, "silver.accounts"),
            as_of_months=months,
            window=s.window_months,
            orders_monthly_cap=s.orders_monthly_cap,
            interaction_monthly_caps=s.interaction_monthly_caps,
            interaction_weights=s.interaction_weights,
            platforms=configured_platforms(config),
        )
        accounts = {"accounts": tables.read(spark, config, "silver.accounts").select("user_id")}
        t.rows_out = quality.publish(
            spark,
            config,
            "score",
            FEATURES,
            features,
            replacing=f"as_of_month IN ({month_list})",
            month=months[-1],
            references=accounts,
        )
    with timed("score", f"scores {span}") as t:
        # the months before the set's months that are not in it: already published
        before = sorted({add_months(m, -1) for m in months} - set(months))
        previous = tables.read(spark, config, SCORES).filter(F.col("month").isin(before))
        result = scores(tables.read(spark, config, FEATURES).filter(F.col("as_of_month").isin(months)), previous, s)
        t.rows_out = quality.publish(
            spark, config, "score", SCORES, result, replacing=f"month IN ({month_list})", month=months[-1]
        )
        published = tables.read(spark, config, SCORES).filter(F.col("month").isin(months))
        routing = service_routing(published, queues=s.service_queues)
        quality.publish(
            spark, config, "score", ROUTING, routing, replacing=f"month IN ({month_list})", month=months[-1]
        )
        # members per month, for ops.gold_log: counted on the table (exact, whatever Spark ran twice)
        counts = {r["month"]: r["count"] for r in published.groupBy("month").count().collect()}
    monitor_stability(spark, config, months)
    # recorded last: a run lost before this finds the months still to score, and replaces what it wrote
    gold_log.record_months(spark, config, [FEATURES, SCORES], {m: counts.get(m, 0) for m in months}, settings)


def monitor_stability(spark: SparkSession, config: Config, months: list[str]) -> None:
    """PSI of each month's score, components and grades against the month before (ops.stability), for the
    months of ``months`` whose month before is scored, in one aggregation and one commit."""
    scored_months = {*gold_log.computed(spark, config, SCORES), *months}
    months = [m for m in months if add_months(m, -1) in scored_months]
    if not months:  # the first month scored: nothing to compare with
        return
    s, q = config.scoring, config.quality.stability
    specs = metric_bins(
        score_edges=q.score_edges, component_maxima=s.component_maxima(), component_bins=q.component_bins
    )
    both = sorted({*months, *(add_months(m, -1) for m in months)})
    scored = tables.read(spark, config, SCORES).filter(F.col("month").isin(both))
    tables.ensure(spark, config, catalog.table(STABILITY))
    month_list = ", ".join(tables.sql_literal(m) for m in months)
    with timed("score", f"stability {month_span(months)}"):
        psi = stability_by_month(scored, months=months, specs=specs)
        # the selector's rows of the month (metric selector.*) are `taoqi select`'s
        replacing = f"month IN ({month_list}) AND metric NOT LIKE 'selector.%'"
        quality.publish(spark, config, "score", STABILITY, psi, replacing=replacing, month=months[-1])


def calibration_report(spark: SparkSession, config: Config, month: str) -> str:
    """The published calibration figures beside the ones measured on ``month``'s scores.

    On a synthetic world the generator's hidden truth, when present, adds how
    many adversarial accounts reached the APASS band.
    """
    lines = [
        f"calibration {month}: the measured figures beside the published ones",
        f"{'figure':<34} {'measured':<34} {'published':<18} ok",
    ]
    for figure, measured, published, ok in calibration_lines(spark, config, month):
        mark = "" if ok is None else ("yes" if ok else "NO")
        lines.append(f"{figure:<34} {measured:<34} {published:<18} {mark}")
    return "\n".join(lines)


def calibration_lines(spark: SparkSession, config: Config, month: str) -> list[tuple[str, str, str, bool | None]]:
    """(figure, measured, published, within) of the calibration table of ``month`` (one aggregate)."""
    bands = config.scoring.bands
    month_scores = tables.read(spark, config, SCORES).filter(F.col("month") == month)
    shares = score_shares(month_scores, super_floor=bands.super, gates=apass_inputs.gates(config)).first().asDict()
    by_segment = None
    truth_path = config.truth_path("users")
    if storage.exists(spark, truth_path):
        by_segment = {
            r["segment"]: r["count"]
            for r in eligible_by_segment(
                month_scores, spark.read.parquet(truth_path), apass_floor=bands.apass_eligible
            ).collect()
        }
    adversaries = {n for n, seg in config.generator.segments.items() if seg.kind == "adversary"}
    return check_lines(shares, by_segment, adversaries)


def main(argv: list[str] | None = None) -> int:
    from jobs.cli import main as cli_main

    return cli_main(["score", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
