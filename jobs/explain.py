"""Explain one member's score for a month: components, band, grade, credit level and what would move them.

Reads the member's rows of gold.scores and gold.user_features (one member,
one month) and prints what the member's app would show: every component
with the inputs behind it, the credit level with its dimensions, the change
since last month, the gap to the next band, the points needed to keep the
band next month, and how much more of each input would close the gap.

The arithmetic and the text are transforms/gold/explain.py; this job reads
the member's rows.
"""

from __future__ import annotations

import argparse
import sys

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs import apass_inputs
from jobs.runtime import gold_log, tables
from jobs.runtime.config import Config, check_month
from jobs.runtime.errors import UserError
from transforms.gold.explain import apass_explanation, membership_explanation, score_explanation
from transforms.gold.score import credit_dimension_points

DESCRIPTION = __doc__
READ_ONLY = True  # reads tables only: no write lock (jobs/runtime/lock.py)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", type=int, required=True, help="member id (user_id)")
    parser.add_argument("--month", help="month YYYY-MM (default: the latest scored month)")


def execute(spark: SparkSession, config: Config, args: argparse.Namespace) -> None:
    print(explain(spark, config, args.user, args.month))


def explain(spark: SparkSession, config: Config, user: int, month: str | None = None) -> str:
    """What `taoqi explain` prints: the member's score of ``month`` (default: the latest scored) explained."""
    scores = tables.read(spark, config, "gold.scores")
    scored = sorted(gold_log.computed(spark, config, "gold.scores"))
    if not scored:
        raise UserError("no month has been scored yet: run `taoqi run` first")
    month = check_month(month) if month else scored[-1]
    if month not in scored:
        raise UserError(f"no scores for {month} (scored months: {scored[0]} to {scored[-1]})")
    score = scores.filter((F.col("month") == month) & (F.col("user_id") == user)).first()
    if score is None:
        raise UserError(f"user {user} has no score for {month}: not a member by then, or an unknown id")
    features = tables.read(spark, config, "gold.user_features").filter(
        (F.col("as_of_month") == month) & (F.col("user_id") == user)
    )
    dims = credit_dimension_points(config.scoring.credit)
    row = features.select(
        "*",
        *[v.alias(f"_value_{n}") for n, (v, _) in dims.items()],
        *[p.alias(f"_points_{n}") for n, (_, p) in dims.items()],
    ).first()
    return (
        score_explanation(score.asDict(), row.asDict(), config.scoring)
        + "\n"
        + explain_apass(spark, config, score.asDict())
    )


def explain_apass(spark: SparkSession, config: Config, score: dict) -> str:
    """Why the member was, or was not, invited to APASS in the month (gold.apass_selection), and its membership
    then (gold.apass_members)."""
    month = score["month"]
    member = F.col("month") == month, F.col("user_id") == score["user_id"]
    membership = ""
    if tables.exists(spark, config, "gold.apass_members") and month in gold_log.computed(
        spark, config, "gold.apass_members"
    ):
        found = tables.read(spark, config, "gold.apass_members").filter(member[0] & member[1]).first()
        membership = "\n" + membership_explanation(None if found is None else found.asDict())
    selected = tables.exists(spark, config, "gold.apass_selection") and month in gold_log.computed(
        spark, config, "gold.apass_selection"
    )
    if not selected:
        return f"APASS: no selection for {month} yet (`taoqi select --month {month}`)" + membership
    row = tables.read(spark, config, "gold.apass_selection").filter(member[0] & member[1]).first()
    return apass_explanation(score, None if row is None else row.asDict(), apass_inputs.gates(config)) + membership


def main(argv: list[str] | None = None) -> int:
    from jobs.cli import main as cli_main

    return cli_main(["explain", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
