"""What the selector's stages read from the lakehouse: indicators of a few members, labels, the target stock.

Shared by ``train`` (labelled members at their review months) and
``select`` (a month's candidates). Both touch only the rows of the members
they need: the keys are small and broadcast.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.runtime import gold_log, tables
from jobs.runtime.config import Config, check_month
from jobs.runtime.errors import UserError
from transforms.apass import membership
from transforms.apass.gates import Gates, scores_past_gates

FEATURES = "gold.user_features"
SCORES = "gold.scores"
USER_MONTH = "gold.user_month"
REVIEWS = "silver.apass_reviews"
# The Delta tables a selector version is computed from (their versions are logged with it).
INPUT_TABLES = (FEATURES, SCORES, USER_MONTH, REVIEWS)


def scored_month(spark: SparkSession, config: Config, month: str | None) -> str:
    """``month`` if it was scored (default: the latest scored month); else a UserError naming what to run."""
    scored = sorted(gold_log.computed(spark, config, SCORES))
    if not scored:
        raise UserError("no month has been scored yet: run `taoqi run` first")
    chosen = check_month(month) if month else scored[-1]
    if chosen not in scored:
        raise UserError(
            f"no scores for {chosen} (scored months: {scored[0]} to {scored[-1]}): "
            f"run `taoqi score --month {chosen}` first"
        )
    return chosen


def indicator_rows(spark: SparkSession, config: Config, keys: DataFrame) -> DataFrame:
    """Every indicator of the members and months in ``keys`` (user_id, as_of_month), point in time."""
    from transforms.apass.indicators import indicators

    small = F.broadcast(keys.select("user_id", "as_of_month").distinct())
    months = [r["as_of_month"] for r in keys.select("as_of_month").distinct().collect()]
    features = (
        tables.read(spark, config, FEATURES)
        .filter(F.col("as_of_month").isin(months))
        .join(small, ["user_id", "as_of_month"], "left_semi")
    )
    scores = (
        tables.read(spark, config, SCORES)
        .filter(F.col("month").isin(months))
        .join(small.withColumnRenamed("as_of_month", "month"), ["user_id", "month"], "left_semi")
    )
    return indicators(features, scores, tables.read(spark, config, USER_MONTH), window=config.scoring.window_months)


def gates(config: Config) -> Gates:
    """The APASS gates of the config: scoring.bands.apass_eligible (2500) and apass.min_credit_level (C5)."""
    return Gates(min_score=config.scoring.bands.apass_eligible, min_credit_level=config.apass.min_credit_level)


def target_stock(members: int, config: Config) -> int:
    """The APASS members a month of ``members`` scored members holds with the config's apass.member_share."""
    return membership.target_stock(members, config.apass.member_share)


def targets(spark: SparkSession, config: Config, months: list[str]) -> dict[str, int]:
    """The target stock of each scored month of ``months`` (one count per month)."""
    counts = tables.read(spark, config, SCORES).filter(F.col("month").isin(months)).groupBy("month").count().collect()
    return {r["month"]: target_stock(r["count"], config) for r in counts}


def month_counts(spark: SparkSession, config: Config, month: str) -> tuple[int, int]:
    """(members scored, members past the gates) in ``month``: two counts, nothing per member."""
    row = (
        tables.read(spark, config, SCORES)
        .filter(F.col("month") == month)
        .agg(F.count("*").alias("members"), F.count(F.when(scores_past_gates(gates(config)), 1)).alias("gated"))
        .first()
    )
    return int(row["members"]), int(row["gated"])


def input_versions(spark: SparkSession, config: Config) -> dict[str, int]:
    """The current Delta version of every input table (logged: ``versionAsOf`` rebuilds the inputs)."""
    return {name: tables.version(spark, config, name) for name in INPUT_TABLES}
