"""The tiny world of the end-to-end and cluster tests: 1 500 members, 3 months, five platforms, every kind of
dirt."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from jobs.runtime.config import load_config

BIN = Path(sys.executable).parent
MONTHS = ["2025-01", "2025-02", "2025-03"]  # enough for events two batches late
# How the tiny world's runs and the suite's session (tests/conftest.py) run a plan's expressions. Spark's defaults
# generate Java code for each plan and compile it; at 1 500 members that costs more than it saves, so they interpret
# the expressions, a mode Spark's own test suites run in too (the first month in a warm session: 77 -> 63 s; in a
# fresh process 148 -> 116 s). On the 30 000-member default world compiling pays (generated to scored: 350 s
# compiled, 470 s interpreted): its fixtures and tests run compiled (tests/conftest.py ``compiled``).
INTERPRETED = {"spark.sql.codegen.wholeStage": "false", "spark.sql.codegen.factoryMode": "NO_CODEGEN"}
INTERPRETED_SETS = [f"spark.extra.{key}={value}" for key, value in INTERPRETED.items()]  # also in a process of its own
WORLD = [
    "generator.users=1500",
    "generator.months=3",
    "generator.start_month=2025-01",
    "generator.rows_per_file=2000",
    # Enough dirt that every kind shows up in a world this small.
    "generator.dirt.row_replay_rate=0.01",
    "generator.dirt.file_replay_rate=0.5",
    "generator.dirt.missing_required_rate=0.005",
    "generator.dirt.bad_amount_rate=0.005",
    "generator.dirt.unknown_user_rate=0.005",
    "generator.dirt.bad_timestamp_rate=0.005",
    "generator.dirt.out_of_window_rate=0.005",
    "generator.dirt.bad_currency_rate=0.005",
    "generator.dirt.malformed_line_rate=0.005",
    "generator.late_event_rate=0.05",
    # Ele.me as a fifth platform, under food delivery caps low enough to bind in a world this small.
    "sources.eleme_orders.enabled=true",
    "scoring.caps.by_kind.food_delivery.day=60",
    "spark.master=local[2]",
    "spark.shuffle_partitions=4",
    *INTERPRETED_SETS,
]
# The monthly lakehouse proves incremental = full; the bulk one carries the quality checks
# (validating the same rows twice would only add minutes).
MONTHLY = [*WORLD, "quality.enabled=false", "report.enabled=false"]
SOURCES = [
    "accounts",
    "taobao_orders",
    "tmall_orders",
    "fliggy_bookings",
    "taopiaopiao_tickets",
    "eleme_orders",
    "interactions",
    "service_events",
    "risk_flags",
    "apass_reviews",
]
SILVER = ["orders", "interactions", "accounts", "service_events", "risk_flags", "apass_reviews", "quarantine"]
GOLD = ["user_month", "user_features", "scores", "service_routing"]
ENV = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
# The suite's CLI processes of their own (the replica's generate, a killed or refused writer, a user's mistake) live
# well under a minute: what the JIT's optimising tier compiles there is rarely used long enough to pay for itself.
# They run on its first tier alone (measured on the replica's generate in a fresh process, twice each: 64.4 and
# 68.7 s of the machine's CPU with both tiers, 51.6 and 44.2 s with the first alone; wall 39-45 s either way).
SHORT_LIVED_JVM = [
    "spark.extra.spark.driver.extraJavaOptions="
    + f"{load_config().spark.extra['spark.driver.extraJavaOptions']} -XX:TieredStopAtLevel=1"
]


def set_args(settings: list[str]) -> list[str]:
    """``--set`` before each ``key=value`` of ``settings``: the CLI arguments that apply them."""
    return [arg for setting in settings for arg in ("--set", setting)]


def at(root: Path) -> list[str]:
    """The settings that put a run's tables and reports under ``root``."""
    return ["--set", f"lakehouse.root={root}", "--set", f"quality.reports_root={root / 'reports'}"]


def cli_arguments(args: tuple[str, ...], root: Path, sets: list[str]) -> list[str]:
    """The arguments of ``taoqi *args`` on ``root`` with ``sets``, run as a process of its own (SHORT_LIVED_JVM)."""
    return [*args, *at(root), *set_args([*sets, *SHORT_LIVED_JVM])]


def _command(args: tuple[str, ...], root: Path, sets: list[str]) -> list[str]:
    return [str(BIN / "taoqi"), *cli_arguments(args, root, sets)]


def taoqi(*args: str, root: Path, sets: list[str] = WORLD, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(_command(args, root, sets), capture_output=True, text=True, env=ENV, timeout=900)
    if check:
        assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stderr[-4000:]}"
    return done


class Background:
    """``taoqi *args`` started now, finished with :meth:`wait` (output to files: a full pipe would block it)."""

    def __init__(self, *args: str, root: Path, sets: list[str] = WORLD, logs: Path):
        self.args, self.root = args, root
        self.out, self.err = logs.with_suffix(".out"), logs.with_suffix(".err")
        with open(self.out, "w") as out, open(self.err, "w") as err:
            self.process = subprocess.Popen(_command(args, root, sets), stdout=out, stderr=err, text=True, env=ENV)

    def wait(self) -> subprocess.CompletedProcess:
        code = self.process.wait(timeout=1200)
        done = subprocess.CompletedProcess(self.process.args, code, self.out.read_text(), self.err.read_text())
        assert code == 0, f"{' '.join(self.args)} failed:\n{done.stderr[-4000:]}"
        return done


def start_replica(month_one: Path, base: Path) -> Background:
    """The replica lakehouse of ``lakes`` (tests/e2e/conftest.py), started now under ``base``: the world
    generated again on another parallelism, in a process of its own (a session has one master). The bulk
    lakehouse starts from the same landing, copied here; ``lakes`` runs it in the session's process."""
    for generated in ("landing", "truth"):  # the world, and its hidden truth (calibration, report)
        shutil.copytree(month_one / generated, base / "bulk" / generated)
    return Background(
        "generate",
        root=base / "replica",
        sets=[*WORLD, "spark.master=local[1]", "spark.shuffle_partitions=3"],
        logs=base / "replica",
    )
