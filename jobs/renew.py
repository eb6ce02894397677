"""The yearly APASS renewal: A-energy points of every membership year ending in a year, and the warning list.

A membership year runs 12 months from its start: an invitation
(gold.apass_selection) or a yearly review that kept the member
(silver.apass_reviews); a start inside a running membership year does not
open another. Its qualifying spend is genuine spend net of refunds
(risk-flagged orders never count) over the year's months, from
gold.user_month as known by each month's batch; apass.renewal.points_curve
turns it into A-energy points (100,000 CNY = 60 points, the pass mark).
`apass.renewal.warn_months_before_expiry` months before the year ends,
every member still below the pass mark is warned: the warning list. A year
that is still running has its points to date and no pass/fail yet.
Writes gold.apass_renewals (the memberships ending in --year). --month M
evaluates what `taoqi run` evaluates for month M instead: the years ending
in M's year and in the year before (default: the latest scored month).
"""

from __future__ import annotations

import argparse
import logging
import sys

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs import apass_inputs
from jobs.runtime import gold_log, quality, tables
from jobs.runtime.config import Config
from jobs.runtime.errors import UserError
from jobs.runtime.logs import timed
from transforms.schemas import AMOUNT_SUM, GOLD_TABLES, conform_to

log = logging.getLogger(__name__)

DESCRIPTION = __doc__
RENEWALS = "gold.apass_renewals"
SELECTION = "gold.apass_selection"
MEMBERSHIP_MONTHS = 12


def add_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--year", type=int, help="evaluate the membership years ending in YYYY")
    which.add_argument("--month", help="evaluate the years `taoqi run` evaluates for the scored month YYYY-MM: "
                                       "those ending in its year and in the year before (default, or empty: "
                                       "the latest scored month)")


def renewal_years(month: str) -> tuple[int, int]:
    """The expiry years a monthly run of ``month`` evaluates: the year before ``month``'s, then its own."""
    return int(month[:4]) - 1, int(month[:4])


def execute(spark: SparkSession, config: Config, args: argparse.Namespace) -> None:
    batches = sorted(gold_log.computed(spark, config, apass_inputs.USER_MONTH))
    if not batches:
        raise UserError("gold.user_month is empty: run `taoqi run` first")
    if args.year is not None:
        first_year, last_year = int(batches[0][:4]), int(batches[-1][:4]) + 1
        if not first_year <= args.year <= last_year:
            raise UserError(f"--year {args.year} is outside the data ({batches[0]} to {batches[-1]}): "
                            f"pick {first_year} to {last_year}")
        years: tuple[int, ...] = (args.year,)
    else:
        # the month must be scored, as in `taoqi run` (which renews for the month it scored); an empty --month is
        # the latest one, like the other stages' (the Databricks job passes its month parameter, empty by default)
        years = renewal_years(apass_inputs.scored_month(spark, config, args.month or None))
    for year in years:
        renew(spark, config, year, latest_batch=batches[-1])


def _shift(month: Column, months: int) -> Column:
    return F.date_format(F.add_months(F.to_date(F.concat(month, F.lit("-01"))), months), "yyyy-MM")


def points(spend: Column, curve: list[list[float]]) -> Column:
    """A-energy points of a qualifying spend: the piecewise-linear curve, flat after its last point."""
    expr = F.lit(float(curve[-1][1]))
    for (x0, y0), (x1, y1) in reversed(list(zip(curve, curve[1:]))):
        expr = F.when(spend < x1, F.lit(float(y0)) + (spend - x0) * F.lit((y1 - y0) / (x1 - x0))).otherwise(expr)
    return F.round(expr, 2)


def memberships(reviews: DataFrame, invitations: DataFrame) -> DataFrame:
    """(user_id, membership_start, source): kept reviews and invitations; a start within 12 months of the
    member's previous start is inside a running year and opens none."""
    starts = reviews.unionByName(invitations).groupBy("user_id", "membership_start").agg(
        F.min("source").alias("source"))  # same month from both: "invitation" < "review"
    previous = F.lag("membership_start").over(Window.partitionBy("user_id").orderBy("membership_start"))
    return (starts.select("*", previous.alias("_previous"))
            .filter(F.col("_previous").isNull() | (F.col("membership_start") > _shift(F.col("_previous"),
                                                                                     MEMBERSHIP_MONTHS - 1)))
            .drop("_previous"))


def renewals(members: DataFrame, user_month: DataFrame, *, year: int, latest_batch: str, curve: list[list[float]],
             pass_points: float, warn_before: int) -> DataFrame:
    """gold.apass_renewals rows of the memberships ending in ``year``, with data up to ``latest_batch``."""
    expiry = _shift(F.col("membership_start"), MEMBERSHIP_MONTHS - 1)
    ending = members.select("*", expiry.alias("expiry_month")).filter(F.col("expiry_month").startswith(f"{year}-"))
    ending = ending.select("*", F.least(F.col("expiry_month"), F.lit(latest_batch)).alias("as_of_month"),
                           _shift(F.col("expiry_month"), -warn_before).alias("warning_month"))
    qualifying = F.col("spend_cny") - F.col("refund_cny")
    in_year = F.col("month").between(F.col("membership_start"), F.col("as_of_month")) \
        & (F.col("batch") <= F.col("as_of_month"))
    by_warning = F.col("month").between(F.col("membership_start"), F.col("warning_month")) \
        & (F.col("batch") <= F.col("warning_month"))
    spend = (ending.join(user_month.select("user_id", "month", "batch", "spend_cny", "refund_cny"), "user_id", "left")
             .groupBy("user_id", "membership_start", "source", "expiry_month", "as_of_month", "warning_month")
             .agg(F.coalesce(F.sum(F.when(in_year, qualifying)), F.lit(0)).alias("_spend"),
                  F.coalesce(F.sum(F.when(by_warning, qualifying)), F.lit(0)).alias("_spend_warning")))
    year_points = points(F.greatest(F.col("_spend").cast("double"), F.lit(0.0)), curve)
    warning_points = points(F.greatest(F.col("_spend_warning").cast("double"), F.lit(0.0)), curve)
    complete = F.col("as_of_month") >= F.col("expiry_month")
    warned_yet = F.col("warning_month") <= F.lit(latest_batch)
    passed = F.when(complete, year_points >= pass_points)
    schema, _ = GOLD_TABLES["apass_renewals"]
    return conform_to(spend.select(
        "user_id", F.lit(year).alias("expiry_year"), "membership_start", "expiry_month", "source", "as_of_month",
        F.greatest(F.col("_spend"), F.lit(0)).cast(AMOUNT_SUM).alias("qualifying_spend_cny"),
        year_points.alias("a_energy_points"), passed.alias("passed"), "warning_month",
        F.when(warned_yet, warning_points).alias("points_at_warning"),
        F.when(warned_yet, warning_points < pass_points).alias("warned"),
        F.when(~complete, F.lit("in_progress")).when(passed, F.lit("passed")).otherwise(F.lit("failed"))
        .alias("status")), schema)


def renew(spark: SparkSession, config: Config, year: int, *, latest_batch: str) -> None:
    r = config.apass.renewal
    reviews = (tables.read(spark, config, apass_inputs.REVIEWS)
               .filter((F.col("outcome") == "kept") & (F.col("ingest_month") <= latest_batch))
               .select("user_id", F.col("event_month").alias("membership_start"), F.lit("review").alias("source")))
    invitations = (tables.read(spark, config, SELECTION).filter("invited")
                   .select("user_id", F.col("month").alias("membership_start"), F.lit("invitation").alias("source"))
                   if tables.exists(spark, config, SELECTION)
                   else spark.createDataFrame([], "user_id long, membership_start string, source string"))
    schema, partition = GOLD_TABLES["apass_renewals"]
    tables.ensure(spark, config, RENEWALS, schema, partition_by=(partition,))
    with timed("renew", f"A-energy {year}") as t:
        members = memberships(reviews, invitations)
        user_month = tables.read(spark, config, apass_inputs.USER_MONTH).join(
            F.broadcast(members.select("user_id").distinct()), "user_id", "left_semi")
        result = renewals(members, user_month, year=year, latest_batch=latest_batch, curve=r.points_curve,
                          pass_points=r.pass_points, warn_before=r.warn_months_before_expiry)
        with quality.gate(spark, config, "renew", RENEWALS, result, month=f"{year}-12") as checked:
            t.rows_out = tables.replace_where(checked, config, RENEWALS, f"expiry_year = {int(year)}")
    summary = (tables.read(spark, config, RENEWALS).filter(F.col("expiry_year") == year)
               .groupBy("status").agg(F.count("*").alias("n"), F.count(F.when(F.col("warned"), 1)).alias("warned"))
               .collect())
    by_status = {row["status"]: row["n"] for row in summary}
    warned = sum(row["warned"] for row in summary)
    print(f"APASS renewal, membership years ending in {year} (data to {latest_batch}): "
          + (", ".join(f"{k} {v}" for k, v in sorted(by_status.items())) or "none")
          + f"; warning list (below {r.pass_points:g} points {r.warn_months_before_expiry} month(s) before expiry): "
          f"{warned} member(s)")
    print(f"renewals: {tables.location(config, RENEWALS)} (expiry_year = {year}; warned = true is the warning list)")


def main(argv: list[str] | None = None) -> int:
    from jobs.cli import main as cli_main

    return cli_main(["renew", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
