"""The yearly APASS renewal: membership years, their A-energy points and the warning list.

The rules of ``taoqi renew`` (docs/apass.md#renewal-a-energy), as DataFrame
-> DataFrame functions; ``jobs/renew.py`` reads the tables and publishes
what these return.

- A membership year runs 12 months from its start, the start month
  included (2025-03 to 2026-02). It starts at an invitation
  (gold.apass_selection) or at a yearly review that kept the member
  (silver.apass_reviews); a start inside a running membership year opens
  no other.
- Its qualifying spend is genuine spend net of refunds (risk-flagged orders
  never count) over the year's months, each month as known by the batch of
  the month evaluated; apass.renewal.points_curve turns it into A-energy
  points (100,000 CNY = 60 points, the pass mark).
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
from transforms.schemas import AMOUNT_SUM, conform_to

MEMBERSHIP_MONTHS = 12
STARTS_COLUMNS = "user_id long, membership_start string, source string"  # what the start functions return


def renewal_years(month: str) -> tuple[int, int]:
    """The expiry years a monthly run of ``month`` evaluates: the year before ``month``'s, then its own."""
    return int(month[:4]) - 1, int(month[:4])


def _shift(month: Column, months: int) -> Column:
    """The month ``months`` after ``month`` (both YYYY-MM)."""
    return F.date_format(F.add_months(F.to_date(F.concat(month, F.lit("-01"))), months), "yyyy-MM")


def review_starts(reviews: DataFrame, *, known_by: str) -> DataFrame:
    """Membership starts from silver.apass_reviews: the reviews that kept the member, known by batch
    ``known_by`` (``ingest_month``); the year starts in the review's month."""
    return reviews.filter((F.col("outcome") == "kept") & (F.col("ingest_month") <= known_by)).select(
        "user_id", F.col("event_month").alias("membership_start"), F.lit("review").alias("source")
    )


def invitation_starts(selection: DataFrame) -> DataFrame:
    """Membership starts from gold.apass_selection: every invitation (by the model or by an override),
    starting in the month of the selection."""
    return selection.filter("invited").select(
        "user_id", F.col("month").alias("membership_start"), F.lit("invitation").alias("source")
    )


def memberships(reviews: DataFrame, invitations: DataFrame) -> DataFrame:
    """(user_id, membership_start, source): kept reviews and invitations; a start inside a running year
    (within 12 months of the start of the member's last membership year, not of the start before it)
    opens none."""
    # Which start opens a year depends on which earlier ones did: a fold over each member's few starts in
    # order (a month's invitation sorts before its review, "invitation" < "review"), keeping a start only
    # after the last kept one's year has run out; a second start in the same month is inside that year.
    ordered = (
        reviews.unionByName(invitations)
        .groupBy("user_id")
        .agg(F.array_sort(F.collect_list(F.struct("membership_start", "source"))).alias("_starts"))
    )
    years = F.aggregate(
        "_starts",
        F.array().cast(ordered.schema["_starts"].dataType),
        lambda kept, start: (
            F.when(F.size(kept) == 0, F.concat(kept, F.array(start)))
            .when(
                start["membership_start"] > _shift(F.element_at(kept, -1)["membership_start"], MEMBERSHIP_MONTHS - 1),
                F.concat(kept, F.array(start)),
            )
            .otherwise(kept)
        ),
    )
    return ordered.select("user_id", F.inline(years))


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
    """gold.apass_renewals rows of the memberships (:func:`memberships`) ending in ``year``.

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
    expiry = _shift(F.col("membership_start"), MEMBERSHIP_MONTHS - 1)
    ending = members.select("*", expiry.alias("expiry_month")).filter(F.col("expiry_month").startswith(f"{year}-"))
    ending = ending.select(
        "*",
        F.least(F.col("expiry_month"), F.lit(latest_batch)).alias("as_of_month"),
        _shift(F.col("expiry_month"), -warn_before).alias("warning_month"),
    )
    qualifying = F.col("spend_cny") - F.col("refund_cny")
    as_of, warning = F.col("as_of_month"), F.col("warning_month")
    in_year = F.col("month").between(F.col("membership_start"), as_of) & known_by(as_of)
    by_warning = F.col("month").between(F.col("membership_start"), warning) & known_by(warning)
    slices = user_month.select("user_id", "month", "batch", "spend_cny", "refund_cny").transform(with_next_batch)
    spend = (
        ending.join(slices, "user_id", "left")
        .groupBy("user_id", "membership_start", "source", "expiry_month", "as_of_month", "warning_month")
        .agg(
            F.coalesce(F.sum(F.when(in_year, qualifying)), F.lit(0)).alias("_spend"),
            F.coalesce(F.sum(F.when(by_warning, qualifying)), F.lit(0)).alias("_spend_warning"),
        )
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
