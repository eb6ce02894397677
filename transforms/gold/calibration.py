"""The published calibration figures, measured on one month of gold.scores (one small aggregate).

Published: super members are 3-5 % of members; APASS is about 1 in 10,000
members, and members at >= 2500 are a small multiple (2-20x) of it;
adversarial accounts are among the >= 2500, so the score alone is not a
good selector.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from transforms.apass.gates import Gates, credit_level_number, scores_past_gates

PUBLISHED_SUPER_SHARE = (0.03, 0.05)
APASS_RATE = 1 / 10_000
PUBLISHED_ELIGIBLE_MULTIPLE = (2.0, 20.0)


def score_shares(scores: DataFrame, *, super_floor: int, gates: Gates) -> DataFrame:
    """One row: members, super members, members past the APASS score gate, those of them past the credit
    gate too, and every member past the credit gate."""
    credit_passes = gates.credit_passes(credit_level_number(F.col("credit_level")))
    return scores.agg(
        F.count("*").alias("members"),
        F.count(F.when(F.col("score") >= super_floor, 1)).alias("super_members"),
        F.count(F.when(gates.score_passes(F.col("score")), 1)).alias("eligible"),
        F.count(F.when(scores_past_gates(gates), 1)).alias("eligible_c5"),
        F.count(F.when(credit_passes, 1)).alias("c5_plus"),
    )


def eligible_by_segment(scores: DataFrame, truth: DataFrame, *, apass_floor: int) -> DataFrame:
    """Members at >= apass_floor per segment of the generator's hidden truth (for calibration only)."""
    eligible = scores.filter(F.col("score") >= apass_floor).select("user_id")
    return (
        eligible.join(truth.select("user_id", "segment"), "user_id", how="left")
        .groupBy(F.coalesce(F.col("segment"), F.lit("unknown")).alias("segment"))
        .count()
    )


def check_lines(
    shares: dict, by_segment: dict[str, int] | None, adversary_segments: set[str]
) -> list[tuple[str, str, str, bool | None]]:
    """(figure, measured, published, within) rows of the calibration table."""
    members = max(shares["members"], 1)
    super_share = shares["super_members"] / members
    multiple = shares["eligible"] / (members * APASS_RATE)
    rows = [
        ("members", f"{shares['members']:,}", "", None),
        (
            "super members (score >= 1000)",
            f"{shares['super_members']:,} = {super_share:.2%}",
            f"{PUBLISHED_SUPER_SHARE[0]:.0%}-{PUBLISHED_SUPER_SHARE[1]:.0%}",
            PUBLISHED_SUPER_SHARE[0] <= super_share <= PUBLISHED_SUPER_SHARE[1],
        ),
        (
            "score >= 2500",
            f"{shares['eligible']:,} = {multiple:.1f}x 1 in 10,000",
            f"{PUBLISHED_ELIGIBLE_MULTIPLE[0]:g}-{PUBLISHED_ELIGIBLE_MULTIPLE[1]:g}x",
            PUBLISHED_ELIGIBLE_MULTIPLE[0] <= multiple <= PUBLISHED_ELIGIBLE_MULTIPLE[1],
        ),
        ("score >= 2500 and credit >= C5", f"{shares['eligible_c5']:,}", "APASS candidates", None),
        ("credit >= C5", f"{shares['c5_plus']:,} = {shares['c5_plus'] / members:.2%}", "", None),
    ]
    if by_segment is not None:
        adversaries = {k: n for k, n in by_segment.items() if k in adversary_segments}
        detail = ", ".join(f"{k} {n}" for k, n in sorted(adversaries.items())) or "none"
        rows.append(
            (
                "adversaries among >= 2500",
                f"{sum(adversaries.values()):,} ({detail})",
                "present",
                sum(adversaries.values()) > 0,
            )
        )
    return rows
