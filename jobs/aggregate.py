"""Aggregate silver into gold.user_month: each member's month as each landing batch knows it.

A landing batch's "slices": one row per member and month the batch changed
(events of the month, up to ``conform.late_tolerance_months`` late, or a risk
flag on one of its orders), holding the whole month as the batch knows it:
every event that had arrived by then, caps applied to the month. The score
of month M reads each month's latest slice up to batch M. With --month M,
batch M is recomputed. Without it, every batch conformed since it was last
aggregated is (and those after it whose months it feeds), and every batch if
the cap table changed: all of them in one Spark plan, one validation and one
Delta commit, with the same rows as one batch at a time.
"""

from __future__ import annotations

import argparse
import logging
import sys

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.runtime import gold_log, quality, tables
from jobs.runtime.config import Config, check_month
from jobs.runtime.errors import UserError
from jobs.runtime.logs import month_span, timed
from jobs.runtime.registry import configured_platforms
from transforms import catalog
from transforms.gold.user_month import batch_slices
from transforms.months import add_months

log = logging.getLogger(__name__)

DESCRIPTION = __doc__
USER_MONTH = "gold.user_month"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--month", help="batch YYYY-MM to (re)aggregate (default: every batch conformed since)")


def execute(spark: SparkSession, config: Config, args: argparse.Namespace) -> None:
    batches = [checked_batch(spark, config, args.month)] if args.month else stale_batches(spark, config)
    if not batches:
        log.info("aggregate: every batch is up to date (use --month to redo one)")
        return
    aggregate(spark, config, batches)


def checked_batch(spark: SparkSession, config: Config, month: str) -> str:
    """``month`` if it is a conformed batch with events, else a UserError listing the batches."""
    check_month(month)
    batches = gold_log.event_batches(gold_log.batches(spark, config))
    if month not in batches:
        known = f"{batches[0]} to {batches[-1]}" if batches else "none"
        raise UserError(
            f"no events for {month} in silver (conformed batches: {known}): "
            f"land and conform that batch first (`taoqi run --month {month}`)"
        )
    return month


def caps_fingerprint(config: Config) -> str:
    return gold_log.settings_fingerprint(config.scoring.caps, config.conform.late_tolerance_months)


def stale_batches(spark: SparkSession, config: Config) -> list[str]:
    """Batches whose slices are missing, from other caps, or older than a conform they depend on.

    A batch's slices read the silver rows of the months it can change (up to
    ``late_tolerance_months + 1`` before it: a late flag's order) from every
    batch up to it, and the orders their after-sales tickets name (as many
    months again before those), so re-conforming a batch also makes the next
    ``2 * (late_tolerance_months + 1)`` stale.
    """
    conformed = gold_log.batches(spark, config)
    done = gold_log.computed(spark, config, USER_MONTH)
    settings = caps_fingerprint(config)
    reach = 2 * (config.conform.late_tolerance_months + 1)
    stale = []
    for batch in gold_log.event_batches(conformed):
        last = done.get(batch)
        if (
            last is None
            or last.settings != settings
            or any(
                b.target != gold_log.ACCOUNTS_TARGET
                and add_months(batch, -reach) <= b.ingest_month <= batch
                and b.conformed_at > last.at
                for b in conformed
            )
        ):
            stale.append(batch)
    return stale


def slices_of(spark: SparkSession, config: Config, batches: list[str]) -> DataFrame:
    """The slices of ``batches`` from silver under ``config``'s caps, as one plan (not written)."""
    silver = {
        t: tables.read(spark, config, f"silver.{t}") for t in ("orders", "interactions", "service_events", "risk_flags")
    }
    return batch_slices(
        silver["orders"],
        silver["interactions"],
        silver["service_events"],
        silver["risk_flags"],
        batches=batches,
        late_tolerance_months=config.conform.late_tolerance_months,
        caps=config.scoring.caps,
        platforms=configured_platforms(config),
    )


def aggregate(spark: SparkSession, config: Config, batches: list[str]) -> None:
    """Recompute the slices of ``batches`` in one plan and one commit (each batch replaces exactly its own rows)."""
    tables.ensure(spark, config, catalog.table(USER_MONTH))
    tolerance = config.conform.late_tolerance_months
    batches = sorted(batches)
    batch_list = ", ".join(tables.sql_literal(b) for b in batches)
    with timed("aggregate", f"user_month batches {month_span(batches)}") as t:
        slices = slices_of(spark, config, batches)
        # the month bounds let Delta prune partitions; the rows are those of the batches
        oldest = add_months(batches[0], -(tolerance + 1))
        t.rows_out = quality.publish(
            spark,
            config,
            "aggregate",
            USER_MONTH,
            slices,
            replacing=f"month >= '{oldest}' AND month <= '{batches[-1]}' AND batch IN ({batch_list})",
            month=batches[-1],
        )
        # the slices each batch got, for ops.gold_log: counted on the table (exact, whatever Spark ran twice)
        written = {
            r["batch"]: r["count"]
            for r in tables.read(spark, config, USER_MONTH)
            .filter(F.col("month").between(oldest, batches[-1]) & F.col("batch").isin(batches))
            .groupBy("batch")
            .count()
            .collect()
        }
    gold_log.record_months(
        spark, config, [USER_MONTH], {b: written.get(b, 0) for b in batches}, caps_fingerprint(config)
    )


def main(argv: list[str] | None = None) -> int:
    from jobs.cli import main as cli_main

    return cli_main(["aggregate", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
