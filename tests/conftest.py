"""One SparkSession for the whole suite: the e2e tests run the CLI in this process on it."""

import dataclasses

import pytest

from jobs.runtime.config import load_config
from jobs.runtime.session import build_spark

# The tiny world's runs in processes of their own, started by ``tiny_month_one``; ``lakes`` waits for them.
BACKGROUND = pytest.StashKey[dict]()


@pytest.fixture(scope="session")
def spark():
    config = load_config(sets=["spark.master=local[2]", "spark.shuffle_partitions=4"])
    # Added to the local overlay's Spark settings, not in place of them: its driver heap (6g) is
    # what lets the calibration world run in this JVM (at 1g an executor OOM exits the JVM).
    extra = {**config.spark.extra, "spark.ui.enabled": "false"}
    return build_spark(dataclasses.replace(config, spark=dataclasses.replace(config.spark, extra=extra)),
                       app_name="taoqi-tests")


@pytest.fixture(scope="session")
def tiny_month_one(tmp_path_factory, spark, request):
    """The tiny world (tests/tiny_world.py) generated and its first month run in local mode, in this
    process: the cluster test's reference, and where the e2e tests' lakehouses start from.

    When the session's tests use those lakehouses (``lakes``), the two of them built by processes of
    their own start as soon as the world is generated (tests/tiny_world.py ``start_background``):
    they then run while this process runs month one, the cluster test and the calibration world,
    instead of after them (measured, fresh-clone CI: 24 min 52 s -> 24 min 13 s; the cores are busy
    either way, so the cluster test's setup grows by most of what the lakehouses save)."""
    from jobs.cli import main
    from tests.tiny_world import MONTHLY, MONTHS, at, set_args, start_background

    root = tmp_path_factory.mktemp("tiny") / "month_one"
    sets = [*at(root), *set_args(MONTHLY)]
    assert main(["generate", *sets]) == 0
    if any("lakes" in item.fixturenames for item in request.session.items):
        started = start_background(root, tmp_path_factory.mktemp("e2e"))
        request.config.stash[BACKGROUND] = started
        request.addfinalizer(lambda: [b.process.kill() for b in started.values()])  # no-op once they ended
    assert main(["run", "--month", MONTHS[0], *sets]) == 0
    return root
