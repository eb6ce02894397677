"""Typed quality settings (``quality:`` in conf/base.yaml): severities and thresholds of the suites."""

from __future__ import annotations

from dataclasses import dataclass

SEVERITIES = ("critical", "warning")


@dataclass(frozen=True)
class VolumeConf:
    trailing_batches: int  # the average of this many earlier batches of the same source
    min_ratio: float
    max_ratio: float


@dataclass(frozen=True)
class ShareBand:
    min: float
    max: float


@dataclass(frozen=True)
class StabilityConf:
    psi_warn_above: float
    score_edges: list[float]  # bin edges of the score; components get `component_bins` equal bins
    component_bins: int


@dataclass(frozen=True)
class QualityConf:
    enabled: bool
    data_docs: bool
    reports_root: str | None  # local directory (None: Config.reports_dir decides): <reports_root>/<month>/...
    severity: dict[str, str]  # "<check>" or "<table>/<check>" -> critical | warning (default critical)
    volume: VolumeConf
    freshness_days: int
    super_share: ShareBand
    stability: StabilityConf

    def severity_of(self, table: str, check: str) -> str:
        """The severity of a check on a table: the table's own setting, else the check's, else critical."""
        return self.severity.get(f"{table}/{check}", self.severity.get(check, "critical"))


def problems(q: QualityConf) -> list[str]:
    """What is wrong with the settings, as 'key: why' lines (empty when valid)."""
    wrong = [
        f"severity.{k} must be critical or warning, got {v!r}" for k, v in q.severity.items() if v not in SEVERITIES
    ]
    v = q.volume
    if v.trailing_batches < 1:
        wrong.append(f"volume.trailing_batches must be at least 1, got {v.trailing_batches}")
    if not 0 <= v.min_ratio <= 1 <= v.max_ratio:
        wrong.append(f"volume needs 0 <= min_ratio <= 1 <= max_ratio, got {v.min_ratio} and {v.max_ratio}")
    if q.freshness_days < 0:
        wrong.append(f"freshness_days must be >= 0, got {q.freshness_days}")
    if not 0 <= q.super_share.min <= q.super_share.max <= 1:
        wrong.append(f"super_share needs 0 <= min <= max <= 1, got {q.super_share.min} and {q.super_share.max}")
    s = q.stability
    if s.psi_warn_above <= 0:
        wrong.append(f"stability.psi_warn_above must be positive, got {s.psi_warn_above}")
    if len(s.score_edges) < 2 or s.score_edges != sorted(set(s.score_edges)):
        wrong.append(f"stability.score_edges must be at least two increasing numbers, got {s.score_edges}")
    if s.component_bins < 2:
        wrong.append(f"stability.component_bins must be at least 2, got {s.component_bins}")
    return wrong
