"""Run the monthly pipeline: ingest -> conform -> aggregate -> score -> train -> promote -> select -> renew
-> personas -> report.

With --month M the batch M is ingested, conformed and aggregated into gold
slices (its late events count in their own months from now on), and month M
is scored (with every month whose inputs changed, if any).
Without --month, every new file in the landing is ingested, every batch that
received files is conformed, and every month is aggregated and scored, in
one pass per stage: the tables end up exactly as after one monthly run per
batch, in order (a test proves it). When months were scored, the APASS
selector is retrained as of the latest one, promoted if it beats the
champion, and the champion selects the invitations of every scored month
after the last one selected (with --month, of that month), in order, each
filling the membership to its target; then the renewals of the
memberships ending this year and last year are evaluated.
A world too small or too young to train on logs why and skips the selector.
Then the month's high-value members are segmented into personas and the
run report is written (report.enabled; a world too small to segment skips
the personas only). Ends with the reconciliation of the batches it
conformed, per-table row counts, the calibration table of the latest scored
month and the path of its report.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs import aggregate, conform, ingest, score
from jobs.runtime import gold_log, privacy, quality, tables
from jobs.runtime.config import Config, check_month
from jobs.runtime.errors import UserError
from transforms import catalog

log = logging.getLogger(__name__)

DESCRIPTION = __doc__
# The stages of one monthly run, in the order this module chains them (databricks.yml's task graph is
# tested against it). `run` itself also skips what is up to date, and train/select on a world too young.
CHAIN = ("ingest", "conform", "aggregate", "score", "train", "promote", "select", "renew", "personas", "report")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--month", help="month YYYY-MM to run (default: every month in the landing, in order)")


def execute(spark: SparkSession, config: Config, args: argparse.Namespace) -> str | None:
    started = time.time()
    if config.report.enabled:
        privacy.key(config, spark)  # the report names members by pseudonym: a missing key fails now, not at the end
    landed = ingest.landed_months(spark, config)
    if args.month and check_month(args.month) not in landed:
        raise UserError(f"no landing batch for {args.month}: landed months are {', '.join(landed)}")
    ingest.ingest(spark, config, [args.month] if args.month else landed)
    quality.flush(spark)  # each stage's checks on record as it ends, not at the end of the run
    months = [args.month] if args.month else conform.pending_months(spark, config)
    if months:
        log.info("run: conforming batch(es) %s", ", ".join(months))
        print(conform.reconciliation_table(conform.conform(spark, config, months)))
        quality.flush(spark)
    else:
        log.info("run: nothing new to conform")
    stale = aggregate.stale_batches(spark, config)
    if stale:
        log.info("run: aggregating batch(es) %s", ", ".join(stale))
        aggregate.aggregate(spark, config, stale)
        quality.flush(spark)
    to_score = score.stale_months(spark, config)
    if to_score:
        log.info("run: scoring month(s) %s", ", ".join(to_score))
        score.score_months(spark, config, to_score)
        quality.flush(spark)
    scored = sorted(gold_log.computed(spark, config, score.SCORES))
    if scored:
        latest = args.month if args.month in scored else scored[-1]
        selected = sorted(gold_log.computed(spark, config, "gold.apass_selection"))
        if to_score or latest not in selected:
            after_last = [m for m in scored if not selected or m > selected[-1]]
            apass_stages(spark, config, [latest] if args.month in scored or not after_last else after_last)
            quality.flush(spark)
    report_path = None
    if scored and config.report.enabled and (to_score or months):
        report_path = report_stages(spark, config, latest, started=started, conformed=months)
    print(table_counts(spark, config))
    if scored:
        print(score.calibration_report(spark, config, latest))
        print(f"scores of {latest}: {tables.location(config, score.SCORES)} (month = '{latest}')")
        if report_path is None and os.path.exists(os.path.join(config.reports_dir(latest), "index.html")):
            report_path = os.path.abspath(os.path.join(config.reports_dir(latest), "index.html"))
    # the CLI prints it last, after the quality summary: the line a newcomer opens
    return f"report: {report_path}" if report_path else None


def report_stages(spark: SparkSession, config: Config, month: str, *, started: float, conformed: list[str]) -> str:
    """personas, then the run manifest and the report of ``month``; returns the report's path."""
    from jobs import personas, report
    from jobs.runtime.logs import TIMINGS

    try:
        personas.personas(spark, config, month)
    except personas.TooFewMembersError as err:
        log.warning("run: no personas for %s: %s", month, err)
    manifest = report.write_manifest(
        config, month, run_id=quality.RUN.run_id, timings=list(TIMINGS), started=started, conformed=conformed
    )
    log.info("run: manifest %s", manifest)
    return report.report(spark, config, month, manifest=report.read_manifest(config, month))


def apass_stages(spark: SparkSession, config: Config, months: list[str]) -> None:
    """train (as of the last of ``months``) -> promote -> select ``months``, then the renewals ending in the last
    one's year and the year before."""
    from jobs import model_registry, promote, renew, selection, train

    month = months[-1]
    try:
        train.train(spark, config, month)
        _, reason = promote.promote(config)
        print(reason)
    except train.TooFewLabelsError as err:
        log.warning("run: the APASS selector was not retrained: %s", err)
        if not model_registry.may_hold_models(config):
            log.warning("run: no APASS selection for %s: no selector was ever trained here", month)
            return
    try:
        selection.select(spark, config, months)
    except model_registry.MissingModelError as err:
        log.warning("run: no APASS selection for %s: %s", month, err)
        return
    latest_batch = sorted(gold_log.computed(spark, config, "gold.user_month"))[-1]
    for year in (int(month[:4]) - 1, int(month[:4])):
        renew.renew(spark, config, year, latest_batch=latest_batch)


def table_counts(spark: SparkSession, config: Config) -> str:
    """Rows per published table (a count per table, nothing per user)."""
    names = [f"bronze.{s}" for s in config.enabled_sources()] + list(catalog.CATALOG)
    lines = [f"{'table':<32} {'rows':>12}  location"]
    for name in names:
        if tables.exists(spark, config, name):
            lines.append(f"{name:<32} {tables.read(spark, config, name).count():>12,}  {tables.location(config, name)}")
    quarantine = "silver.quarantine"
    if tables.exists(spark, config, quarantine):
        by_reason = tables.read(spark, config, quarantine).groupBy("reason").count().orderBy(F.desc("count")).collect()
        lines.append("quarantine by reason: " + ", ".join(f"{r['reason']}={r['count']:,}" for r in by_reason))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from jobs.cli import main as cli_main

    return cli_main(["run", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
