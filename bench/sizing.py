"""The 500 M-member projection of docs/sizing.md, from the measurements of `make bench`.

Reads bench/results/bench.json (two or more world sizes) and fits, per stage,
seconds = fixed + per_event * events by least squares over the sizes: the
slope is the cost that grows with the work, the intercept the per-run overhead
(Spark jobs, Delta commits) that does not. At 500 M members the events of a
month are the measured events per member-month times 500 M; core-hours are
slope * events * cores. Bytes per member of each table come from the largest
world. Every figure printed says which measurement it comes from; the
assumptions are named constants below.

    python -m bench.sizing [--members 500000000] [--json bench/results/bench.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
# Assumptions (docs/sizing.md says why): a cluster core is as fast as one of this machine's;
# shuffle partitions of ~200 MB; Delta files of ~512 MB.
TARGET_SHUFFLE_PARTITION_BYTES = 200 * 2**20
TARGET_FILE_BYTES = 512 * 2**20
MONTHLY_STAGES = ["ingest", "incremental_conform", "incremental_aggregate", "incremental_score"]
FULL_STAGES = ["conform", "full_aggregate", "full_score_earlier", "full_score"]
GOLD_INCREMENTAL = ["incremental_aggregate", "incremental_score"]
GOLD_FULL = ["full_aggregate", "full_score_earlier", "full_score"]  # every gold row of the 12 months
# the latest month's gold alone, from a year of events (the slices, the roll-up and score of months 11 and 12)
GOLD_LATEST = ["full_aggregate", "full_score"]


def fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares intercept and slope of ys over xs."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
    return my - slope * mx, slope


def events_of(row: dict, stage: str) -> int:
    """The events a stage covers in a bench row (as bench/run.py counts them)."""
    if stage in ("ingest",):
        return row["landed_events_12_batches"] * row["months"] // 12  # every batch of the world
    if stage in ("conform",):
        return row["landed_events_12_batches"]
    if stage.startswith("full"):
        return row["silver_events_12_batches"]
    return row["silver_events_new_batch"]


def project(bench: dict, members: int) -> dict:
    rows = sorted(bench["results"], key=lambda r: r["users"])
    cores = bench["machine"]["spark_cores"]
    largest = rows[-1]
    per_member_month = largest["silver_events_new_batch"] / largest["users"]
    month_events = per_member_month * members
    stages = {}
    for stage in sorted({s for r in rows for s in r["stages"]}):
        have = [r for r in rows if stage in r["stages"]]
        if len(have) < 2 or stage in ("generate", "promote", "report"):
            continue
        xs = [events_of(r, stage) for r in have]
        ys = [r["stages"][stage]["seconds"] for r in have]
        fixed, per_event = fit(xs, ys)
        scale = month_events / events_of(largest, "incremental_aggregate")
        work = events_of(largest, stage) * scale
        shuffle = max(largest["stages"][stage]["shuffle_write_bytes"], largest["stages"][stage]["shuffle_read_bytes"])
        stages[stage] = {
            "fixed_seconds": round(fixed, 1),
            "core_seconds_per_million_events": round(per_event * cores * 1e6, 2),
            "events_at_target": round(work),
            "core_hours_at_target": round(max(per_event, 0) * cores * work / 3600, 1),
            "shuffle_bytes_at_target": round(shuffle * scale),
            "shuffle_partitions_at_target": max(1, round(shuffle * scale / TARGET_SHUFFLE_PARTITION_BYTES)),
        }
    tables = {}
    for measured in largest["stages"].values():
        for name, t in (measured.get("tables") or {}).items():
            size = t.get("size_bytes") or 0
            per_member = size / largest["users"]
            tables[name] = {
                "bytes_per_member_all_months": round(per_member, 1),
                "bytes_at_target": round(per_member * members),
                "files_at_target": max(1, round(per_member * members / TARGET_FILE_BYTES)),
            }
    # The bench ingests all 13 batches in one step; a monthly run ingests one batch, so every stage of
    # the monthly run is charged for one month's events.
    monthly = sum(
        max(stages[s]["core_seconds_per_million_events"], 0) * month_events / 1e6 / 3600
        for s in MONTHLY_STAGES
        if s in stages
    )
    full = sum(stages[s]["core_hours_at_target"] for s in FULL_STAGES if s in stages)

    # At the target, where the fixed costs vanish: one month of gold against the from-scratch recompute
    # of the 12 months' gold (aggregate 12 batches, score 12 months); and the stricter comparison, against
    # the latest month's gold alone from scratch
    def gold(stage_names: list[str]) -> float:
        return sum(stages[s]["core_hours_at_target"] for s in stage_names if s in stages)

    gold_incremental, gold_full, gold_last = gold(GOLD_INCREMENTAL), gold(GOLD_FULL), gold(GOLD_LATEST)
    return {
        "members": members,
        "measured_sizes": [r["users"] for r in rows],
        "cores_measured": cores,
        "events_per_member_month": round(per_member_month, 2),
        "events_per_month_at_target": round(month_events),
        "stages": stages,
        "tables": tables,
        "core_hours_monthly_run": round(monthly, 1),
        "core_hours_full_recompute": round(full, 1),
        "gold_incremental_over_full": round(gold_incremental / gold_full, 3) if gold_full else None,
        "gold_incremental_over_latest_from_scratch": round(gold_incremental / gold_last, 3) if gold_last else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=500_000_000)
    parser.add_argument("--json", type=Path, default=RESULTS / "bench.json")
    args = parser.parse_args()
    bench = json.loads(args.json.read_text())
    out = project(bench, args.members)
    (RESULTS / "sizing.json").write_text(json.dumps(out, indent=2) + "\n")
    print(
        f"from {args.json} (sizes {out['measured_sizes']}, {out['cores_measured']} cores, "
        f"measured {bench['measured_at']}); target {args.members:,} members, "
        f"{out['events_per_member_month']} events per member-month -> {out['events_per_month_at_target']:,} a month"
    )
    print(
        f"{'stage':<22} {'fixed s':>8} {'core-s/M events':>15} {'events at target':>17} {'core-hours':>11} "
        f"{'shuffle GiB':>11} {'partitions':>10}"
    )
    for name, s in out["stages"].items():
        print(
            f"{name:<22} {s['fixed_seconds']:>8} {s['core_seconds_per_million_events']:>15} "
            f"{s['events_at_target']:>17,} {s['core_hours_at_target']:>11} "
            f"{s['shuffle_bytes_at_target'] / 2**30:>11.1f} {s['shuffle_partitions_at_target']:>10,}"
        )
    print(
        f"monthly run (ingest, conform, aggregate and score of one batch): {out['core_hours_monthly_run']} "
        f"core-hours; full 12-month recompute (conform, aggregate, score): {out['core_hours_full_recompute']} "
        "core-hours"
    )
    print(
        f"gold of one month (aggregate + score) / a from-scratch recompute of the 12 months' gold: "
        f"{out['gold_incremental_over_full']}; / the latest month's gold alone from scratch: "
        f"{out['gold_incremental_over_latest_from_scratch']}"
    )
    print(f"{'table':<24} {'bytes/member':>12} {'GiB at target':>14} {'512 MiB files':>14}")
    for name, t in out["tables"].items():
        print(
            f"{name:<24} {t['bytes_per_member_all_months']:>12} {t['bytes_at_target'] / 2**30:>14.1f} "
            f"{t['files_at_target']:>14,}"
        )


if __name__ == "__main__":
    main()
