"""The month's APASS decisions: candidates, their gates, the overrides and the quota.

The rules of ``taoqi select`` (docs/apass.md#selection-reason-codes-and-overrides),
as DataFrame -> DataFrame functions; ``jobs/selection.py`` reads the tables,
scores with the champion and publishes what these return.

- The candidates of a month are the members past the score gate; each
  carries the gates it fails.
- The capacity is the gap between the target stock (``ceil(members x
  apass.member_share)``) and the APASS members the month already has
  (transforms/apass/membership.py); a member is never invited again.
- Overrides are an append-only log: the latest one of a member and month
  wins. They apply after the model and before the quota: an exclusion
  removes the member, an invitation takes a place first (even below the
  gates), and the model fills what is left, best P(kept) first.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from transforms import catalog
from transforms.apass.gates import Gates, gate_failures
from transforms.schemas import conform_to


def candidate_keys(scores: DataFrame, *, months: list[str], gates: Gates) -> DataFrame:
    """(user_id, as_of_month) of the gold.scores members of ``months`` past the score gate: the candidates."""
    return scores.filter(F.col("month").isin(months) & gates.score_passes(F.col("score"))).select(
        "user_id", F.col("month").alias("as_of_month")
    )


def candidate_rows(rows: DataFrame, *, gates: Gates) -> DataFrame:
    """gold.apass_candidates rows from the candidates' indicator rows (transforms/apass/indicators.py).

    ``passes_gates`` is true when no gate fails; ``gate_failures`` names the
    failed ones (``gate: credit level C4 below C5``): the decision's first
    reason codes.
    """
    failures = gate_failures(
        gates,
        score=F.col("score"),
        credit_level_number=F.col("credit_level_number").cast("int"),
        credit_level=F.col("credit_level"),
    )
    schema = catalog.table("gold.apass_candidates").schema
    return conform_to(
        rows.select(
            "*",
            F.col("as_of_month").alias("month"),
            (F.size(failures) == 0).alias("passes_gates"),
            failures.alias("gate_failures"),
        ),
        schema,
    )


def latest_overrides(overrides: DataFrame, *, month: str) -> DataFrame:
    """The override in force per member for ``month``: its latest (``created_at``) in ops.apass_overrides.

    Returns user_id, action (invite | exclude), override_reason, override_author.
    """
    latest = Window.partitionBy("user_id").orderBy(F.col("created_at").desc())
    return (
        overrides.filter(F.col("month") == month)
        .select("*", F.row_number().over(latest).alias("_n"))
        .filter(F.col("_n") == 1)
        .select("user_id", "action", F.col("reason").alias("override_reason"), F.col("author").alias("override_author"))
    )


def decisions(
    cands: DataFrame,
    scored: DataFrame,
    overrides: DataFrame,
    members: DataFrame,
    apass_members: DataFrame,
    *,
    month: str,
    model_version: int,
    capacity: int,
    target_stock: int,
) -> DataFrame:
    """gold.apass_selection rows: every candidate and every member invited by an override, with its decision.

    ``cands`` are the month's gold.apass_candidates, ``scored`` the champion's
    P(kept) and reason codes of those past the gates (``model_score``,
    ``reasons_up``, ``reasons_down``), ``overrides`` the ones in force
    (:func:`latest_overrides`), ``members`` the month's members (an
    invitation override of a non-member is ignored), ``apass_members`` the
    user_id of every gold.apass_members row of the month before its
    invitations. In this order:

    - ``excluded_by_override``: an exclusion wins over everything;
    - ``member``: an APASS member of the month is never invited again;
    - ``invited_by_override``: an invitation takes a place first, even
      below the gates;
    - ``gated_out``: a failed gate (and no override);
    - ``invited``: the members past the gates ranked by P(kept), best first
      (ties: the lower user_id), fill what the invitation overrides left of
      ``capacity``; ``rank`` is that order;
    - ``waitlisted``: past the gates, beyond the capacity.

    Reason codes: the failed gates first, then the features that raised the
    chance most (invited) or lowered it most (not invited).
    """
    invite_overrides = overrides.filter(F.col("action") == "invite").join(members, "user_id", "left_semi")
    rows = (
        cands.select("user_id", "passes_gates", "gate_failures")
        .join(invite_overrides.select("user_id"), "user_id", "full")
        .join(scored, "user_id", "left")
        .join(overrides, "user_id", "left")
        .join(apass_members.select("user_id", F.lit(True).alias("_member")).distinct(), "user_id", "left")
    )
    excluded = F.coalesce(F.col("action") == "exclude", F.lit(False))
    member = F.coalesce(F.col("_member"), F.lit(False)) & ~excluded
    forced = F.coalesce(F.col("action") == "invite", F.lit(False)) & ~member
    eligible = F.coalesce(F.col("passes_gates"), F.lit(False)) & ~excluded & ~forced & ~member
    forced_count = F.sum(F.when(forced, 1).otherwise(0)).over(Window.partitionBy("_month"))
    ranked = rows.select("*", F.lit(month).alias("_month")).select(
        "*",
        F.when(
            eligible,
            F.row_number().over(
                Window.partitionBy("_month", eligible).orderBy(F.col("model_score").desc(), F.col("user_id"))
            ),
        ).alias("_eligible_rank"),
        forced_count.alias("_forced"),
    )
    model_invited = eligible & (F.col("_eligible_rank") <= F.greatest(F.lit(capacity) - F.col("_forced"), F.lit(0)))
    decision = (
        F.when(excluded, F.lit("excluded_by_override"))
        .when(member, F.lit("member"))
        .when(forced, F.lit("invited_by_override"))
        .when(~F.coalesce(F.col("passes_gates"), F.lit(False)), F.lit("gated_out"))
        .when(model_invited, F.lit("invited"))
        .otherwise(F.lit("waitlisted"))
    )
    gates = F.coalesce(F.col("gate_failures"), F.array().cast("array<string>"))
    reasons = F.concat(
        gates,
        F.when(model_invited | forced, F.coalesce(F.col("reasons_up"), F.array()))
        .otherwise(F.coalesce(F.col("reasons_down"), F.array()))
        .cast("array<string>"),
    )
    schema = catalog.table("gold.apass_selection").schema
    return conform_to(
        ranked.select(
            "user_id",
            F.lit(month).alias("month"),
            F.lit(model_version).alias("model_version"),
            "model_score",
            F.when(eligible, F.col("_eligible_rank")).alias("rank"),
            (model_invited | forced).alias("invited"),
            decision.alias("decision"),
            F.when(excluded | forced, F.col("override_reason")).alias("override_reason"),
            reasons.alias("reason_codes"),
            F.lit(capacity).alias("capacity"),
            F.lit(target_stock).alias("target_stock"),
        ),
        schema,
    )
