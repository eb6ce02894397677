"""Segment the month's high-value members into the four published personas: gold.personas and gold.persona_profiles.

For month M: the population is the members at personas.min_score or more
(super members by default). Their behavioural features (shares and rates,
docs/personas.md#persona-features) are scaled and clustered with KMeans on Spark,
k chosen by silhouette over personas.k_min..k_max with a fixed seed. Each
segment is named by the mapping rules on its centroid (personas.rules), or
"other". gold.personas holds every member's segment, persona and distance to
the centroid; gold.persona_profiles each persona's size, super and APASS
shares, demographics, spend, AOV, top categories, mobile and overseas
shares beside the rest of the population, with their significance. The
model (scaler, KMeans, k selection, rules) is logged to MLflow and
registered as personas.registered_model with the alias `current`.
Without --month, the latest scored month.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs import apass_inputs
from jobs.runtime import gold_log, quality, tables
from jobs.runtime.config import Config
from jobs.runtime.errors import UserError
from jobs.runtime.logs import timed
from transforms import catalog
from transforms.personas.features import NAMES, persona_features
from transforms.personas.profiles import profile_input, profile_rows
from transforms.personas.segments import OTHER, assign, centroids, fit_segments, name_segments, persona_column
from transforms.schemas import conform_to

log = logging.getLogger(__name__)

DESCRIPTION = __doc__
PERSONAS = "gold.personas"
PROFILES = "gold.persona_profiles"
SELECTION = "gold.apass_selection"
# the centroid features the mapping rules read, printed per segment
HIGHLIGHTS = (
    "group_buy_share",
    "orders_per_month_log",
    "office_share",
    "overseas_share",
    "family_share",
    "hobby_share",
    "luxury_share",
    "mobile_share",
)


class TooFewMembersError(UserError):
    """The population is too small to segment (a tiny world)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--month", help="month YYYY-MM to segment (default: the latest scored month)")


def execute(spark: SparkSession, config: Config, args: argparse.Namespace) -> None:
    personas(spark, config, apass_inputs.scored_month(spark, config, args.month))


def personas(spark: SparkSession, config: Config, month: str) -> dict[int, str]:
    """Segment, name, log and publish ``month``; returns segment -> persona."""
    from jobs import model_registry

    p = config.personas
    if not tables.exists(spark, config, apass_inputs.FEATURES):
        raise UserError(f"{apass_inputs.FEATURES} does not exist: run `taoqi run` first")
    for name in (PERSONAS, PROFILES):
        tables.ensure(spark, config, catalog.table(name))
    with timed("personas", f"features {month}") as t:
        rows = persona_features(
            tables.read(spark, config, apass_inputs.FEATURES),
            tables.read(spark, config, apass_inputs.SCORES),
            month=month,
            min_score=p.min_score,
        ).localCheckpoint(eager=True)
        t.rows_out = population = rows.count()
    needed = 10 * p.k_max
    if population < needed:
        raise TooFewMembersError(
            f"{population} members at score >= {p.min_score} in {month}: segmenting into up to "
            f"{p.k_max} personas needs at least {needed} (a larger world, or lower personas.k_max)"
        )
    assigned = None
    try:
        with timed("personas", f"k-means k={p.k_min}..{p.k_max}") as t:
            seg = fit_segments(
                rows, features=list(NAMES), k_values=list(range(p.k_min, p.k_max + 1)), seed=p.seed, max_iter=p.max_iter
            )
            assigned = assign(seg.model, rows).localCheckpoint(eager=True)
            centres = [r.asDict() for r in centroids(assigned, features=list(NAMES)).orderBy("segment").collect()]
            names = name_segments(centres, p.rules)
            t.rows_in, t.rows_out = population, seg.k
        with timed("personas", "log to MLflow"):
            version = model_registry.log_persona_model(
                config,
                seg.model,
                month=month,
                params={
                    "month": month,
                    "population": population,
                    "min_score": p.min_score,
                    "k_min": p.k_min,
                    "k_max": p.k_max,
                    "k": seg.k,
                    "seed": p.seed,
                    "max_iter": p.max_iter,
                    "features": len(NAMES),
                },
                metrics={
                    "silhouette": seg.silhouettes[seg.k],
                    **{f"silhouette_k{k}": v for k, v in seg.silhouettes.items()},
                    **{f"segment_{c['segment']}_members": float(c["members"]) for c in centres},
                },
                documents={
                    "features.json": {"features": list(NAMES)},
                    "rules.json": p.rules,
                    "segments.json": {str(c["segment"]): {"persona": names[int(c["segment"])], **c} for c in centres},
                },
                input_versions={
                    t_: tables.version(spark, config, t_) for t_ in (apass_inputs.FEATURES, apass_inputs.SCORES)
                },
            )
        members = assigned.select(
            "user_id",
            F.lit(month).alias("month"),
            "segment",
            persona_column(names).alias("persona"),
            "distance",
            F.lit(version).alias("model_version"),
        )
        this_month = f"month = {tables.sql_literal(month)}"
        # both tables checked before either is written: a failed check leaves both as they were
        with contextlib.ExitStack() as held:
            with timed("personas", f"members {month}") as t:
                members_ready = held.enter_context(
                    quality.gate(
                        spark,
                        config,
                        "personas",
                        PERSONAS,
                        conform_to(members, catalog.table(PERSONAS).schema),
                        month=month,
                    )
                )
                t.rows_out = population
            with timed("personas", f"profiles {month}") as t:
                invited = (
                    tables.read(spark, config, SELECTION).filter((F.col("month") == month) & F.col("invited"))
                    if tables.exists(spark, config, SELECTION)
                    else spark.createDataFrame([], "user_id long")
                )
                attributes = profile_input(
                    assigned.select("*", persona_column(names).alias("persona")),
                    invited,
                    year=int(month[:4]),
                    super_floor=config.scoring.bands.super,
                )
                profile = spark.createDataFrame(
                    profile_rows(attributes, month=month, alpha=p.alpha), catalog.table(PROFILES).schema
                )
                profile_ready = held.enter_context(
                    quality.gate(spark, config, "personas", PROFILES, profile, month=month)
                )
            with timed("personas", f"write {month}") as t:
                tables.replace_where(members_ready, config, PERSONAS, this_month)
                t.rows_out = tables.replace_where(profile_ready, config, PROFILES, this_month)
    finally:
        for checkpointed in (rows, assigned):
            if checkpointed is not None:
                quality.release(checkpointed)
    model_registry.make_current(config, version)  # only now: its tables passed their checks and are published
    gold_log.record(spark, config, PERSONAS, month, f"v{version}", population)
    print(summary(seg.silhouettes, seg.k, centres, names, version, config.personas.registered_model))
    print(
        f"personas: {tables.location(config, PERSONAS)} (month = '{month}'); "
        f"profiles: {tables.location(config, PROFILES)}"
    )
    return names


def summary(
    silhouettes: dict[int, float], k: int, centres: list[dict], names: dict[int, str], version: int, model_name: str
) -> str:
    """k selection and the segments with their persona and size, as printed after the stage."""
    lines = [
        "silhouette by k: "
        + ", ".join(f"k={kk} {v:.3f}{' *' if kk == k else ''}" for kk, v in sorted(silhouettes.items())),
        f"{'segment':>7} {'persona':<20} {'members':>8}  centroid highlights",
    ]
    for c in centres:
        shown = ", ".join(f"{f} {c[f]:.2f}" for f in HIGHLIGHTS)
        lines.append(f"{c['segment']:>7} {names[int(c['segment'])]:<20} {c['members']:>8,}  {shown}")
    lines.append(
        f"registered {model_name} version {version} as @current; other = no persona rule matched "
        f"({sum(c['members'] for c in centres if names[int(c['segment'])] == OTHER):,} members)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from jobs.cli import main as cli_main

    return cli_main(["personas", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
