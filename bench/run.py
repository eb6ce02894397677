"""`make bench`: the monthly pipeline at two world sizes, per stage, against a DuckDB reference of all gold.

Not a test: it measures. For each size it generates a 13-month world into a
fresh lakehouse under bench/results/tmp/, then, stage by stage, each inside
bench/metrics.py's StageMetrics (wall seconds, Spark jobs and tasks, shuffle
read/write bytes, task-time spread, peak RSS of the driver's process tree,
the Delta commits it made (versions added to the world's tables), the driver's
JVM heap after a full GC once it ended, the files and bytes of the tables the
stage writes, the seconds of its logged steps with the months summed, e.g. the
score's "features", "scores", "stability"):

  generate     the landing of 13 monthly batches
  ingest       every batch
  conform      batches 1-12 in one pass
  full_aggregate + full_score_earlier + full_score   the full recompute of the 12-month
               world from silver, every gold row of it: aggregate batches 1-12, score
               months 1-10, score months 11 and 12 in one plan (timed apart: the change
               since last month and the stability of month 12 inside the plan).
               full_aggregate + full_score is the latest month's gold from scratch: the
               slices of a year of events, the roll-up and score of months 11 and 12.
  duckdb       that same gold computed by DuckDB from the same silver Parquet files
               (bench/reference/gold_duckdb.py): gold.user_month of batches 1-12, the
               roll-up (gold.user_features) and gold.scores / gold.service_routing of
               months 11 and 12; month 12 compared row for row with Spark's
  incremental_conform + incremental_aggregate + incremental_score   the monthly run of
               batch 13: conform it, aggregate its slices, score month 13
  train, promote, select, renew, personas, report   the rest of month 13's run

Events per second per core = silver (or landed) event rows the step covers /
seconds / Spark cores. The JVM heap in use after a full GC, after each size,
is the driver-memory figure (in local mode the driver JVM also runs the
tasks, so its RSS only grows toward its heap size). Results:
bench/results/bench.json (and a table on stdout), the machine beside them.

Then the cost of the quality gates: the demo world (`make demo`: the default
config, 100 k members, 13 months) run through every stage with the gates
on, as `taoqi run` does; per stage, its wall seconds and the seconds of its
validations (the "validate ..." steps), written to bench/results/quality.json.

    python -m bench.run                       # sizes 100000 1000000, then quality at the demo size
    python -m bench.run --sizes 5000 20000 --quality-users 0   # other sizes, no quality part
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import platform
import re
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

from bench.metrics import StageMetrics
from bench.reference import gold_duckdb
from jobs import aggregate, conform, generate, ingest, score
from jobs.runtime import gold_log, logs, quality, tables
from jobs.runtime.config import load_config
from jobs.runtime.logs import setup_logging
from jobs.runtime.session import build_spark

RESULTS = Path(__file__).parent / "results"
SHUFFLE_INPUT_BYTES_PER_PARTITION = 16 * 2**20
# What measured the results, as run (`make bench` runs it without arguments).
COMMAND = " ".join(["python -m bench.run", *sys.argv[1:]])
# Stage -> the tables it writes (their files and bytes are recorded after it).
WRITES = {
    "ingest": ["bronze.taobao_orders", "bronze.interactions"],
    "conform": ["silver.orders", "silver.interactions", "silver.service_events", "silver.quarantine"],
    "full_aggregate": ["gold.user_month"],
    "incremental_aggregate": ["gold.user_month"],
    "full_score": ["gold.scores", "gold.user_features"],
    "incremental_score": ["gold.scores", "gold.user_features"],
    "select": ["gold.apass_candidates", "gold.apass_selection"],
    "personas": ["gold.personas"],
}


def _silver_events(spark, config, batches: list[str]) -> int:
    """Silver event rows of ``batches`` (what aggregating those batches reads)."""
    from pyspark.sql import functions as F

    return sum(
        tables.read(spark, config, f"silver.{t}").filter(F.col("ingest_month").isin(batches)).count()
        for t in ("orders", "interactions", "service_events")
    )


def delta_commits(root: Path) -> int:
    """Delta commits of every table under ``root`` so far (the commit files of their logs; bench worlds are
    local directories): a stage's commits are the difference across it."""
    return sum(1 for log in root.rglob("_delta_log") for f in log.glob("*.json") if f.stem.isdigit())


def heap_after_gc(spark) -> int:
    """Bytes of the driver JVM's heap in use after a full GC: what it keeps, not what it churned."""
    runtime = spark.sparkContext._jvm.java.lang.Runtime.getRuntime()
    spark.sparkContext._jvm.java.lang.System.gc()
    return int(runtime.totalMemory() - runtime.freeMemory())


def duckdb_memory_limit() -> str:
    """Half the memory the machine has free now, the Spark JVM beside it counted: DuckDB's default (80 % of RAM)
    on top of a 1 M-member world's 8 GB JVM got the bench's process killed by the kernel. DuckDB spills the
    rest of its joins and aggregations to disk."""
    return f"{psutil.virtual_memory().available // 2 // 2**20}MB"


def measure(spark, users: int, root: Path) -> dict:
    from jobs import model_registry, personas, promote, renew, report, selection, train

    shutil.rmtree(root, ignore_errors=True)
    # The stages' own throughput: the quality gates are measured on their own
    # (docs/performance.md#the-quality-gates-cost).
    config = load_config(
        sets=[
            f"lakehouse.root={root}",
            f"quality.reports_root={root / 'reports'}",
            f"generator.users={users}",
            "quality.enabled=false",
            # the worlds' shuffles sized from their data (off by default until measured on small worlds)
            f"spark.shuffle_input_bytes_per_partition={SHUFFLE_INPUT_BYTES_PER_PARTITION}",
        ]
    )
    stages: dict[str, dict] = {}

    def timed(name, fn, *a, **kw):
        location = {t: tables.location(config, t) for t in WRITES.get(name, [])}
        logs.TIMINGS.clear()
        commits = delta_commits(root)
        with StageMetrics(spark, name, tables=location) as m:
            result = fn(*a, **kw)
        stages[name] = {
            **m.result,
            "steps": step_seconds(logs.TIMINGS),
            "commits": delta_commits(root) - commits,
            "heap_after_gc_bytes": heap_after_gc(spark),
        }
        s = stages[name]
        print(
            f"  {name:<22} {s['seconds']:>8.1f}s {s['jobs']:>5} jobs {s['commits']:>4} commits  shuffle "
            f"{s['shuffle_read_bytes'] / 2**20:>9.1f} MiB  peak RSS {s['peak_rss_bytes'] / 2**30:.2f} GiB  "
            "heap after GC "
            f"{s['heap_after_gc_bytes'] / 2**20:.0f} MiB",
            flush=True,
        )
        return result

    timed("generate", generate.execute, spark, config, argparse.Namespace(users=None, months=None, seed=None))
    months = ingest.landed_months(spark, config)
    first, last = months[:-1], months[-1]
    timed("ingest", ingest.ingest, spark, config, months)
    report_rows = timed("conform", conform.conform, spark, config, first)
    landed_events = sum(r["rows_in"] for r in report_rows)
    timed("full_aggregate", aggregate.aggregate, spark, config, first)
    # months 1-10 first; months 11 and 12 in one plan are what the DuckDB reference computes (month 12's
    # change since month 11 needs month 11's score)
    timed("full_score_earlier", score.score_months, spark, config, first[:-2])
    timed("full_score", score.score_months, spark, config, first[-2:])
    comparison = gold_duckdb.check(
        spark, config, first[-1], threads=spark.sparkContext.defaultParallelism, memory_limit=duckdb_memory_limit()
    )
    if not comparison.matches:
        raise SystemExit(
            f"bench: DuckDB's gold differs from Spark's on the {users:,}-member world: "
            f"{comparison.mismatches} rows differ (python -m bench.reference.gold_duckdb --root {root})"
        )
    timed("incremental_conform", conform.conform, spark, config, [last])
    touched = aggregate.stale_batches(spark, config)
    timed("incremental_aggregate", aggregate.aggregate, spark, config, touched)
    rescored = score.stale_months(spark, config)
    timed("incremental_score", score.score_months, spark, config, rescored)
    try:
        timed("train", train.train, spark, config, last)
        timed("promote", promote.promote, config)
        timed("select", selection.select, spark, config, [last])
    except (train.TooFewLabelsError, model_registry.MissingModelError) as err:
        print(f"  (no selector at this size: {err})")
    batches = sorted(gold_log.computed(spark, config, aggregate.USER_MONTH))
    timed("renew", renew.renew, spark, config, int(last[:4]), latest_batch=batches[-1])
    try:
        timed("personas", personas.personas, spark, config, last)
    except personas.TooFewMembersError as err:
        print(f"  (no personas at this size: {err})")
    timed("report", report.report, spark, config, last, manifest=None)

    seconds = {k: v["seconds"] for k, v in stages.items()}
    seconds["full"] = seconds["full_aggregate"] + seconds["full_score_earlier"] + seconds["full_score"]
    seconds["latest_gold_from_scratch"] = seconds["full_aggregate"] + seconds["full_score"]
    seconds["incremental"] = seconds["incremental_aggregate"] + seconds["incremental_score"]
    seconds["monthly_run"] = sum(
        v
        for k, v in seconds.items()
        if k
        not in (
            "generate",
            "conform",
            "full_aggregate",
            "full_score_earlier",
            "full_score",
            "full",
            "latest_gold_from_scratch",
            "incremental",
        )
    )
    cores = spark.sparkContext.defaultParallelism
    window_events = _silver_events(spark, config, first)
    month_events = _silver_events(spark, config, [last])
    covered = {
        "generate": landed_events,
        "ingest": landed_events,
        "conform": landed_events,
        "full_aggregate": window_events,
        "full_score_earlier": window_events,
        "full_score": window_events,
        "full": window_events,
        "latest_gold_from_scratch": window_events,
        "incremental_conform": month_events,
        "incremental_aggregate": month_events,
        "incremental_score": month_events,
        "incremental": month_events,
        "monthly_run": month_events,
    }
    keep = (
        "seconds",
        "jobs",
        "stages",
        "tasks",
        "shuffle_read_bytes",
        "shuffle_write_bytes",
        "input_bytes",
        "output_bytes",
        "task_ms",
        "peak_rss_bytes",
        "peak_jvm_rss_bytes",
        "peak_python_rss_bytes",
        "tables",
        "settled",
        "evicted_jobs",
        "steps",
        "commits",
        "heap_after_gc_bytes",
    )
    return {
        "users": users,
        "shuffle_input_bytes_per_partition": config.spark.shuffle_input_bytes_per_partition,
        "months": len(months),
        "landed_events_12_batches": landed_events,
        "silver_events_12_batches": window_events,
        "silver_events_new_batch": month_events,
        "incremental_aggregated": touched,
        "incremental_rescored": rescored,
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "events_per_second_per_core": {k: round(covered[k] / seconds[k] / cores) for k in covered if k in seconds},
        # one month of gold against the full recompute of the 12 months' gold
        "incremental_over_full": round(seconds["incremental"] / seconds["full"], 3),
        # the stricter comparison: against recomputing only the latest month's gold from scratch
        "incremental_over_latest_gold_from_scratch": round(
            seconds["incremental"] / seconds["latest_gold_from_scratch"], 3
        ),
        # the same gold, Spark against DuckDB on the same cores: gold.user_month of 12 batches, then the
        # roll-up and score of months 11 and 12
        "duckdb": {
            "seconds": {k: round(v, 2) for k, v in comparison.seconds.items()},
            "total_seconds": round(comparison.total_seconds, 2),
            "threads": comparison.threads,
            "rows": comparison.rows,
            "mismatches": comparison.mismatches,
            "spark_over_duckdb_user_month": round(seconds["full_aggregate"] / comparison.seconds["user_month"], 1),
            "spark_over_duckdb": round(seconds["latest_gold_from_scratch"] / comparison.total_seconds, 1),
        },
        "driver_heap_after_gc_bytes": heap_after_gc(spark),
        "stages": {name: {k: v for k, v in m.items() if k in keep} for name, m in stages.items()},
    }


MONTH = re.compile(r"\d{4}-\d{2}")


def step_seconds(timings: list) -> dict[str, float]:
    """Seconds per step of a stage (its logged `timed` steps), months summed: "features 2025-02" -> "features"."""
    steps: dict[str, float] = {}
    for t in timings:
        name = " ".join(w for w in t.step.split() if not MONTH.fullmatch(w)) or t.step
        steps[name] = round(steps.get(name, 0.0) + t.seconds, 2)
    return steps


RECORD_STEP = "record checks and Data Docs"  # quality.flush: part of the gates' cost


def measure_quality(spark, users: int | None, root: Path) -> dict:
    """Every stage over the whole world with the quality gates on; per stage, wall and validation seconds."""
    shutil.rmtree(root, ignore_errors=True)
    sets = [f"lakehouse.root={root}", f"quality.reports_root={root / 'reports'}"]
    config = load_config(sets=sets + ([f"generator.users={users}"] if users else []))
    generate.execute(spark, config, argparse.Namespace(users=None, months=None, seed=None))
    months = ingest.landed_months(spark, config)
    stages = [
        ("ingest", ingest.ingest, months),
        ("conform", conform.conform, months),
        ("aggregate", aggregate.aggregate, months),
        ("score", score.score_months, months),
    ]
    per_stage = {}
    for name, run_stage, arg in stages:
        logs.TIMINGS.clear()
        started = time.perf_counter()
        run_stage(spark, config, arg)
        with logs.timed(name, RECORD_STEP):
            quality.flush(spark)  # as the CLI does when a stage ends: results appended, Data Docs built
        wall = time.perf_counter() - started
        validate = sum(t.seconds for t in logs.TIMINGS if t.step.startswith("validate ") or t.step == RECORD_STEP)
        per_stage[name] = {
            "seconds": round(wall, 1),
            "validate_seconds": round(validate, 1),
            "validations": sum(t.step.startswith("validate ") for t in logs.TIMINGS),
            "validate_share": round(validate / wall, 3),
        }
    total = sum(v["seconds"] for v in per_stage.values())
    total_validate = sum(v["validate_seconds"] for v in per_stage.values())
    return {
        "users": config.generator.users,
        "months": len(months),
        "stages": per_stage,
        "seconds": round(total, 1),
        "validate_seconds": round(total_validate, 1),
        "validate_share": round(total_validate / total, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="*",
        default=[100_000, 1_000_000],
        help="members of each world (none: skip the pipeline part)",
    )
    parser.add_argument(
        "--quality-users",
        type=int,
        default=None,
        help="members of the quality world (default: the demo's, generator.users); 0 skips it",
    )
    args = parser.parse_args()
    setup_logging()
    config = load_config()
    # The REST API of the UI gives the per-stage figures; a 13-batch run has thousands of jobs.
    extra = {
        **config.spark.extra,
        "spark.ui.retainedJobs": "100000",
        "spark.ui.retainedStages": "100000",
        "spark.ui.retainedTasks": "1000000",
    }
    spark = build_spark(
        dataclasses.replace(config, spark=dataclasses.replace(config.spark, extra=extra)), app_name="taoqi-bench"
    )
    rows = []
    shutil.rmtree(RESULTS / "tmp", ignore_errors=True)
    cores = spark.sparkContext.defaultParallelism
    machine = {
        "cores": os.cpu_count(),
        "spark_cores": cores,
        "python": platform.python_version(),
        "spark": spark.version,
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
        "driver_memory": extra.get("spark.driver.memory"),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    for users in args.sizes:
        print(f"world of {users:,} members:", flush=True)
        rows.append(measure(spark, users, RESULTS / "tmp" / f"u{users}"))
        out = {
            "command": COMMAND,
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine,
            "results": rows,
        }
        (RESULTS / "bench.json").write_text(json.dumps(out, indent=2) + "\n")  # after each size
    if rows:
        print(scale_table(rows))
        table = stage_table(rows)
        print(table)
        (RESULTS / "bench.md").write_text(
            f"# `make bench`, per stage\n\nMeasured {out['measured_at']} by `{COMMAND}` on "
            f"{machine['cores']} cores, {machine['memory_gb']} GB, Python {machine['python']}, "
            f"Spark {machine['spark']}, "
            f"driver memory {machine['driver_memory']}; quality gates off. Figures: bench/results/bench.json.\n\n"
            + table
            + "\n"
        )
    if args.quality_users != 0:
        q = measure_quality(spark, args.quality_users, RESULTS / "tmp" / "quality")
        out = {
            "command": COMMAND,
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine,
            "results": q,
        }
        (RESULTS / "quality.json").write_text(json.dumps(out, indent=2) + "\n")
        print(f"\nquality gates, {q['users']:,} members, {q['months']} months:")
        print(f"{'stage':<10} {'seconds':>8} {'validating':>10} {'checks runs':>11} {'share':>6}")
        for name, v in [*q["stages"].items(), ("total", {**q, "validations": ""})]:
            print(
                f"{name:<10} {v['seconds']:>8} {v['validate_seconds']:>10} {v['validations']:>11} "
                f"{v['validate_share']:>6.1%}"
            )
    print(f"machine: {machine}")
    print(f"worlds kept for inspection under {RESULTS / 'tmp'} (the next run replaces them)")


def scale_table(rows: list[dict]) -> str:
    """The scale table of docs/performance.md#scale: per size, the stages' seconds and events/s/core, and the ratios."""
    steps = ["ingest", "conform", "full", "incremental_conform", "incremental", "monthly_run"]
    lines = [
        f"{'users':>9} {'events (12 b.)':>15} "
        + " ".join(f"{s:>24}" for s in steps)
        + f" {'incr/full':>9} {'incr/latest':>11} {'Spark/DuckDB':>12} {'heap after GC':>13}"
    ]
    for r in rows:
        cells = [f"{r['seconds'][s]:>7}s {r['events_per_second_per_core'][s]:>9,}/s/c" for s in steps]
        lines.append(
            f"{r['users']:>9,} {r['silver_events_12_batches']:>15,} "
            + " ".join(f"{c:>24}" for c in cells)
            + f" {r['incremental_over_full']:>9} {r['incremental_over_latest_gold_from_scratch']:>11}"
            f" {r['duckdb']['spark_over_duckdb']:>11}x {r['driver_heap_after_gc_bytes'] / 2**20:>10.0f} MiB"
        )
    per_event = [r["seconds"]["full"] / r["silver_events_12_batches"] for r in rows]
    if len(rows) > 1:
        lines.append(
            "full recompute, seconds per million events: "
            + ", ".join(f"{p * 1e6:.1f}" for p in per_event)
            + f" (largest / smallest: {per_event[-1] / per_event[0]:.2f})"
        )
        for against in ("full", "latest_gold_from_scratch"):
            lines.append(
                f"incremental / {against} at the margin (what the next members cost, fixed costs left "
                "out): "
                + ", ".join(
                    f"{a['users']:,} -> {b['users']:,}: {marginal_ratio(a, b, against):.3f}"
                    for a, b in itertools.pairwise(rows)
                )
            )
    return "\n".join(lines)


def stage_table(rows: list[dict]) -> str:
    """Per world size and stage: wall seconds, Spark jobs, Delta commits, shuffle written, driver heap after GC
    (Markdown, for bench/results/bench.md and the docs)."""
    lines = [
        "| members | stage | seconds | Spark jobs | Delta commits | shuffle written (MiB) | heap after GC (MiB) |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        for name, m in r["stages"].items():
            lines.append(
                f"| {r['users']:,} | {name} | {m['seconds']:.1f} | {m['jobs']} | {m['commits']} "
                f"| {m['shuffle_write_bytes'] / 2**20:,.0f} | {m['heap_after_gc_bytes'] / 2**20:,.0f} |"
            )
        d = r["duckdb"]
        lines.append(
            f"| {r['users']:,} | DuckDB reference ({d['threads']} threads): "
            + ", ".join(f"{k} {v:.1f} s" for k, v in d["seconds"].items())
            + f"; Spark / DuckDB {d['spark_over_duckdb']}x | {d['total_seconds']:.1f} | | | | |"
        )
    return "\n".join(lines)


def marginal_ratio(smaller: dict, larger: dict, against: str = "full") -> float:
    """(incremental seconds added) / (``against`` seconds added) from one world size to a larger one."""
    return (larger["seconds"]["incremental"] - smaller["seconds"]["incremental"]) / (
        larger["seconds"][against] - smaller["seconds"][against]
    )


if __name__ == "__main__":
    main()
