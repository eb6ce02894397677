"""`make bench`: throughput of every stage at three world sizes, and incremental vs full gold.

Not a test: it measures. For each size it generates a 13-month world into a
fresh lakehouse under bench/results/tmp/, then:
  ingest     every batch
  conform    batches 1-12 in one pass
  full       a from-scratch 12-month recompute: aggregate batches 1-12, score month 12
  (setup)    score months 1-11, untimed, so month 12 is as a monthly run leaves it
  incremental  the monthly run of batch 13: conform it, aggregate its slices, score
             month 13
It records wall seconds and events per second per core (events = silver rows
the step covers), prints a table and writes bench/results/gold.json with the
machine beside it.

Then the cost of the quality gates: the demo world (`make demo`: the default
config, 100 k members, 13 months) run through every stage with the gates
on, as `taoqi run` does; per stage, its wall seconds and the seconds of its
validations (the "validate ..." steps), written to bench/results/quality.json.

    python -m bench.run                       # sizes 10000 30000 100000, then quality at the demo size
    python -m bench.run --sizes 5000 20000    # any sizes
    python -m bench.run --sizes --quality-users 30000   # only the quality part, at another size
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

from jobs import aggregate, conform, generate, ingest, score
from jobs.runtime import logs, tables
from jobs.runtime.config import load_config
from jobs.runtime.logs import setup_logging
from jobs.runtime.session import build_spark

RESULTS = Path(__file__).parent / "results"


def _silver_events(spark, config, batches: list[str]) -> int:
    """Silver event rows of ``batches`` (what aggregating those batches reads)."""
    from pyspark.sql import functions as F
    return sum(tables.read(spark, config, f"silver.{t}").filter(F.col("ingest_month").isin(batches)).count()
               for t in ("orders", "interactions", "service_events"))


def measure(spark, users: int, root: Path) -> dict:
    shutil.rmtree(root, ignore_errors=True)
    # The stages' own throughput: the quality gates are measured on their own (README "Performance").
    config = load_config(sets=[f"lakehouse.root={root}", f"generator.users={users}", "quality.enabled=false"])
    args = argparse.Namespace(users=None, months=None, seed=None)
    seconds = {}

    def timed(name, fn, *a):
        started = time.perf_counter()
        result = fn(*a)
        seconds[name] = time.perf_counter() - started
        return result

    timed("generate", generate.execute, spark, config, args)
    months = ingest.landed_months(spark, config)
    first, last = months[:-1], months[-1]
    timed("ingest", ingest.ingest, spark, config, months)
    report = timed("conform", conform.conform, spark, config, first)
    landed_events = sum(r["rows_in"] for r in report)
    timed("full_aggregate", aggregate.aggregate, spark, config, first)
    timed("full_score", score.score_months, spark, config, [first[-1]])
    score.score_months(spark, config, first[:-1])  # setup: the history a monthly run would have left
    score.score_months(spark, config, [first[-1]])
    timed("incremental_conform", conform.conform, spark, config, [last])
    touched = aggregate.stale_batches(spark, config)
    timed("incremental_aggregate", aggregate.aggregate, spark, config, touched)
    rescored = score.stale_months(spark, config)
    timed("incremental_score", score.score_months, spark, config, rescored)
    seconds["full"] = seconds["full_aggregate"] + seconds["full_score"]
    seconds["incremental"] = seconds["incremental_aggregate"] + seconds["incremental_score"]
    cores = spark.sparkContext.defaultParallelism
    window_events = _silver_events(spark, config, first)
    month_events = _silver_events(spark, config, [last])
    covered = {"generate": landed_events, "ingest": landed_events, "conform": landed_events,
               "full_aggregate": window_events, "full_score": window_events, "full": window_events,
               "incremental_conform": month_events, "incremental_aggregate": month_events,
               "incremental_score": month_events, "incremental": month_events}
    return {
        "users": users, "months": len(months), "landed_events_12_batches": landed_events,
        "silver_events_12_batches": window_events, "silver_events_new_batch": month_events,
        "incremental_aggregated": touched, "incremental_rescored": rescored,
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "events_per_second_per_core": {k: round(covered[k] / v / cores) for k, v in seconds.items()},
        "incremental_over_full": round(seconds["incremental"] / seconds["full"], 3),
    }


def measure_quality(spark, users: int | None, root: Path) -> dict:
    """Every stage over the whole world with the quality gates on; per stage, wall and validation seconds."""
    shutil.rmtree(root, ignore_errors=True)
    sets = [f"lakehouse.root={root}", f"quality.reports_root={root / 'reports'}"]
    config = load_config(sets=sets + ([f"generator.users={users}"] if users else []))
    generate.execute(spark, config, argparse.Namespace(users=None, months=None, seed=None))
    months = ingest.landed_months(spark, config)
    stages = [("ingest", ingest.ingest, months), ("conform", conform.conform, months),
              ("aggregate", aggregate.aggregate, months), ("score", score.score_months, months)]
    per_stage = {}
    for name, run_stage, arg in stages:
        logs.TIMINGS.clear()
        started = time.perf_counter()
        run_stage(spark, config, arg)
        wall = time.perf_counter() - started
        validate = sum(t.seconds for t in logs.TIMINGS if t.step.startswith("validate "))
        per_stage[name] = {"seconds": round(wall, 1), "validate_seconds": round(validate, 1),
                           "validations": sum(t.step.startswith("validate ") for t in logs.TIMINGS),
                           "validate_share": round(validate / wall, 3)}
    total = sum(v["seconds"] for v in per_stage.values())
    total_validate = sum(v["validate_seconds"] for v in per_stage.values())
    return {"users": config.generator.users, "months": len(months), "stages": per_stage,
            "seconds": round(total, 1), "validate_seconds": round(total_validate, 1),
            "validate_share": round(total_validate / total, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 30_000, 100_000],
                        help="members of each gold world (none: skip the gold part)")
    parser.add_argument("--quality-users", type=int, default=None,
                        help="members of the quality world (default: the demo's, generator.users); 0 skips it")
    args = parser.parse_args()
    setup_logging()
    spark = build_spark(load_config(), app_name="taoqi-bench")
    rows = []
    shutil.rmtree(RESULTS / "tmp", ignore_errors=True)
    cores = spark.sparkContext.defaultParallelism
    machine = {"cores": os.cpu_count(), "spark_cores": cores, "python": platform.python_version(),
               "spark": spark.version, "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    for users in args.sizes:
        rows.append(measure(spark, users, RESULTS / "tmp" / f"u{users}"))
        print(json.dumps(rows[-1]), flush=True)
        out = {"command": "make bench", "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "machine": machine, "results": rows}
        (RESULTS / "gold.json").write_text(json.dumps(out, indent=2) + "\n")  # after each size
    steps = ["generate", "ingest", "conform", "full", "incremental_conform", "incremental"]
    if rows:
        print(f"\n{'users':>8} " + " ".join(f"{s:>22}" for s in steps) + "  incr/full")
    for r in rows:
        cells = [f"{r['seconds'][s]:>7}s {r['events_per_second_per_core'][s]:>9,}/s/c" for s in steps]
        print(f"{r['users']:>8,} " + " ".join(f"{c:>22}" for c in cells) + f"  {r['incremental_over_full']:>9}")
    if args.quality_users != 0:
        q = measure_quality(spark, args.quality_users, RESULTS / "tmp" / "quality")
        out = {"command": "make bench", "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "machine": machine, "results": q}
        (RESULTS / "quality.json").write_text(json.dumps(out, indent=2) + "\n")
        print(f"\nquality gates, {q['users']:,} members, {q['months']} months:")
        print(f"{'stage':<10} {'seconds':>8} {'validating':>10} {'checks runs':>11} {'share':>6}")
        for name, v in [*q["stages"].items(), ("total", {**q, "validations": ""})]:
            print(f"{name:<10} {v['seconds']:>8} {v['validate_seconds']:>10} {v['validations']:>11} "
                  f"{v['validate_share']:>6.1%}")
    print(f"machine: {machine}")
    print(f"worlds kept for inspection under {RESULTS / 'tmp'} (the next run replaces them)")


if __name__ == "__main__":
    main()
