"""The APASS membership month by month: who is a member, since when, how they joined, how it ends.

The rules of gold.apass_members (docs/apass.md#the-membership), as DataFrame
-> DataFrame functions; ``jobs/selection.py`` runs them month after month
and publishes what they return.

A month's rows are its members, plus those whose membership ended in it:

- A membership begins with an invitation (``joined_by`` invitation, or
  override when an audited override invited the member) or, for the
  program's members before the job, with a membership review that kept
  them (``joined_by`` review, ``member_since`` the month the program
  invited them). Its years run 12 months, the first from that month.
- A membership review (silver.apass_reviews, kind membership) takes effect
  in the month its batch brings it: kept, the member begins a new year
  then; removed, the membership ends at once (``removed``, ended by
  review). An exclusion override of a member ends it at once too (ended by
  override, with the override's author and reason).
- ``apass.renewal.warn_months_before_expiry`` months before a year's last
  month, a member below the pass mark is ``warned`` until that last month.
  In the last month the year's A-energy points, as its batch knows them,
  decide: at the pass mark the member stays (``renewal`` passed) and the
  next year begins the month after; below it the membership ends
  (``lapsed``, ended by renewal).
- ``active`` and ``warned`` members are the stock; the month's invitations
  fill the gap to the target from everyone else, so a member is never
  invited again while the membership runs.
"""

from __future__ import annotations

import math

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from transforms import catalog
from transforms.apass.renewal import year_points
from transforms.months import add_months, shift_months
from transforms.schemas import conform_to

IN_STOCK = ("active", "warned")
MEMBERSHIP_MONTHS = 12
# What the job passes in, per month (the columns it selects).
REVIEW_COLUMNS = "user_id long, outcome string, invited_month string"
EXCLUSION_COLUMNS = "user_id long, override_author string, override_reason string"
POINTS_COLUMNS = "user_id long, a_energy_points double"
INVITATION_COLUMNS = "user_id long, joined_by string, override_author string, override_reason string"


def target_stock(members: int, member_share: float) -> int:
    """The members the program holds in a month of ``members`` scored members: ceil(members x member_share), at
    least one (0.0001: 1 in 10,000)."""
    return max(1, math.ceil(members * member_share))


def in_stock(members: DataFrame) -> DataFrame:
    """The rows of ``members`` that count in the stock: active or warned."""
    return members.filter(F.col("status").isin(*IN_STOCK))


def monthly_counts(members: DataFrame) -> DataFrame:
    """Per month of gold.apass_members: its rows, the stock (active and warned), the warned, the members who joined
    and the memberships that lapsed or were removed in it. One row per month."""
    status = F.col("status")
    return members.groupBy("month").agg(
        F.count("*").alias("rows"),
        F.count(F.when(status.isin(*IN_STOCK), 1)).alias("stock"),
        F.count(F.when(status == "warned", 1)).alias("warned"),
        F.count(F.when(F.col("member_since") == F.col("month"), 1)).alias("joined"),
        F.count(F.when(status == "lapsed", 1)).alias("lapsed"),
        F.count(F.when(status == "removed", 1)).alias("removed"),
    )


def continuing(previous: DataFrame, *, month: str) -> DataFrame:
    """The members of the month before (their in-stock rows) carried into ``month``: a year whose last month
    passed begins the next one (``membership_year`` + 1, active again); returns their membership columns."""
    rolled = F.col("expiry_month") < F.lit(month)
    return in_stock(previous).select(
        "user_id",
        "member_since",
        "joined_by",
        F.when(rolled, F.col("membership_year") + 1).otherwise(F.col("membership_year")).alias("membership_year"),
        F.when(rolled, F.lit(month)).otherwise(F.col("year_start")).alias("year_start"),
        F.when(rolled, F.lit("active")).otherwise(F.col("status")).alias("status"),
        "override_author",
        "override_reason",
    )


def points_due(carried: DataFrame, *, month: str, warn_before: int) -> DataFrame:
    """(user_id, year_start, as_of_month) of the carried members whose year has its warning or its last month in
    ``month``: the ones whose A-energy points the month needs (as of ``month``)."""
    expiry = shift_months(F.col("year_start"), MEMBERSHIP_MONTHS - 1)
    due = (F.lit(month) == expiry) | (F.lit(month) == shift_months(expiry, -warn_before))
    return carried.filter(due).select("user_id", "year_start", F.lit(month).alias("as_of_month"))


def month_rows(
    carried: DataFrame,
    *,
    month: str,
    reviews: DataFrame,
    exclusions: DataFrame,
    points: DataFrame,
    pass_points: float,
    warn_before: int,
) -> DataFrame:
    """gold.apass_members rows of ``month`` before its invitations.

    ``carried`` is :func:`continuing` of the month before; ``reviews`` the
    membership reviews the month's batch brought (REVIEW_COLUMNS);
    ``exclusions`` the exclusion overrides in force for the month
    (EXCLUSION_COLUMNS); ``points`` the A-energy points of the years
    :func:`points_due` named (POINTS_COLUMNS). In this order: a review, an
    exclusion, the year's last month, its warning month, else the status
    carried.
    """
    rows = (
        carried.withColumnRenamed("override_author", "_author")
        .withColumnRenamed("override_reason", "_reason")
        .join(reviews, "user_id", "full")
        .join(exclusions, "user_id", "left")
        .join(points, "user_id", "left")
    )
    member = F.col("member_since").isNotNull()
    reviewed_in = F.col("outcome").isNotNull() & ~member  # the program's member, known from its review
    kept, removed = F.col("outcome") == "kept", F.col("outcome") == "removed"
    excluded = member & F.col("override_author").isNotNull()
    year_start = (
        F.when(kept, F.lit(month))
        .when(reviewed_in, F.col("invited_month"))  # the year the review judged
        .otherwise(F.col("year_start"))
    )
    expiry = shift_months(year_start, MEMBERSHIP_MONTHS - 1)
    last_month = F.lit(month) == expiry
    warning_month = F.lit(month) == shift_months(expiry, -warn_before)
    below = F.coalesce(F.col("a_energy_points"), F.lit(0.0)) < F.lit(pass_points)
    due = F.col("outcome").isNull() & ~excluded & (last_month | warning_month)
    status = (
        F.when(removed, F.lit("removed"))
        .when(kept, F.lit("active"))
        .when(excluded, F.lit("removed"))
        .when(last_month & below, F.lit("lapsed"))
        .when(last_month, F.lit("active"))
        .when(warning_month & below, F.lit("warned"))
        .otherwise(F.col("status"))
    )
    ended_by = (
        F.when(removed, F.lit("review"))
        .when(kept, F.lit(None))
        .when(excluded, F.lit("override"))
        .when(last_month & below, F.lit("renewal"))
    )
    # a review judges a year: kept, the next begins (the program's member: its first year was the one judged)
    membership_year = F.coalesce(F.col("membership_year"), F.lit(1)) + F.when(kept, 1).otherwise(0)
    schema = catalog.table("gold.apass_members").schema
    return conform_to(
        rows.select(
            "user_id",
            F.lit(month).alias("month"),
            F.coalesce(F.col("member_since"), F.col("invited_month")).alias("member_since"),
            F.coalesce(F.col("joined_by"), F.lit("review")).alias("joined_by"),
            membership_year.cast("int").alias("membership_year"),
            year_start.alias("year_start"),
            expiry.alias("expiry_month"),
            status.alias("status"),
            ended_by.alias("ended_by"),
            F.when(due, F.coalesce(F.col("a_energy_points"), F.lit(0.0))).alias("a_energy_points"),
            F.when(due & last_month, F.when(below, "failed").otherwise("passed")).alias("renewal"),
            F.when(excluded, F.col("override_author")).otherwise(F.col("_author")).alias("override_author"),
            F.when(excluded, F.col("override_reason")).otherwise(F.col("_reason")).alias("override_reason"),
        ),
        schema,
    )


def before_invitations(
    previous: DataFrame,
    *,
    month: str,
    reviews: DataFrame,
    exclusions: DataFrame,
    user_month: DataFrame,
    curve: list[list[float]],
    pass_points: float,
    warn_before: int,
) -> DataFrame:
    """gold.apass_members rows of ``month`` before its invitations, from the rows of the month before
    (``previous``): :func:`month_rows` with the A-energy points of the years due, from ``user_month`` (the
    members' gold.user_month slices)."""
    carried = continuing(previous, month=month)
    due = points_due(carried, month=month, warn_before=warn_before)
    return month_rows(
        carried,
        month=month,
        reviews=reviews,
        exclusions=exclusions,
        points=year_points(due, user_month, curve=curve),
        pass_points=pass_points,
        warn_before=warn_before,
    )


def joined(invitations: DataFrame, *, month: str) -> DataFrame:
    """gold.apass_members rows of the members the month's selection invited (INVITATION_COLUMNS)."""
    schema = catalog.table("gold.apass_members").schema
    return conform_to(
        invitations.select(
            "user_id",
            F.lit(month).alias("month"),
            F.lit(month).alias("member_since"),
            "joined_by",
            F.lit(1).alias("membership_year"),
            F.lit(month).alias("year_start"),
            F.lit(add_months(month, MEMBERSHIP_MONTHS - 1)).alias("expiry_month"),
            F.lit("active").alias("status"),
            F.lit(None).cast("string").alias("ended_by"),
            F.lit(None).cast("double").alias("a_energy_points"),
            F.lit(None).cast("string").alias("renewal"),
            "override_author",
            "override_reason",
        ),
        schema,
    )
