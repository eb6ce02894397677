"""The published APASS gates: a score of 2500 or more and credit level C5 or above.

The one definition of the gates, for the Spark jobs (Columns) and for the
selector's holdout metrics (pandas Series) alike: the comparisons below are
plain ``>=`` and ``&``, which mean the same on a Column, a Series or a
number. The thresholds come from the config (``scoring.bands.apass_eligible``
and ``apass.min_credit_level``); ``jobs/apass_inputs.gates`` builds them.

The candidates of a month (gold.apass_candidates) are the members past the
score gate; the credit gate decides which of them the model may invite.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F

# A Spark Column, a pandas Series or a number: what the gates compare (and return the same kind of).
Value = Any


@dataclass(frozen=True)
class Gates:
    min_score: int  # scoring.bands.apass_eligible: the floor of band 4, 2500
    min_credit_level: int  # apass.min_credit_level: credit level C<n> as n, 5

    def score_passes(self, score: Value) -> Value:
        """The score gate: ``score >= min_score`` (2500 passes, 2499 does not)."""
        return score >= self.min_score

    def credit_passes(self, credit_level_number: Value) -> Value:
        """The credit gate: the level's number ``>= min_credit_level`` (C5 passes, C4 does not)."""
        return credit_level_number >= self.min_credit_level

    def passes(self, score: Value, credit_level_number: Value) -> Value:
        """Both gates: what a member needs before the selector may invite it."""
        return self.score_passes(score) & self.credit_passes(credit_level_number)


def credit_level_number(credit_level: Column) -> Column:
    """The number of a credit level: ``"C5"`` -> 5."""
    return F.substring(credit_level, 2, 1).cast("int")


def scores_past_gates(gates: Gates) -> Column:
    """True on the gold.scores rows (``score``, ``credit_level``) past both gates."""
    return gates.passes(F.col("score"), credit_level_number(F.col("credit_level")))


def gate_failures(gates: Gates, *, score: Column, credit_level_number: Column, credit_level: Column) -> Column:
    """The gates a member fails, as reason codes in gate order (empty: past the gates).

    ``gate: score 2499 below 2500``, ``gate: credit level C4 below C5``; a
    null input fails no gate (the comparison is unknown, not false).
    """
    return F.filter(
        F.array(
            F.when(
                ~gates.score_passes(score),
                F.concat(F.lit("gate: score "), score.cast("long").cast("string"), F.lit(f" below {gates.min_score}")),
            ),
            F.when(
                ~gates.credit_passes(credit_level_number),
                F.concat(F.lit("gate: credit level "), credit_level, F.lit(f" below C{gates.min_credit_level}")),
            ),
        ),
        lambda x: x.isNotNull(),
    )
