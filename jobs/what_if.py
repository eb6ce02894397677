"""Policy what-if: how grade counts and the APASS invitations of a month would move under another policy.

For notebooks (06_policy_what_if): the month is scored again under a copied
config, in memory, from what that config changes: a different cap table (or
late tolerance) recomputes the slices of the month's 12-month window from
silver, as `taoqi aggregate` would under it; the roll-up (monthly caps,
weights, window) and the score (bands, components, credit) are always
recomputed under the policy. The members past the policy's APASS gates get
their indicators from those features and scores and are ranked by the
current champion selector; its first ones, as many as the program's target
stock, are set against the month's APASS members (gold.apass_members).
Nothing is written: the published tables stay as they are.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs import aggregate, apass_inputs
from jobs.runtime import gold_log, tables
from jobs.runtime.config import Config
from jobs.runtime.registry import configured_platforms
from transforms.apass.membership import IN_STOCK
from transforms.domain import GRADES
from transforms.gold.features import user_features, window_months
from transforms.gold.score import scores as score_members
from transforms.months import add_months


def policy_slices(spark: SparkSession, base: Config, policy: Config, month: str) -> DataFrame:
    """gold.user_month as ``policy`` would have it for ``month``'s window: the published slices when its caps
    are the base's, else the window's slices recomputed from silver under its caps."""
    if aggregate.caps_fingerprint(policy) == aggregate.caps_fingerprint(base):
        return tables.read(spark, policy, apass_inputs.USER_MONTH)
    window = set(window_months(month, policy.scoring.window_months))  # a batch holds events of its month or before
    batches = [b for b in gold_log.event_batches(gold_log.batches(spark, policy)) if b in window]
    return aggregate.slices_of(spark, policy, batches)


def policy_features(spark: SparkSession, slices: DataFrame, policy: Config, month: str) -> DataFrame:
    """gold.user_features of ``month`` as ``policy`` would roll ``slices`` up."""
    s = policy.scoring
    return user_features(
        slices,
        tables.read(spark, policy, "silver.accounts"),
        as_of_months=[month],
        window=s.window_months,
        orders_monthly_cap=s.orders_monthly_cap,
        interaction_monthly_caps=s.interaction_monthly_caps,
        interaction_weights=s.interaction_weights,
        platforms=configured_platforms(policy),
    )


def policy_scores(spark: SparkSession, features: DataFrame, policy: Config, month: str) -> DataFrame:
    """gold.scores of ``month`` as ``policy`` would compute them from ``features`` (the change against the
    published scores of the month before)."""
    previous = tables.read(spark, policy, apass_inputs.SCORES).filter(F.col("month") == add_months(month, -1))
    return score_members(features, previous, policy.scoring)


def policy_invited(
    spark: SparkSession, policy: Config, month: str, slices: DataFrame, features: DataFrame, scored: DataFrame
) -> DataFrame | None:
    """(user_id, model_score, rank) the champion would invite under ``policy``; None without a champion."""
    from jobs import model_registry
    from transforms.apass.gates import scores_past_gates
    from transforms.apass.indicators import indicators
    from transforms.apass.selector import SCORED_SCHEMA, scorer

    if not model_registry.may_hold_models(policy):
        return None
    try:
        booster, _ = model_registry.load_booster(policy, model_registry.CHAMPION)
    except model_registry.MissingModelError:
        return None
    gated = scored.filter(scores_past_gates(apass_inputs.gates(policy)))
    rows = indicators(
        features.join(gated.select("user_id"), "user_id", "left_semi"),
        gated,
        slices,
        window=policy.scoring.window_months,
    )
    names = booster.feature_name()
    ranked = rows.select("user_id", F.lit(month).alias("month"), *names).mapInPandas(
        scorer(booster.model_to_string(), names, policy.apass.reason_codes), SCORED_SCHEMA
    )
    members, _ = apass_inputs.month_counts(spark, policy, month)
    capacity = apass_inputs.target_stock(members, policy)
    order = Window.orderBy(F.col("model_score").desc(), "user_id")
    return ranked.select("user_id", "model_score", F.row_number().over(order).alias("rank")).filter(
        F.col("rank") <= capacity
    )


def policy_what_if(spark: SparkSession, base: Config, policy: Config, month: str) -> dict:
    """Grade counts now and under ``policy``, the grade moves, and the invitations kept, added and dropped."""
    now = tables.read(spark, base, apass_inputs.SCORES).filter(F.col("month") == month)
    slices = policy_slices(spark, base, policy, month)
    features = policy_features(spark, slices, policy, month).localCheckpoint(eager=True)
    scored = policy_scores(spark, features, policy, month).localCheckpoint(eager=True)
    counts_now = {r["grade"]: r["count"] for r in now.groupBy("grade").count().collect()}
    counts_policy = {r["grade"]: r["count"] for r in scored.groupBy("grade").count().collect()}
    grades = [(g, counts_now.get(g, 0), counts_policy.get(g, 0)) for g in GRADES]
    transitions = (
        now.select("user_id", F.col("grade").alias("grade_now"))
        .join(scored.select("user_id", F.col("grade").alias("grade_policy")), "user_id", "full")
        .groupBy("grade_now", "grade_policy")
        .agg(F.count("*").alias("members"))
        .orderBy("grade_now", "grade_policy")
    )
    invited_policy = policy_invited(spark, policy, month, slices, features, scored)
    invited = None
    if invited_policy is not None and tables.exists(spark, base, "gold.apass_members"):
        current = (
            tables.read(spark, base, "gold.apass_members")
            .filter((F.col("month") == month) & F.col("status").isin(*IN_STOCK))
            .select("user_id")
        )
        both = (
            current.select("user_id", F.lit(1).alias("now"))
            .join(invited_policy.select("user_id", F.lit(1).alias("policy")), "user_id", "full")
            .agg(
                F.sum(F.when(F.col("now").isNotNull() & F.col("policy").isNotNull(), 1).otherwise(0)).alias("kept"),
                F.sum(F.when(F.col("now").isNull(), 1).otherwise(0)).alias("added"),
                F.sum(F.when(F.col("policy").isNull(), 1).otherwise(0)).alias("dropped"),
            )
            .first()
        )
        members, _ = apass_inputs.month_counts(spark, policy, month)
        invited = {
            "target_stock": apass_inputs.target_stock(members, policy),
            "kept": int(both["kept"] or 0),
            "added": int(both["added"] or 0),
            "dropped": int(both["dropped"] or 0),
        }
    return {"grades": grades, "transitions": transitions, "invited": invited, "invited_policy": invited_policy}
