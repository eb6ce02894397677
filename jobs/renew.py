"""The yearly APASS renewal: A-energy points of every membership year ending in a year, and the warning list.

The membership years are those of gold.apass_members (`taoqi select` keeps
it): each runs 12 months from its start. Its qualifying spend is genuine spend net of refunds
(risk-flagged orders never count) over the year's months, from
gold.user_month as known by each month's batch; apass.renewal.points_curve
turns it into A-energy points (100,000 CNY = 60 points, the pass mark).
`apass.renewal.warn_months_before_expiry` months before the year ends,
every member still below the pass mark is warned: the warning list. A year
that is still running has its points to date and no pass/fail yet.
Writes gold.apass_renewals (the memberships ending in --year). --month M
evaluates what `taoqi run` evaluates for month M instead: the years ending
in M's year and in the year before (default: the latest scored month).

The rules are transforms/apass/renewal.py; this job reads and publishes.
"""

from __future__ import annotations

import argparse
import logging
import sys

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs import apass_inputs
from jobs.runtime import gold_log, quality, tables
from jobs.runtime.config import Config
from jobs.runtime.errors import UserError
from jobs.runtime.logs import timed
from transforms import catalog
from transforms.apass.renewal import membership_years, renewal_years, renewals

log = logging.getLogger(__name__)

DESCRIPTION = __doc__
RENEWALS = "gold.apass_renewals"
MEMBERS = "gold.apass_members"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--year", type=int, help="evaluate the membership years ending in YYYY")
    which.add_argument(
        "--month",
        help="evaluate the years `taoqi run` evaluates for the scored month YYYY-MM: "
        "those ending in its year and in the year before (default, or empty: "
        "the latest scored month)",
    )


def execute(spark: SparkSession, config: Config, args: argparse.Namespace) -> None:
    batches = sorted(gold_log.computed(spark, config, apass_inputs.USER_MONTH))
    if not batches:
        raise UserError("gold.user_month is empty: run `taoqi run` first")
    if args.year is not None:
        first_year, last_year = int(batches[0][:4]), int(batches[-1][:4]) + 1
        if not first_year <= args.year <= last_year:
            raise UserError(
                f"--year {args.year} is outside the data ({batches[0]} to {batches[-1]}): "
                f"pick {first_year} to {last_year}"
            )
        years: tuple[int, ...] = (args.year,)
    else:
        # the month must be scored, as in `taoqi run` (which renews for the month it scored); an empty --month is
        # the latest one, like the other stages' (the Databricks job passes its month parameter, empty by default)
        years = renewal_years(apass_inputs.scored_month(spark, config, args.month or None))
    for year in years:
        renew(spark, config, year, latest_batch=batches[-1])


def renew(spark: SparkSession, config: Config, year: int, *, latest_batch: str) -> None:
    """gold.apass_renewals of the membership years ending in ``year``, with data up to ``latest_batch``."""
    r = config.apass.renewal
    if not tables.exists(spark, config, MEMBERS):
        raise UserError("gold.apass_members is empty: run `taoqi select` (or `taoqi run`) first")
    tables.ensure(spark, config, catalog.table(RENEWALS))
    with timed("renew", f"A-energy {year}") as t:
        members = membership_years(
            tables.read(spark, config, MEMBERS).filter(F.col("month") <= latest_batch)
        ).localCheckpoint(eager=True)
        user_month = tables.read(spark, config, apass_inputs.USER_MONTH).join(
            F.broadcast(members.select("user_id").distinct()), "user_id", "left_semi"
        )
        result = renewals(
            members,
            user_month,
            year=year,
            latest_batch=latest_batch,
            curve=r.points_curve,
            pass_points=r.pass_points,
            warn_before=r.warn_months_before_expiry,
        )
        t.rows_out = quality.publish(
            spark, config, "renew", RENEWALS, result, replacing=f"expiry_year = {int(year)}", month=f"{year}-12"
        )
    summary = (
        tables.read(spark, config, RENEWALS)
        .filter(F.col("expiry_year") == year)
        .groupBy("status")
        .agg(F.count("*").alias("n"), F.count(F.when(F.col("warned"), 1)).alias("warned"))
        .collect()
    )
    by_status = {row["status"]: row["n"] for row in summary}
    warned = sum(row["warned"] for row in summary)
    print(
        f"APASS renewal, membership years ending in {year} (data to {latest_batch}): "
        + (", ".join(f"{k} {v}" for k, v in sorted(by_status.items())) or "none")
        + f"; warning list (below {r.pass_points:g} points {r.warn_months_before_expiry} month(s) before expiry): "
        f"{warned} member(s)"
    )
    print(f"renewals: {tables.location(config, RENEWALS)} (expiry_year = {year}; warned = true is the warning list)")


def main(argv: list[str] | None = None) -> int:
    from jobs.cli import main as cli_main

    return cli_main(["renew", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
