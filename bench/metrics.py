"""What one Spark stage of the job costs, beyond its wall time: shuffle, tasks, driver memory, files.

    with StageMetrics(spark, "aggregate", tables={"gold.user_month": location}) as m:
        aggregate.aggregate(spark, config, batches)
    m.result  # -> dict (see StageMetrics)

- Shuffle bytes, tasks and task times come from the driver's REST API
  (``/api/v1/applications/<app>/jobs`` and ``/stages/<id>/<attempt>/taskList``),
  read over the loopback address; the jobs are those run under this block's
  job group. The UI must be on (``spark.ui.enabled``, the default). The API
  is fed by the asynchronous listener bus, so the block waits, after the last
  job, until every job and stage is final and two polls agree.
- Peak RSS of the driver's process tree (this Python process, its JVM and,
  in local mode, the JVM's Python workers), sampled every 0.2 s.
- Files and bytes of the current snapshot of the Delta tables given
  (``DESCRIBE DETAIL``: numFiles, sizeInBytes), read after the block.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import psutil
from pyspark.sql import SparkSession

_GROUP_PROPS = ("spark.jobGroup.id", "spark.job.description", "spark.job.interruptOnCancel")
_FINAL_JOB = {"SUCCEEDED", "FAILED"}
_FINAL_STAGE = {"COMPLETE", "FAILED", "SKIPPED"}


class RestApi:
    """The driver's monitoring REST API, on 127.0.0.1 and the UI's port (no proxy)."""

    def __init__(self, spark: SparkSession, timeout: float = 10.0):
        sc = spark.sparkContext
        if not sc.uiWebUrl:
            raise RuntimeError("the Spark UI is off (spark.ui.enabled=false): its REST API gives the stage metrics")
        port = urlparse(sc.uiWebUrl).port
        self.base = f"http://127.0.0.1:{port}/api/v1/applications/{sc.applicationId}"
        self.timeout = timeout
        self._open = urllib.request.build_opener(urllib.request.ProxyHandler({})).open

    def get(self, path: str) -> object:
        with self._open(self.base + path, timeout=self.timeout) as response:
            return json.load(response)

    def jobs(self) -> list[dict]:
        return self.get("/jobs")  # type: ignore[return-value]

    def stages(self) -> list[dict]:
        """Every attempt of every stage the UI still holds (spark.ui.retainedStages)."""
        return self.get("/stages")  # type: ignore[return-value]

    def tasks(self, stage_id: int, attempt: int, count: int) -> list[dict]:
        tasks: list[dict] = []
        while len(tasks) < count:
            page = self.get(f"/stages/{stage_id}/{attempt}/taskList?offset={len(tasks)}&length={min(count, 10000)}")
            if not page:
                break
            tasks += page  # type: ignore[arg-type]
        return tasks


class RssSampler(threading.Thread):
    """Peak RSS of this process and its descendants, sampled every ``interval`` seconds."""

    def __init__(self, interval: float = 0.2):
        super().__init__(name="rss-sampler", daemon=True)
        self.interval = interval
        self.me = psutil.Process(os.getpid())
        self._seen: set[tuple[int, float]] = set()
        self._sample()  # the processes alive now
        self.start_bytes = self._sample()[0]
        self.peak_bytes = self.start_bytes
        self.peak_python = self.peak_jvm = 0
        self.samples = 0
        self._stop_event = threading.Event()

    def _sample(self) -> tuple[int, int, int]:
        """(tree, this process, JVMs) resident bytes.

        A descendant counts from its second sample on: the JVM's short-lived
        helper processes (posix_spawn children, Hadoop's shell calls) share
        its memory while they start and would count it twice.
        """
        python = self.me.memory_info().rss
        total, jvm, alive = python, 0, set()
        for child in self.me.children(recursive=True):
            try:
                key = (child.pid, child.create_time())
                alive.add(key)
                if key not in self._seen:
                    continue
                rss = child.memory_info().rss
                total += rss
                if child.name() == "java":
                    jvm += rss
            except psutil.Error:  # ended while sampled
                continue
        self._seen = alive
        return total, python, jvm

    def run(self) -> None:
        while not self._stop_event.is_set():
            total, python, jvm = self._sample()
            self.peak_bytes = max(self.peak_bytes, total)
            self.peak_python = max(self.peak_python, python)
            self.peak_jvm = max(self.peak_jvm, jvm)
            self.samples += 1
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def delta_files(spark: SparkSession, location: str) -> dict:
    """Files and bytes of a Delta table's current snapshot (None when there is no table there)."""
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, location):
        return {"num_files": None, "size_bytes": None}
    row = DeltaTable.forPath(spark, location).detail().select("numFiles", "sizeInBytes").collect()[0]
    return {"num_files": int(row["numFiles"]), "size_bytes": int(row["sizeInBytes"])}


def _percentile(values: list[float], q: float) -> float | None:
    """The q-quantile by nearest rank (a task's own time, not an interpolation)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _read_spread(tasks: list[dict]) -> dict:
    """How evenly a stage's tasks read: median and max over its tasks of the records each read.

    Shuffle reads (``shuffleReadMetrics``) and input reads (``inputMetrics``:
    files, cached blocks) apart: an uneven shuffle read is key skew (a member
    or shop whose rows all go to one task), an uneven input read is uneven
    files or splits. Records show skew without the scheduling noise of short
    task times.
    """

    def spread(values: list[int]) -> tuple[float | None, int | None, float | None]:
        median = statistics.median(values) if values else None
        return median, max(values, default=None), round(max(values) / median, 2) if median else None

    metrics = [t.get("taskMetrics") or {} for t in tasks]
    out = {}
    for kind, field in (("shuffle", "shuffleReadMetrics"), ("input", "inputMetrics")):
        median, longest, ratio = spread([(m.get(field) or {}).get("recordsRead", 0) for m in metrics])
        out.update(
            {
                f"task_{kind}_records_median": median,
                f"task_{kind}_records_max": longest,
                f"{kind}_records_max_over_median": ratio,
            }
        )
    return out


class StageMetrics:
    """Context manager measuring the Spark jobs run inside it; ``result`` is a dict once it exits.

    ``result``:
      label, job_group, seconds (wall time of the block);
      jobs, stages (that ran), skipped_stages (their shuffle output reused),
      failed_stages, tasks, failed_tasks;
      shuffle_read_bytes, shuffle_write_bytes, input_bytes, output_bytes,
      disk_spill_bytes, executor_run_ms: sums over the stages that ran;
      task_ms {median, p90, max, mean}: task durations over every task;
      worst_stage: the stage of >= 2 tasks with the largest max / median task
      time (the skew rule: no task above 10x its stage's median);
      per_stage: [{stage_id, attempt, name, tasks, shuffle_*_bytes, task_ms_median,
      task_ms_max, max_over_median, task_shuffle_records_median / _max,
      shuffle_records_max_over_median, task_input_records_median / _max,
      input_records_max_over_median (records each task read), ...}];
      rss_start_bytes, peak_rss_bytes (driver process tree), peak_python_rss_bytes,
      peak_jvm_rss_bytes, rss_samples;
      tables {name: {num_files, size_bytes}} of the ``tables`` given (name -> location);
      settled (the REST API caught up within ``settle_timeout``), other_jobs (jobs
      run meanwhile outside the group: another thread or user), evicted_jobs (jobs
      the UI no longer holds: raise spark.ui.retainedJobs / retainedStages, 1000
      by default, for long blocks), rest_seconds (waiting for and reading the API).
    """

    def __init__(
        self,
        spark: SparkSession,
        label: str,
        *,
        tables: Mapping[str, str] | None = None,
        settle_timeout: float = 30.0,
        rss_interval: float = 0.2,
    ):
        self.spark = spark
        self.label = label
        self.tables = dict(tables or {})
        self.settle_timeout = settle_timeout
        self.rss_interval = rss_interval
        self.group = f"bench-{label}-{uuid.uuid4().hex[:8]}"
        self.result: dict = {}
        self._api = RestApi(spark)  # fails here, before the block runs, when the UI is off

    def __enter__(self) -> StageMetrics:
        sc = self.spark.sparkContext
        self._saved = {p: sc.getLocalProperty(p) for p in _GROUP_PROPS}
        self._first_job = max((j["jobId"] for j in self._api.jobs()), default=-1) + 1
        sc.setJobGroup(self.group, f"bench: {self.label}", interruptOnCancel=False)
        self._rss = RssSampler(self.rss_interval)
        self._rss.start()
        self._started = time.perf_counter()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        seconds = time.perf_counter() - self._started
        sc = self.spark.sparkContext
        for prop, value in self._saved.items():
            sc.setLocalProperty(prop, value)  # None removes it
        self._rss.stop()
        if exc_type is not None:  # the block failed: nothing worth measuring, and its error comes first
            self.result = {
                "label": self.label,
                "job_group": self.group,
                "seconds": round(seconds, 3),
                "error": repr(exc),
            }
            return
        collecting = time.perf_counter()
        jobs, stages, settled = self._settle()
        window = self._window_jobs()
        others = [j for j in window if j.get("jobGroup") != self.group]
        # the UI keeps spark.ui.retainedJobs / retainedStages: older ones are gone from the API
        evicted = min((j["jobId"] for j in window), default=self._first_job) - self._first_job
        self.result = {
            "label": self.label,
            "job_group": self.group,
            "seconds": round(seconds, 3),
            **self._summarize(jobs, stages),
            "settled": settled,
            "other_jobs": len(others),
            "evicted_jobs": evicted,
            "rest_seconds": round(time.perf_counter() - collecting, 3),
            "rss_start_bytes": self._rss.start_bytes,
            "peak_rss_bytes": self._rss.peak_bytes,
            "peak_python_rss_bytes": self._rss.peak_python,
            "peak_jvm_rss_bytes": self._rss.peak_jvm,
            "rss_samples": self._rss.samples,
            "tables": {name: delta_files(self.spark, loc) for name, loc in self.tables.items()},
        }

    # ----------------------------------------------------------------------- REST

    def _window_jobs(self) -> list[dict]:
        return [j for j in self._api.jobs() if j["jobId"] >= self._first_job]

    def _poll(self) -> tuple[list[dict], list[dict], bool]:
        """This group's jobs, their stage attempts, and whether everything in them is final."""
        jobs = [j for j in self._window_jobs() if j.get("jobGroup") == self.group]
        stage_ids = {s for j in jobs for s in j["stageIds"]}
        stages = sorted(
            (a for a in self._api.stages() if a["stageId"] in stage_ids), key=lambda a: (a["stageId"], a["attemptId"])
        )
        final = (
            all(j["status"] in _FINAL_JOB for j in jobs)
            and {s["stageId"] for s in stages} == stage_ids
            and all(s["status"] in _FINAL_STAGE for s in stages)
            and all(
                s["status"] == "SKIPPED"
                or s["numCompleteTasks"] + s["numFailedTasks"] + s["numKilledTasks"] >= s["numTasks"]
                for s in stages
            )
        )
        return jobs, stages, final

    @staticmethod
    def _fingerprint(jobs: list[dict], stages: list[dict]) -> tuple:
        return (
            tuple((j["jobId"], j["status"]) for j in jobs),
            tuple(
                (
                    s["stageId"],
                    s["attemptId"],
                    s["status"],
                    s["numCompleteTasks"],
                    s.get("shuffleReadBytes"),
                    s.get("shuffleWriteBytes"),
                )
                for s in stages
            ),
        )

    def _settle(self) -> tuple[list[dict], list[dict], bool]:
        """Poll until every job and stage is final and two polls 0.5 s apart agree (or the timeout)."""
        deadline = time.monotonic() + self.settle_timeout
        previous = None
        while True:
            jobs, stages, final = self._poll()
            now = self._fingerprint(jobs, stages)
            if final and now == previous:
                return jobs, stages, True
            if time.monotonic() > deadline:
                return jobs, stages, False
            previous = now if final else None
            time.sleep(0.5)

    def _summarize(self, jobs: list[dict], stages: list[dict]) -> dict:
        ran = [s for s in stages if s["status"] != "SKIPPED"]
        per_stage, every_task = [], []
        for s in ran:
            tasks = self._api.tasks(s["stageId"], s["attemptId"], s["numTasks"])
            times = [
                float(t["duration"])
                if t.get("duration") is not None
                else float(t.get("taskMetrics", {}).get("executorRunTime", 0))
                for t in tasks
            ]
            every_task += times
            median, longest = (statistics.median(times) if times else None), max(times, default=None)
            per_stage.append(
                {
                    "stage_id": s["stageId"],
                    "attempt": s["attemptId"],
                    "name": s["name"],
                    "status": s["status"],
                    "tasks": s["numTasks"],
                    "failed_tasks": s["numFailedTasks"],
                    "shuffle_read_bytes": s["shuffleReadBytes"],
                    "shuffle_write_bytes": s["shuffleWriteBytes"],
                    "input_bytes": s["inputBytes"],
                    "output_bytes": s["outputBytes"],
                    "executor_run_ms": s["executorRunTime"],
                    "task_ms_median": median,
                    "task_ms_max": longest,
                    "max_over_median": round(longest / median, 2) if median else None,
                    **_read_spread(tasks),
                }
            )
        skewed = [p for p in per_stage if p["tasks"] >= 2 and p["max_over_median"] is not None]
        worst = max(skewed, key=lambda p: p["max_over_median"], default=None)
        total = lambda key: sum(s[key] for s in ran)  # noqa: E731
        return {
            "jobs": len(jobs),
            "stages": len(ran),
            "skipped_stages": len(stages) - len(ran),
            "failed_stages": sum(s["status"] == "FAILED" for s in ran),
            "tasks": sum(s["numTasks"] for s in ran),
            "failed_tasks": total("numFailedTasks"),
            "shuffle_read_bytes": total("shuffleReadBytes"),
            "shuffle_write_bytes": total("shuffleWriteBytes"),
            "input_bytes": total("inputBytes"),
            "output_bytes": total("outputBytes"),
            "disk_spill_bytes": total("diskBytesSpilled"),
            "executor_run_ms": total("executorRunTime"),
            "task_ms": {
                "median": statistics.median(every_task) if every_task else None,
                "p90": _percentile(every_task, 0.9),
                "max": max(every_task, default=None),
                "mean": round(statistics.fmean(every_task), 1) if every_task else None,
            },
            "worst_stage": None
            if worst is None
            else {
                k: worst[k] for k in ("stage_id", "name", "tasks", "task_ms_median", "task_ms_max", "max_over_median")
            },
            "per_stage": per_stage,
        }


RESULTS = Path(__file__).parent / "results"


def write_result(name: str, command: str, **measured) -> Path:
    """bench/results/<name>.json: what was measured, by which command, when and on which machine."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    machine = {
        "cores": os.cpu_count(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
        "python": platform.python_version(),
        "processor": platform.machine(),
    }
    record = {"command": command, "measured_at": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine}
    path.write_text(json.dumps({**record, **measured}, indent=2) + "\n")
    return path
