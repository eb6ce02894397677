"""Typed settings of the persona segmentation and the run report (values from conf/base.yaml)."""

from __future__ import annotations

from dataclasses import dataclass

from transforms.personas.features import NAMES

PERSONAS = ("quality_lifestyle", "paycheck_shopaholic", "shrewd_pragmatist", "elegant_leisure")


@dataclass(frozen=True)
class PersonasConf:
    min_score: int  # the population: members at this score or more in the month (1000: super members)
    k_min: int
    k_max: int
    seed: int
    max_iter: int
    alpha: float  # significance level of the profile tests
    registered_model: str
    experiment: str
    # persona -> {feature: [low, high]} on a segment's centroid (null: unbounded); first match wins
    rules: dict[str, dict[str, list[float | None]]]


@dataclass(frozen=True)
class ReportConf:
    enabled: bool  # `taoqi run` ends with personas and the report of its latest month
    listed_members: int  # invited members and near misses listed with their reason codes


def problems(p: PersonasConf) -> list[str]:
    """What is wrong with the settings, as ``key: message`` lines (empty when valid)."""
    out = []
    if p.min_score < 0:
        out.append(f"min_score: must be at least 0, got {p.min_score}")
    if not 2 <= p.k_min <= p.k_max <= 30:
        out.append(f"k_min/k_max: need 2 <= k_min <= k_max <= 30, got {p.k_min}..{p.k_max}")
    if p.max_iter < 1:
        out.append(f"max_iter: must be at least 1, got {p.max_iter}")
    if not 0 < p.alpha < 1:
        out.append(f"alpha: must be in (0, 1), got {p.alpha}")
    for persona, bounds in p.rules.items():
        if persona not in PERSONAS:
            out.append(f"rules.{persona}: not one of the four published personas ({', '.join(PERSONAS)})")
        for feature, bound in bounds.items():
            if feature not in NAMES:
                out.append(f"rules.{persona}.{feature}: not a persona feature ({', '.join(NAMES)})")
            elif len(bound) != 2:
                out.append(f"rules.{persona}.{feature}: give [low, high] (null for unbounded), got {bound}")
    return out
