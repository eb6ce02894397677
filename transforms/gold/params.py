"""Typed settings of the score, grades and credit levels (values from conf/scoring.yaml)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from transforms.domain import CREDIT_LEVELS, GOODS_KINDS

# The 12-month inputs a score component may put a curve on (gold.user_features columns).
SCORE_INPUTS = ("net_spend_cny", "scored_orders", "active_days", "interaction_units")
# The four published dimensions of the score; credit comes from the credit level.
COMPONENTS = ("purchase_amount", "purchase_frequency", "interaction", "credit")
# The credit-level dimensions the project computes (the published system uses 10-20).
CREDIT_DIMENSIONS = (
    "account_age_years",
    "identity_verified",
    "active_months",
    "active_days",
    "orders",
    "net_spend_cny",
    "platforms_used",
    "review_positivity",
    "refund_rate",
    "return_rate",
    "dispute_rate",
    "flagged_order_rate",
)
CURVES = ("saturating", "penalty", "linear")
INTERACTION_KINDS = ("review", "qa", "like", "live", "content")


@dataclass(frozen=True)
class CurveTerm:
    max_points: float
    half_at: float


@dataclass(frozen=True)
class KindCaps:
    order: float
    day: float
    category_month: float
    shop_month: float


@dataclass(frozen=True)
class CapTable:
    month: float  # a member's credited spend in a month, all kinds together
    by_kind: dict[str, KindCaps]  # the caps of each kind of goods (transforms.domain.GOODS_KINDS)


@dataclass(frozen=True)
class Bands:
    lowest_band: int
    super: int
    apass_eligible: int

    def floors(self) -> list[int]:
        """Lower bounds of bands 2, 3 and 4."""
        return [self.lowest_band, self.super, self.apass_eligible]


@dataclass(frozen=True)
class VipFee:
    member: int
    standard: int


@dataclass(frozen=True)
class CreditDimension:
    weight: float
    curve: str  # saturating | penalty | linear
    at: float


@dataclass(frozen=True)
class ReviewPrior:
    positivity: float
    weight: float


@dataclass(frozen=True)
class CreditConf:
    dimensions: dict[str, CreditDimension]
    review_prior: ReviewPrior
    levels: list[float]  # lower bounds of C1..C6
    max_level_unverified: int


@dataclass(frozen=True)
class ServiceQueue:
    queue: str
    min_level: int


@dataclass(frozen=True)
class ScoringConf:
    window_months: int
    bands: Bands
    vip_fee_cny: VipFee
    growth_perk_rise: int
    caps: CapTable
    interaction_monthly_caps: dict[str, int]
    interaction_weights: dict[str, float]
    orders_monthly_cap: int
    components: dict[str, dict[str, CurveTerm]]
    credit_points_by_level: list[float]
    credit: CreditConf
    service_queues: list[ServiceQueue]

    def component_maxima(self) -> dict[str, float]:
        """The most points each of the four components can give (the saturation of its curves)."""
        maxima = {c: float(sum(t.max_points for t in self.components[c].values())) for c in COMPONENTS[:3]}
        return {**maxima, "credit": float(max(self.credit_points_by_level))}


def problems(s: ScoringConf) -> list[str]:
    """Everything wrong with a scoring config, as 'setting: what' lines (empty when valid)."""
    out = []
    if not 1 <= s.window_months <= 36:
        out.append(f"window_months: must be 1..36, got {s.window_months}")
    floors = s.bands.floors()
    if not 0 < floors[0] < floors[1] < floors[2]:
        out.append(f"bands: lowest_band < super < apass_eligible must hold and be positive, got {floors}")
    if s.growth_perk_rise < 1:
        out.append(f"growth_perk_rise: must be at least 1, got {s.growth_perk_rise}")
    if set(s.caps.by_kind) != set(GOODS_KINDS):
        out.append(f"caps.by_kind: needs exactly the kinds {', '.join(GOODS_KINDS)}, got {', '.join(s.caps.by_kind)}")
    for kind, caps in s.caps.by_kind.items():
        for name, value in vars(caps).items():
            if value <= 0:
                out.append(f"caps.by_kind.{kind}.{name}: must be positive, got {value}")
    if s.caps.month <= 0:
        out.append(f"caps.month: must be positive, got {s.caps.month}")
    for name, table in (
        ("interaction_monthly_caps", s.interaction_monthly_caps),
        ("interaction_weights", s.interaction_weights),
    ):
        if set(table) != set(INTERACTION_KINDS):
            out.append(f"{name}: needs exactly the kinds {', '.join(INTERACTION_KINDS)}, got {', '.join(table)}")
        out += [f"{name}.{k}: must not be negative, got {v}" for k, v in table.items() if v < 0]
    if s.orders_monthly_cap < 1:
        out.append(f"orders_monthly_cap: must be at least 1, got {s.orders_monthly_cap}")
    extra = sorted(set(s.components) - set(COMPONENTS[:3]))
    if extra:
        out.append(f"components.{extra[0]}: unknown component (known: {', '.join(COMPONENTS[:3])})")
    for component, terms in s.components.items():
        for input_name, term in terms.items():
            where = f"components.{component}.{input_name}"
            if input_name not in SCORE_INPUTS:
                out.append(f"{where}: unknown input (known: {', '.join(SCORE_INPUTS)})")
            if term.max_points < 0:
                out.append(f"{where}.max_points: must not be negative, got {term.max_points}")
            if term.half_at <= 0:
                out.append(f"{where}.half_at: must be positive, got {term.half_at}")
    by_level = s.credit_points_by_level
    if len(by_level) != len(CREDIT_LEVELS) or any(p < 0 for p in by_level) or by_level != sorted(by_level):
        out.append(f"credit_points_by_level: needs 7 non-negative, non-decreasing values (C0..C6), got {by_level}")
    c = s.credit
    for name, dim in c.dimensions.items():
        where = f"credit.dimensions.{name}"
        if name not in CREDIT_DIMENSIONS:
            out.append(f"{where}: unknown dimension (known: {', '.join(CREDIT_DIMENSIONS)})")
        if dim.weight < 0:
            out.append(f"{where}.weight: must not be negative, got {dim.weight}")
        if dim.curve not in CURVES:
            out.append(f"{where}.curve: must be one of {', '.join(CURVES)}, got {dim.curve!r}")
        elif dim.curve == "linear" and not 0 <= dim.at < 1:
            out.append(f"{where}.at: a linear curve needs 0 <= at < 1, got {dim.at}")
        elif dim.curve != "linear" and dim.at <= 0:
            out.append(f"{where}.at: must be positive, got {dim.at}")
    total = sum(d.weight for d in c.dimensions.values())
    if abs(total - 100) > 1e-6:
        out.append(f"credit.dimensions: weights must sum to 100, they sum to {total:g}")
    if len(c.levels) != len(CREDIT_LEVELS) - 1 or any(b <= a for a, b in itertools.pairwise(c.levels)):
        out.append(f"credit.levels: needs 6 strictly increasing lower bounds (C1..C6), got {c.levels}")
    if not 0 <= c.max_level_unverified <= len(CREDIT_LEVELS) - 1:
        out.append(f"credit.max_level_unverified: must be 0..6, got {c.max_level_unverified}")
    if not 0 <= c.review_prior.positivity <= 1 or c.review_prior.weight < 0:
        out.append("credit.review_prior: positivity must be 0..1 and weight non-negative")
    mins = [q.min_level for q in s.service_queues]
    if not mins or mins[-1] != 0 or any(b >= a for a, b in itertools.pairwise(mins)):
        out.append(f"service_queues: min_level must decrease strictly and end at 0, got {mins}")
    return out
