"""Aggregate silver events into gold.user_month: one row of additive partials per member and month.

With --month M, month M is recomputed from its silver events. Without it,
every month whose events changed since it was last aggregated is recomputed:
months never aggregated, months that late events of a newer batch fell into,
and every month if the cap table changed. Each month reads only its own
silver partitions and replaces only its own gold partition.
"""

from __future__ import annotations

import argparse
import logging
import sys

from pyspark.sql import SparkSession

from jobs.runtime import gold_log, tables
from jobs.runtime.config import Config, check_month
from jobs.runtime.errors import UserError
from jobs.runtime.logs import timed
from transforms.gold.user_month import user_month
from transforms.schemas import GOLD_TABLES

log = logging.getLogger(__name__)

DESCRIPTION = __doc__
USER_MONTH = "gold.user_month"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--month", help="month YYYY-MM to (re)aggregate (default: every month whose events changed)")


def execute(spark: SparkSession, config: Config, args: argparse.Namespace) -> None:
    if args.month:
        months = [checked_data_month(spark, config, args.month)]
    else:
        months = stale_months(spark, config)
    if not months:
        log.info("aggregate: every month is up to date (use --month to redo one)")
        return
    aggregate(spark, config, months)


def checked_data_month(spark: SparkSession, config: Config, month: str) -> str:
    """``month`` if silver holds events of it, else a UserError listing the months that do."""
    check_month(month)
    months = gold_log.data_months(gold_log.batches(spark, config))
    if month not in months:
        known = f"{months[0]} to {months[-1]}" if months else "none"
        raise UserError(f"no events for {month} in silver (months with events: {known}): "
                        f"land and conform that batch first (`taoqi run --month {month}`)")
    return month


def caps_fingerprint(config: Config) -> str:
    return gold_log.settings_fingerprint(config.scoring.caps)


def stale_months(spark: SparkSession, config: Config) -> list[str]:
    """Months with events whose gold.user_month is missing, older than a batch touching them, or from other caps."""
    batches = gold_log.batches(spark, config)
    done = gold_log.computed(spark, config, USER_MONTH)
    settings = caps_fingerprint(config)
    stale = set()
    for month in gold_log.data_months(batches):
        last = done.get(month)
        if last is None or last.settings != settings:
            stale.add(month)
    for batch in batches:
        for month in gold_log.event_months_touched(batch):
            if month in done and batch.conformed_at > done[month].at:
                stale.add(month)
    return sorted(stale)


def aggregate(spark: SparkSession, config: Config, months: list[str]) -> None:
    """Recompute gold.user_month for ``months`` (each replaces its own partition)."""
    schema, partition = GOLD_TABLES["user_month"]
    tables.ensure(spark, config, USER_MONTH, schema, partition_by=(partition,))
    orders = tables.read(spark, config, "silver.orders")
    interactions = tables.read(spark, config, "silver.interactions")
    service = tables.read(spark, config, "silver.service_events")
    settings = caps_fingerprint(config)
    for month in sorted(months):
        with timed("aggregate", f"user_month {month}") as t:
            partials = user_month(orders, interactions, service, month=month, caps=config.scoring.caps)
            tables.replace_where(partials, config, USER_MONTH, f"month = {tables.sql_literal(month)}")
            t.rows_out = tables.last_operation_metrics(spark, config, USER_MONTH).get("numOutputRows", 0)
        gold_log.record(spark, config, USER_MONTH, month, settings, t.rows_out)


def main(argv: list[str] | None = None) -> int:
    from jobs.cli import main as cli_main

    return cli_main(["aggregate", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
