"""`make cluster-test`: the monthly run submitted with spark-submit to a real standalone cluster.

One master and two workers of one core each on 127.0.0.1 (tests/cluster/standalone.py).
The monthly run of the tiny world's first month, done in local mode in this process by the
session fixture ``tiny_month_one`` (tests/conftest.py), is run again on the cluster by
``spark-submit jobs/run.py --conf cluster`` with the
project's wheel shipped to the executors (``--py-files``, as a ``.zip``) and the
Delta jars from the Ivy cache. Mid-run, once the aggregate stage has tasks on the
second worker's executor, that worker is killed with its executor (a lost machine):
the run must finish on the remaining worker, and every gold table must equal the
local-mode one.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from pyspark.testing import assertDataFrameEqual

from jobs.runtime.config import load_config
from jobs.runtime.session import DELTA_PACKAGE
from tests.cluster.standalone import WORKER_CLASS, StandaloneCluster, free_port
from tests.tiny_world import BIN, ENV, GOLD, MONTHLY, MONTHS, set_args

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
# The cluster overlay as a user submits it, with the tiny world's settings but its local[2]. Its expressions are
# interpreted, as in the local run it is compared with (tests/tiny_world.py INTERPRETED): each of the three JVMs
# that work here would otherwise generate and compile every plan's code for 1 500 members (the test alone:
# 312 s compiled, 266 s interpreted); what it proves is the submission, the cluster overlay and a lost worker.
CLUSTER_SETS = [s for s in MONTHLY if not s.startswith("spark.master")]
MONTH = MONTHS[0]  # one monthly run: every stage once (incremental = full is the e2e tests' subject)
# conf/local.yaml's settings for a small world on two cores, which the cluster overlay leaves to the cluster's
# operator (each says there what it saves), the executors' JVMs included; its driver heap is --driver-memory here.
_LOCAL = load_config().spark.extra
LAPTOP = {
    **{key: value for key, value in _LOCAL.items() if key != "spark.driver.memory"},
    "spark.executor.extraJavaOptions": _LOCAL["spark.driver.extraJavaOptions"],
}
# About 4 minutes alone, about twice that beside the suite's other worker on the same two cores.
SUBMIT_DEADLINE_S = 1200


def _sets(root: Path, sets: list[str]) -> list[str]:
    return set_args([f"lakehouse.root=file:{root}", f"quality.reports_root={root / 'reports'}", *sets])


def build_wheel_zip(out: Path) -> Path:
    """The project's wheel, as a ``.zip``: ``--py-files`` puts only .zip/.egg/.jar on the executors' path."""
    subprocess.run(
        [str(BIN / "python"), "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next(out.glob("taoqi-*.whl"))
    return Path(shutil.copy(wheel, out / "taoqi.zip"))


def _executor_pids(worker_pid: int) -> dict[str, int]:
    """Executor id -> pid of the executors a worker launched (its CoarseGrainedExecutorBackend children)."""
    found = {}
    for child in psutil.Process(worker_pid).children(recursive=True):
        try:
            cmd = child.cmdline()
        except psutil.Error:  # a finished helper process, not reaped yet
            continue
        if "--executor-id" in cmd:
            found[cmd[cmd.index("--executor-id") + 1]] = child.pid
    return found


def _active_tasks(ui_port: int) -> dict[str, int]:
    """Executor id -> tasks running now, from the driver's REST API."""
    base = f"http://127.0.0.1:{ui_port}/api/v1/applications"
    with urllib.request.urlopen(base, timeout=2) as answer:
        app = json.load(answer)[0]["id"]
    with urllib.request.urlopen(f"{base}/{app}/executors", timeout=2) as answer:
        return {e["id"]: e["activeTasks"] for e in json.load(answer)}


def kill_second_worker_mid_stage(
    cluster: StandaloneCluster, driver_log: Path, ui_port: int, submit: subprocess.Popen, outcome: dict
) -> None:
    """Once the run aggregates and worker 2's executor runs a task, kill worker 2 and its executor."""
    worker_pid = cluster.pids[f"{WORKER_CLASS}-2"]
    while submit.poll() is None:
        if "run: aggregating" in driver_log.read_text(errors="replace"):
            try:
                executors = _executor_pids(worker_pid)
                busy = {e: n for e, n in _active_tasks(ui_port).items() if e in executors and n > 0}
            except (OSError, ValueError, IndexError, psutil.Error):
                busy = {}
            if busy:
                cluster.kill_worker(2)
                outcome.update(killed_at=time.monotonic(), busy_executors=busy)
                return
        time.sleep(0.05)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_month_one):
    base = tmp_path_factory.mktemp("cluster")
    remote = base / "remote"
    shutil.copytree(tiny_month_one / "landing", remote / "landing")
    wheel_zip = build_wheel_zip(base / "dist")
    ui_port, driver_log = free_port(), base / "driver.log"
    outcome: dict = {}
    with StandaloneCluster(base / "spark", workers=2, cores=1, memory="2g") as cluster:
        started = time.monotonic()
        with open(driver_log, "w") as log_file:
            submit = subprocess.Popen(
                [
                    str(BIN / "spark-submit"),
                    "--master",
                    cluster.url,
                    "--deploy-mode",
                    "client",
                    "--driver-memory",
                    "2g",
                    "--executor-memory",
                    "1g",
                    "--packages",
                    DELTA_PACKAGE,
                    "--py-files",
                    str(wheel_zip),
                    "--conf",
                    f"spark.pyspark.python={BIN / 'python'}",
                    "--conf",
                    f"spark.ui.port={ui_port}",
                    "--conf",
                    "spark.driver.host=127.0.0.1",
                    # sized for this tiny world on two cores by conf/local.yaml's settings (LAPTOP says which)
                    *(arg for key, value in LAPTOP.items() for arg in ("--conf", f"{key}={value}")),
                    "jobs/run.py",
                    "--month",
                    MONTH,
                    "--conf",
                    "cluster",
                    *_sets(remote, CLUSTER_SETS),
                ],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                text=True,
                env=ENV,
                cwd=REPO,
            )
        killer = threading.Thread(
            target=kill_second_worker_mid_stage, args=(cluster, driver_log, ui_port, submit, outcome), daemon=True
        )
        killer.start()
        try:
            code = submit.wait(timeout=SUBMIT_DEADLINE_S)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"the cluster's monthly run did not finish within {SUBMIT_DEADLINE_S} s (driver log: {driver_log})",
                pytrace=False,
            )
        finally:
            if submit.poll() is None:
                submit.kill()
        killer.join(timeout=5)
        outcome.update(
            code=code,
            seconds=time.monotonic() - started,
            log=driver_log.read_text(errors="replace"),
            workers=[w["state"] for w in cluster.state()["workers"]],
        )
    return {"local": tiny_month_one, "remote": remote, **outcome}


def test_the_cluster_run_publishes_exactly_the_local_mode_tables(spark, runs):
    assert runs["code"] == 0, runs["log"][-5000:]
    assert "master=spark://127.0.0.1:" in runs["log"]  # spark-submit's master, not the config's
    for table in GOLD:
        on_cluster = spark.read.format("delta").load(f"file:{runs['remote']}/gold/{table}")
        local = spark.read.format("delta").load(f"file:{runs['local']}/gold/{table}")
        assert on_cluster.count() > 0, table
        assertDataFrameEqual(on_cluster, local)


def test_a_worker_lost_mid_stage_costs_a_retry_not_a_row(runs):
    assert runs["code"] == 0, runs["log"][-5000:]
    assert runs.get("busy_executors"), "the second worker was never busy while the run aggregated"
    # the driver saw the executor go and reran its tasks on the other one
    lost = [line for line in runs["log"].splitlines() if "Lost executor" in line or "lost executor" in line.lower()]
    assert lost, runs["log"][-3000:]
