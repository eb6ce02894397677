"""Explain one member's score for a month: components, band, grade, credit level and what would move them.

Reads the member's rows of gold.scores and gold.user_features (one member,
one month) and prints what the member's app would show: every component
with the inputs behind it, the credit level with its dimensions, the change
since last month, the gap to the next band, the points needed to keep the
band next month, and how much more of each input would close the gap.
"""

from __future__ import annotations

import argparse
import math
import sys

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.runtime import gold_log, tables
from jobs.runtime.config import Config, check_month
from jobs.runtime.errors import UserError
from transforms.gold.params import ScoringConf
from transforms.gold.score import GRADES, credit_dimension_points

DESCRIPTION = __doc__
READ_ONLY = True  # reads tables only: no write lock (jobs/runtime/lock.py)
INPUT_LABELS = {"net_spend_cny": "CNY of net capped spend", "scored_orders": "orders",
                "active_days": "active shopping days", "interaction_units": "interaction units"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", type=int, required=True, help="member id (user_id)")
    parser.add_argument("--month", help="month YYYY-MM (default: the latest scored month)")


def execute(spark: SparkSession, config: Config, args: argparse.Namespace) -> None:
    print(explain(spark, config, args.user, args.month))


def explain(spark: SparkSession, config: Config, user: int, month: str | None = None) -> str:
    """What `taoqi explain` prints: the member's score of ``month`` (default: the latest scored) explained."""
    scores = tables.read(spark, config, "gold.scores")
    scored = sorted(gold_log.computed(spark, config, "gold.scores"))
    if not scored:
        raise UserError("no month has been scored yet: run `taoqi run` first")
    month = check_month(month) if month else scored[-1]
    if month not in scored:
        raise UserError(f"no scores for {month} (scored months: {scored[0]} to {scored[-1]})")
    score = scores.filter((F.col("month") == month) & (F.col("user_id") == user)).first()
    if score is None:
        raise UserError(f"user {user} has no score for {month}: not a member by then, or an unknown id")
    features = tables.read(spark, config, "gold.user_features").filter(
        (F.col("as_of_month") == month) & (F.col("user_id") == user))
    dims = credit_dimension_points(config.scoring.credit)
    row = features.select("*", *[v.alias(f"_value_{n}") for n, (v, _) in dims.items()],
                          *[p.alias(f"_points_{n}") for n, (_, p) in dims.items()]).first()
    return explanation(score.asDict(), row.asDict(), config.scoring) + "\n" + apass_explanation(spark, config,
                                                                                                  score.asDict())


def apass_explanation(spark: SparkSession, config: Config, score: dict) -> str:
    """Why the member was, or was not, invited to APASS in the month (gold.apass_selection)."""
    month, floor = score["month"], config.scoring.bands.apass_eligible
    selected = tables.exists(spark, config, "gold.apass_selection") and \
        month in gold_log.computed(spark, config, "gold.apass_selection")
    if not selected:
        return f"APASS: no selection for {month} yet (`taoqi select --month {month}`)"
    row = tables.read(spark, config, "gold.apass_selection").filter(
        (F.col("month") == month) & (F.col("user_id") == score["user_id"])).first()
    if row is None:
        return (f"APASS: not a candidate: score {score['score']:,} is below {floor:,} "
                f"({floor - score['score']:,} points short); candidates also need credit C{config.apass.min_credit_level}+")
    decision = {"invited": f"invited (rank {row['rank']} of the capacity {row['capacity']})",
                "invited_by_override": f"invited by an override: {row['override_reason']}",
                "waitlisted": f"not invited: rank {row['rank']}, the capacity is {row['capacity']}",
                "gated_out": "not invited: a gate failed",
                "excluded_by_override": f"excluded by an override: {row['override_reason']}"}[row["decision"]]
    chance = "" if row["model_score"] is None else f"; selector v{row['model_version']} P(kept) {row['model_score']:.3f}"
    why = "; ".join(row["reason_codes"]) or "-"
    return f"APASS {month}: {decision}{chance}\n  reasons: {why}"


def _term_points(x: float, max_points: float, half_at: float) -> float:
    return max_points * (1 - 2 ** (-max(x, 0.0) / half_at))


def _input_for(points: float, max_points: float, half_at: float) -> float | None:
    """Inverse of the curve: the input that earns ``points`` (None when the term cannot)."""
    if points >= max_points:
        return None
    return -half_at * math.log2(1 - points / max_points)


def explanation(score: dict, f: dict, s: ScoringConf) -> str:
    """The member's score explained, as text."""
    band = score["band"]
    lines = [f"member {score['user_id']}, {score['month']}: score {score['score']:,} "
             f"(band {band}, {GRADES[band - 1].replace('_', '-')}; 88VIP {score['vip_fee_cny']} CNY/year)", ""]
    lines.append("components (each a sum of saturating curves; conf/scoring.yaml):")
    for component, terms in s.components.items():
        total_max = sum(t.max_points for t in terms.values())
        lines.append(f"  {component:<20} {score[f'{component}_points']:>5} / {total_max:,.0f}")
        for name, term in terms.items():
            x = float(f[name] or 0)
            lines.append(f"    {INPUT_LABELS[name]:<28} {x:>14,.1f}  -> {_term_points(x, term.max_points, term.half_at):7.1f}"
                         f" of {term.max_points:,.0f} (half at {term.half_at:,g})")
    lines.append(f"  {'credit':<20} {score['credit_points']:>5} / {max(s.credit_points_by_level):,.0f}"
                 f"   level {score['credit_level']}, credit score {score['credit_score']:.1f} / 100")
    lines.append("")
    lines.append(f"spend behind it: {float(f['spend_cny']):,.2f} CNY genuine, {float(f['refund_cny']):,.2f} refunded, "
                 f"{float(f['flagged_spend_cny']):,.2f} in {f['flagged_orders']} risk-flagged orders (not counted); "
                 f"{float(f['capped_spend_cny']):,.2f} after caps")
    lines.append("")
    lines.append(f"credit level {score['credit_level']} (levels from {', '.join(f'{b:g}' for b in s.credit.levels)}"
                 f"{'' if f['identity_verified'] else f'; unverified identity: at most C{s.credit.max_level_unverified}'}):")
    for name, dim in s.credit.dimensions.items():
        value = f[f"_value_{name}"]
        lines.append(f"  {name:<22} {float(value or 0):>12,.3f}  {float(f[f'_points_{name}']):6.2f} of {dim.weight:g}"
                     f"  ({dim.curve}, at {dim.at:g})")
    lines.append("")
    if score["previous_score"] is None:
        lines.append("change since last month: no score last month")
    else:
        lines.append(f"change since last month: {score['score_change']:+,} (was {score['previous_score']:,}); "
                     f"growth perk (rise >= {s.growth_perk_rise}): {'yes' if score['growth_perk'] else 'no'}")
    floors = s.bands.floors()
    if score["next_band_gap"] is not None:
        gap = score["next_band_gap"]
        lines.append(f"next band: {gap:,} points to {floors[band - 1]:,} (band {band + 1}); alone, any one of:")
        for component, terms in s.components.items():
            for name, term in terms.items():
                x = float(f[name] or 0)
                needed = _input_for(_term_points(x, term.max_points, term.half_at) + gap, term.max_points, term.half_at)
                lines.append(f"    {INPUT_LABELS[name]:<28} " + (
                    f"+{needed - x:,.1f}" if needed is not None else "cannot: this term saturates first"))
    else:
        lines.append("next band: already in the top band")
    if score["keep_band_points"] is not None:
        lines.append(f"to keep band {band} next month: earn {score['keep_band_points']:,} points "
                     f"(the oldest month drops out: score would be {score['carry_score']:,} with nothing new)")
    lines.append(f"customer service queue: {score['service_queue']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from jobs.cli import main as cli_main

    return cli_main(["explain", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
