"""The worlds of the end-to-end tests: the tiny world's lakehouses (pipeline and faults) and the default
world (30 000 members, 13 months) shared by the calibration, selector, report and notebook tests."""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
from pathlib import Path

import pytest

import tests.tiny_world as tiny
from tests.conftest import WORLD_DEADLINE_S, compiled, deadline
from tests.tiny_world import MONTHS, set_args

USERS = 30_000
# Quality gates are the pipeline tests' subject; here they would only add minutes.
WORLD = [f"generator.users={USERS}", "spark.master=local[2]", "spark.shuffle_partitions=4", "quality.enabled=false"]
LATEST = "2026-01"  # the default world's 13th month: a window of 12 full months
LABEL_MONTHS = ["2025-10", "2025-11", "2025-12"]  # with LATEST: the review months the selector learns from


@pytest.fixture(scope="session")
def world(tmp_path_factory, spark) -> Path:
    """Generate, conform and aggregate every batch, score the latest month and the months the selector
    learns from, in one plan (in this process: the pipeline's CLI paths are the end-to-end tests' job;
    here only the figures matter)."""
    from jobs.cli import main

    root = tmp_path_factory.mktemp("calibration")
    sets = set_args([f"lakehouse.root={root}", *WORLD])
    with compiled(spark), deadline(spark, WORLD_DEADLINE_S, f"the {USERS:,}-member default world"):
        scored = ",".join([*LABEL_MONTHS, LATEST])
        for stage in (["generate"], ["ingest"], ["conform"], ["aggregate"], ["score", "--month", scored]):
            assert main([*stage, *sets]) == 0, stage
    return root


@pytest.fixture(autouse=True)
def compiled_on_the_default_world(request):
    """The default world's tests run compiled, as its fixtures (tests/tiny_world.py INTERPRETED says why)."""
    if "world" not in request.fixturenames:
        yield
        return
    with compiled(request.getfixturevalue("spark")):
        yield


SELECTOR = [
    *WORLD,
    "apass.selector.min_history_months=10",
    "apass.selector.holdout_months=2",
    "apass.selector.min_training_labels=20",
]


def taoqi(root, *args: str, extra: tuple[str, ...] = ()) -> str:
    """Run one stage in this process; returns what it printed (it must succeed)."""
    from jobs.cli import main

    sets = set_args([f"lakehouse.root={root}", *SELECTOR, *extra])
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main([*args, *sets])
    assert code == 0, (args, printed.getvalue()[-2000:])
    return printed.getvalue()


@pytest.fixture(scope="session")
def trained(world, spark):
    """The selector trained twice on the same data, config and seed, and promoted after each."""
    with compiled(spark), deadline(spark, WORLD_DEADLINE_S, "the selector's trainings on the default world"):
        first = taoqi(world, "train", "--month", LATEST)
        promoted = taoqi(world, "promote")
        again = taoqi(world, "train", "--month", LATEST)  # same data, config and seed
        kept = taoqi(world, "promote")
    return world, first, promoted, again, kept


@pytest.fixture(scope="session")
def selected(trained, spark) -> Path:
    """The trained world after `select` of the four scored months and `personas` for LATEST: what the report
    and the notebooks read."""
    root = trained[0]
    with compiled(spark), deadline(spark, WORLD_DEADLINE_S, "select and personas on the default world"):
        taoqi(root, "select", "--month", ",".join([*LABEL_MONTHS, LATEST]))
        taoqi(root, "personas", "--month", LATEST)
    return root


@pytest.fixture(scope="session")
def lakes(tiny_month_one, spark, request):
    """The tiny world's lakehouses (tests/tiny_world.py), shared by the pipeline and the fault tests:
    bulk (one `taoqi run` over every batch, every table validated), replica (the world generated again
    on another parallelism, by the process ``tiny_month_one`` started), monthly (one month at a time:
    the session's first month, then the others) and a copy of monthly as its second month left it (the
    fault tests run the third month on copies). Bulk and monthly run in this process: no JVM start, no
    compiling again what the session compiled."""
    from jobs.cli import main
    from tests.conftest import REPLICA

    replica = request.config.stash[REPLICA]
    base = replica.root.parent
    bulk, monthly, before_last = base / "bulk", base / "monthly", base / f"monthly_until_{MONTHS[-2]}"
    shutil.copytree(tiny_month_one, monthly)
    with deadline(spark, WORLD_DEADLINE_S, "the tiny world's monthly lakehouse"):
        for month in MONTHS[1:]:
            if month == MONTHS[-1]:
                shutil.copytree(monthly, before_last)
            assert main(["run", "--month", month, *tiny.at(monthly), *set_args(tiny.MONTHLY)]) == 0, month
    with deadline(spark, WORLD_DEADLINE_S, "the tiny world's bulk run"):
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            code = main(["run", *tiny.at(bulk), *set_args(tiny.WORLD)])
        assert code == 0, printed.getvalue()[-4000:]
    replica.wait()
    run = subprocess.CompletedProcess(["taoqi", "run"], code, printed.getvalue(), "")
    return {"bulk": bulk, "replica": replica.root, "monthly": monthly, "before_last": before_last, "run": run}
