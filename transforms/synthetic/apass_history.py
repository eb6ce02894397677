"""The APASS program's past: members invited a year before and the outcome of their yearly review.

A real platform trains its selector on what it has seen: members it invited
and whether its review a year later kept them. The synthetic world sends
that history as a monthly feed (``apass_reviews``). Who was invited and
what the review decided are drawn from each member's hidden class (elite
genuine-quality persona member, other persona member, adversary, mass) at
configured rates, so the labels follow the truth without ever equalling it:
some genuine members are removed, some adversaries kept, and a removed
adversary's review names its behaviour only part of the time.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
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


def apass_reviews(users: DataFrame, *, seed: int, months: list[Month], history: ApassHistoryConf) -> DataFrame:
    """One row per past invitation reviewed within the world's months: review time, outcome and reason.

    A member is invited a year before a review month drawn uniformly over the
    world, and only if the account existed by then.
    """
    cls = hidden_class(users)
    review_idx = F.floor(uniform(seed, "review_month", "user_id") * len(months)).cast("int")
    month_start = value_at([m.start_epoch for m in months], review_idx)
    month_seconds = value_at([m.days * 86400 for m in months], review_idx)
    # Reviews run on working hours of the month's days: any second of the month, Shanghai time.
    reviewed = month_start + F.floor(uniform(seed, "review_time", "user_id") * month_seconds)
    invited = F.add_months(F.to_date(F.from_unixtime(month_start)), -MEMBERSHIP_MONTHS)
    registered_by_invitation = F.col("registered_date") < invited
    is_invited = (
        uniform(seed, "apass_invited", "user_id") < _rate(cls, history.invite_rate)
    ) & registered_by_invitation
    kept = uniform(seed, "apass_kept", "user_id") < _rate(cls, history.kept_rate)
    named = uniform(seed, "apass_reason", "user_id") < F.lit(history.reason_accuracy)
    adversary_reason = F.create_map(*[x for k, v in REMOVAL_REASONS.items() for x in (F.lit(k), F.lit(v))])[
        F.col("adversary_type")
    ]
    reason = (
        F.when(kept, F.lit(None).cast("string"))
        .when(named & adversary_reason.isNotNull(), adversary_reason)
        .otherwise(F.lit(OTHER_REMOVAL))
    )
    return users.filter(is_invited).select(
        "user_id",
        F.date_format(invited, "yyyy-MM").alias("invited_month"),
        reviewed.cast("long").alias("event_epoch"),
        F.when(kept, F.lit("kept")).otherwise(F.lit("removed")).alias("outcome"),
        reason.alias("reason"),
    )
