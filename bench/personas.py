"""The recovered personas against the generator's hidden truth: not a test, an evaluation.

For every month of gold.personas in a lakehouse: per found persona its size
and purity (the share of its members whose hidden persona is the same), the
adjusted Rand index of the whole labelling, and where each hidden persona's
members went. Reads <root>/truth/users, which no pipeline stage reads.
Writes bench/results/personas.json.

    python -m bench.personas --root ./lakehouse
"""

from __future__ import annotations

import argparse

from pyspark.sql import functions as F

from bench.metrics import write_result
from jobs.runtime import tables
from jobs.runtime.config import load_config
from jobs.runtime.session import build_spark
from transforms.personas.evaluation import adjusted_rand_index, contingency, purity


def evaluate(root: str) -> list[dict]:
    config = load_config(sets=[f"lakehouse.root={root}"])
    spark = build_spark(config, app_name="taoqi-bench-personas")
    truth = spark.read.parquet(config.truth_path("users"))
    personas = tables.read(spark, config, "gold.personas")
    out = []
    for month in sorted(r["month"] for r in personas.select("month").distinct().collect()):
        cells = contingency(personas.filter(F.col("month") == month), truth)
        sizes: dict[str, int] = {}
        for (found, _), n in cells.items():
            sizes[found] = sizes.get(found, 0) + n
        out.append(
            {
                "month": month,
                "members": sum(sizes.values()),
                "sizes": sizes,
                "purity": purity(cells),
                "adjusted_rand_index": adjusted_rand_index(cells),
                "cells": {f"{found} <- {true}": n for (found, true), n in sorted(cells.items())},
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default="./lakehouse", help="lakehouse root with gold.personas and the truth")
    args = parser.parse_args()
    months = evaluate(args.root)
    for m in months:
        print(f"{m['month']}: {m['members']:,} members, adjusted Rand index {m['adjusted_rand_index']:.3f}")
        for persona, value in sorted(m["purity"].items()):
            print(f"  {persona:<20} {m['sizes'][persona]:>7,} members, purity {value:.3f}")
    path = write_result("personas", f"python -m bench.personas --root {args.root}", root=args.root, months=months)
    print(f"written {path}")


if __name__ == "__main__":
    main()
