"""Typed settings of the APASS selector, promotion and renewal (values from conf/base.yaml, ``apass:``)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from transforms.apass.indicators import NAMES

PROMOTION_METRICS = ("holdout_average_precision", "holdout_auc", "holdout_precision_at_k")


@dataclass(frozen=True)
class LightGbmParams:
    num_boost_round: int
    learning_rate: float
    num_leaves: int
    min_data_in_leaf: int
    feature_fraction: float
    lambda_l2: float
    seed: int


@dataclass(frozen=True)
class SelectorConf:
    registered_model: str
    experiment: str
    holdout_months: int  # the latest review months with labels: the holdout; the earlier ones train
    min_history_months: int  # labels need features over at least this many months of data
    min_training_labels: int
    promotion_metric: str
    promotion_margin: float
    lightgbm: LightGbmParams
    monotone: dict[str, int]  # indicator -> +1 (never lowers the chance) | -1 (never raises it)


@dataclass(frozen=True)
class RenewalConf:
    points_curve: list[list[float]]  # [[qualifying spend CNY, A-energy points], ...], piecewise linear
    pass_points: float
    warn_months_before_expiry: int


@dataclass(frozen=True)
class ApassConf:
    min_credit_level: int
    member_share: float  # the membership held: ceil(scored members x member_share) members a month
    reason_codes: int
    selector: SelectorConf
    renewal: RenewalConf


def problems(a: ApassConf) -> list[str]:
    """What is wrong with the settings, as ``key: message`` lines (empty when valid)."""
    out = []
    if not 0 <= a.min_credit_level <= 6:
        out.append(f"min_credit_level: must be 0..6, got {a.min_credit_level}")
    if not 0 < a.member_share <= 0.01:
        out.append(f"member_share: must be in (0, 0.01] (APASS is about 1 in 10,000 members), got {a.member_share}")
    if a.reason_codes < 1:
        out.append(f"reason_codes: must be at least 1, got {a.reason_codes}")
    s = a.selector
    if s.holdout_months < 1 or s.min_history_months < 1 or s.min_training_labels < 10:
        out.append("selector: holdout_months and min_history_months must be >= 1, min_training_labels >= 10")
    if s.promotion_metric not in PROMOTION_METRICS:
        out.append(
            f"selector.promotion_metric: must be one of {', '.join(PROMOTION_METRICS)}, got {s.promotion_metric!r}"
        )
    if not s.promotion_margin >= 0:  # NaN too: a challenger could never beat the champion, nor lose to it
        out.append(f"selector.promotion_margin: must be a number >= 0, got {s.promotion_margin}")
    for name, sign in s.monotone.items():
        if name not in NAMES:
            out.append(f"selector.monotone.{name}: not an indicator (see docs/apass.md#selector-indicators)")
        if sign not in (-1, 1):
            out.append(f"selector.monotone.{name}: must be 1 or -1, got {sign}")
    curve = a.renewal.points_curve
    if (
        len(curve) < 2
        or any(len(p) != 2 for p in curve)
        or curve[0] != [0, 0]
        or any(b[0] <= p[0] or b[1] < p[1] for p, b in itertools.pairwise(curve))
    ):
        out.append("renewal.points_curve: needs [[0, 0], ...] points with increasing spend and non-decreasing points")
    elif not curve[0][1] <= a.renewal.pass_points <= curve[-1][1]:
        out.append(f"renewal.pass_points: must be within the curve's points, got {a.renewal.pass_points}")
    if a.renewal.warn_months_before_expiry < 0:
        out.append("renewal.warn_months_before_expiry: must not be negative")
    return out
