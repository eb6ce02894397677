"""One SparkSession for the whole suite: the e2e tests run the CLI in this process on it.

pytest-timeout times test bodies only (``timeout_func_only``): a session fixture that timed out
under it would be interrupted mid-call into the JVM, break the Py4J gateway and fail every test
after it. The shared worlds bound their own time with :func:`deadline` instead: past it, their
Spark jobs are cancelled and the fixture fails once, saying which world was too slow; the tests
that need it error with that message, the others run on the same healthy session.
"""

import contextlib
import dataclasses
import threading
import time
from collections.abc import Iterator

import pytest

from jobs.runtime.config import load_config
from jobs.runtime.session import build_spark
from tests.tiny_world import INTERPRETED, Background

# The tiny world generated again in a process of its own, started by ``tiny_month_one``; ``lakes`` waits for it.
REPLICA = pytest.StashKey[Background]()
# What a shared world may take on a busy 2-core machine (measured in docs/performance.md#make-test), with
# room to spare: past it something is wrong, not slow.
WORLD_DEADLINE_S = 1200


@contextlib.contextmanager
def deadline(spark, seconds: float, what: str) -> Iterator[None]:
    """Fail ``what`` (once, with its own message) if it runs past ``seconds``: from then on every Spark job of
    the session is cancelled until the body gives up, so the session itself stays usable."""
    over, finished = threading.Event(), threading.Event()

    def watch() -> None:
        if finished.wait(seconds):
            return
        over.set()
        while not finished.wait(1.0):  # the body may start new jobs before it notices
            spark.sparkContext.cancelAllJobs()
        spark.sparkContext.cancelAllJobs()

    started = time.monotonic()
    watcher = threading.Thread(target=watch, name=f"deadline {what}", daemon=True)
    watcher.start()
    try:
        yield
    except BaseException:
        if not over.is_set():
            raise
    finally:
        finished.set()
        watcher.join()
    if over.is_set():
        pytest.fail(
            f"{what} did not finish within {seconds:.0f} s (gave up after {time.monotonic() - started:.0f} s; "
            "its Spark jobs were cancelled): the machine is overloaded or a stage regressed",
            pytrace=False,
        )


# `make test` runs the suite on two pytest-xdist workers, each with its own session. The tests of a shared world
# must run where that world is built: the scheduler sends each module of WORLD_MODULES to its world's worker
# and every other module whole to whichever worker is free (a module fixture is built once). The tiny world's
# tests and the default world's are each about half of the suite. (xdist's own ``loadgroup`` marks do not
# reach its scheduler under pytest 9, which no longer reads ``item._nodeid``.)
SHARED_WORLDS = {"tiny_month_one": "the tiny world", "world": "the default world"}
WORLD_MODULES = {
    "tests/cluster/test_standalone.py": "the tiny world",
    "tests/e2e/test_faults.py": "the tiny world",
    "tests/e2e/test_pipeline.py": "the tiny world",
    "tests/e2e/test_calibration.py": "the default world",
    "tests/e2e/test_notebooks.py": "the default world",
    "tests/e2e/test_report.py": "the default world",
    "tests/e2e/test_selector.py": "the default world",
    "tests/e2e/test_what_if.py": "the default world",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test of a shared world in a module the scheduler does not know would build that world a second time."""
    for item in items:
        module = item.nodeid.split("::")[0]
        for fixture, world in SHARED_WORLDS.items():
            if fixture in item.fixturenames and WORLD_MODULES.get(module) != world:
                raise pytest.UsageError(f"{item.nodeid} uses {world}: add {module} to WORLD_MODULES in conftest.py")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class SharedWorldScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::")[0]
            return WORLD_MODULES.get(module, module)

    return SharedWorldScheduling(config, log)


# The session interprets expressions like the tiny world's runs (tests/tiny_world.py INTERPRETED says why).
COMPILED = {"spark.sql.codegen.wholeStage": "true", "spark.sql.codegen.factoryMode": "FALLBACK"}  # Spark's defaults


@contextlib.contextmanager
def compiled(spark) -> Iterator[None]:
    """Spark's own code generation in the session for the body (the suite's is interpreted: INTERPRETED)."""
    before = {key: spark.conf.get(key) for key in COMPILED}
    for key, value in COMPILED.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in before.items():
            spark.conf.set(key, value)


@pytest.fixture(scope="session")
def spark():
    # local[2,2]: two cores, and a task may fail once and run again, as on a cluster (spark.task.maxFailures;
    # plain local mode never retries): the fault test of a retried task runs in this process
    config = load_config(sets=["spark.master=local[2,2]", "spark.shuffle_partitions=4"])
    # Added to the local overlay's Spark settings, not in place of them: its driver heap (6g) is
    # what lets the calibration world run in this JVM (at 1g an executor OOM exits the JVM).
    extra = {**config.spark.extra, "spark.ui.enabled": "false", **INTERPRETED}
    return build_spark(
        dataclasses.replace(config, spark=dataclasses.replace(config.spark, extra=extra)), app_name="taoqi-tests"
    )


@pytest.fixture(scope="session")
def tiny_month_one(tmp_path_factory, spark, request):
    """The tiny world (tests/tiny_world.py) generated and its first month run in local mode, in this
    process: the cluster test's reference, and where the e2e tests' lakehouses start from.

    When the session's tests use those lakehouses (``lakes``), the replica (the world generated again on
    another parallelism, which needs a session of its own) starts as soon as the world is generated
    (tests/tiny_world.py ``start_replica``) and runs while this process goes on. Every other run of
    the tiny world is in this process: the machine is CPU-bound, and a JVM of its own spends about a
    minute of CPU compiling what this one has compiled already (measured: month one 159 s in a fresh
    process, 93 s in one that had run it before)."""
    from jobs.cli import main
    from tests.tiny_world import MONTHLY, MONTHS, at, set_args, start_replica

    root = tmp_path_factory.mktemp("tiny") / "month_one"
    sets = [*at(root), *set_args(MONTHLY)]
    with deadline(spark, WORLD_DEADLINE_S, "the tiny world's first month"):
        assert main(["generate", *sets]) == 0
        if any("lakes" in item.fixturenames for item in request.session.items):
            replica = start_replica(root, tmp_path_factory.mktemp("e2e"))
            request.config.stash[REPLICA] = replica
            request.addfinalizer(replica.process.kill)  # a no-op once it ended
        assert main(["run", "--month", MONTHS[0], *sets]) == 0
    return root
