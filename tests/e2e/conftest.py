"""The default world (30 000 members, 13 months) shared by the calibration and selector tests."""

from __future__ import annotations

from pathlib import Path

import pytest

USERS = 30_000
# Quality gates are the pipeline tests' subject; here they would only add minutes.
WORLD = [f"generator.users={USERS}", "spark.master=local[2]", "spark.shuffle_partitions=4", "quality.enabled=false"]
LATEST = "2026-01"  # the default world's 13th month: a window of 12 full months


@pytest.fixture(scope="session")
def world(tmp_path_factory, spark) -> Path:
    """Generate, conform and aggregate every batch, score the latest month only (in this process:
    the pipeline's CLI paths are the end-to-end tests' job; here only the figures matter)."""
    from jobs.cli import main

    root = tmp_path_factory.mktemp("calibration")
    sets = [x for s in [f"lakehouse.root={root}", *WORLD] for x in ("--set", s)]
    for stage in (["generate"], ["ingest"], ["conform"], ["aggregate"], ["score", "--month", LATEST]):
        assert main([*stage, *sets]) == 0, stage
    return root


