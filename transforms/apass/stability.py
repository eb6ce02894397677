"""The population stability index of the selector's inputs and of its model score, month over month.

``taoqi select`` writes the PSI of every selector input and of the model
score against the month before to ops.stability (metrics ``selector.<name>``;
the PSI itself is transforms/gold/stability.py). An input's range has no fixed
scale, so it is binned by the cut points of the month before (its deciles);
the model score, a probability, by tenths of [0, 1]. Every month of a select
is done in one plan: the deciles of every month before in one aggregation,
then each month's rows and its month before's binned by that month before's
cut points.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from transforms.gold.stability import psi_by_metric
from transforms.months import add_months

SELECTOR_METRICS = "selector."  # prefix of the selector's rows in ops.stability (the score's have none)
MODEL_SCORE_CUTS = [i / 10 for i in range(10)]
DECILES = [i / 10 for i in range(1, 10)]
# percentile_approx's accuracy: a relative error of 1 / 1 000 of the rank (exact below a thousand rows a month)
DECILE_ACCURACY = 1000


def reached(value: Column, cuts: Column) -> Column:
    """How many of ``cuts`` (an array of distinct cut points) the value reaches (``value >= cut``): bins
    0..size(cuts). A null value reaches none."""
    return F.size(F.filter(cuts, lambda cut: value >= cut))


def selector_stability(rows: DataFrame, *, months: list[str], features: list[str]) -> DataFrame:
    """ops.stability rows of the selector for every month of ``months`` whose month before has rows.

    ``rows``: one row per candidate and month (``month``, the ``features``, ``model_score``; null when gated
    out), for the months and the month before each. An input is binned by the distinct deciles of the month
    before (a repeated decile counts once, so an input has up to 10 bins); the model score by tenths of
    [0, 1], a candidate without one (gated out) in bin 0, below 0.0. One plan for all the months.
    """
    spark = rows.sparkSession
    pairs = spark.createDataFrame([(m, add_months(m, -1)) for m in months], "_pair string, _before string")
    current = rows.join(pairs.select("_pair", F.col("_pair").alias("month")), "month").select(
        "*", F.lit(True).alias("_current")
    )
    before = rows.join(pairs.select("_pair", F.col("_before").alias("month")), "month").select(
        "*", F.lit(False).alias("_current")
    )
    cut_columns = [f"_cuts_{i}" for i in range(len(features))]
    cuts = before.groupBy("_pair").agg(
        *[
            F.array_sort(
                F.array_distinct(
                    F.coalesce(
                        F.percentile_approx(F.col(name).cast("double"), DECILES, DECILE_ACCURACY),
                        F.array().cast("array<double>"),
                    )
                )
            ).alias(column)
            for name, column in zip(features, cut_columns, strict=True)
        ]
    )
    score_cuts = F.array(*[F.lit(c) for c in MODEL_SCORE_CUTS])
    binned = [
        F.struct(
            F.lit(f"{SELECTOR_METRICS}{name}").alias("metric"),
            reached(F.col(name).cast("double"), F.col(column)).alias("bin"),
            (F.size(column) + 1).alias("bins"),
        )
        for name, column in zip(features, cut_columns, strict=True)
    ]
    binned.append(
        F.struct(
            F.lit(f"{SELECTOR_METRICS}model_score").alias("metric"),
            reached(F.coalesce(F.col("model_score"), F.lit(-1.0)), score_cuts).alias("bin"),
            F.lit(len(MODEL_SCORE_CUTS) + 1).alias("bins"),
        )
    )
    # cuts has one row per month with rows the month before: the join leaves out the others
    stacked = (
        current.unionByName(before)
        .join(F.broadcast(cuts), "_pair")
        .select("_pair", "_current", F.explode(F.array(*binned)).alias("x"))
        .select("_pair", "_current", "x.*")
    )
    counts = stacked.groupBy("_pair", "metric", "bins", "bin").agg(
        F.count_if("_current").alias("n"), F.count_if(~F.col("_current")).alias("n_prev")
    )
    every_bin = (
        stacked.select("_pair", "metric", "bins")
        .distinct()
        .select("*", F.explode(F.sequence(F.lit(0), F.col("bins") - 1)).alias("bin"))
    )
    counted = (
        every_bin.join(counts, ["_pair", "metric", "bins", "bin"], "left")
        .fillna(0, subset=["n", "n_prev"])
        .join(pairs, "_pair")
        .select(
            F.col("_pair").alias("month"),
            F.col("_before").alias("previous_month"),
            "metric",
            "bins",
            "bin",
            "n",
            "n_prev",
        )
    )
    return psi_by_metric(counted)
