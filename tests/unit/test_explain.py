"""`taoqi explain`'s arithmetic and text on a hand-built member (transforms/gold/explain.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.unit.test_gold import S
from transforms.apass.gates import Gates
from transforms.gold.explain import (
    apass_explanation,
    increase_for,
    input_for,
    membership_explanation,
    score_explanation,
    term_points,
)

GATES = Gates(min_score=2500, min_credit_level=5)


def test_a_term_earns_half_its_points_at_half_at_and_the_inverse_gives_the_input_back():
    assert term_points(60000, 1300, 60000) == 650.0
    assert term_points(120000, 1300, 60000) == 975.0  # three quarters at twice half_at
    assert term_points(-5, 1300, 60000) == 0.0  # a negative input earns nothing
    assert input_for(975.0, 1300, 60000) == pytest.approx(120000)
    assert input_for(1300, 1300, 60000) is None  # all of a term's points: no input earns them


def test_the_increase_that_closes_a_gap_alone_or_none_when_the_term_saturates_first():
    assert increase_for(60000, 325, 1300, 60000) == pytest.approx(60000)  # 650 -> 975 points: 60 000 -> 120 000 CNY
    assert increase_for(120, 125, 500, 120) == pytest.approx(120)  # 250 -> 375 points: 120 -> 240 units
    assert increase_for(80, 150, 300, 80) is None  # 150 of 300 points: the last 150 are never earned
    assert increase_for(80, 149, 300, 80) is not None


def _member() -> tuple[dict, dict]:
    """A member at 2,175 (band 3): 325 points short of band 4, the inputs at their terms' half_at."""
    score = dict(
        user_id=7,
        month="2025-12",
        score=2175,
        band=3,
        vip_fee_cny=88,
        purchase_amount_points=650,
        purchase_frequency_points=300,
        interaction_points=250,
        credit_points=260,
        credit_level="C5",
        credit_score=80.0,
        previous_score=2075,
        score_change=100,
        growth_perk=True,
        next_band_gap=325,
        keep_band_points=40,
        carry_score=2140,
        service_queue="priority",
    )
    features = dict(
        net_spend_cny=60000.0,
        scored_orders=80,
        active_days=45,
        interaction_units=120.0,
        spend_cny=Decimal("70000.00"),
        refund_cny=Decimal("10000.00"),
        flagged_spend_cny=Decimal("500.00"),
        flagged_orders=2,
        capped_spend_cny=Decimal("60000.00"),
        identity_verified=False,
    )
    for name in S.credit.dimensions:
        features[f"_value_{name}"], features[f"_points_{name}"] = 0.0, 0.0
    features["_value_account_age_years"], features["_points_account_age_years"] = 3.0, 7.0
    return score, features


def test_the_score_of_a_hand_built_member_explained():
    score, features = _member()
    lines = score_explanation(score, features, S).splitlines()
    assert lines[0] == "member 7, 2025-12: score 2,175 (band 3, super; 88VIP 88 CNY/year)"
    text = "\n".join(lines)
    assert "  purchase_amount        650 / 1,300" in text
    assert "CNY of net capped spend            60,000.0  ->   650.0 of 1,300 (half at 60,000)" in text
    assert "interaction units                     120.0  ->   250.0 of 500 (half at 120)" in text
    assert "  credit                 260 / 400   level C5, credit score 80.0 / 100" in text
    assert (
        "spend behind it: 70,000.00 CNY genuine, 10,000.00 refunded, 500.00 in 2 risk-flagged orders "
        "(not counted); 60,000.00 after caps"
    ) in text
    assert "; unverified identity: at most C4):" in text
    assert "  account_age_years             3.000    7.00 of 14  (saturating, at 3)" in text
    assert "change since last month: +100 (was 2,075); growth perk (rise >= 68): yes" in text
    # 325 points to band 4: only the purchase amount term has that many left (650 of 1 300)
    at = lines.index("next band: 325 points to 2,500 (band 4); alone, any one of:")
    assert [line[4:32].strip() for line in lines[at + 1 : at + 5]] == [
        "CNY of net capped spend",
        "orders",
        "active shopping days",
        "interaction units",
    ]
    assert lines[at + 1].endswith(" +60,000.0")
    assert all(line.endswith(" cannot: this term saturates first") for line in lines[at + 2 : at + 5])
    assert (
        "to keep band 3 next month: earn 40 points (the oldest month drops out: score would be 2,140 "
        "with nothing new)" in text
    )
    assert lines[-1] == "customer service queue: priority"


def test_a_member_in_the_top_band_without_a_previous_score():
    score, features = _member()
    score |= dict(score=2600, band=4, next_band_gap=None, previous_score=None, keep_band_points=None)
    features["identity_verified"] = True
    text = score_explanation(score, features, S)
    assert "band 4, apass-eligible" in text
    assert "change since last month: no score last month" in text
    assert "next band: already in the top band" in text
    assert "unverified" not in text and "to keep band" not in text


def _selection(**values) -> dict:
    return (
        dict(
            decision="invited",
            rank=2,
            capacity=10,
            target_stock=12,
            model_score=0.8126,
            model_version=3,
            reason_codes=["net_spend_cny +0.45"],
            override_reason=None,
        )
        | values
    )


def test_the_apass_decision_explained():
    score, _ = _member()
    assert apass_explanation(score, None, GATES) == (
        "APASS: not a candidate: score 2,175 is below 2,500 (325 points short); candidates also need credit C5+"
    )
    assert apass_explanation(score, _selection(), GATES) == (
        "APASS 2025-12: invited (rank 2 of the capacity 10); selector v3 P(kept) 0.813\n  reasons: net_spend_cny +0.45"
    )
    assert apass_explanation(
        score, _selection(decision="waitlisted", rank=11, reason_codes=["return_rate -0.61"]), GATES
    ) == (
        "APASS 2025-12: not invited: rank 11, the capacity is 10 (the target 12 less the members); selector v3 "
        "P(kept) 0.813\n  reasons: return_rate -0.61"
    )
    assert apass_explanation(score, _selection(decision="member", rank=None), GATES).startswith(
        "APASS 2025-12: not invited: already an APASS member; selector v3"
    )
    assert apass_explanation(
        score,
        _selection(decision="gated_out", rank=None, model_score=None, reason_codes=["gate: credit level C4 below C5"]),
        GATES,
    ) == ("APASS 2025-12: not invited: a gate failed\n  reasons: gate: credit level C4 below C5")
    assert apass_explanation(
        score,
        _selection(
            decision="invited_by_override",
            rank=None,
            model_score=None,
            reason_codes=[],
            override_reason="board decision",
        ),
        GATES,
    ) == ("APASS 2025-12: invited by an override: board decision\n  reasons: -")


def test_the_apass_membership_explained():
    member = dict(
        status="warned",
        member_since="2024-01",
        joined_by="review",
        membership_year=2,
        year_start="2025-01",
        expiry_month="2025-12",
        a_energy_points=52.8,
        renewal=None,
        ended_by=None,
        override_author=None,
        override_reason=None,
    )
    assert membership_explanation(None) == "APASS membership: not a member this month"
    assert membership_explanation(member) == (
        "APASS membership: warned, member since 2024-01 (the program's member), year 2 2025-01 to 2025-12; "
        "A-energy 52.8 points"
    )
    removed = member | dict(
        status="removed",
        joined_by="invitation",
        a_energy_points=None,
        ended_by="override",
        override_author="risk-team",
        override_reason="chargeback case 7731",
    )
    assert membership_explanation(removed) == (
        "APASS membership: removed, member since 2024-01 (invited), year 2 2025-01 to 2025-12; ended by override "
        "(override by risk-team: chargeback case 7731)"
    )
