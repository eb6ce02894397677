"""Segment the high-value members with Spark ML and name the segments by rules on their centroids.

Scaling and clustering are one Spark ML pipeline (VectorAssembler ->
StandardScaler -> KMeans), fitted on the executors; only the centroids and
per-segment averages reach the driver. k is the one of a configured range
with the best silhouette (ties: the smaller k); the seed is fixed, so the
same rows give the same segments. A segment is named by the first persona
whose every rule its centroid (in the features' own units) meets, else
"other": rules read behaviour, never the generator's hidden truth.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.clustering import KMeans
from pyspark.ml.evaluation import ClusteringEvaluator
from pyspark.ml.feature import StandardScaler, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

OTHER = "other"
_RAW, _SCALED = "_persona_raw", "_persona_scaled"


@dataclass(frozen=True)
class Segmentation:
    model: PipelineModel  # assembler + scaler + the chosen KMeans
    k: int
    silhouettes: dict[int, float]  # k -> silhouette of the range tried


def fit_segments(
    rows: DataFrame, *, features: list[str], k_values: list[int], seed: int, max_iter: int
) -> Segmentation:
    """Fit the scaler once and KMeans for every k of ``k_values``; keep the k with the best silhouette."""
    prepare = Pipeline(
        stages=[
            VectorAssembler(inputCols=features, outputCol=_RAW),
            StandardScaler(inputCol=_RAW, outputCol=_SCALED, withMean=True, withStd=True),
        ]
    ).fit(rows)
    scaled = prepare.transform(rows).select(_SCALED).persist()
    evaluator = ClusteringEvaluator(featuresCol=_SCALED, predictionCol="segment", metricName="silhouette")
    fitted, silhouettes = {}, {}
    try:
        for k in k_values:
            model = KMeans(featuresCol=_SCALED, predictionCol="segment", k=k, seed=seed, maxIter=max_iter).fit(scaled)
            silhouettes[k] = float(evaluator.evaluate(model.transform(scaled)))
            fitted[k] = model
    finally:
        scaled.unpersist()
    best = max(k_values, key=lambda k: (round(silhouettes[k], 6), -k))
    return Segmentation(model=PipelineModel(stages=[*prepare.stages, fitted[best]]), k=best, silhouettes=silhouettes)


def assign(model: PipelineModel, rows: DataFrame) -> DataFrame:
    """``rows`` with ``segment`` (int) and ``distance`` (Euclidean, in scaled units, to its centroid)."""
    kmeans = model.stages[-1]
    centres = F.array(*[F.array(*[F.lit(float(x)) for x in c]) for c in kmeans.clusterCenters()])
    out = model.transform(rows)
    point = vector_to_array(F.col(_SCALED))
    centre = centres[F.col("segment")]
    squared = F.aggregate(F.zip_with(point, centre, lambda a, b: (a - b) * (a - b)), F.lit(0.0), lambda acc, x: acc + x)
    return out.select(*rows.columns, F.col("segment").cast("int").alias("segment"), F.sqrt(squared).alias("distance"))


def centroids(assigned: DataFrame, *, features: list[str]) -> DataFrame:
    """Per segment: members and the mean of every feature in its own units (one small row per segment)."""
    return assigned.groupBy("segment").agg(F.count("*").alias("members"), *[F.avg(f).alias(f) for f in features])


def name_segments(centres: list[dict], rules: dict[str, dict[str, list]]) -> dict[int, str]:
    """Segment -> persona: the first persona (in rule order) whose every [low, high] bound its centroid meets."""
    names = {}
    for centre in centres:
        names[int(centre["segment"])] = next(
            (
                persona
                for persona, bounds in rules.items()
                if all(_within(centre[feature], low, high) for feature, (low, high) in bounds.items())
            ),
            OTHER,
        )
    return names


def _within(value: float, low: float | None, high: float | None) -> bool:
    return (low is None or value >= low) and (high is None or value <= high)


def persona_column(names: dict[int, str]) -> Column:
    """The persona of each row's segment, from the segment -> persona mapping."""
    mapping = F.create_map(*[x for segment, persona in sorted(names.items()) for x in (F.lit(segment), F.lit(persona))])
    return F.coalesce(mapping[F.col("segment")], F.lit(OTHER))
