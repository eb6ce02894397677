"""The APASS program's past: members invited a year before and the outcome of their yearly review.

A real platform trains its selector on what it has seen: members it invited
and whether its review a year later kept them. The synthetic world sends
that history as a monthly feed (``apass_reviews``). Who was invited and
what the review decided are drawn from each member's hidden class (elite
genuine-quality persona member, other persona member, adversary, mass) at
configured rates, so the labels follow the truth without ever equalling it:
some genuine members are removed, some adversaries kept, and a removed
adversary's review names its behaviour only part of the time.

Two kinds of review share the feed. The program's members when the world
begins (so many that ``member_share`` of the accounts are kept,
``membership`` reviews) are all reviewed in its first month: the job takes
the program over from that review on. The other rows are ``assessment``s:
the review panel's verdict on an account it followed for a year, a label
for the selector that makes nobody a member. At 1 in 10,000 a world of 100,000 accounts has ten members
and ten reviews a year, too few to learn from; the panel's assessments are
the labels a small world can train on.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from transforms.synthetic.events import Month, value_at
from transforms.synthetic.rand import uniform

HIDDEN_CLASSES = ("elite", "persona", "adversary", "mass")
# What a review that removes an adversary says, when it names the behaviour (docs/apass.md#labels).
REMOVAL_REASONS = {
    "brusher": "brushing",
    "reseller": "resale",
    "serial_returner": "serial_returns",
    "one_off_whale": "one_off_purchase",
}
OTHER_REMOVAL = "low_activity"
MEMBERSHIP_MONTHS = 12


@dataclass(frozen=True)
class ApassHistoryConf:
    """Rates of the program's past, per hidden class (values from conf/base.yaml)."""

    invite_rate: dict[str, float]  # share of each class invited a year before a review in the world
    kept_rate: dict[str, float]  # share of each class the review kept
    reason_accuracy: float  # a removed adversary's review names its behaviour this often
    member_share: float  # the program's members when the world begins, a share of the accounts


def hidden_class(users: DataFrame) -> Column:
    """elite | persona | adversary | mass, from the population's segment kind and elite flag."""
    kind = F.col("segment_kind")
    return (
        F.when((kind == "persona") & F.col("elite"), F.lit("elite"))
        .when(kind == "persona", F.lit("persona"))
        .when(kind == "adversary", F.lit("adversary"))
        .otherwise(F.lit("mass"))
    )


def _rate(cls: Column, rates: dict[str, float]) -> Column:
    return F.create_map(*[x for k in HIDDEN_CLASSES for x in (F.lit(k), F.lit(float(rates[k])))])[cls]


def apass_reviews(
    users: DataFrame, *, seed: int, months: list[Month], history: ApassHistoryConf, accounts: int
) -> DataFrame:
    """One row per review within the world's months: its kind, review time, outcome and reason.

    An assessed account was "invited" a year before a review month drawn
    uniformly over the world, and only if it existed by then. The program's
    members are reviewed in the world's first month, their membership year
    having begun 12 months before: the accounts its past invitations reached
    by then, in a seeded order, up to the ``round(accounts x
    member_share)``-th the review keeps (the ones it removes on the way are
    members until that review). The assessments do not depend on who the
    members are: a member has its assessment too, with the same verdict,
    unless both fall in the first month (then they are one review).
    """
    cls = hidden_class(users)
    first_invited = F.add_months(F.to_date(F.from_unixtime(F.lit(months[0].start_epoch))), -MEMBERSHIP_MONTHS)
    drawn = uniform(seed, "apass_invited", "user_id") < _rate(cls, history.invite_rate)
    kept = uniform(seed, "apass_kept", "user_id") < _rate(cls, history.kept_rate)
    # The program's members: the accounts its past invitations reached (about 1 in 40), in a seeded order, up to
    # the target-th one the review keeps, so the membership holds its target once the review is done. A global
    # order over those few rows.
    members = round(accounts * history.member_share)
    in_program = Window.orderBy(uniform(seed, "apass_member", "user_id"), "user_id").rowsBetween(
        Window.unboundedPreceding, Window.currentRow
    )
    reached = users.select("*", drawn.alias("_drawn"), kept.alias("_kept"))
    kept_so_far = reached.filter(F.col("_drawn") & (F.col("registered_date") < first_invited)).select(
        "user_id", "_kept", F.sum(F.col("_kept").cast("int")).over(in_program).alias("_kept_so_far")
    )
    program = kept_so_far.filter(
        (F.col("_kept_so_far") < members) | ((F.col("_kept_so_far") == members) & F.col("_kept"))
    ).select("user_id", F.lit(True).alias("_in_program"))
    users = reached.join(program, "user_id", "left").select(
        "*", F.coalesce(F.col("_in_program"), F.lit(False)).alias("is_member")
    )
    drawn_idx = F.floor(uniform(seed, "review_month", "user_id") * len(months)).cast("int")
    kept = F.col("_kept")
    named = uniform(seed, "apass_reason", "user_id") < F.lit(history.reason_accuracy)
    adversary_reason = F.create_map(*[x for k, v in REMOVAL_REASONS.items() for x in (F.lit(k), F.lit(v))])[
        F.col("adversary_type")
    ]
    reason = (
        F.when(kept, F.lit(None).cast("string"))
        .when(named & adversary_reason.isNotNull(), adversary_reason)
        .otherwise(F.lit(OTHER_REMOVAL))
    )

    def reviews(review_idx: Column, kind: Column) -> list[Column]:
        month_start = value_at([m.start_epoch for m in months], review_idx)
        month_seconds = value_at([m.days * 86400 for m in months], review_idx)
        # Reviews run on working hours of the month's days: any second of the month, Shanghai time.
        reviewed = month_start + F.floor(uniform(seed, "review_time", "user_id") * month_seconds)
        invited = F.add_months(F.to_date(F.from_unixtime(month_start)), -MEMBERSHIP_MONTHS)
        return [
            "user_id",
            kind.alias("kind"),
            F.date_format(invited, "yyyy-MM").alias("invited_month"),
            reviewed.cast("long").alias("event_epoch"),
            F.when(kept, F.lit("kept")).otherwise(F.lit("removed")).alias("outcome"),
            reason.alias("reason"),
        ]

    # The assessments are drawn whether or not the account is one of the program's members, so the labels the
    # selector learns from do not depend on member_share; a member's review in the first month is one review.
    invited_at_draw = F.add_months(
        F.to_date(F.from_unixtime(value_at([m.start_epoch for m in months], drawn_idx))), -MEMBERSHIP_MONTHS
    )
    first_month = F.col("is_member") & (drawn_idx == 0)
    assessed = users.filter(F.col("_drawn") & (F.col("registered_date") < invited_at_draw) & ~first_month)
    return assessed.select(*reviews(drawn_idx, F.lit("assessment"))).unionByName(
        users.filter("is_member").select(*reviews(F.lit(0), F.lit("membership")))
    )
