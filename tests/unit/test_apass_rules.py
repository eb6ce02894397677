"""The APASS rules on hand-built members: the gates, who is invited up to the capacity, overrides, the
membership month by month, renewal."""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import Row
from pyspark.testing import assertDataFrameEqual

from jobs import apass_inputs
from jobs.runtime.config import load_config
from tests.unit.test_gold import _month_row
from transforms import catalog
from transforms.apass import membership, selector
from transforms.apass.gates import Gates, gate_failures, scores_past_gates
from transforms.apass.indicators import NAMES, PROFILE_COLUMNS
from transforms.apass.renewal import membership_years, renewal_years, renewals
from transforms.apass.selection import candidate_keys, candidate_rows, decisions, latest_overrides
from transforms.apass.stability import selector_stability
from transforms.schemas import GOLD_USER_MONTH

CONFIG = load_config()
GATES = Gates(min_score=2500, min_credit_level=5)
CURVE = [[0, 0], [100000, 60], [300000, 100]]  # the default apass.renewal.points_curve, pinned here

# (score, credit level, past the gates): the edges of both gates
EDGES = [(2499, "C5", False), (2500, "C5", True), (2500, "C4", False), (2499, "C4", False), (3200, "C6", True)]


# --------------------------------------------------------------------------- the gates


def test_the_config_gives_the_published_gates():
    assert apass_inputs.gates(CONFIG) == GATES


def test_the_gates_edge_values_are_the_same_in_spark_and_in_pandas(spark):
    expected = [passes for _, _, passes in EDGES]
    # pandas: what the selector's holdout metrics use
    frame = pd.DataFrame({"score": [s for s, _, _ in EDGES], "credit_level_number": [int(c[1]) for _, c, _ in EDGES]})
    assert GATES.passes(frame["score"], frame["credit_level_number"]).tolist() == expected
    # plain numbers
    assert [bool(GATES.passes(s, int(c[1]))) for s, c, _ in EDGES] == expected
    # Spark, on gold.scores rows
    rows = spark.createDataFrame(
        [(i, s, c) for i, (s, c, _) in enumerate(EDGES)], "user_id long, score int, credit_level string"
    )
    got = rows.select("user_id", scores_past_gates(GATES).alias("passes")).orderBy("user_id").collect()
    assert [r["passes"] for r in got] == expected


def test_the_selector_metrics_gate_the_holdout_with_the_same_edges():
    holdout = pd.DataFrame(
        {
            "user_id": range(len(EDGES)),
            "label": [1, 0, 1, 0, 1],
            "reason": None,
            "score": [s for s, _, _ in EDGES],
            "credit_level_number": [int(c[1]) for _, c, _ in EDGES],
        }
    )
    metrics = selector.evaluate(holdout, probabilities=np.linspace(0.1, 0.5, len(EDGES)), gates=GATES, invite_share=1.0)
    assert metrics["holdout_gated"] == 2  # 2500/C5 and 3200/C6 only


def test_gate_failures_name_every_failed_gate_in_order(spark):
    rows = spark.createDataFrame(
        [(i, float(s), c, float(c[1])) for i, (s, c, _) in enumerate(EDGES)],
        "user_id long, score double, credit_level string, credit_level_number double",
    )
    failures = gate_failures(
        GATES,
        score=rows["score"],
        credit_level_number=rows["credit_level_number"].cast("int"),
        credit_level=rows["credit_level"],
    )
    got = [r["f"] for r in rows.select("user_id", failures.alias("f")).orderBy("user_id").collect()]
    assert got == [
        ["gate: score 2499 below 2500"],
        [],
        ["gate: credit level C4 below C5"],
        ["gate: score 2499 below 2500", "gate: credit level C4 below C5"],
        [],
    ]


def _indicator_rows(spark, members: list[tuple[int, int, str]]):
    """Indicator rows of 2025-12 (transforms/apass/indicators.py), zeros but the score and credit level."""
    rows = []
    for user_id, score, level in members:
        row = dict.fromkeys(NAMES, 0.0) | dict.fromkeys(PROFILE_COLUMNS)
        rows.append(
            row
            | dict(
                user_id=user_id,
                as_of_month="2025-12",
                credit_level=level,
                score=float(score),
                credit_level_number=float(level[1]),
            )
        )
    schema = (
        "user_id long, as_of_month string, credit_level string, gender string, birth_year int, city_tier int, "
        + ", ".join(f"{name} double" for name in NAMES)
    )
    return spark.createDataFrame([tuple(r[c.split()[0]] for c in schema.split(", ")) for r in rows], schema)


def test_the_candidates_are_the_members_past_the_score_gate_with_their_failed_gates(spark):
    scores = spark.createDataFrame(
        [(i, "2025-12", s, c) for i, (s, c, _) in enumerate(EDGES)]
        + [(9, "2025-11", 2600, "C6")],  # another month: not a candidate of 2025-12
        "user_id long, month string, score int, credit_level string",
    )
    keys = candidate_keys(scores, months=["2025-12"], gates=GATES)
    assert sorted((r["user_id"], r["as_of_month"]) for r in keys.collect()) == [
        (1, "2025-12"),
        (2, "2025-12"),
        (4, "2025-12"),
    ]  # 2499 is not a candidate, whatever its level
    got = candidate_rows(
        _indicator_rows(spark, [(i, s, c) for i, (s, c, _) in enumerate(EDGES) if s >= 2500]), gates=GATES
    )
    assert sorted((r["user_id"], r["month"], r["passes_gates"], r["gate_failures"]) for r in got.collect()) == [
        (1, "2025-12", True, []),
        (2, "2025-12", False, ["gate: credit level C4 below C5"]),
        (4, "2025-12", True, []),
    ]


# --------------------------------------------------------------------------- capacity, invitations, overrides


@pytest.mark.parametrize(
    "members, expected", [(0, 1), (9_999, 1), (10_000, 1), (10_001, 2), (99_811, 10), (100_000, 10), (100_001, 11)]
)
def test_the_target_stock_is_one_in_ten_thousand_rounded_up(members, expected):
    assert membership.target_stock(members, 0.0001) == expected


def _candidates(spark):
    """Six members past the gates (3 and 4 tie on P(kept)) and one gated out."""
    cands = spark.createDataFrame(
        [(u, True, []) for u in range(1, 7)] + [(7, False, ["gate: credit level C4 below C5"])],
        "user_id long, passes_gates boolean, gate_failures array<string>",
    )
    scored = spark.createDataFrame(
        [
            (u, p, [f"up{u} +0.10"], [f"down{u} -0.10"])
            for u, p in [(1, 0.30), (2, 0.90), (3, 0.55), (4, 0.55), (5, 0.10), (6, 0.70)]
        ],
        "user_id long, model_score double, reasons_up array<string>, reasons_down array<string>",
    )
    members = spark.createDataFrame([(u,) for u in range(1, 8)], "user_id long")
    return cands, scored, members


def _overrides(spark, rows: list[tuple[int, str, str]]):
    return spark.createDataFrame(
        [(*r, "ops") for r in rows], "user_id long, action string, override_reason string, override_author string"
    )


def _decide(spark, overrides, *, capacity: int, apass_members=(), target_stock: int = 10):
    """The decisions of month 2025-12 over :func:`_candidates` with ``overrides`` and ``apass_members``."""
    cands, scored, members = _candidates(spark)
    return decisions(
        cands,
        scored,
        _overrides(spark, overrides),
        members,
        spark.createDataFrame([(u,) for u in apass_members], "user_id long"),
        month="2025-12",
        model_version=2,
        capacity=capacity,
        target_stock=target_stock,
    )


def _decided(df) -> list[tuple]:
    return sorted((r["user_id"], r["decision"], r["invited"], r["rank"]) for r in df.collect())


def test_the_best_p_kept_fill_the_capacity_ties_to_the_lower_user_id(spark):
    got = _decide(spark, [], capacity=3)
    assert _decided(got) == [
        (1, "waitlisted", False, 5),
        (2, "invited", True, 1),
        (3, "invited", True, 3),  # 0.55: 3 before 4
        (4, "waitlisted", False, 4),
        (5, "waitlisted", False, 6),
        (6, "invited", True, 2),
        (7, "gated_out", False, None),
    ]
    reasons = {r["user_id"]: r["reason_codes"] for r in got.collect()}
    assert (reasons[3], reasons[4], reasons[7]) == (["up3 +0.10"], ["down4 -0.10"], ["gate: credit level C4 below C5"])
    assert {r["capacity"] for r in got.collect()} == {3}


def test_an_exclusion_frees_a_place_and_an_invitation_takes_one_first(spark):
    # the best member excluded, the gated-out one invited: one place left to the model after 6
    got = _decide(spark, [(2, "exclude", "fraud case"), (7, "invite", "board decision")], capacity=3)
    assert _decided(got) == [
        (1, "waitlisted", False, 4),
        (2, "excluded_by_override", False, None),
        (3, "invited", True, 2),
        (4, "waitlisted", False, 3),
        (5, "waitlisted", False, 5),
        (6, "invited", True, 1),
        (7, "invited_by_override", True, None),
    ]
    rows = {r["user_id"]: r for r in got.collect()}
    assert (rows[2]["override_reason"], rows[7]["override_reason"], rows[3]["override_reason"]) == (
        "fraud case",
        "board decision",
        None,
    )
    # the failed gate stays the first reason of a member invited below the gates
    assert rows[7]["reason_codes"] == ["gate: credit level C4 below C5"]
    assert sum(r["invited"] for r in rows.values()) == 3


def test_invitations_beyond_the_capacity_leave_the_model_no_place_and_a_non_member_is_ignored(spark):
    got = _decide(spark, [(5, "invite", "a"), (7, "invite", "b"), (99, "invite", "not a member")], capacity=1)
    decided = {u: d for u, d, _, _ in _decided(got)}
    assert decided == {
        1: "waitlisted",
        2: "waitlisted",
        3: "waitlisted",
        4: "waitlisted",
        5: "invited_by_override",
        6: "waitlisted",
        7: "invited_by_override",
    }


def test_the_latest_override_of_a_member_and_month_is_in_force(spark):
    log = spark.createDataFrame(
        [
            (1, "2025-12", "invite", "first thought", "ann", datetime(2025, 12, 3, 9)),
            (1, "2025-12", "exclude", "second thought", "bo", datetime(2025, 12, 3, 10)),
            (1, "2026-01", "invite", "next month", "ann", datetime(2025, 12, 3, 11)),
            (2, "2025-12", "invite", "only one", "ann", datetime(2025, 12, 1)),
        ],
        "user_id long, month string, action string, reason string, author string, created_at timestamp",
    )
    assertDataFrameEqual(
        latest_overrides(log, month="2025-12"),
        [
            Row(user_id=1, action="exclude", override_reason="second thought", override_author="bo"),
            Row(user_id=2, action="invite", override_reason="only one", override_author="ann"),
        ],
    )


def test_a_member_is_never_invited_again_and_the_capacity_is_what_the_members_leave(spark):
    # 2 and 6 (the model's first two) are members already; 3 has an invitation override but is a member too
    got = _decide(
        spark,
        [(3, "invite", "again"), (5, "exclude", "fraud case")],
        capacity=2,
        apass_members=[2, 3, 6],
        target_stock=5,
    )
    assert _decided(got) == [
        (1, "invited", True, 2),
        (2, "member", False, None),
        (3, "member", False, None),
        (4, "invited", True, 1),
        (5, "excluded_by_override", False, None),
        (6, "member", False, None),
        (7, "gated_out", False, None),
    ]
    assert {(r["capacity"], r["target_stock"]) for r in got.collect()} == {(2, 5)}


def _psi(current: list[int], before: list[int], bins: int) -> float:
    """The PSI of two lists of bins, written out (empty bins at 0.01 %)."""
    p = [max(current.count(b) / len(current), 1e-4) for b in range(bins)]
    q = [max(before.count(b) / len(before), 1e-4) for b in range(bins)]
    return round(sum((pi - qi) * math.log(pi / qi) for pi, qi in zip(p, q, strict=True)), 6)


def test_the_selectors_inputs_are_binned_by_the_month_befores_deciles_and_every_month_is_one_plan(spark):
    january = [(100.0, None)] * 5 + [(500.0, None)] * 5  # deciles 100 (5 times) and 500 (4): cut points 100, 500
    february = [(50.0, 0.95), (100.0, 0.1), (499.9, None), (500.0, 0.0), (600.0, 0.5)]
    march = [(float(v), 0.3) for v in range(10, 110, 10)]
    may = [(1.0, 0.5)]  # April has no candidates: no row for May
    rows = spark.createDataFrame(
        [
            (n, month, aov, score)
            for month, values in (("2025-01", january), ("2025-02", february), ("2025-03", march), ("2025-05", may))
            for n, (aov, score) in enumerate(values)
        ],
        "user_id long, month string, aov_cny double, model_score double",
    )
    got = selector_stability(rows, months=["2025-02", "2025-03", "2025-05"], features=["aov_cny"])
    psi = {(r["month"], r["metric"]): r for r in got.collect()}
    assert set(psi) == {(m, f"selector.{x}") for m in ("2025-02", "2025-03") for x in ("aov_cny", "model_score")}

    # a repeated decile counts once: 3 bins; a value reaches a cut point at it
    feb = psi[("2025-02", "selector.aov_cny")]
    assert (feb["previous_month"], feb["bins"], feb["members"], feb["previous_members"]) == ("2025-01", 3, 5, 10)
    assert feb["psi"] == _psi([0, 1, 1, 2, 2], [1] * 5 + [2] * 5, 3)
    # tenths of [0, 1]; no model score (gated out): bin 0, below 0.0
    score = psi[("2025-02", "selector.model_score")]
    assert score["bins"] == 11 and score["psi"] == _psi([10, 2, 0, 1, 6], [0] * 10, 11)
    # March against February's own deciles (the values at ranks ceil(q x 5): every one of its five values)
    mar = psi[("2025-03", "selector.aov_cny")]
    assert (mar["previous_month"], mar["bins"]) == ("2025-02", 6)
    assert mar["psi"] == _psi([0] * 4 + [1] * 5 + [2], [1, 2, 3, 4, 5], 6)
    # the same rows, one month at a time
    for month in ("2025-02", "2025-03"):
        alone = selector_stability(rows, months=[month], features=["aov_cny"])
        assertDataFrameEqual(alone, got.filter(got.month == month))


# --------------------------------------------------------------------------- the membership, month by month


def _month(spark, previous, month, *, reviews=(), exclusions=(), user_month=None, invitations=()):
    """The membership of ``month`` as `taoqi select` keeps it: the month's rows before its invitations, then
    the invited ones; returns (rows, {user_id: row})."""
    rows = membership.before_invitations(
        previous,
        month=month,
        reviews=spark.createDataFrame(list(reviews), membership.REVIEW_COLUMNS),
        exclusions=spark.createDataFrame(list(exclusions), membership.EXCLUSION_COLUMNS),
        user_month=user_month if user_month is not None else spark.createDataFrame([], GOLD_USER_MONTH),
        curve=CURVE,
        pass_points=60,
        warn_before=1,
    )
    if invitations:
        new = spark.createDataFrame(list(invitations), membership.INVITATION_COLUMNS)
        rows = rows.unionByName(membership.joined(new, month=month))
    rows = rows.localCheckpoint(eager=True)
    return rows, {r["user_id"]: r for r in rows.collect()}


def _state(row) -> tuple:
    return (row["status"], row["membership_year"], row["year_start"], row["expiry_month"], row["ended_by"])


def test_the_programs_members_come_with_their_review_and_invitations_join_them(spark):
    empty = spark.createDataFrame([], catalog.table("gold.apass_members").schema)
    rows, got = _month(
        spark,
        empty,
        "2025-01",
        reviews=[(1, "kept", "2024-01"), (2, "removed", "2024-01")],
        invitations=[(3, "invitation", None, None), (4, "override", "ann", "board decision")],
    )
    assert _state(got[1]) == ("active", 2, "2025-01", "2025-12", None)  # kept: its second year begins
    assert (got[1]["member_since"], got[1]["joined_by"]) == ("2024-01", "review")
    assert _state(got[2]) == ("removed", 1, "2024-01", "2024-12", "review")  # removed at once
    assert _state(got[3]) == ("active", 1, "2025-01", "2025-12", None)
    assert (got[4]["joined_by"], got[4]["override_author"], got[4]["override_reason"]) == (
        "override",
        "ann",
        "board decision",
    )
    assert membership.in_stock(rows).count() == 3
    # the month after: the removed member is gone, an exclusion removes a member at once with its author
    _, got = _month(spark, rows, "2025-02", exclusions=[(3, "bo", "fraud case")])
    assert sorted(got) == [1, 3, 4]
    assert _state(got[3]) == ("removed", 1, "2025-01", "2025-12", "override")
    assert (got[3]["override_author"], got[3]["override_reason"]) == ("bo", "fraud case")
    assert (_state(got[1]), _state(got[4])) == (
        ("active", 2, "2025-01", "2025-12", None),
        ("active", 1, "2025-01", "2025-12", None),
    )
    assert got[4]["override_author"] == "ann"  # how the member joined stays on record


def test_below_the_pass_mark_a_member_is_warned_then_lapses_and_at_it_renews(spark):
    schema = catalog.table("gold.apass_members").schema
    october = spark.createDataFrame(
        [
            (u, "2025-10", "2025-01", "invitation", 1, "2025-01", "2025-12", "active", None, None, None, None, None)
            for u in (1, 2, 3)
        ],
        schema,
    )
    um = [_month_row(spark, 1, f"2025-{m:02d}", spend_cny=10000.0) for m in range(1, 11)]  # 100 000 by October
    um += [_month_row(spark, 2, f"2025-{m:02d}", spend_cny=9000.0) for m in range(1, 12)]  # 99 000 by November
    um += [_month_row(spark, 2, "2025-12", spend_cny=1000.0)]  # 100 000 in the year: the pass mark
    um += [_month_row(spark, 3, f"2025-{m:02d}", spend_cny=8000.0) for m in range(1, 13)]  # 96 000
    user_month = spark.createDataFrame(um, GOLD_USER_MONTH)
    november, got = _month(spark, october, "2025-11", user_month=user_month)
    assert {u: (r["status"], r["a_energy_points"]) for u, r in got.items()} == {
        1: ("active", 60.0),
        2: ("warned", 59.4),
        3: ("warned", 52.8),
    }
    december, got = _month(spark, november, "2025-12", user_month=user_month)
    assert {u: (r["status"], r["renewal"], r["ended_by"], r["a_energy_points"]) for u, r in got.items()} == {
        1: ("active", "passed", None, 60.0),
        2: ("active", "passed", None, 60.0),  # warned, then passed
        3: ("lapsed", "failed", "renewal", 57.6),
    }
    assert membership.in_stock(december).count() == 2
    _, got = _month(spark, december, "2026-01", user_month=user_month)
    assert {u: _state(r) for u, r in got.items()} == {
        1: ("active", 2, "2026-01", "2026-12", None),
        2: ("active", 2, "2026-01", "2026-12", None),
    }
    assert {r["a_energy_points"] for r in got.values()} == {None}


# --------------------------------------------------------------------------- renewal


def test_a_monthly_run_renews_the_years_ending_in_its_year_and_the_year_before():
    assert renewal_years("2026-01") == (2025, 2026)


def test_the_membership_years_are_those_of_the_members_table(spark):
    rows = spark.createDataFrame(
        [
            (1, "2025-03", "2025-03", "invitation", "active"),
            (1, "2025-04", "2025-03", "invitation", "warned"),  # the same year, another month
            (1, "2026-03", "2026-03", "invitation", "active"),  # renewed: its second year
            (2, "2025-01", "2024-01", "review", "removed"),  # removed by the review that handed it over
            (3, "2025-01", "2025-01", "review", "active"),
            (4, "2025-01", "2025-01", "invitation", "active"),
            (4, "2025-02", "2025-01", "invitation", "removed"),  # removed by an override: no renewal
        ],
        "user_id long, month string, year_start string, joined_by string, status string",
    )
    assert sorted(tuple(r) for r in membership_years(rows).collect()) == [
        (1, "2025-03", "invitation"),
        (1, "2026-03", "invitation"),
        (3, "2025-01", "review"),
    ]
    ending = {
        (r["user_id"], r["membership_start"]): r["expiry_month"]
        for r in renewals(
            membership_years(rows),
            spark.createDataFrame([], GOLD_USER_MONTH),
            year=2026,
            latest_batch="2027-12",
            curve=CURVE,
            pass_points=60,
            warn_before=1,
        ).collect()
    }
    assert ending == {(1, "2025-03"): "2026-02"}  # 2027-02 and 2025-12 are other years'


def _year_2025(spark):
    """Four membership years 2025-01..2025-12 (warning month 2025-11) and their monthly slices."""
    members = spark.createDataFrame(
        [(u, "2025-01", "review") for u in (1, 2, 3, 4)], "user_id long, membership_start string, source string"
    )
    rows = [_month_row(spark, 1, f"2025-{m:02d}", spend_cny=10000.0) for m in range(1, 11)]  # 100 000 by October
    rows += [_month_row(spark, 1, "2025-12", spend_cny=20000.0)]
    rows += [_month_row(spark, 1, "2025-11", refund_cny=30000.0, batch="2026-01")]  # known after the year: never counts
    rows += [_month_row(spark, 2, f"2025-{m:02d}", spend_cny=9000.0) for m in range(1, 12)]  # 99 000 by November
    rows += [_month_row(spark, 2, "2025-12", spend_cny=1000.0)]  # 100 000 in the year: exactly the pass mark
    rows += [_month_row(spark, 3, f"2025-{m:02d}", spend_cny=8000.0) for m in range(1, 13)]  # 96 000
    rows += [_month_row(spark, 4, "2025-06", spend_cny=1000.0, refund_cny=5000.0)]  # refunds beyond spend
    return members, spark.createDataFrame(rows, GOLD_USER_MONTH)


def _renewed(spark, latest_batch: str) -> dict[int, tuple]:
    members, um = _year_2025(spark)
    return {
        r["user_id"]: (
            r["as_of_month"],
            r["qualifying_spend_cny"],
            r["a_energy_points"],
            r["status"],
            r["points_at_warning"],
            r["warned"],
        )
        for r in renewals(
            members, um, year=2025, latest_batch=latest_batch, curve=CURVE, pass_points=60, warn_before=1
        ).collect()
    }


def test_before_the_warning_month_a_year_has_its_points_to_date_and_no_warning(spark):
    got = _renewed(spark, "2025-10")
    assert got[1] == ("2025-10", Decimal("100000.00"), 60.0, "in_progress", None, None)
    assert got[2] == ("2025-10", Decimal("90000.00"), 54.0, "in_progress", None, None)


def test_one_month_before_expiry_the_members_below_the_pass_mark_are_warned(spark):
    got = _renewed(spark, "2025-11")
    assert {r[0] for r in got.values()} == {"2025-11"}
    assert got[1][4:] == (60.0, False)  # exactly the pass mark: not below it
    assert got[2][4:] == (59.4, True)  # 99 000 CNY
    assert got[3][4:] == (52.8, True)  # 88 000 CNY
    assert got[4][1:] == (Decimal("0.00"), 0.0, "in_progress", 0.0, True)  # a negative net spend counts as 0


def test_a_complete_year_passes_at_the_pass_mark_whatever_the_warning_said(spark):
    got = _renewed(spark, "2026-01")
    # member 1: the December slice counts, the late refund of batch 2026-01 does not
    assert got[1][:4] == ("2025-12", Decimal("120000.00"), 64.0, "passed")
    assert got[2][:4] + got[2][5:] == ("2025-12", Decimal("100000.00"), 60.0, "passed", True)  # warned, then passed
    assert got[3][:4] == ("2025-12", Decimal("96000.00"), 57.6, "failed")
