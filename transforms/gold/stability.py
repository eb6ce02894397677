"""Population stability index (PSI) of the score, its components and the grade shares, month over month.

PSI = sum over bins of (p - q) * ln(p / q), p and q the shares of members in
a bin this month and last month (empty bins count as 0.01 % so the log is
finite). Bins are fixed, not learned from the data, so a month's PSI is the
same whoever computes it and whenever: the score by ``score_edges``, each
component in equal bins of its own range, the grade by its value. What
reaches the driver is nothing per member: one row per metric comes out.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from transforms.domain import GRADES
from transforms.months import add_months
from transforms.schemas import OPS_STABILITY, conform_to

EMPTY_BIN_SHARE = 1e-4


def metric_bins(
    *, score_edges: list[float], component_maxima: dict[str, float], component_bins: int
) -> list[tuple[str, Column, int]]:
    """(metric, bin of a gold.scores row, number of bins) for every monitored metric."""
    specs = [
        (
            "score",
            sum((F.when(F.col("score") >= e, 1).otherwise(0) for e in score_edges[1:]), F.lit(0)),
            len(score_edges),
        )
    ]
    for component, top in component_maxima.items():
        column = f"{component}_points"
        share = F.col(column) / F.lit(float(top) if top > 0 else 1.0)
        specs.append(
            (column, F.least(F.floor(share * component_bins).cast("int"), F.lit(component_bins - 1)), component_bins)
        )
    grade = F.coalesce(*[F.when(F.col("grade") == g, i) for i, g in enumerate(GRADES)], F.lit(0))
    specs.append(("grade", grade, len(GRADES)))
    return specs


def stability(
    current: DataFrame, previous: DataFrame, *, month: str, previous_month: str, specs: list[tuple[str, Column, int]]
) -> DataFrame:
    """One ops.stability row per metric: the PSI of ``current`` (month) against ``previous`` (previous_month)."""
    both = current.select("*", F.lit(month).alias("_month")).unionByName(
        previous.select("*", F.lit(previous_month).alias("_month"))
    )
    return stability_by_month(both, months=[month], specs=specs, month_column="_month")


def stability_by_month(
    scores: DataFrame, *, months: list[str], specs: list[tuple[str, Column, int]], month_column: str = "month"
) -> DataFrame:
    """ops.stability rows of every month of ``months`` whose month before has rows in ``scores``: the PSI of
    each metric of the month against the month before, for all months in one aggregation."""

    def counts(name: str) -> DataFrame:
        stacked = scores.select(
            F.col(month_column).alias("month"),
            F.explode(
                F.array(
                    *[
                        F.struct(F.lit(metric).alias("metric"), bin_.cast("int").alias("bin"))
                        for metric, bin_, _ in specs
                    ]
                )
            ).alias("x"),
        ).select("month", "x.*")
        return stacked.groupBy("month", "metric", "bin").agg(F.count("*").alias(name))

    every_bin = (
        scores.sparkSession.range(1)
        .select(
            F.explode(
                F.array(
                    *[
                        F.struct(
                            F.lit(m).alias("month"),
                            F.lit(add_months(m, -1)).alias("previous_month"),
                            F.lit(metric).alias("metric"),
                            F.lit(b).alias("bin"),
                            F.lit(n).alias("bins"),
                        )
                        for m in months
                        for metric, _, n in specs
                        for b in range(n)
                    ]
                )
            ).alias("x")
        )
        .select("x.*")
    )
    current, before = counts("n"), counts("n_prev").withColumnRenamed("month", "previous_month")
    binned = (
        every_bin.join(current, ["month", "metric", "bin"], "left")
        .join(before, ["previous_month", "metric", "bin"], "left")
        .fillna(0, subset=["n", "n_prev"])
    )
    return psi_by_metric(binned)


def psi_by_metric(binned: DataFrame) -> DataFrame:
    """ops.stability rows from ``binned``: one row per month, previous_month, metric, bins and bin (every bin of
    the metric, empty ones too), with ``n`` members in the bin this month and ``n_prev`` the month before. A
    metric whose month before has no members has no row."""
    by_metric = Window.partitionBy("month", "metric")
    shares = binned.select(
        "*", F.sum("n").over(by_metric).alias("members"), F.sum("n_prev").over(by_metric).alias("previous_members")
    )
    p = F.greatest(F.col("n") / F.col("members"), F.lit(EMPTY_BIN_SHARE))
    q = F.greatest(F.col("n_prev") / F.col("previous_members"), F.lit(EMPTY_BIN_SHARE))
    psi = (
        shares.filter(F.col("previous_members") > 0)
        .groupBy("month", "previous_month", "metric", "bins", "members", "previous_members")
        .agg(F.round(F.sum((p - q) * F.log(p / q)), 6).alias("psi"))
    )  # summation order aside
    return conform_to(psi, OPS_STABILITY)
