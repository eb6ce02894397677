"""``taoqi <stage>``: one subcommand per stage, the same arguments under spark-submit.

Every stage takes ``--conf FILE`` (repeatable overlay) and ``--set key=value``
(repeatable). A user mistake ends with one line on stderr and exit code 2; a
failed critical data-quality check with one line and exit code 3.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import signal
import sys
import threading
import time

from jobs.runtime import quality
from jobs.runtime.config import Config, load_config
from jobs.runtime.errors import UserError
from jobs.runtime.logs import TIMINGS, setup_logging, summary_table

log = logging.getLogger("taoqi")

# Stage name -> module under jobs/ (each has DESCRIPTION, add_arguments, execute).
STAGES = {
    "generate": "jobs.generate",
    "check-landing": "jobs.check_landing",
    "ingest": "jobs.ingest",
    "conform": "jobs.conform",
    "aggregate": "jobs.aggregate",
    "score": "jobs.score",
    "train": "jobs.train",
    "promote": "jobs.promote",
    "models": "jobs.models",
    "select": "jobs.selection",  # not jobs/select.py: that name would shadow the stdlib module under spark-submit
    "override": "jobs.override",
    "renew": "jobs.renew",
    "personas": "jobs.personas",
    "report": "jobs.report",
    "run": "jobs.run",
    "explain": "jobs.explain",
    "quality": "jobs.quality",
    "rollback": "jobs.rollback",
    "forget": "jobs.forget",
    "maintain": "jobs.maintain",
    "sql": "jobs.sql",
}

EPILOG = """examples:
  taoqi generate --set generator.users=20000
  taoqi check-landing /data/landing # your own files against the landing contract, nothing loaded
  taoqi run                         # every landed month, in order: ingest, conform, aggregate, score
  taoqi run --month 2025-06         # one monthly run
  taoqi explain --user 42 --month 2025-06
  taoqi train --month 2026-01 && taoqi promote && taoqi models
  taoqi select --month 2026-01      # invitations with the champion selector
  taoqi override add --user 42 --month 2026-01 --action exclude --reason "chargeback fraud case 7731"
  taoqi renew --year 2025           # A-energy renewal and the warning list
  taoqi quality --month 2025-06     # re-validate the published tables of a month
  taoqi rollback --table gold.scores                     # its versions
  taoqi rollback --table gold.scores --version 41 --reason "bad cap table published in run 2026-02"
  taoqi forget --user 42 --reason "deletion request 2026-0117"   # PIPL: the member's rows, everywhere
  taoqi maintain --month 2026-01    # OPTIMIZE and VACUUM, keeping lakehouse.history_months of history
  taoqi sql "SELECT grade, count(*) FROM taoqi_gold.scores WHERE month = '2026-01' GROUP BY grade"
  taoqi ingest --month 2025-03 --conf cluster --set lakehouse.root=s3a://bucket/taoqi
  spark-submit --packages io.delta:delta-spark_4.1_2.13:4.4.0 jobs/run.py --conf cluster
"""


def _common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("configuration")
    group.add_argument(
        "--conf",
        action="append",
        default=[],
        metavar="FILE",
        help="config overlay on conf/base.yaml: a YAML path or local|cluster|databricks "
        "(repeatable, applied in order; default: local)",
    )
    group.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="sets",
        help="override one setting, e.g. --set lakehouse.root=/data/lh (repeatable, applied last)",
    )
    group.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="taoqi",
        description="Monthly membership scoring on Delta Lake: Taoqi score, grades, credit levels, APASS.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="stage", metavar="<stage>", required=True)
    for name, module_path in STAGES.items():
        module = importlib.import_module(module_path)
        stage_parser = sub.add_parser(
            name,
            help=module.DESCRIPTION.splitlines()[0],
            description=module.DESCRIPTION,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(stage_parser)
        _common(stage_parser)
    return parser


def run_stage(name: str, config: Config, args: argparse.Namespace) -> str | None:
    """Build the session and execute one stage; returns the line to print last (``run``: the report's path)."""
    from jobs.runtime.lock import is_local, lakehouse_lock, lockable_before_session
    from jobs.runtime.session import build_spark

    module = importlib.import_module(STAGES[name])
    # READ_ONLY: the stage never writes the lakehouse; is_read_only(config): it depends on the settings
    read_only = module.is_read_only(config) if hasattr(module, "is_read_only") else getattr(module, "READ_ONLY", False)
    # Stages that only talk to MLflow (promote, models) start no Spark session, unless the lock of a
    # lakehouse on a remote file system needs one (its Hadoop FileSystem).
    needs_spark = getattr(module, "NEEDS_SPARK", True) or not (read_only or is_local(config))
    spark = None
    try:
        with contextlib.ExitStack() as held:  # one writer per lakehouse (jobs/runtime/lock.py)
            # A lakehouse on this machine's disk is locked before the session starts: a second writer is
            # refused at once, before its JVM starts. Elsewhere the lock goes through the session's file system.
            lock_first = not read_only and (lockable_before_session(config) or not needs_spark)
            if lock_first:
                held.enter_context(lakehouse_lock(None, config, name))
            if needs_spark:
                spark = build_spark(config, app_name=f"taoqi-{name}")
            if not read_only and not lock_first:
                held.enter_context(lakehouse_lock(spark, config, name))
            last_line = module.execute(spark, config, args)
    except BaseException:
        try:  # the checks the stage got to, also when it failed; the stage's own error is the one to see
            if spark is not None:
                quality.flush(spark)
        except Exception as err:
            log.warning("quality: could not record the checks of the failed stage: %s", err)
        raise
    if spark is not None:
        quality.flush(spark)
    return last_line


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM (a scheduler stopping the job, `kill`) ends the stage like an error does: the lakehouse lock
    is released and nothing half-written is published (the stage's own `finally` blocks run)."""
    del frame
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    if threading.current_thread() is not threading.main_thread():  # only the main thread handles signals
        return _main(args)
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        return _main(args)
    finally:  # called in-process (notebooks, tests): the caller's handler again
        signal.signal(signal.SIGTERM, previous)


def _main(args: argparse.Namespace) -> int:
    TIMINGS.clear()  # one summary per invocation, also when called in-process (notebooks, tests)
    quality.start_run()
    started = time.perf_counter()
    config = None
    try:
        config = load_config(args.conf, args.sets)
        last_line = run_stage(args.stage, config, args)
    except UserError as err:
        if quality.RUN.validated:
            print(quality.summary(), file=sys.stderr)
            quality.write_summary(config)
        print(f"taoqi {args.stage}: error: {err}", file=sys.stderr)
        return err.exit_code
    if TIMINGS:
        print(summary_table(TIMINGS), file=sys.stderr)
    if quality.RUN.validated:
        print(quality.summary())
        print(f"quality summary: {quality.write_summary(config)}")
    log.info("taoqi %s finished in %.1fs", args.stage, time.perf_counter() - started)
    if last_line:
        print(last_line)
    return 0


def console() -> None:
    """The ``taoqi`` console script: exits with main's code when it is not 0.

    A Databricks wheel task calls the entry point and drops what it returns; only a raised
    SystemExit fails the task, so that a failed stage stops the job before the next one runs.
    """
    code = main()
    if code:
        sys.exit(code)


if __name__ == "__main__":
    sys.exit(main())
