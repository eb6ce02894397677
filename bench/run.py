"""`make bench`: throughput of generate, ingest and conform at three world sizes.

Not a test: it measures. For each size it generates a world into a fresh
lakehouse under bench/results/tmp/, runs ingest and conform over every batch,
and records wall seconds and events per second per core of each stage. The
table is printed and written to bench/results/foundation.json with the
machine beside it.

    python -m bench.run                       # sizes 10000 30000 100000
    python -m bench.run --sizes 5000 20000    # any sizes
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

from jobs import conform, generate, ingest
from jobs.runtime import tables
from jobs.runtime.config import load_config
from jobs.runtime.logs import setup_logging
from jobs.runtime.session import build_spark

RESULTS = Path(__file__).parent / "results"


def measure(spark, users: int, root: Path) -> dict:
    shutil.rmtree(root, ignore_errors=True)
    config = load_config(sets=[f"lakehouse.root={root}", f"generator.users={users}"])
    args = argparse.Namespace(users=None, months=None, seed=None)
    timings = {}
    started = time.perf_counter()
    generate.execute(spark, config, args)
    timings["generate"] = time.perf_counter() - started
    months = ingest.landed_months(spark, config)
    started = time.perf_counter()
    ingest.ingest(spark, config, months)
    timings["ingest"] = time.perf_counter() - started
    started = time.perf_counter()
    report = conform.conform(spark, config, months)
    timings["conform"] = time.perf_counter() - started
    events = sum(r["rows_in"] for r in report)
    silver = sum(r["rows_valid"] for r in report)
    cores = spark.sparkContext.defaultParallelism
    return {
        "users": users, "months": len(months), "events": events, "silver_rows": silver,
        "seconds": {k: round(v, 1) for k, v in timings.items()},
        "events_per_second_per_core": {k: round(events / v / cores) for k, v in timings.items()},
        "bronze_versions": {s: tables.version(spark, config, f"bronze.{s}") for s in config.enabled_sources()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    args = parser.parse_args()
    setup_logging()
    spark = build_spark(load_config(), app_name="taoqi-bench")
    rows = []
    for users in args.sizes:
        rows.append(measure(spark, users, RESULTS / "tmp" / f"u{users}"))
        print(json.dumps(rows[-1]), flush=True)
    cores = spark.sparkContext.defaultParallelism
    machine = {"cores": os.cpu_count(), "spark_cores": cores, "python": platform.python_version(),
               "spark": spark.version, "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)}
    out = {"command": "make bench", "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "machine": machine, "results": rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "foundation.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"\n{'users':>8} {'events':>11} | {'generate s':>10} {'ev/s/core':>9} | {'ingest s':>8} {'ev/s/core':>9} | "
          f"{'conform s':>9} {'ev/s/core':>9}")
    for r in rows:
        s, e = r["seconds"], r["events_per_second_per_core"]
        print(f"{r['users']:>8,} {r['events']:>11,} | {s['generate']:>10} {e['generate']:>9,} | {s['ingest']:>8} "
              f"{e['ingest']:>9,} | {s['conform']:>9} {e['conform']:>9,}")
    print(f"machine: {machine}")
    shutil.rmtree(RESULTS / "tmp", ignore_errors=True)


if __name__ == "__main__":
    main()
