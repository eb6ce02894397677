"""How the selector's inputs and its model score are binned for their population stability index.

``taoqi select`` appends the PSI of every selector input and of the model
score against the month before to ops.stability (metrics ``selector.<name>``;
the PSI itself is transforms/gold/stability.py). An input's range has no fixed
scale, so it is binned by the cut points of the month before (its deciles,
computed by the job); the model score, a probability, by tenths of [0, 1].
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

SELECTOR_METRICS = "selector."  # prefix of the selector's rows in ops.stability (the score's have none)
MODEL_SCORE_CUTS = [i / 10 for i in range(10)]


def reached(value: Column, cuts: list[float]) -> Column:
    """How many of ``cuts`` the value reaches (``value >= cut``): bins 0..len(cuts)."""
    return sum((F.when(value >= c, 1).otherwise(0) for c in cuts), F.lit(0))


def selector_bins(cuts: dict[str, list[float]]) -> list[tuple[str, Column, int]]:
    """(metric, bin, number of bins) of every input in ``cuts`` (input -> its cut points), then of the model score.

    A cut point repeated among an input's deciles counts once. A member
    without a model score (gated out) falls in the model score's bin 0,
    below 0.0, apart from the scored ones.
    """
    specs = [
        (f"{SELECTOR_METRICS}{name}", reached(F.col(name), sorted(set(points))), len(set(points)) + 1)
        for name, points in cuts.items()
    ]
    specs.append(
        (
            f"{SELECTOR_METRICS}model_score",
            reached(F.coalesce(F.col("model_score"), F.lit(-1.0)), MODEL_SCORE_CUTS),
            len(MODEL_SCORE_CUTS) + 1,
        )
    )
    return specs
