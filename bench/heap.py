"""Driver memory per world size, each in a fresh process: the JVM heap in use after a full GC.

`make bench` runs every size in one Spark session, so its heap figure after
each size also holds what the earlier sizes left (the UI's store of jobs,
stages and tasks, raised for the REST API; Delta's cached logs of the
earlier worlds' tables). Here each world gets its own process: the heap
after a full GC before any work, then after the gold stages of its last
batch (aggregate the batch's slices, score the month), gates off. If the
driver held anything per member, the second figure would grow with the
world.

    python -m bench.heap bench/results/tmp/u10000 bench/results/tmp/u100000   # the worlds `make bench` kept
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from bench.metrics import write_result


def measure(root: Path) -> dict:
    """In this process: the heap after GC before and after the gold stages of the world's last batch."""
    from bench.run import heap_after_gc
    from jobs import aggregate, score
    from jobs.runtime import gold_log, tables
    from jobs.runtime.config import load_config
    from jobs.runtime.session import build_spark

    config = load_config(sets=[f"lakehouse.root={root}", "quality.enabled=false"])
    spark = build_spark(config, app_name="taoqi-bench-heap")
    before = heap_after_gc(spark)
    batch = max(gold_log.computed(spark, config, aggregate.USER_MONTH))
    members = tables.read(spark, config, "silver.accounts").count()
    started = time.perf_counter()
    aggregate.aggregate(spark, config, [batch])
    score.score_months(spark, config, [batch])
    return {
        "root": str(root),
        "members": members,
        "batch": batch,
        "seconds": round(time.perf_counter() - started, 1),
        "heap_after_gc_before_bytes": before,
        "heap_after_gc_bytes": heap_after_gc(spark),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("roots", nargs="+", type=Path, help="lakehouse roots of bench worlds (aggregated and scored)")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # the child process's mode
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.roots[0].resolve())))
        return
    rows = []
    for root in args.roots:
        if not (root / "gold" / "user_month" / "_delta_log").is_dir():  # bench worlds are local directories
            print(
                f"bench.heap: {root} holds no gold.user_month: run `python -m bench.run` first "
                "(it keeps its worlds under bench/results/tmp/)",
                file=sys.stderr,
            )
            sys.exit(2)
        child = subprocess.run(
            [sys.executable, "-m", "bench.heap", "--one", str(root)], capture_output=True, text=True, check=False
        )
        if child.returncode != 0:
            sys.exit(f"bench.heap: {root} failed:\n{child.stderr[-3000:]}")
        rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(
            f"{r['members']:>10,} members  batch {r['batch']}  {r['seconds']:>6}s  heap after GC: "
            f"{r['heap_after_gc_before_bytes'] / 2**20:.0f} MiB before, "
            f"{r['heap_after_gc_bytes'] / 2**20:.0f} MiB after",
            flush=True,
        )
    write_result("heap", "python -m bench.heap " + " ".join(map(str, args.roots)), results=rows)


if __name__ == "__main__":
    main()
