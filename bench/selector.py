"""The selector's choices against the generator's hidden truth: not a test, an evaluation.

For every selected month of a lakehouse: the members the champion ranks
first among the candidates past the gates, as many as the program's target
(and 2x, 5x deeper), and those the score-only baseline (the gates, then the
top scores) would rank first, by hidden segment; the share of adversaries
and of genuine-quality (elite) members in each. Then the membership: every
member the selector invited over the months kept, by hidden segment, and
the stock against the target. Reads <root>/truth/users, which no pipeline
stage reads. Writes bench/results/selector.json.

    python -m bench.selector --root ./lakehouse
"""

from __future__ import annotations

import argparse

from pyspark.sql import Window
from pyspark.sql import functions as F

from bench.metrics import write_result
from jobs import apass_inputs
from jobs.runtime import tables
from jobs.runtime.config import load_config
from jobs.runtime.session import build_spark


def evaluate(root: str) -> tuple[list[dict], dict]:
    config = load_config(sets=[f"lakehouse.root={root}"])
    spark = build_spark(config, app_name="taoqi-bench-selector")
    truth = spark.read.parquet(config.truth_path("users")).select("user_id", "segment", "adversary_type", "elite")
    selection = tables.read(spark, config, "gold.apass_selection")
    candidates = tables.read(spark, config, "gold.apass_candidates")
    is_adversary = F.col("adversary_type") != "none"
    out = []
    for month in sorted(r["month"] for r in selection.select("month").distinct().collect()):
        sel = selection.filter(F.col("month") == month)
        target = sel.first()["target_stock"]
        past_gates = candidates.filter((F.col("month") == month) & F.col("passes_gates")).select("user_id", "score")
        ranked = (
            past_gates.join(sel.select("user_id", "model_score"), "user_id")
            .join(truth, "user_id")
            .select(
                "*",
                F.row_number().over(Window.orderBy(F.desc("model_score"), "user_id")).alias("selector_rank"),
                F.row_number().over(Window.orderBy(F.desc("score"), "user_id")).alias("baseline_rank"),
            )
            .cache()
        )
        row = {
            "month": month,
            "target_stock": target,
            "candidates": candidates.filter(F.col("month") == month).count(),
            "past_the_gates": past_gates.count(),
            "invited": sel.filter("invited").count(),
        }
        for name in ("selector", "baseline"):
            first = ranked.filter(F.col(f"{name}_rank") <= target)
            rows = first.groupBy("segment", "adversary_type", "elite").count().collect()
            n = sum(r["count"] for r in rows)
            row[name] = {
                "first": n,
                "adversary_share": sum(r["count"] for r in rows if r["adversary_type"] != "none") / n if n else None,
                "elite_share": sum(r["count"] for r in rows if r["elite"]) / n if n else None,
                "by_segment": {f"{r['segment']}{' (elite)' if r['elite'] else ''}": r["count"] for r in rows},
            }
        # The same two rankings deeper down: at 2x and 5x the target (later reports put APASS at about 1 in
        # 5,000 members, twice the 1 in 10,000 of its launch).
        row["deeper"] = {}
        for k in (target, 2 * target, 5 * target):
            r = ranked.agg(
                *[
                    F.sum(F.when((F.col(f"{name}_rank") <= k) & flag, 1).otherwise(0)).alias(f"{name}_{what}")
                    for name in ("selector", "baseline")
                    for what, flag in (("adversaries", is_adversary), ("elite", F.col("elite")))
                ]
            ).first()
            row["deeper"][str(k)] = r.asDict()
        ranked.unpersist()
        out.append(row)
    members = tables.read(spark, config, "gold.apass_members")
    invited = members.filter(F.col("joined_by") == "invitation").select("user_id").distinct().join(truth, "user_id")
    rows = invited.groupBy("segment", "adversary_type", "elite").count().collect()
    n = sum(r["count"] for r in rows)
    stock = {
        r["month"]: r["count"]
        for r in members.filter(F.col("status").isin("active", "warned")).groupBy("month").count().collect()
    }
    targets = apass_inputs.targets(spark, config, sorted(stock))
    latest = max(stock) if stock else None
    in_stock = members.filter((F.col("month") == latest) & F.col("status").isin("active", "warned"))
    stock_rows = in_stock.join(truth, "user_id").groupBy("segment", "elite").count().collect()
    membership = {
        "invited_by_the_selector": n,
        "adversaries": sum(r["count"] for r in rows if r["adversary_type"] != "none"),
        "elite": sum(r["count"] for r in rows if r["elite"]),
        "by_segment": {f"{r['segment']}{' (elite)' if r['elite'] else ''}": r["count"] for r in rows},
        "stock_and_target": {m: [stock.get(m, 0), targets.get(m)] for m in sorted(set(stock) | set(targets))},
        "stock_by_segment": {
            "month": latest,
            **{f"{r['segment']}{' (elite)' if r['elite'] else ''}": r["count"] for r in stock_rows},
        },
    }
    return out, membership


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default="./lakehouse", help="lakehouse root with a selection and the truth")
    args = parser.parse_args()
    months, membership = evaluate(args.root)
    for m in months:
        print(
            f"{m['month']}: target {m['target_stock']}, invited {m['invited']}, {m['candidates']} candidates, "
            f"{m['past_the_gates']} past the gates"
        )
        for name in ("selector", "baseline"):
            r = m[name]
            print(
                f"  {name:<9} first {r['first']}: adversaries {r['adversary_share']}, elite {r['elite_share']}, "
                f"{r['by_segment']}"
            )
        for k, r in m["deeper"].items():
            print(
                f"  top {k:>3}: selector {r['selector_adversaries']} adversaries, {r['selector_elite']} elite; "
                f"baseline {r['baseline_adversaries']} adversaries, {r['baseline_elite']} elite"
            )
    print(
        f"membership: {membership['invited_by_the_selector']} members invited by the selector, "
        f"{membership['adversaries']} adversaries, {membership['elite']} elite; {membership['by_segment']}"
    )
    print(
        "  stock/target by month: " + ", ".join(f"{m} {s}/{t}" for m, (s, t) in membership["stock_and_target"].items())
    )
    print(f"  the stock by hidden segment: {membership['stock_by_segment']}")
    path = write_result(
        "selector",
        f"python -m bench.selector --root {args.root}",
        root=args.root,
        months=months,
        membership=membership,
    )
    print(f"written {path}")


if __name__ == "__main__":
    main()
