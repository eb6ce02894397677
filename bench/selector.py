"""The selector's invitations against the generator's hidden truth: not a test, an evaluation.

For every selected month of a lakehouse: who the champion invited, and who
the score-only baseline (the gates, then the top scores) would have invited
with the same capacity, by hidden segment; the share of adversaries and of
genuine-quality (elite) members in each. Reads <root>/truth/users, which no
pipeline stage reads. Writes bench/results/selector.json.

    python -m bench.selector --root ./lakehouse
"""

from __future__ import annotations

import argparse

from pyspark.sql import Window
from pyspark.sql import functions as F

from bench.metrics import write_result
from jobs.runtime import tables
from jobs.runtime.config import load_config
from jobs.runtime.session import build_spark


def evaluate(root: str) -> list[dict]:
    config = load_config(sets=[f"lakehouse.root={root}"])
    spark = build_spark(config, app_name="taoqi-bench-selector")
    truth = spark.read.parquet(config.truth_path("users")).select("user_id", "segment", "adversary_type", "elite")
    selection = tables.read(spark, config, "gold.apass_selection")
    candidates = tables.read(spark, config, "gold.apass_candidates")
    out = []
    for month in sorted(r["month"] for r in selection.select("month").distinct().collect()):
        sel = selection.filter(F.col("month") == month)
        capacity = sel.first()["capacity"]
        best_scores = Window.partitionBy("month").orderBy(F.desc("score"), F.asc("user_id"))
        baseline = (
            candidates.filter((F.col("month") == month) & F.col("passes_gates"))
            .select("user_id", "month", F.row_number().over(best_scores).alias("n"))
            .filter(F.col("n") <= capacity)
            .select("user_id")
        )
        row = {
            "month": month,
            "capacity": capacity,
            "candidates": candidates.filter(F.col("month") == month).count(),
            "past_the_gates": candidates.filter((F.col("month") == month) & F.col("passes_gates")).count(),
        }
        for name, invited in (("selector", sel.filter("invited").select("user_id")), ("baseline", baseline)):
            rows = invited.join(truth, "user_id").groupBy("segment", "adversary_type", "elite").count().collect()
            n = sum(r["count"] for r in rows)
            row[name] = {
                "invited": n,
                "adversary_share": sum(r["count"] for r in rows if r["adversary_type"] != "none") / n if n else None,
                "elite_share": sum(r["count"] for r in rows if r["elite"]) / n if n else None,
                "by_segment": {f"{r['segment']}{' (elite)' if r['elite'] else ''}": r["count"] for r in rows},
            }
        # The same two rankings deeper down: at 2x and 5x the capacity (later reports put APASS at
        # about 1 in 5,000 members, twice the 1 in 10,000 of its launch).
        ranked = (
            candidates.filter((F.col("month") == month) & F.col("passes_gates"))
            .select("user_id", "score")
            .join(sel.select("user_id", "rank"), "user_id")
            .join(truth, "user_id")
            .select("*", F.row_number().over(Window.orderBy(F.desc("score"), F.asc("user_id"))).alias("score_rank"))
        )
        is_adversary = F.col("adversary_type") != "none"
        row["deeper"] = {}
        for k in (capacity, 2 * capacity, 5 * capacity):
            r = ranked.agg(
                *[
                    F.sum(F.when((F.col(rank) <= k) & flag, 1).otherwise(0)).alias(f"{name}_{what}")
                    for name, rank in (("selector", "rank"), ("baseline", "score_rank"))
                    for what, flag in (("adversaries", is_adversary), ("elite", F.col("elite")))
                ]
            ).first()
            row["deeper"][str(k)] = r.asDict()
        out.append(row)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default="./lakehouse", help="lakehouse root with a selection and the truth")
    args = parser.parse_args()
    months = evaluate(args.root)
    for m in months:
        print(
            f"{m['month']}: capacity {m['capacity']}, {m['candidates']} candidates, "
            f"{m['past_the_gates']} past the gates"
        )
        for name in ("selector", "baseline"):
            r = m[name]
            print(
                f"  {name:<9} invited {r['invited']}: adversaries {r['adversary_share']}, elite {r['elite_share']}, "
                f"{r['by_segment']}"
            )
        for k, r in m["deeper"].items():
            print(
                f"  top {k:>3}: selector {r['selector_adversaries']} adversaries, {r['selector_elite']} elite; "
                f"baseline {r['baseline_adversaries']} adversaries, {r['baseline_elite']} elite"
            )
    path = write_result("selector", f"python -m bench.selector --root {args.root}", root=args.root, months=months)
    print(f"written {path}")


if __name__ == "__main__":
    main()
