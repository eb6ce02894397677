"""What the width of gold.user_features costs: the 12-month roll-up as built, against the score's inputs alone.

`taoqi score` rolls every partial of gold.user_month up for every member:
the score's inputs, and the persona and selector partials (spend by platform
and group, overseas, invoices, hours, the category mask, the largest order,
the sellers' sketches) that only members at score >= 1000 (personas) and
APASS candidates (the selector) ever read. This measures, on the worlds
`make bench` keeps, the roll-up as `transforms.gold.features.user_features`
builds it; a roll-up of what the score reads (its inputs and the credit
dimensions, same two aggregation levels, same caps); and user_features for
the members at score >= personas.min_score alone (the month's slices
semi-joined to them: every row is still scanned). All three go into Spark's
noop sink, warm, the best of ``--repeat`` runs. The last two together are
what a narrow user_features for every member plus a wide one for the
high-value members would cost: the figures behind
docs/performance.md#rollup-width. A what-if, not a second implementation.

    python -m bench.rollup_width bench/results/tmp/u10000 bench/results/tmp/u100000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from bench.metrics import write_result

# gold.user_month columns the score and the credit level read (transforms/gold/score.py, conf/scoring.yaml)
SCORE_COUNTS = (
    "orders",
    "flagged_orders",
    "refunds",
    "returns",
    "disputes",
    "reviews",
    "positive_reviews",
    "qa",
    "likes",
    "live",
    "content",
)
SCORE_AMOUNTS = ("capped_spend_cny", "capped_refund_cny")


def score_inputs_rollup(
    user_month: DataFrame,
    accounts: DataFrame,
    *,
    as_of: str,
    window: int,
    orders_monthly_cap: int,
    interaction_monthly_caps: dict[str, int],
    platforms: tuple[str, ...],
) -> DataFrame:
    """The roll-up of the score's inputs alone, built like user_features (members, two levels, carry)."""
    from transforms.gold.features import INTERACTION_COLUMNS, month_end, window_months
    from transforms.gold.user_month import fen, known_by, platform_bits, with_next_batch

    months = window_months(as_of, window)
    latest = user_month.filter(F.col("month").isin(months) & (F.col("batch") <= as_of)).transform(with_next_batch)
    partials = latest.filter(known_by(F.lit(as_of))).select(
        "user_id",
        "month",
        *SCORE_COUNTS,
        *[fen(F.col(c)).alias(c) for c in SCORE_AMOUNTS],
        "active_days_mask",
        F.aggregate("platforms", F.lit(0), lambda mask, p: mask.bitwiseOR(platform_bits(p, platforms))).alias(
            "platform_mask"
        ),
    )
    members = accounts.filter((F.col("registered_date") <= month_end(as_of)) & (F.col("ingest_month") <= as_of)).select(
        "user_id", "registered_date", F.col("identity_verified").cast("int").alias("identity_verified")
    )
    rows = partials.unionByName(members, allowMissingColumns=True).repartition("user_id")
    summed = (*SCORE_COUNTS, *SCORE_AMOUNTS)
    by_month = rows.groupBy("user_id", "month").agg(
        F.max("registered_date").alias("registered_date"),
        F.max("identity_verified").alias("identity_verified"),
        *[F.sum(c).alias(c) for c in summed],
        F.bit_or("active_days_mask").alias("active_days_mask"),
        F.bit_or("platform_mask").alias("platform_mask"),
    )
    carry = F.col("month") > months[0]
    is_partial = F.col("month").isNotNull()
    orders_counted = F.when(is_partial, F.least(F.col("orders"), F.lit(orders_monthly_cap)))
    capped = [
        F.when(is_partial, F.least(F.col(INTERACTION_COLUMNS[k]), F.lit(cap)))
        for k, cap in interaction_monthly_caps.items()
    ]
    net_capped = F.col("capped_spend_cny") - F.col("capped_refund_cny")
    active_days = F.bit_count("active_days_mask").cast("long")
    return by_month.groupBy("user_id").agg(
        F.max("registered_date").alias("registered_date"),
        F.max("identity_verified").alias("identity_verified"),
        F.count(F.when(F.col("orders") > 0, 1)).alias("months_active"),
        F.sum(active_days).alias("active_days"),
        *[F.sum(c).alias(c) for c in summed],
        F.bit_or("platform_mask").alias("platform_mask"),
        F.sum(orders_counted).alias("scored_orders"),
        *[F.sum(c).alias(f"units_{i}") for i, c in enumerate(capped)],
        F.sum(F.when(carry, net_capped)).alias("carry_net"),
        F.sum(F.when(carry, orders_counted)).alias("carry_orders"),
        F.sum(F.when(carry, active_days)).alias("carry_active_days"),
        *[F.sum(F.when(carry, c)).alias(f"carry_units_{i}") for i, c in enumerate(capped)],
    )


def measure(root: Path, repeat: int) -> dict:
    from jobs import aggregate
    from jobs.runtime import gold_log, tables
    from jobs.runtime.config import load_config
    from jobs.runtime.registry import configured_platforms
    from jobs.runtime.session import build_spark
    from transforms.gold.features import user_features

    config = load_config(sets=[f"lakehouse.root={root}", "quality.enabled=false"])
    spark = build_spark(config, app_name="taoqi-bench-rollup-width")
    s, platforms = config.scoring, configured_platforms(config)
    month = max(gold_log.computed(spark, config, aggregate.USER_MONTH))
    user_month, accounts = tables.read(spark, config, "gold.user_month"), tables.read(spark, config, "silver.accounts")
    high_value = (
        tables.read(spark, config, "gold.scores")
        .filter((F.col("month") == month) & (F.col("score") >= config.personas.min_score))
        .select("user_id")
    )

    def features(members: DataFrame | None = None) -> DataFrame:
        def keep(df: DataFrame) -> DataFrame:
            return df if members is None else df.join(members, "user_id", "left_semi")

        return user_features(
            keep(user_month),
            keep(accounts),
            as_of_months=[month],
            window=s.window_months,
            orders_monthly_cap=s.orders_monthly_cap,
            interaction_monthly_caps=s.interaction_monthly_caps,
            interaction_weights=s.interaction_weights,
            platforms=platforms,
        )

    builds = {
        "user_features": features,
        "high_value_features": lambda: features(high_value),
        "score_inputs": lambda: score_inputs_rollup(
            user_month,
            accounts,
            as_of=month,
            window=s.window_months,
            orders_monthly_cap=s.orders_monthly_cap,
            interaction_monthly_caps=s.interaction_monthly_caps,
            platforms=platforms,
        ),
    }
    seconds: dict[str, list[float]] = {name: [] for name in builds}
    for _ in range(repeat):  # alternate, so that both see the same warm caches
        for name, build in builds.items():
            started = time.perf_counter()
            build().write.format("noop").mode("overwrite").save()
            seconds[name].append(round(time.perf_counter() - started, 2))
    members, high = accounts.count(), high_value.count()
    best = {name: min(runs) for name, runs in seconds.items()}
    split = best["score_inputs"] + best["high_value_features"]
    return {
        "root": str(root),
        "members": members,
        "high_value_members": high,
        "month": month,
        "runs": seconds,
        "best": best,
        "split_seconds": round(split, 2),
        "split_over_user_features": round(split / best["user_features"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("roots", nargs="+", type=Path, help="lakehouse roots of bench worlds (aggregated)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each roll-up; the best counts (default 5)")
    args = parser.parse_args()
    rows = []
    for root in args.roots:
        if not (root / "gold" / "user_month" / "_delta_log").is_dir():
            print(
                f"bench.rollup_width: {root} holds no gold.user_month: run `python -m bench.run` first "
                "(it keeps its worlds under bench/results/tmp/)",
                file=sys.stderr,
            )
            sys.exit(2)
    for root in args.roots:  # one session: the worlds differ in size only
        rows.append(measure(root.resolve(), args.repeat))
        r = rows[-1]
        b = r["best"]
        print(
            f"{r['members']:>10,} members  month {r['month']}  user_features {b['user_features']:>6.2f}s  "
            f"score inputs only {b['score_inputs']:>6.2f}s  + user_features of {r['high_value_members']:,} "
            f"high-value members {b['high_value_features']:>6.2f}s = {r['split_seconds']:.2f}s "
            f"({r['split_over_user_features']:.0%})",
            flush=True,
        )
    write_result("rollup_width", "python -m bench.rollup_width " + " ".join(map(str, args.roots)), results=rows)


if __name__ == "__main__":
    main()
