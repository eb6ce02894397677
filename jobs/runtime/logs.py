"""Logging set-up and per-step timing: every step logs rows in, rows out and seconds."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

log = logging.getLogger("taoqi")


def setup_logging(verbose: bool = False) -> None:
    """Timestamped lines on stderr; py4j, Spark's Python side and GE kept quiet."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
        force=True,
    )
    for noisy in ("py4j", "pyspark", "urllib3", "great_expectations", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@dataclass
class StepTiming:
    stage: str
    step: str
    seconds: float = 0.0
    rows_in: int | None = None
    rows_out: int | None = None
    spark_jobs: int | None = None  # Spark jobs the step started (None without a classic local session)
    extra: dict = field(default_factory=dict)


def spark_jobs_started() -> int | None:
    """How many Spark jobs this driver has started so far, or None (no session, or Spark Connect).

    A stage's cost should follow its data, not its count of jobs: every step logs how many it ran.
    """
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    try:
        return int(session.sparkContext._jsc.sc().dagScheduler().nextJobId()) if session else None
    except Exception:
        return None


# Timings of this process, in order: the run summary and the run manifest read them.
TIMINGS: list[StepTiming] = []


@contextmanager
def timed(stage: str, step: str) -> Iterator[StepTiming]:
    """Time a step; the body fills ``rows_in``/``rows_out`` when it knows them."""
    timing = StepTiming(stage, step)
    log.info("%s: %s ...", stage, step)
    start, jobs_before = time.perf_counter(), spark_jobs_started()
    try:
        yield timing
    finally:
        timing.seconds = time.perf_counter() - start
        jobs_after = spark_jobs_started()
        if jobs_before is not None and jobs_after is not None:
            timing.spark_jobs = jobs_after - jobs_before
        TIMINGS.append(timing)
        rows = ""
        if timing.rows_in is not None:
            rows += f" rows_in={timing.rows_in:,}"
        if timing.rows_out is not None:
            rows += f" rows_out={timing.rows_out:,}"
        if timing.spark_jobs is not None:
            rows += f" spark_jobs={timing.spark_jobs}"
        log.info("%s: %s done in %.1fs%s", stage, step, timing.seconds, rows)


def month_span(months: list[str]) -> str:
    """How a step's log line names its months: ``2025-01``, or ``2025-01..2026-01 (13)``."""
    return months[0] if len(months) == 1 else f"{months[0]}..{months[-1]} ({len(months)})"


def summary_table(timings: list[StepTiming]) -> str:
    """A fixed-width table of step timings for the end of a run."""
    lines = [f"{'stage':<10} {'step':<34} {'rows in':>12} {'rows out':>12} {'jobs':>6} {'seconds':>8}"]
    for t in timings:
        rin = f"{t.rows_in:,}" if t.rows_in is not None else "-"
        rout = f"{t.rows_out:,}" if t.rows_out is not None else "-"
        jobs = f"{t.spark_jobs:,}" if t.spark_jobs is not None else "-"
        lines.append(f"{t.stage:<10} {t.step:<34} {rin:>12} {rout:>12} {jobs:>6} {t.seconds:>8.1f}")
    return "\n".join(lines)
