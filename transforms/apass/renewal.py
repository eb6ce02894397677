"""The yearly APASS renewal: membership years, their A-energy points and the warning list.

The rules of ``taoqi renew`` (docs/apass.md#renewal-a-energy), as DataFrame
-> DataFrame functions; ``jobs/renew.py`` reads the tables and publishes
what these return.

- The membership years are those of gold.apass_members (each runs 12
  months from its start, the start month included: 2025-03 to 2026-02).
- Their qualifying spend is genuine spend net of refunds (risk-flagged
  orders never count) over the year's months, each month as known by the
  batch of the month evaluated; apass.renewal.points_curve turns it into
  A-energy points (100,000 CNY = 60 points, the pass mark).
- ``warn_months_before_expiry`` months before the year's last month (one:
  the month before it), every member still below the pass mark is warned.
- A year still running has its points to date and no pass/fail yet.
"""

from __future__ import annotations

import itertools

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from transforms import catalog
from transforms.gold.user_month import known_by, with_next_batch
from transforms.months import shift_months
from transforms.schemas import AMOUNT_SUM, conform_to

MEMBERSHIP_MONTHS = 12


def renewal_years(month: str) -> tuple[int, int]:
    """The expiry years a monthly run of ``month`` evaluates: the year before ``month``'s, then its own."""
    return int(month[:4]) - 1, int(month[:4])


def membership_years(members: DataFrame) -> DataFrame:
    """(user_id, membership_start, source): every membership year of gold.apass_members, with how its membership
    began; a year a removal ended has no renewal."""
    return (
        members.groupBy("user_id", F.col("year_start").alias("membership_start"), F.col("joined_by").alias("source"))
        .agg(F.max(F.col("status") == "removed").alias("_removed"))
        .filter(~F.col("_removed"))
        .drop("_removed")
    )


def qualifying_spend(years: DataFrame, user_month: DataFrame, *, as_of: dict[str, Column]) -> DataFrame:
    """``years`` (user_id, year_start and any columns) with one spend column per ``as_of`` entry: the genuine spend
    net of refunds of the months from ``year_start`` to that as-of month, as the as-of month's batch knows them
    (``user_month`` holds the members' gold.user_month slices; no slice: 0)."""
    qualifying = F.col("spend_cny") - F.col("refund_cny")
    slices = user_month.select("user_id", "month", "batch", "spend_cny", "refund_cny").transform(with_next_batch)
    sums = [
        F.coalesce(
            F.sum(F.when(F.col("month").between(F.col("year_start"), upto) & known_by(upto), qualifying)), F.lit(0)
        ).alias(name)
        for name, upto in as_of.items()
    ]
    return years.join(slices, "user_id", "left").groupBy(*years.columns).agg(*sums)


def points(spend: Column, curve: list[list[float]]) -> Column:
    """A-energy points of a qualifying spend: the piecewise-linear curve, flat after its last point,
    rounded to 2 decimals (0 -> 0, 100,000 CNY -> 60, 300,000 CNY -> 100 with the default curve)."""
    expr = F.lit(float(curve[-1][1]))
    for (x0, y0), (x1, y1) in reversed(list(itertools.pairwise(curve))):
        expr = F.when(spend < x1, F.lit(float(y0)) + (spend - x0) * F.lit((y1 - y0) / (x1 - x0))).otherwise(expr)
    return F.round(expr, 2)


def renewals(
    members: DataFrame,
    user_month: DataFrame,
    *,
    year: int,
    latest_batch: str,
    curve: list[list[float]],
    pass_points: float,
    warn_before: int,
) -> DataFrame:
    """gold.apass_renewals rows of the membership years (:func:`membership_years`) ending in ``year``.

    ``user_month`` holds the members' gold.user_month slices; data is known
    up to batch ``latest_batch``. Per membership year:

    - ``as_of_month``: its last month, or ``latest_batch`` while it runs;
    - ``qualifying_spend_cny``: spend net of refunds of the months from its
      start to ``as_of_month``, from the slices of batches up to
      ``as_of_month`` (never negative), and its ``a_energy_points``;
    - ``passed`` and ``status``: passed | failed once the year is complete
      (points >= ``pass_points``), in_progress before;
    - ``warning_month``: ``warn_before`` months before the last month; once
      it is reached, ``points_at_warning`` (the same sum up to it, as known
      by its batch) and ``warned`` when those are below the pass mark.
    """
    expiry = shift_months(F.col("membership_start"), MEMBERSHIP_MONTHS - 1)
    ending = members.select("*", expiry.alias("expiry_month")).filter(F.col("expiry_month").startswith(f"{year}-"))
    ending = ending.select(
        "*",
        F.least(F.col("expiry_month"), F.lit(latest_batch)).alias("as_of_month"),
        shift_months(F.col("expiry_month"), -warn_before).alias("warning_month"),
        F.col("membership_start").alias("year_start"),
    )
    spend = qualifying_spend(
        ending, user_month, as_of={"_spend": F.col("as_of_month"), "_spend_warning": F.col("warning_month")}
    )
    year_points = points(F.greatest(F.col("_spend").cast("double"), F.lit(0.0)), curve)
    warning_points = points(F.greatest(F.col("_spend_warning").cast("double"), F.lit(0.0)), curve)
    complete = F.col("as_of_month") >= F.col("expiry_month")
    warned_yet = F.col("warning_month") <= F.lit(latest_batch)
    passed = F.when(complete, year_points >= pass_points)
    schema = catalog.table("gold.apass_renewals").schema
    return conform_to(
        spend.select(
            "user_id",
            F.lit(year).alias("expiry_year"),
            "membership_start",
            "expiry_month",
            "source",
            "as_of_month",
            F.greatest(F.col("_spend"), F.lit(0)).cast(AMOUNT_SUM).alias("qualifying_spend_cny"),
            year_points.alias("a_energy_points"),
            passed.alias("passed"),
            "warning_month",
            F.when(warned_yet, warning_points).alias("points_at_warning"),
            F.when(warned_yet, warning_points < pass_points).alias("warned"),
            F.when(~complete, F.lit("in_progress"))
            .when(passed, F.lit("passed"))
            .otherwise(F.lit("failed"))
            .alias("status"),
        ),
        schema,
    )


def year_points(years: DataFrame, user_month: DataFrame, *, curve: list[list[float]]) -> DataFrame:
    """(user_id, a_energy_points) of ``years`` (user_id, year_start, as_of_month): the points of the year's
    qualifying spend up to its as-of month, as that month's batch knows it."""
    spend = qualifying_spend(years, user_month, as_of={"_spend": F.col("as_of_month")})
    return spend.select(
        "user_id", points(F.greatest(F.col("_spend").cast("double"), F.lit(0.0)), curve).alias("a_energy_points")
    )
