"""Write the month's run report: one self-contained HTML file with plots, <reports_dir>/<month>/index.html.

It opens with the month at a glance (members, super share, APASS stock and
invitations, quality, each beside its published or expected value and last
month's), then the sections: the run (stages, durations, the steps folded
away, reconciliation, quarantine by reason), the score (histogram with the band floors,
components, grade shares beside the published ones, month-over-month grade
transitions, growth perks), credit levels and service routing, the APASS
selector (champion, metrics, precision-recall, invited profile, reason codes
of the invited and of the near misses, renewal warnings), personas (sizes,
profiles, what sets each apart; every test folded away), data quality (this
month, trend over the runs on months that exist) and,
on a synthetic world, the calibration against the generator's hidden truth.
Charts are PNGs embedded as base64 and every figure is an aggregate: the
file opens offline. Members appear only by pseudonym (a keyed hash of the id, privacy.pseudonym_key).
Without --month, the latest scored month.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import logging
import os
import sys
import time
from dataclasses import asdict

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs import apass_inputs
from jobs.runtime import privacy, quality, storage, tables
from jobs.runtime.config import Config
from jobs.runtime.logs import StepTiming, timed
from transforms.domain import CREDIT_LEVELS, GRADES
from transforms.months import add_months
from transforms.pseudonyms import with_digest

log = logging.getLogger(__name__)

DESCRIPTION = __doc__
MANIFEST = "run_manifest.json"
PROFILE_ATTRIBUTES = ("mobile_share", "overseas_share", "super_member", "apass_invited")
PERSONA_TRAITS = 4  # the distinctive attributes shown per persona
QUALITY_TREND_RUNS = 30  # the latest runs charted


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--month", help="month YYYY-MM to report (default: the latest scored month)")


def execute(spark: SparkSession, config: Config, args: argparse.Namespace) -> str:
    return f"report: {report(spark, config, apass_inputs.scored_month(spark, config, args.month))}"


def is_read_only(config: Config) -> bool:
    """No write lock (jobs/runtime/lock.py) unless the reports are copied to a remote lakehouse root."""
    return config.reports_publish_root() is None


# --------------------------------------------------------------------------- run manifest


def write_manifest(
    config: Config, month: str, *, run_id: str, timings: list[StepTiming], started: float, conformed: list[str]
) -> str:
    """The run's steps, timings and settings beside the month's report (read back by `taoqi report`)."""
    from jobs.model_registry import code_version

    directory = config.reports_dir(month)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, MANIFEST)
    manifest = {
        "run_id": run_id,
        "month": month,
        "started_at": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
        "seconds": round(time.time() - started, 1),
        "config": config.fingerprint(),
        "code_version": code_version(),
        "conformed_batches": conformed,
        "steps": [asdict(t) for t in timings],
    }
    with open(path, "w", encoding="utf-8") as out:
        json.dump(manifest, out, indent=1, default=str)
    return path


def read_manifest(config: Config, month: str) -> dict | None:
    path = os.path.join(config.reports_dir(month), MANIFEST)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as source:
        return json.load(source)


# --------------------------------------------------------------------------- charts


def _figure():
    import matplotlib

    matplotlib.use("Agg")  # no display: images only
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> str:
    """The figure as a base64 PNG (inline in the HTML: the report opens offline)."""
    plt = _figure()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def bar_chart(
    labels: list[str],
    values: list[float],
    *,
    title: str,
    ylabel: str,
    log_y: bool = False,
    lines: dict[str, float] | None = None,
    numeric_x: bool = False,
    width: float = 0.8,
) -> str:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(7, 3.2))
    xs = [float(x) for x in labels] if numeric_x else range(len(labels))
    ax.bar(xs, values, width=width, color="#3b6ea5", align="edge" if numeric_x else "center")
    if not numeric_x:
        ax.set_xticks(
            list(xs),
            labels,
            rotation=30 if max((len(str(lb)) for lb in labels), default=0) > 8 else 0,
            ha="right" if max((len(str(lb)) for lb in labels), default=0) > 8 else "center",
        )
    for name, x in (lines or {}).items():
        ax.axvline(x, color="#c0392b", linestyle="--", linewidth=1)
        ax.text(x, ax.get_ylim()[1], f" {name}", color="#c0392b", va="top", fontsize=8)
    if log_y:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    return _png(fig)


def stacked_bars(
    labels: list[str],
    series: dict[str, list[float]],
    *,
    title: str,
    ylabel: str,
    colors: dict[str, str] | None = None,
    xlabel: str | None = None,
    numbered: str | None = None,
) -> str:
    """Stacked bars; ``numbered`` names a series whose non-zero values are written above their stack
    (a few failures on top of a thousand checks are too thin a bar to see)."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(max(7, 0.35 * len(labels)), 3.2))
    # bars at positions, not at their labels: two runs with the same label stay two bars
    xs = range(len(labels))
    bottom = [0.0] * len(labels)
    for name, values in series.items():
        ax.bar(xs, values, bottom=bottom, label=name, color=(colors or {}).get(name))
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    for x, value, top in zip(xs, series.get(numbered, []), bottom, strict=False):
        if value:
            ax.text(x, top, f"{value:,}", ha="center", va="bottom", fontsize=7, color=(colors or {}).get(numbered))
    longest = max((len(line) for lb in labels for line in str(lb).splitlines()), default=0)
    crowded = len(labels) > 8 or longest > 16
    ax.set_xticks(list(xs), labels, rotation=90 if crowded else 0, fontsize=7 if crowded else 8)
    ax.set_xlim(-0.6, max(len(labels), 4) - 0.4)  # one or two bars keep a bar's width
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    if xlabel:
        ax.set_xlabel(xlabel)
    ax.legend(fontsize=8)
    return _png(fig)


def grouped_bars(groups: list[str], series: dict[str, list[float]], *, title: str, ylabel: str) -> str:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(8, 3.4))
    width = 0.8 / max(len(series), 1)
    for i, (name, values) in enumerate(series.items()):
        ax.bar([g + i * width for g in range(len(groups))], values, width=width, label=name)
    ax.set_xticks([g + 0.4 - width / 2 for g in range(len(groups))], groups, rotation=20, ha="right")
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    return _png(fig)


def line_chart(labels: list[str], series: dict[str, list[float]], *, title: str, ylabel: str) -> str:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(7, 3.0))
    for name, values in series.items():
        ax.plot(labels, values, marker="o", label=name)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    ax.tick_params(axis="x", rotation=30)
    return _png(fig)


def persona_traits_chart(traits: dict[str, list[dict]], sizes: dict[str, int]) -> str:
    """One panel per persona, two a row: its distinctive attributes, the persona's value beside the rest's.

    The attributes mix shares and CNY means, so each pair of bars is drawn against the larger of
    its two values (the longer bar is full length) and labelled with the values themselves.
    """
    plt = _figure()
    personas = [p for p in traits if traits[p]]
    rows_of_panels = (len(personas) + 1) // 2
    most = max(len(traits[p]) for p in personas)
    fig, axes = plt.subplots(rows_of_panels, 2, figsize=(11, (0.45 * most + 0.7) * rows_of_panels), squeeze=False)
    for ax in axes.flat[len(personas) :]:
        ax.set_visible(False)
    for ax, persona in zip(axes.flat, personas, strict=False):
        rows = traits[persona][::-1]  # the most distinctive on top
        for y, t in enumerate(rows):
            scale = max(abs(t["value"]), abs(t["rest_value"]), 1e-12)
            ax.barh(y + 0.2, t["value"] / scale, height=0.38, color="#3b6ea5")
            ax.barh(y - 0.2, t["rest_value"] / scale, height=0.38, color="#b8b8b8")
            ax.text(t["value"] / scale, y + 0.2, f" {t['value_text']}", va="center", fontsize=7)
            ax.text(t["rest_value"] / scale, y - 0.2, f" {t['rest_text']} (rest)", va="center", fontsize=7)
        ax.set_yticks(range(len(rows)), [t["label"] for t in rows], fontsize=8)
        ax.set_ylim(-0.6, most - 0.4)
        ax.set_xlim(0, 1.4)
        ax.set_xticks([])
        ax.set_title(f"{persona} ({sizes.get(persona, 0):,} members)", fontsize=9, loc="left")
        for side in ("top", "right", "bottom"):
            ax.spines[side].set_visible(False)
    fig.suptitle("what sets each persona apart (blue: the persona, grey: the rest)", fontsize=10)
    fig.tight_layout()
    return _png(fig)


# --------------------------------------------------------------------------- sections


def run_section(spark: SparkSession, config: Config, month: str, manifest: dict | None) -> dict:
    recon = []
    if tables.exists(spark, config, "ops.reconciliation"):
        recon = [
            r.asDict()
            for r in tables.read(spark, config, "ops.reconciliation")
            .filter(F.col("ingest_month") == month)
            .groupBy("source", "target")
            .agg(
                *[
                    F.sum(c).alias(c)
                    for c in ("rows_in", "rows_valid", "rows_quarantined", "rows_duplicate", "rows_late")
                ],
                F.min(F.col("balanced").cast("int")).cast("boolean").alias("balanced"),
            )
            .orderBy("source")
            .collect()
        ]
    quarantine = []
    if tables.exists(spark, config, "silver.quarantine"):
        cells = (
            tables.read(spark, config, "silver.quarantine")
            .filter(F.col("ingest_month") == month)
            .groupBy("reason", "source")
            .count()
            .collect()
        )
        by_reason: dict[str, dict[str, int]] = {}
        for r in cells:
            by_reason.setdefault(r["reason"], {})[r["source"]] = r["count"]
        quarantine = sorted(
            (
                {
                    "reason": reason,
                    "count": sum(by_source.values()),
                    "sources": ", ".join(f"{s} {n:,}" for s, n in sorted(by_source.items(), key=lambda kv: -kv[1])),
                }
                for reason, by_source in by_reason.items()
            ),
            key=lambda q: (-q["count"], q["reason"]),
        )
    chart, steps_summary = None, None
    if manifest:
        steps = manifest["steps"]
        # the run's wall time, not the sum of the steps: steps of one stage can overlap
        steps_summary = f"{len(steps)} steps, {duration(manifest['seconds'])}"
        by_stage: dict[str, float] = {}
        for step in steps:
            by_stage[step["stage"]] = by_stage.get(step["stage"], 0.0) + step["seconds"]
        chart = bar_chart(list(by_stage), list(by_stage.values()), title="seconds per stage", ylabel="seconds")
    return {
        "manifest": manifest,
        "reconciliation": recon,
        "quarantine": quarantine,
        "chart": chart,
        "steps_summary": steps_summary,
        "quarantined": sum(q["count"] for q in quarantine),
    }


def duration(seconds: float) -> str:
    """``seconds`` as a person says it: "11 min 3 s", "42 s", "1 h 2 min"."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def score_section(spark: SparkSession, config: Config, month: str) -> dict:
    from jobs.score import calibration_lines

    bands = config.scoring.bands
    scores = tables.read(spark, config, apass_inputs.SCORES)
    now = scores.filter(F.col("month") == month)
    step = 50
    histogram = now.groupBy((F.floor(F.col("score") / step) * step).alias("bucket")).count().orderBy("bucket").collect()
    components = [f"{c}_points" for c in ("purchase_amount", "purchase_frequency", "interaction", "credit")]
    by_band = {
        r["band"]: r
        for r in now.groupBy("band")
        .agg(F.count("*").alias("members"), *[F.avg(c).alias(c) for c in components])
        .collect()
    }
    band_labels = {1: "< 300", 2: "300-999", 3: ">= 1000", 4: ">= 2500"}
    present = sorted(by_band)
    previous = add_months(month, -1)
    # this month and the one before in one aggregate: the month at a glance shows the change
    by_month = {
        r["month"]: r
        for r in scores.filter(F.col("month").isin(month, previous))
        .groupBy("month")
        .agg(
            F.count("*").alias("members"),
            F.count(F.when(F.col("score") >= bands.super, 1)).alias("super_members"),
            F.sum(F.col("growth_perk").cast("int")).alias("perks"),
            F.avg("score").alias("mean_score"),
        )
        .collect()
    }
    nobody = {"members": 0, "super_members": 0, "perks": 0, "mean_score": None}  # a month scored empty
    totals, before_totals = by_month.get(month, nobody), by_month.get(previous)
    grades = {r["grade"]: r["count"] for r in now.groupBy("grade").count().collect()}
    before = scores.filter(F.col("month") == previous).select("user_id", F.col("grade").alias("previous_grade"))
    transitions = {}
    if before_totals is not None:
        transitions = {
            (r["previous_grade"], r["grade"]): r["count"]
            for r in now.join(before, "user_id", "left")
            .groupBy(F.coalesce("previous_grade", F.lit("new")).alias("previous_grade"), "grade")
            .count()
            .collect()
        }
    members = max(totals["members"], 1)
    return {
        "members": totals["members"],
        "mean_score": totals["mean_score"],
        "perks": totals["perks"] or 0,
        "growth_rise": config.scoring.growth_perk_rise,
        "histogram": bar_chart(
            [str(r["bucket"]) for r in histogram],
            [r["count"] for r in histogram],
            title=f"score distribution {month} ({step}-point buckets)",
            ylabel="members (log)",
            log_y=True,
            numeric_x=True,
            width=step,
            lines={"300": bands.lowest_band, "1000": bands.super, "2500": bands.apass_eligible},
        ),
        "components": stacked_bars(
            [band_labels[b] for b in present],
            {c.replace("_points", ""): [by_band[b][c] for b in present] for c in components},
            title="mean components by band",
            ylabel="points",
        ),
        "grades": [(g, grades.get(g, 0), grades.get(g, 0) / members) for g in GRADES],
        "super_members": totals["super_members"],
        "super_share": totals["super_members"] / members,
        "previous_members": None if before_totals is None else before_totals["members"],
        "previous_super_share": None
        if before_totals is None
        else before_totals["super_members"] / max(before_totals["members"], 1),
        "eligible_per_10k": grades.get("apass_eligible", 0) / members * 10_000,
        "calibration": calibration_lines(spark, config, month),
        "month": month,
        "previous": previous,
        "transitions": transitions,
        "transition_rows": ["new", *GRADES],
        "transition_cols": list(GRADES),
    }


def credit_section(spark: SparkSession, config: Config, month: str) -> dict:
    now = tables.read(spark, config, apass_inputs.SCORES).filter(F.col("month") == month)
    levels = {r["credit_level"]: r["count"] for r in now.groupBy("credit_level").count().collect()}
    routing = []
    if tables.exists(spark, config, "gold.service_routing"):
        routing = [
            r.asDict()
            for r in tables.read(spark, config, "gold.service_routing")
            .filter(F.col("month") == month)
            .groupBy("queue", "queue_rank")
            .count()
            .orderBy("queue_rank")
            .collect()
        ]
    return {
        "levels": [(lv, levels.get(lv, 0)) for lv in CREDIT_LEVELS],
        "chart": bar_chart(
            list(CREDIT_LEVELS),
            [levels.get(lv, 0) for lv in CREDIT_LEVELS],
            title=f"credit levels {month}",
            ylabel="members",
        ),
        "routing": routing,
    }


def selector_section(spark: SparkSession, config: Config, month: str) -> dict:
    from jobs import model_registry

    selection = "gold.apass_selection"
    rows = (
        tables.read(spark, config, selection).filter(F.col("month") == month)
        if tables.exists(spark, config, selection)
        else None
    )
    decisions = {r["decision"]: r["count"] for r in rows.groupBy("decision").count().collect()} if rows else {}
    if not decisions:
        return {
            "missing": f"no APASS selection for {month}: run `taoqi train --month {month}`, `taoqi promote` "
            f"and `taoqi select --month {month}`"
        }
    version, capacity, invited = rows.agg(
        F.max("model_version"), F.max("capacity"), F.count(F.when(F.col("invited"), 1))
    ).first()
    listed = (
        rows.filter(F.col("invited") | (F.col("decision") == "waitlisted"))
        .orderBy(F.desc("invited"), F.col("rank").asc_nulls_last())
        .limit(config.report.listed_members)
    )
    shown = [
        r.asDict()
        for r in with_digest(listed, privacy.key(config, spark))
        .select("member", "decision", "rank", "model_score", "reason_codes", "override_reason")
        .collect()
    ]
    profile = (
        [r.asDict() for r in tables.read(spark, config, "gold.apass_profile").filter(F.col("month") == month).collect()]
        if tables.exists(spark, config, "gold.apass_profile")
        else []
    )
    champion, metrics, pr_chart = None, {}, None
    if model_registry.may_hold_models(config):
        client = model_registry.connect(config)
        found = model_registry.version_by_alias(client, config.apass.selector.registered_model, model_registry.CHAMPION)
        if found is not None:
            champion = found.version
            # the champion beside the score-only baseline on its holdout: one row per metric both have
            metrics = {
                k[len("holdout_") :]: (v, found.metrics[f"baseline_{k[len('holdout_') :]}"])
                for k, v in sorted(found.metrics.items())
                if k.startswith("holdout_") and f"baseline_{k[len('holdout_') :]}" in found.metrics
            }
            pr_chart = model_registry.artifact_base64(found.run_id, "plots/precision_recall.png")
    warnings = {}
    if tables.exists(spark, config, "gold.apass_renewals"):
        warnings = {
            r["expiry_year"]: (r["members"], r["warned"], r["failed"])
            for r in tables.read(spark, config, "gold.apass_renewals")
            .groupBy("expiry_year")
            .agg(
                F.count("*").alias("members"),
                F.sum(F.col("warned").cast("int")).alias("warned"),
                F.sum((F.col("status") == "failed").cast("int")).alias("failed"),
            )
            .collect()
        }
    return {
        "missing": None,
        "membership": membership_rows(spark, config, month),
        "decisions": sorted(decisions.items()),
        "invited": invited,
        "invited_by_override": decisions.get("invited_by_override", 0),
        "capacity": capacity,
        "model_version": version,
        "champion": champion,
        "metrics": metrics,
        "pr_chart": pr_chart,
        "listed": shown,
        "profile": profile,
        "renewals": sorted(warnings.items()),
    }


def membership_rows(spark: SparkSession, config: Config, month: str) -> dict:
    """The membership of every month up to ``month`` against its target (gold.apass_members, the target of
    gold.apass_selection), with a chart; empty before any membership was kept."""
    from transforms.apass.membership import monthly_counts

    if not tables.exists(spark, config, "gold.apass_members"):
        return {}
    members = tables.read(spark, config, "gold.apass_members").filter(F.col("month") <= month)
    rows = [r.asDict() for r in monthly_counts(members).orderBy("month").collect()]
    if not rows:
        return {}
    targets = apass_inputs.targets(spark, config, [r["month"] for r in rows])
    rows = [{**r, "target": targets.get(r["month"])} for r in rows]
    chart = line_chart(
        [r["month"] for r in rows],
        {
            "members (active and warned)": [r["stock"] for r in rows],
            f"target ({config.apass.member_share:g} of the scored members)": [
                float("nan") if r["target"] is None else r["target"] for r in rows
            ],
        },
        title="APASS membership against its target",
        ylabel="members",
    )
    return {"rows": rows, "chart": chart}


def distinctive_attributes(profiles: DataFrame, *, top: int) -> DataFrame:
    """Per persona of gold.persona_profiles rows, its ``top`` significant attributes by effect size.

    The tests' own statistics do not compare across attributes: Welch's t and the Pearson
    residual both grow with the persona's size and are on different scales. Effect sizes do:
    Cohen's d for a mean, from Welch's t as t * sqrt(1/n + 1/n_rest) (exact for equal
    variances), and Cohen's h for the share of a categorical level. A level counts only where
    the persona has more of it than the rest: the levels it has less of are their complement
    (women where men are fewer). Adds ``effect_size`` and ``trait_rank`` (1 the most distinctive).
    """
    persona = Window.partitionBy("month", "persona")
    rest_members = F.max(F.when(F.col("attribute") == "members", F.col("rest_value"))).over(persona)
    cohens_d = F.abs(F.col("statistic")) * F.sqrt(1 / F.col("members") + 1 / F.col("rest_members"))
    cohens_h = 2 * F.asin(F.sqrt("value")) - 2 * F.asin(F.sqrt("rest_value"))
    effect_size = (
        F.when((F.col("test") == "welch_t") & (F.col("rest_members") > 0), cohens_d)
        .when((F.col("test") == "chi_square") & (F.col("value") > F.col("rest_value")), cohens_h)
        .alias("effect_size")
    )
    by_effect = persona.orderBy(F.desc("effect_size"), "attribute", "level")
    return (
        profiles.select("*", rest_members.alias("rest_members"))
        .filter(F.col("significant"))
        .select("month", "persona", "attribute", "level", "members", "value", "rest_value", "test", effect_size)
        .filter(F.col("effect_size").isNotNull())
        .select("*", F.row_number().over(by_effect).alias("trait_rank"))
        .filter(F.col("trait_rank") <= top)
    )


def trait_label(attribute: str, level: str | None) -> str:
    """A profile attribute as a reader says it: "office share of spend", "gender M", "AOV (CNY)"."""
    if attribute == "top_category":
        return f"{level} share of spend"
    name = attribute.replace("aov_cny", "AOV (CNY)").replace("_cny", " (CNY)").replace("_", " ")
    return name if level is None else f"{name} {level}"


def trait_value(attribute: str, value: float) -> str:
    """A profile value: CNY means in yuan, every other value a share (a mean of shares or of 0/1)."""
    if attribute.endswith("_cny"):
        return f"{value:,.0f}"
    return f"{value:.1%}" if abs(value) < 0.1 else f"{value:.0%}"


def persona_section(spark: SparkSession, config: Config, month: str) -> dict:
    name = "gold.persona_profiles"
    if not tables.exists(spark, config, name):
        return {"missing": f"no personas for {month}: run `taoqi personas --month {month}`"}
    month_profiles = tables.read(spark, config, name).filter(F.col("month") == month)
    # a few hundred aggregate rows
    profile = [r.asDict() for r in month_profiles.orderBy("persona", "attribute", "level").collect()]
    if not profile:
        return {"missing": f"no personas for {month}: run `taoqi personas --month {month}`"}
    sizes = {r["persona"]: r["members"] for r in profile if r["attribute"] == "members"}
    personas = sorted(sizes)
    value = {(r["persona"], r["attribute"]): r["value"] for r in profile if r["level"] is None}
    traits: dict[str, list[dict]] = {p: [] for p in sorted(sizes, key=lambda p: -sizes[p])}
    for r in (
        distinctive_attributes(month_profiles, top=PERSONA_TRAITS).orderBy("persona", "trait_rank").collect()
    ):  # PERSONA_TRAITS rows per persona
        traits[r["persona"]].append(
            {
                **r.asDict(),
                "label": trait_label(r["attribute"], r["level"]),
                "value_text": trait_value(r["attribute"], r["value"]),
                "rest_text": trait_value(r["attribute"], r["rest_value"]),
            }
        )
    return {
        "missing": None,
        "traits": traits,
        "traits_shown": PERSONA_TRAITS,
        "size_of": sizes,
        "traits_chart": persona_traits_chart(traits, sizes) if any(traits.values()) else None,
        "sizes": sorted(sizes.items(), key=lambda kv: -kv[1]),
        "size_chart": bar_chart(
            personas, [sizes[p] for p in personas], title=f"persona sizes {month}", ylabel="members"
        ),
        "profile_chart": grouped_bars(
            personas,
            {a: [value.get((p, a)) or 0.0 for p in personas] for a in PROFILE_ATTRIBUTES},
            title="persona profiles (shares)",
            ylabel="share",
        ),
        "spend": [(p, value.get((p, "spend_cny")), value.get((p, "aov_cny"))) for p in personas],
        "significance": [r for r in profile if r["attribute"] != "members"],
    }


def quality_section(spark: SparkSession, config: Config, month: str) -> dict:
    from expectations.runner import serve_assets_locally
    from jobs.runtime.quality import RESULTS, docs_dir, flush

    flush(spark)  # this process's checks not yet on record (`taoqi run`: personas')
    docs = os.path.join(docs_dir(config, month), "index.html")
    if os.path.exists(docs):
        serve_assets_locally(docs_dir(config, month))  # Data Docs built before their pages were pointed at copies
    out = {"docs": "data_docs/index.html" if os.path.exists(docs) else None, "missing": None}
    if not tables.exists(spark, config, RESULTS):
        return {**out, "missing": "no quality results: quality.enabled is false, or no stage validated yet"}
    results = tables.read(spark, config, RESULTS)
    latest_runs = results.filter(F.col("month") == month).groupBy("table_name").agg(F.max("validated_at").alias("at"))
    this_month = results.filter(F.col("month") == month).join(
        latest_runs,
        (results["table_name"] == latest_runs["table_name"]) & (results["validated_at"] == latest_runs["at"]),
        "left_semi",
    )
    tables_run = [
        r.asDict()
        for r in this_month.groupBy("table_name")
        .agg(
            F.count("*").alias("checks"),
            F.sum((~F.col("success")).cast("int")).alias("failed"),
            F.count(F.when(~F.col("success") & (F.col("severity") == "critical"), 1)).alias("critical"),
            F.concat_ws(
                "; ",
                F.collect_list(
                    F.when(~F.col("success"), F.concat(F.col("check_name"), F.lit(" ("), F.col("severity"), F.lit(")")))
                ),
            ).alias("failures"),
        )
        .orderBy("table_name")
        .collect()
    ]
    trend = run_trend(results, existing_months(spark, config))
    chart = (
        stacked_bars(
            [r["label"] for r in trend],
            {"passed": [r["checks"] - r["failed"] for r in trend], "failed": [r["failed"] for r in trend]},
            title=f"expectations per run (the latest {QUALITY_TREND_RUNS} at most)",
            ylabel="checks",
            colors={"passed": "#7fb77e", "failed": "#c0392b"},
            xlabel="run (first check's time, stages, months checked)",
            numbered="failed",
        )
        if trend
        else None
    )
    return {
        **out,
        "tables": tables_run,
        "checks": sum(t["checks"] for t in tables_run),
        "failed": sum(t["failed"] for t in tables_run),
        "critical": sum(t["critical"] for t in tables_run),
        "trend": trend,
        "chart": chart,
    }


def existing_months(spark: SparkSession, config: Config) -> list[str]:
    """The months the data has reached: the scored months and the landed batches (ops.ingest_manifest)."""
    from jobs.runtime import gold_log

    months = set(gold_log.computed(spark, config, apass_inputs.SCORES))
    if tables.exists(spark, config, "ops.ingest_manifest"):
        months |= {
            r["ingest_month"]
            for r in tables.read(spark, config, "ops.ingest_manifest").select("ingest_month").distinct().collect()
        }
    return sorted(months)


def run_trend(results: DataFrame, months: list[str]) -> list[dict]:
    """Checks and failures per run (``run_id``) of ops.quality_results, oldest first, the latest
    QUALITY_TREND_RUNS. Only results of ``months``: a check filed under a month the data has not
    reached (the renewals under their year's last month) is left out, and a month validated again
    counts in each run that validated it, not piled on its month."""
    runs = (
        results.filter(F.col("month").isin(months))
        .groupBy("run_id")
        .agg(
            F.min("validated_at").alias("started"),
            F.count("*").alias("checks"),
            F.sum((~F.col("success")).cast("int")).alias("failed"),
            F.array_sort(F.collect_set("stage")).alias("stages"),
            F.min("month").alias("first_month"),
            F.max("month").alias("last_month"),
        )
        .orderBy(F.desc("started"), F.desc("run_id"))
        .limit(QUALITY_TREND_RUNS)
        .collect()
    )[::-1]
    trend = []
    for r in runs:  # at most QUALITY_TREND_RUNS rows
        stages = r["stages"] if len(r["stages"]) <= 2 else [f"{len(r['stages'])} stages"]
        months_checked = (
            r["first_month"] if r["first_month"] == r["last_month"] else f"{r['first_month']}..{r['last_month']}"
        )
        trend.append(
            {
                **r.asDict(),
                "started": r["started"].strftime("%Y-%m-%d %H:%M"),
                "label": f"{r['started']:%m-%d %H:%M}\n{'+'.join(stages)}\n{months_checked}",
            }
        )
    return trend


def calibration_section(spark: SparkSession, config: Config, month: str) -> dict | None:
    """Against the generator's hidden truth, when the lakehouse holds one (a synthetic world)."""
    from transforms.personas.evaluation import adjusted_rand_index, contingency, purity

    path = config.truth_path("users")
    if not storage.exists(spark, path):
        return None
    truth = spark.read.parquet(path)
    out: dict = {"invited_truth": None, "purity": None, "ari": None}
    if tables.exists(spark, config, "gold.apass_selection"):
        invited = tables.read(spark, config, "gold.apass_selection").filter(
            (F.col("month") == month) & F.col("invited")
        )
        out["invited_truth"] = sorted(
            (r["kind"], r["count"])
            for r in invited.join(truth, "user_id", "left")
            .groupBy(
                F.when(F.col("adversary_type") != "none", F.col("adversary_type"))
                .when(F.col("elite"), F.lit("elite (genuine quality)"))
                .otherwise(F.coalesce(F.col("persona"), F.lit("unknown")))
                .alias("kind")
            )
            .count()
            .collect()
        )
    if tables.exists(spark, config, "gold.personas"):
        found = tables.read(spark, config, "gold.personas").filter(F.col("month") == month)
        cells = contingency(found, truth)
        if cells:
            out["purity"] = sorted(purity(cells).items())
            out["ari"] = adjusted_rand_index(cells)
    return out


def at_a_glance(score: dict, selector: dict, quality: dict) -> list[dict]:
    """The month at a glance, from the sections' own figures: each beside its published or expected
    value (the calibration table, the membership target, the published APASS profile) and beside
    last month's. One dict per figure: id, figure, value, expected, within, previous, change."""

    def row(key, figure, value, expected="", within=None, previous="", change=""):
        return {
            "id": f"glance-{key}",
            "figure": figure,
            "value": value,
            "expected": expected,
            "within": within,
            "previous": previous,
            "change": change,
        }

    # the calibration table's rows (transforms/gold/calibration.check_lines) by what they measure,
    # without the floor in brackets: "super members (score >= 1000)" -> "super members"
    calibration = {
        figure.split(" (")[0]: (measured, published, within)
        for figure, measured, published, within in score["calibration"]
    }
    had_before = score["previous_members"] is not None
    rows = [
        row(
            "members",
            "members scored",
            f"{score['members']:,}",
            previous=f"{score['previous_members']:,}" if had_before else "",
            change=f"{score['members'] - score['previous_members']:+,}" if had_before else "",
        ),
        row(
            "super-share",
            "super members (score >= the super floor)",
            f"{score['super_share']:.2%} ({score['super_members']:,})",
            *calibration.get("super members", ("", "", None))[1:],
            previous=f"{score['previous_super_share']:.2%}" if had_before else "",
            change=f"{(score['super_share'] - score['previous_super_share']) * 100:+.2f} pt" if had_before else "",
        ),
    ]
    if "score >= 2500" in calibration:
        rows.append(row("eligible", "members past the APASS score gate", *calibration["score >= 2500"]))
    membership = (selector.get("membership") or {}).get("rows") or []
    by_month = {r["month"]: r for r in membership}
    now, before = by_month.get(score["month"]), by_month.get(score["previous"])
    if now is not None:
        rows.append(
            row(
                "stock",
                "APASS members (active and warned)",
                f"{now['stock']:,}",
                "" if now["target"] is None else f"target {now['target']:,}",
                None if now["target"] is None else now["stock"] >= now["target"],
                previous=f"{before['stock']:,}" if before else "",
                change=f"{now['stock'] - before['stock']:+,}" if before else "",
            )
        )
    if not selector.get("missing"):
        forced = selector["invited_by_override"]
        rows.append(
            row(
                "invited",
                "APASS invitations this month",
                f"{selector['invited']:,}" + (f" ({forced} by override)" if forced else ""),
                f"{selector['capacity']:,} places free",
                None,
            )
        )
        ranged = [p for p in selector["profile"] if p["within"] is not None]
        if ranged:
            inside = sum(1 for p in ranged if p["within"])
            rows.append(
                row(
                    "profile",
                    "invited profile",
                    f"{inside} of {len(ranged)} published figures within",
                    "the published APASS profile",
                    inside == len(ranged),
                )
            )
    if not quality.get("missing"):
        rows.append(
            row(
                "quality",
                "data quality (latest validation of each table)",
                f"{quality['checks']:,} checks, {quality['failed']:,} failed, {quality['critical']:,} critical",
                "no critical failure",
                quality["critical"] == 0,
            )
        )
    return rows


# --------------------------------------------------------------------------- the report


def report(spark: SparkSession, config: Config, month: str, *, manifest: dict | None = None) -> str:
    """Gather every section of ``month`` (aggregates only), render the HTML, return its path."""
    import jinja2

    with timed("report", f"sections {month}"):
        context = {
            "month": month,
            "generated_at": time.strftime("%Y-%m-%d %H:%M:%S"),
            "root": config.lakehouse.root,
            "run": run_section(spark, config, month, manifest or read_manifest(config, month)),
            "score": score_section(spark, config, month),
            "credit": credit_section(spark, config, month),
            "selector": selector_section(spark, config, month),
            "personas": persona_section(spark, config, month),
            "quality": quality_section(spark, config, month),
            "calibration": calibration_section(spark, config, month),
        }
        context["glance"] = at_a_glance(context["score"], context["selector"], context["quality"])
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("jobs", "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )
    html = env.get_template("report.html.j2").render(**context)
    directory = config.reports_dir(month)
    os.makedirs(directory, exist_ok=True)
    path = os.path.abspath(os.path.join(directory, "index.html"))
    with open(path, "w", encoding="utf-8") as out:
        out.write(html)
    quality.RUN.report_month = month
    publish(spark, config, month)
    return path


def publish(spark: SparkSession, config: Config, month: str) -> None:
    """Copy the month's report directory (report, manifest, Data Docs, quality summary) to a remote root.

    The driver writes the reports on its own disk, which a cluster's driver
    loses when it ends (YARN cluster mode, Kubernetes, a job cluster): with a
    remote root and no quality.reports_root, ``<root>/reports/<month>`` keeps them.
    """
    root = config.reports_publish_root()
    if root is None:
        return
    quality.write_summary(config)  # the run's checks so far: the CLI writes the same file again at the end
    target = f"{root}/{month}"
    with timed("report", f"publish {month}"):
        # "file:" + the absolute path: a bare path would resolve against the cluster's default
        # FileSystem (HDFS), and Path.as_uri() escapes characters (a space as %20) Hadoop keeps as they are
        storage.replace_tree(spark, "file:" + os.path.abspath(config.reports_dir(month)), target)
    log.info("report: the reports of %s are copied to %s", month, target)


def main(argv: list[str] | None = None) -> int:
    from jobs.cli import main as cli_main

    return cli_main(["report", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
