"""A real Spark standalone cluster on 127.0.0.1, started from the installed pyspark wheel.

The wheel ships ``sbin/spark-daemon.sh`` but no ``start-master.sh``/``start-worker.sh``,
so the master and each worker are started as daemons of their classes.
Everything the cluster writes (logs, pid files, work dirs) stays under one
base directory, and ``stop`` kills exactly the processes this object
started, by PID, with their children (the executors), also after a failure.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import psutil
import pyspark

SPARK_HOME = Path(pyspark.__file__).parent
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StandaloneCluster:
    """One master and ``workers`` workers of ``cores`` cores each; a context manager."""

    def __init__(self, base: Path, *, workers: int = 2, cores: int = 1, memory: str = "2g"):
        self.base = Path(base)
        self.workers, self.cores, self.memory = workers, cores, memory
        self.port, self.webui_port = free_port(), free_port()
        self.url = f"spark://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "SPARK_HOME": str(SPARK_HOME),
            "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_LOG_DIR": str(self.base / "logs"),
            "SPARK_PID_DIR": str(self.base / "pids"),
            # else the master also binds the REST submission port 6066, shared by every cluster here
            "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false",
        }
        self.env.pop("SPARK_NO_DAEMONIZE", None)  # spark-daemon.sh must background the JVM and write its pid
        self.pids: dict[str, int] = {}

    # -- lifecycle ------------------------------------------------------------------------------------------
    def __enter__(self) -> StandaloneCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout: float = 90) -> None:
        self._daemon(
            MASTER_CLASS, 1, "--host", "127.0.0.1", "--port", str(self.port), "--webui-port", str(self.webui_port)
        )
        self._wait_for_log(MASTER_CLASS, 1, "I have been elected leader", timeout)
        for n in range(1, self.workers + 1):
            work_dir = self.base / f"work{n}"
            work_dir.mkdir(parents=True, exist_ok=True)
            self._daemon(
                WORKER_CLASS,
                n,
                "--host",
                "127.0.0.1",
                "--port",
                str(free_port()),
                "--webui-port",
                str(free_port()),
                "--cores",
                str(self.cores),
                "--memory",
                self.memory,
                "--work-dir",
                str(work_dir),
                self.url,
            )
        for n in range(1, self.workers + 1):
            self._wait_for_log(WORKER_CLASS, n, "Successfully registered with master", timeout)

    def stop(self) -> None:
        """Kill every process this cluster started (workers first, with their executors), by PID."""
        for key in sorted(self.pids, key=lambda k: k.startswith(MASTER_CLASS)):
            self._kill_tree(self.pids.pop(key))

    def kill_worker(self, n: int) -> None:
        """Lose worker ``n`` as a machine is lost: the worker JVM and its executors, at once (SIGKILL)."""
        self._kill_tree(self.pids.pop(f"{WORKER_CLASS}-{n}"))

    # -- what the master knows ------------------------------------------------------------------------------
    def state(self) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.webui_port}/json/", timeout=5) as answer:
            return json.load(answer)

    def log(self, cls: str, n: int) -> str:
        return self._log_path(cls, n).read_text(errors="replace") if self._log_path(cls, n).exists() else ""

    # -- plumbing -------------------------------------------------------------------------------------------
    def _daemon(self, cls: str, n: int, *args: str) -> None:
        subprocess.run(
            [str(SPARK_HOME / "sbin" / "spark-daemon.sh"), "start", cls, str(n), *args],
            env=self.env,
            check=True,
            capture_output=True,
            timeout=60,
        )
        pid_file = self.base / "pids" / f"spark-{os.environ.get('USER', 'root')}-{cls}-{n}.pid"
        deadline = time.monotonic() + 10
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.pids[f"{cls}-{n}"] = int(pid_file.read_text().strip())

    def _log_path(self, cls: str, n: int) -> Path:
        matches = sorted((self.base / "logs").glob(f"spark-*-{cls}-{n}-*.out"))
        return matches[0] if matches else self.base / "logs" / "missing.out"

    def _wait_for_log(self, cls: str, n: int, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log(cls, n):
            pid = self.pids.get(f"{cls}-{n}")
            if pid is None or not psutil.pid_exists(pid) or time.monotonic() > deadline:
                raise RuntimeError(f"{cls} {n} did not start ({text!r} not logged):\n{self.log(cls, n)[-3000:]}")
            time.sleep(0.2)

    @staticmethod
    def _kill_tree(pid: int) -> None:
        try:
            parent = psutil.Process(pid)
        except psutil.NoSuchProcess:
            return
        procs = [*parent.children(recursive=True), parent]
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(signal.SIGKILL)
        psutil.wait_procs(procs, timeout=10)
