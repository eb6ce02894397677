"""The skewed world: does a member or a shop with 1,000x the median's events land one task 10x its stage's median?

Not a test: it measures the job's scale rule (whales and order farms are
real; no member or shop may put a task above 10x its stage's median). It
generates a world with ``generator.skew`` on (default 20 000 members, 13
months, 5 heavy members, 5 heavy shops, factor 1000) into a fresh lakehouse,
then runs the job's stages in this process as ``bench/run.py`` does, the
quality gates off, each under StageMetrics (bench/metrics.py: task times
from the Spark REST API, so the UI is on):

  ingest     every batch
  conform    every batch
  aggregate  every batch (gold.user_month)
  score      the last month (its 12-month roll-up reads every slice; each
             month's score runs the same plan on fewer months)

The generator runs under StageMetrics too, for context (it is not the job).
For every Spark stage of at least MIN_TASKS tasks it reports the median
and max task time and records read (shuffle and input apart), and max /
median of each. A stage is flagged when its max task is above SKEW_LIMIT x
its median task *and* the median task takes at least MIN_MEDIAN_MS (tasks
of a few tens of ms are scheduling noise), or when its task with the most
shuffle records read more than SKEW_LIMIT x the median task's (at least
MIN_MEDIAN_RECORDS): the key skew a small world's fast tasks hide. Uneven
*input* reads are shown, not flagged: they follow file sizes (a small
world's Taobao batch file beside its Taopiaopiao one), not keys. A flagged
stage's tasks are listed (time, records read and written), slowest first.

At this size AQE coalesces most shuffles into one to three tasks (they hold
far less than its 64 MB advisory size), so a member-keyed shuffle has no
median task to compare with; at scale every partition is full. Run it again
with ``--spark-conf spark.sql.adaptive.coalescePartitions.enabled=false``
to keep the 8 shuffle partitions as tasks and see how a heavy member's rows
spread over them. For context it prints the events of the heaviest member
and shop beside the median's. Results go to bench/results/skew.json under
``--label``; the file keeps the other labels.

    python -m bench.skew --label default
    python -m bench.skew --label uncoalesced --spark-conf spark.sql.adaptive.coalescePartitions.enabled=false
    python -m bench.skew --users 5000 --months 4 --label small
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shlex
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.metrics import RestApi, StageMetrics
from jobs import aggregate, conform, generate, ingest, score
from jobs.runtime import tables
from jobs.runtime.config import load_config
from jobs.runtime.logs import setup_logging
from jobs.runtime.session import build_spark
from transforms.synthetic.skew import median_of_histogram

RESULTS = Path(__file__).parent / "results"
MIN_TASKS = 4
SKEW_LIMIT = 10.0
MIN_MEDIAN_MS = 100.0
MIN_MEDIAN_RECORDS = 1000
# The UI keeps 1000 jobs and stages by default; conforming 13 batches runs more.
UI_RETENTION = {"spark.ui.retainedJobs": "100000", "spark.ui.retainedStages": "100000"}


def flag(stage: dict) -> list[str]:
    """Why a stage counts as skewed (empty: it does not)."""
    why = []
    ratio, median = stage["max_over_median"], stage["task_ms_median"]
    if ratio is not None and ratio > SKEW_LIMIT and median >= MIN_MEDIAN_MS:
        why.append(f"time {ratio:g}x")
    records, median_records = stage["shuffle_records_max_over_median"], stage["task_shuffle_records_median"]
    if records is not None and records > SKEW_LIMIT and median_records >= MIN_MEDIAN_RECORDS:
        why.append(f"shuffle records {records:g}x")
    return why


KEPT = (
    "stage_id",
    "attempt",
    "name",
    "tasks",
    "task_ms_median",
    "task_ms_max",
    "max_over_median",
    "task_shuffle_records_median",
    "task_shuffle_records_max",
    "shuffle_records_max_over_median",
    "task_input_records_median",
    "task_input_records_max",
    "input_records_max_over_median",
)


def stage_rows(result: dict) -> list[dict]:
    """The Spark stages of one pipeline stage that have at least MIN_TASKS tasks, with their flags."""
    return [{**{k: s[k] for k in KEPT}, "flag": flag(s)} for s in result["per_stage"] if s["tasks"] >= MIN_TASKS]


def summary(result: dict) -> dict:
    """The largest ratios among the stages of at least MIN_TASKS tasks, and how many stages had fewer."""
    rows = stage_rows(result)
    timed = [r for r in rows if r["task_ms_median"] >= MIN_MEDIAN_MS and r["max_over_median"] is not None]
    shuffled = [r for r in rows if (r["task_shuffle_records_median"] or 0) >= MIN_MEDIAN_RECORDS]
    return {
        "stages_with_min_tasks": len(rows),
        "stages_with_fewer_tasks": sum(1 for s in result["per_stage"] if s["tasks"] < MIN_TASKS),
        "max_time_ratio_any": max((r["max_over_median"] or 0 for r in rows), default=None),
        "max_time_ratio_median_ge_min_ms": max((r["max_over_median"] for r in timed), default=None),
        "max_shuffle_records_ratio": max((r["shuffle_records_max_over_median"] for r in shuffled), default=None),
        "max_input_records_ratio": max((r["input_records_max_over_median"] or 0 for r in rows), default=None),
    }


def task_detail(api: RestApi, stage: dict) -> list[dict]:
    """Each task of a flagged stage, slowest first: what it read and wrote, to tell data from noise."""
    rows = []
    for t in api.tasks(stage["stage_id"], stage["attempt"], stage["tasks"]):
        m = t.get("taskMetrics") or {}
        rows.append(
            {
                "ms": t.get("duration"),
                "gc_ms": m.get("jvmGcTime"),
                "shuffle_records": (m.get("shuffleReadMetrics") or {}).get("recordsRead"),
                "input_records": (m.get("inputMetrics") or {}).get("recordsRead"),
                "records_written": (m.get("outputMetrics") or {}).get("recordsWritten"),
                "shuffle_records_written": (m.get("shuffleWriteMetrics") or {}).get("recordsWritten"),
            }
        )
    return sorted(rows, key=lambda r: -(r["ms"] or 0))


def heaviest(spark, config) -> dict:
    """Silver events of the heaviest member and shop beside the median member's and shop's (with any)."""
    from pyspark.sql import functions as F

    orders = tables.read(spark, config, "silver.orders")
    interactions = tables.read(spark, config, "silver.interactions")
    per_user = orders.select("user_id").unionByName(interactions.select("user_id")).groupBy("user_id").count()
    per_shop = orders.groupBy("seller_id").count()
    out = {}
    for name, frame, key in (("member", per_user, "user_id"), ("shop", per_shop, "seller_id")):
        # one row per distinct count: the median without bringing every member to the driver
        histogram = {r["count"]: r["n"] for r in frame.groupBy("count").agg(F.count("*").alias("n")).collect()}
        median = median_of_histogram(histogram)
        top = frame.orderBy(F.desc("count"), key).limit(5).collect()
        out[name] = {
            "count_with_events": sum(histogram.values()),
            "median_events": median,
            "top": [{key: r[key], "events": r["count"], "over_median": round(r["count"] / median, 1)} for r in top],
        }
    return out


def run(args: argparse.Namespace) -> tuple[dict, object]:
    """Generate the skewed world, run the stages under StageMetrics; (result, the session)."""
    root = Path(args.root).resolve()
    shutil.rmtree(root, ignore_errors=True)
    sets = [
        f"lakehouse.root={root}",
        f"generator.users={args.users}",
        f"generator.months={args.months}",
        "quality.enabled=false",
        f"generator.skew.heavy_users={args.heavy_users}",
        f"generator.skew.heavy_sellers={args.heavy_sellers}",
        f"generator.skew.factor={args.factor}",
        *args.set,
    ]
    config = load_config(sets=sets)
    # added to the overlay's Spark settings (--set spark.extra=... would replace them all)
    extra = {**config.spark.extra, **UI_RETENTION, **dict(kv.split("=", 1) for kv in args.spark_conf)}
    config = dataclasses.replace(config, spark=dataclasses.replace(config.spark, extra=extra))
    spark = build_spark(config, app_name="taoqi-bench-skew")
    api = RestApi(spark)  # the UI must be on: fail now, not after the generator
    no_shorthands = argparse.Namespace(users=None, months=None, seed=None)
    stages = {}
    started = time.perf_counter()
    with StageMetrics(spark, "generate") as m:
        generate.execute(spark, config, no_shorthands)
    stages["generate"] = m.result
    months = ingest.landed_months(spark, config)
    plan = [
        ("ingest", ingest.ingest, months),
        ("conform", conform.conform, months),
        ("aggregate", aggregate.aggregate, months),
        ("score", score.score_months, [months[-1]]),
    ]
    for name, stage, arg in plan:
        with StageMetrics(spark, name, settle_timeout=120) as m:
            stage(spark, config, arg)
        stages[name] = m.result
        print(f"{name}: {m.result['seconds']:.1f} s, {m.result['stages']} Spark stages", flush=True)
    world = heaviest(spark, config)
    spark_conf = {
        k: spark.conf.get(k)
        for k in (  # the values in effect, defaults included
            "spark.sql.shuffle.partitions",
            "spark.sql.adaptive.enabled",
            "spark.sql.adaptive.skewJoin.enabled",
            "spark.sql.adaptive.coalescePartitions.enabled",
            "spark.sql.adaptive.advisoryPartitionSizeInBytes",
        )
    }
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 1),
        "world": {
            "users": args.users,
            "months": args.months,
            "heavy_users": args.heavy_users,
            "heavy_sellers": args.heavy_sellers,
            "factor": args.factor,
            "sets": args.set,
            "extra_spark_conf": args.spark_conf,
            **world,
        },
        "spark_conf": spark_conf,
        "criterion": {
            "min_tasks": MIN_TASKS,
            "skew_limit": SKEW_LIMIT,
            "min_median_ms": MIN_MEDIAN_MS,
            "min_median_records": MIN_MEDIAN_RECORDS,
        },
        "stages": {
            name: {
                "seconds": r["seconds"],
                "spark_stages": r["stages"],
                "settled": r["settled"],
                "evicted_jobs": r["evicted_jobs"],
                "worst_stage": r["worst_stage"],
                "summary": summary(r),
                "per_stage": stage_rows(r),
            }
            for name, r in stages.items()
        },
        "flagged": [
            {"stage": name, **row, "task_detail": task_detail(api, row)}
            for name, r in stages.items()
            for row in stage_rows(r)
            if row["flag"]
        ],
    }, spark


def report(result: dict) -> str:
    lines = []
    for who in ("member", "shop"):
        w = result["world"][who]
        lines.append(
            f"heaviest {who}s (silver events; median {w['median_events']:g} over {w['count_with_events']:,} with any):"
        )
        lines += [f"  {json.dumps(t)}" for t in w["top"]]

    def ratio(x):
        return "-" if x is None else f"{x:.2f}"

    lines.append(
        f"\n{'stage':<9} {'id':>5} {'tasks':>5} {'med ms':>7} {'max ms':>7} {'max/med':>7} "
        f"{'shuf med':>9} {'shuf max':>9} {'max/med':>7} {'in max/med':>10}  flag"
    )
    for name, stage in result["stages"].items():
        for s in stage["per_stage"]:
            lines.append(
                f"{name:<9} {s['stage_id']:>5} {s['tasks']:>5} {s['task_ms_median']:>7.0f} "
                f"{s['task_ms_max']:>7.0f} {ratio(s['max_over_median']):>7} "
                f"{s['task_shuffle_records_median']:>9,.0f} {s['task_shuffle_records_max']:>9,} "
                f"{ratio(s['shuffle_records_max_over_median']):>7} "
                f"{ratio(s['input_records_max_over_median']):>10}  {','.join(s['flag']) or '-'}"
            )
    lines.append("")
    for name, stage in result["stages"].items():
        lines.append(f"{name:<9} {stage['seconds']:>7.1f} s  {json.dumps(stage['summary'])}")
    lines.append(
        f"\nflagged (time: max > {SKEW_LIMIT:g}x median, median >= {MIN_MEDIAN_MS:g} ms; shuffle records: "
        f"max > {SKEW_LIMIT:g}x median, median >= {MIN_MEDIAN_RECORDS:,}): {len(result['flagged'])}"
    )
    return "\n".join(lines)


def dumps(value, indent: int = 0) -> str:
    """JSON with one line per Spark stage or task (an indented file of them would run to thousands of lines)."""
    pad = "  " * (indent + 1)
    if isinstance(value, dict) and "stage_id" not in value and "ms" not in value and value:
        items = [f"{pad}{json.dumps(k)}: {dumps(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * indent + "}"
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        return "[\n" + ",\n".join(pad + dumps(v, indent + 1) for v in value) + "\n" + "  " * indent + "]"
    return json.dumps(value)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--months", type=int, default=13)
    parser.add_argument("--heavy-users", type=int, default=5)
    parser.add_argument("--heavy-sellers", type=int, default=5)
    parser.add_argument("--factor", type=float, default=1000)
    # not under bench/results/tmp/: `make bench` empties that directory when it starts
    parser.add_argument(
        "--root",
        default=str(Path(tempfile.gettempdir()) / "taoqi-bench-skew"),
        help="lakehouse of the skewed world (replaced)",
    )
    parser.add_argument("--label", default="run", help="key of this run in bench/results/skew.json")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any other setting")
    parser.add_argument(
        "--spark-conf",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a Spark setting added to spark.extra (AQE experiments)",
    )
    args = parser.parse_args(argv)
    setup_logging()
    result, spark = run(args)
    machine = {
        "cores": os.cpu_count(),
        "spark_cores": spark.sparkContext.defaultParallelism,
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
        "python": platform.python_version(),
        "spark": spark.version,
    }
    out_path = RESULTS / "skew.json"
    saved = json.loads(out_path.read_text()) if out_path.exists() else {}
    runs = {
        **saved.get("runs", {}),
        args.label: {
            "command": "python -m bench.skew "
            + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)),
            "machine": machine,
            **result,
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out_path.write_text(dumps({"runs": runs}) + "\n")
    print(report(result))
    print(f"machine: {machine}\nwritten to {out_path} under {args.label!r}; world kept at {args.root}")


if __name__ == "__main__":
    main()
