"""Run the monthly pipeline: ingest -> conform for one month, or for every landed month in order.

Each month's batch is ingested into bronze and conformed into silver before
the next month starts, so a run over a landing of 13 months leaves the same
tables as 13 monthly runs. Ends with per-table row counts and the
reconciliation of every source and batch it conformed.
"""

from __future__ import annotations

import argparse
import logging
import sys

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs import conform, ingest
from jobs.runtime import tables
from jobs.runtime.config import Config, check_month
from jobs.runtime.errors import UserError
from transforms.schemas import SILVER_TABLES

log = logging.getLogger(__name__)

DESCRIPTION = __doc__


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--month", help="month YYYY-MM to run (default: every month in the landing, in order)")


def execute(spark: SparkSession, config: Config, args: argparse.Namespace) -> None:
    landed = ingest.landed_months(spark, config)
    if args.month and check_month(args.month) not in landed:
        raise UserError(f"no landing batch for {args.month}: landed months are {', '.join(landed)}")
    report = []
    for month in [args.month] if args.month else landed:
        log.info("run: month %s", month)
        ingest.ingest_month(spark, config, month)
        report += conform.conform_month(spark, config, month)
    print(conform.reconciliation_table(report))
    print(table_counts(spark, config))


def table_counts(spark: SparkSession, config: Config) -> str:
    """Rows per published bronze and silver table (a count per table, nothing per user)."""
    names = [f"bronze.{s}" for s in config.enabled_sources()] + [f"silver.{t}" for t in SILVER_TABLES] \
        + ["silver.quarantine", "ops.reconciliation", "ops.ingest_manifest"]
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
