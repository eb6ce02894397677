"""One member's score explained: each term's points, what would close the gap to the next band, the APASS decision.

What ``taoqi explain`` prints, from the member's rows (as dicts) of
gold.scores, gold.user_features and gold.apass_selection; ``jobs/explain.py``
reads them. Pure arithmetic and text, one member at a time.

Every input of a component earns ``max_points x (1 - 2^(-x / half_at))``
(the curve of transforms/gold/score.py, here on one number): half the
term's points at ``half_at``, never all of them. So the input that earns
``p`` points is ``-half_at x log2(1 - p / max_points)``, and a gap of ``g``
points can be closed by one input alone only while its term has ``g``
points left to earn.
"""

from __future__ import annotations

import math

from transforms.apass.gates import Gates
from transforms.domain import GRADE_BY_BAND
from transforms.gold.params import ScoringConf

INPUT_LABELS = {
    "net_spend_cny": "CNY of net capped spend",
    "scored_orders": "orders",
    "active_days": "active shopping days",
    "interaction_units": "interaction units",
}


def term_points(x: float, max_points: float, half_at: float) -> float:
    """The points an input ``x`` earns: ``max_points x (1 - 2^(-x / half_at))``, a negative input as 0."""
    return max_points * (1 - 2 ** (-max(x, 0.0) / half_at))


def input_for(points: float, max_points: float, half_at: float) -> float | None:
    """Inverse of the curve: the input that earns ``points`` (None when the term cannot: ``points >= max_points``)."""
    if points >= max_points:
        return None
    return -half_at * math.log2(1 - points / max_points)


def increase_for(x: float, gain: float, max_points: float, half_at: float) -> float | None:
    """How much more than ``x`` the input needs to earn ``gain`` more points alone (None: the term saturates first)."""
    needed = input_for(term_points(x, max_points, half_at) + gain, max_points, half_at)
    return None if needed is None else needed - x


def score_explanation(score: dict, f: dict, s: ScoringConf) -> str:
    """The member's score explained, as text.

    ``score`` is the member's gold.scores row, ``f`` its gold.user_features
    row with the credit dimensions' values and points as ``_value_<name>``
    and ``_points_<name>`` (transforms/gold/score.py, credit_dimension_points).
    """
    band = score["band"]
    lines = [
        f"member {score['user_id']}, {score['month']}: score {score['score']:,} "
        f"(band {band}, {GRADE_BY_BAND[band - 1].replace('_', '-')}; 88VIP {score['vip_fee_cny']} CNY/year)",
        "",
    ]
    lines.append("components (each a sum of saturating curves; conf/scoring.yaml):")
    for component, terms in s.components.items():
        total_max = sum(t.max_points for t in terms.values())
        lines.append(f"  {component:<20} {score[f'{component}_points']:>5} / {total_max:,.0f}")
        for name, term in terms.items():
            x = float(f[name] or 0)
            lines.append(
                f"    {INPUT_LABELS[name]:<28} {x:>14,.1f}  -> {term_points(x, term.max_points, term.half_at):7.1f}"
                f" of {term.max_points:,.0f} (half at {term.half_at:,g})"
            )
    lines.append(
        f"  {'credit':<20} {score['credit_points']:>5} / {max(s.credit_points_by_level):,.0f}"
        f"   level {score['credit_level']}, credit score {score['credit_score']:.1f} / 100"
    )
    lines.append("")
    lines.append(
        f"spend behind it: {float(f['spend_cny']):,.2f} CNY genuine, {float(f['refund_cny']):,.2f} refunded, "
        f"{float(f['flagged_spend_cny']):,.2f} in {f['flagged_orders']} risk-flagged orders (not counted); "
        f"{float(f['capped_spend_cny']):,.2f} after caps"
    )
    lines.append("")
    lines.append(
        f"credit level {score['credit_level']} (levels from {', '.join(f'{b:g}' for b in s.credit.levels)}"
        f"{'' if f['identity_verified'] else f'; unverified identity: at most C{s.credit.max_level_unverified}'}):"
    )
    for name, dim in s.credit.dimensions.items():
        value = f[f"_value_{name}"]
        lines.append(
            f"  {name:<22} {float(value or 0):>12,.3f}  {float(f[f'_points_{name}']):6.2f} of {dim.weight:g}"
            f"  ({dim.curve}, at {dim.at:g})"
        )
    lines.append("")
    if score["previous_score"] is None:
        lines.append("change since last month: no score last month")
    else:
        lines.append(
            f"change since last month: {score['score_change']:+,} (was {score['previous_score']:,}); "
            f"growth perk (rise >= {s.growth_perk_rise}): {'yes' if score['growth_perk'] else 'no'}"
        )
    floors = s.bands.floors()
    if score["next_band_gap"] is not None:
        gap = score["next_band_gap"]
        lines.append(f"next band: {gap:,} points to {floors[band - 1]:,} (band {band + 1}); alone, any one of:")
        for terms in s.components.values():
            for name, term in terms.items():
                more = increase_for(float(f[name] or 0), gap, term.max_points, term.half_at)
                lines.append(
                    f"    {INPUT_LABELS[name]:<28} "
                    + (f"+{more:,.1f}" if more is not None else "cannot: this term saturates first")
                )
    else:
        lines.append("next band: already in the top band")
    if score["keep_band_points"] is not None:
        lines.append(
            f"to keep band {band} next month: earn {score['keep_band_points']:,} points "
            f"(the oldest month drops out: score would be {score['carry_score']:,} with nothing new)"
        )
    lines.append(f"customer service queue: {score['service_queue']}")
    return "\n".join(lines)


def membership_explanation(member: dict | None) -> str:
    """The member's APASS membership in the month, from its gold.apass_members row (None: not a member)."""
    if member is None:
        return "APASS membership: not a member this month"
    how = {"invitation": "invited", "override": "invited by an override", "review": "the program's member"}
    line = (
        f"APASS membership: {member['status']}, member since {member['member_since']} "
        f"({how[member['joined_by']]}), year {member['membership_year']} "
        f"{member['year_start']} to {member['expiry_month']}"
    )
    if member["a_energy_points"] is not None:
        line += f"; A-energy {member['a_energy_points']:g} points"
    if member["renewal"] is not None:
        line += f"; renewal {member['renewal']}"
    if member["ended_by"] is not None:
        line += f"; ended by {member['ended_by']}"
    if member["override_reason"] is not None:
        line += f" (override by {member['override_author']}: {member['override_reason']})"
    return line


def apass_explanation(score: dict, selection: dict | None, gates: Gates) -> str:
    """Why the member was, or was not, invited to APASS in the month of ``score`` (its gold.scores row).

    ``selection`` is the member's gold.apass_selection row of that month;
    None: not a candidate, its score is below the score gate (how many
    points short).
    """
    if selection is None:
        return (
            f"APASS: not a candidate: score {score['score']:,} is below {gates.min_score:,} "
            f"({gates.min_score - score['score']:,} points short); candidates also need credit "
            f"C{gates.min_credit_level}+"
        )
    row = selection
    decision = {
        "member": "not invited: already an APASS member",
        "invited": f"invited (rank {row['rank']} of the capacity {row['capacity']})",
        "invited_by_override": f"invited by an override: {row['override_reason']}",
        "waitlisted": f"not invited: rank {row['rank']}, the capacity is {row['capacity']} "
        f"(the target {row['target_stock']} less the members)",
        "gated_out": "not invited: a gate failed",
        "excluded_by_override": f"excluded by an override: {row['override_reason']}",
    }[row["decision"]]
    chance = (
        "" if row["model_score"] is None else f"; selector v{row['model_version']} P(kept) {row['model_score']:.3f}"
    )
    why = "; ".join(row["reason_codes"]) or "-"
    return f"APASS {score['month']}: {decision}{chance}\n  reasons: {why}"
