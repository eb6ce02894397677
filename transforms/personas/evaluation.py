"""Recovered personas against the generator's hidden truth: purity and adjusted Rand index.

Only tests, ``make bench`` and the report's calibration section call this;
no pipeline stage reads the truth. Both measures come from the contingency
table (found persona x true persona), an aggregate of a few cells.
"""

from __future__ import annotations

from math import comb

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def contingency(found: DataFrame, truth: DataFrame) -> dict[tuple[str, str], int]:
    """(found persona, true persona) -> members, over the members of ``found`` (gold.personas rows of a month)."""
    rows = (
        found.select("user_id", "persona")
        .join(truth.select("user_id", F.col("persona").alias("true_persona")), on="user_id", how="left")
        .groupBy("persona", F.coalesce("true_persona", F.lit("unknown")).alias("true_persona"))
        .count()
        .collect()
    )
    return {(r["persona"], r["true_persona"]): int(r["count"]) for r in rows}


def purity(cells: dict[tuple[str, str], int]) -> dict[str, float]:
    """Per found persona: the share of its members whose true persona is the same."""
    sizes: dict[str, int] = {}
    for (found, _), n in cells.items():
        sizes[found] = sizes.get(found, 0) + n
    return {found: cells.get((found, found), 0) / size for found, size in sizes.items() if size}


def adjusted_rand_index(cells: dict[tuple[str, str], int]) -> float:
    """Hubert and Arabie's adjusted Rand index of the two labellings behind the contingency table."""
    n = sum(cells.values())
    rows: dict[str, int] = {}
    cols: dict[str, int] = {}
    for (a, b), count in cells.items():
        rows[a] = rows.get(a, 0) + count
        cols[b] = cols.get(b, 0) + count
    index = sum(comb(c, 2) for c in cells.values())
    row_pairs, col_pairs, all_pairs = (
        sum(comb(c, 2) for c in rows.values()),
        sum(comb(c, 2) for c in cols.values()),
        comb(n, 2),
    )
    expected = row_pairs * col_pairs / all_pairs if all_pairs else 0.0
    top = (row_pairs + col_pairs) / 2
    return 1.0 if top == expected else (index - expected) / (top - expected)
