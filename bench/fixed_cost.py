"""What a monthly run costs when it has almost no data: the walkthrough of docs/landing.md (examples/landing,
22 rows of 2025-01) through `taoqi run`, every quality gate on, several times in one process.

The first run pays for a fresh JVM (class loading and the JIT compiling Spark, Delta and Scala); the later ones
show the floor every run of a stage pays whatever its rows: planning, Delta's log, the checks. Per run: wall
seconds, the CPU seconds of this Python process and of the driver JVM (every thread, the JIT's compilers apart
too), and the Py4J calls between them.

    python -m bench.fixed_cost                      # three runs, the local overlay's settings
    python -m bench.fixed_cost --runs 2 --set 'spark.extra.spark.driver.extraJavaOptions=-XX:+UseParallelGC'
"""

from __future__ import annotations

import argparse
import os
import resource
import runpy
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.metrics import write_result

REPO = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid``, its ended threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def compiler_cpu(pid: int) -> float:
    """CPU seconds of the JIT's compiler threads of JVM ``pid`` (they live as long as the JVM)."""
    seconds = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:  # a thread that ended meanwhile
            continue
        name, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat.rsplit(")", 1)[1].split()
        if "CompilerThre" in name:
            seconds += (int(fields[11]) + int(fields[12])) / TICK
    return seconds


def python_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


class Py4jCalls:
    """Counts the calls this process makes into the JVM (``calls``)."""

    def __init__(self) -> None:
        from py4j import clientserver

        self.calls = 0
        send = clientserver.ClientServerConnection.send_command

        def counted(connection, command):
            self.calls += 1
            return send(connection, command)

        clientserver.ClientServerConnection.send_command = counted


def walkthrough_landing(root: Path) -> None:
    """The landing of docs/landing.md's walkthrough under ``root``: its files, and Fliggy's Parquet written."""
    shutil.copytree(REPO / "examples" / "landing", root / "landing")
    runpy.run_path(str(REPO / "examples" / "write_fliggy_parquet.py"), run_name="bench")["main"](str(root / "landing"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs in one process (default 3)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a setting for every run")
    args = parser.parse_args()
    from pyspark.sql import SparkSession

    from jobs.cli import main as taoqi

    calls = Py4jCalls()
    runs = []
    with tempfile.TemporaryDirectory(prefix="taoqi-fixed-cost-") as tmp:
        jvm = None
        for i in range(args.runs):
            root = Path(tmp) / f"lake{i}"
            walkthrough_landing(root)
            sets = [f"lakehouse.root={root}", *args.set]
            before_jvm = (process_cpu(jvm), compiler_cpu(jvm)) if jvm else (0.0, 0.0)
            before_python, before_calls, started = python_cpu(), calls.calls, time.perf_counter()
            code = taoqi(["run", *(arg for s in sets for arg in ("--set", s))])
            wall = time.perf_counter() - started
            if code != 0:
                sys.exit(f"run {i + 1} failed with exit {code}")
            if jvm is None:
                jvm = SparkSession.getActiveSession().sparkContext._jvm.ProcessHandle.current().pid()  # the run's
            runs.append(
                {
                    "run": i + 1,
                    "wall_s": round(wall, 1),
                    "python_cpu_s": round(python_cpu() - before_python, 1),
                    "jvm_cpu_s": round(process_cpu(jvm) - before_jvm[0], 1),
                    "jit_cpu_s": round(compiler_cpu(jvm) - before_jvm[1], 1),
                    "py4j_calls": calls.calls - before_calls,
                }
            )
            print(runs[-1], flush=True)
    command = "python -m bench.fixed_cost " + " ".join([f"--runs {args.runs}", *(f"--set '{s}'" for s in args.set)])
    print(write_result("fixed_cost", command, settings=args.set, runs=runs))


if __name__ == "__main__":
    main()
