"""Check a folder of landed files against the landing contract, loading nothing.

PATH (default: the lakehouse's own landing) is laid out as a landing:
<PATH>/<source>/ingest_month=YYYY-MM/<file>, one folder per enabled source.
Each file is checked as ingest and conform would take it, and nothing is
written anywhere:

  layout   a batch folder ingest would refuse, a file ingest would never read
           (outside a batch, another suffix), a batch a source sent no file in
  shape    the file's fields against its source's contract: the landing suite's
           checks, which stop ingest (a missing or unknown field, CSV columns out
           of order, a Parquet column of another type)
  rows     every row through its source's conformer: how many conform would
           quarantine, and why (members are known from the accounts in PATH and
           in the lakehouse); an account record that changes an account an
           earlier batch registered is critical (a feed of changes is refused)

One line per file with a problem, then a summary. Exit 0 when nothing is
critical, 3 when a file would stop ingest, no account would be known, or
the accounts feed sends changes.
The contract of every source: docs/landing.md.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import reduce

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from expectations.suites import landing_checks
from jobs.conform import conform_params
from jobs.ingest import fields_as_sent, read_landed
from jobs.runtime import quality, storage, tables
from jobs.runtime.config import Config
from jobs.runtime.errors import UserError
from jobs.runtime.logs import timed
from jobs.runtime.registry import enabled_sources
from transforms.bronze.ingest import (
    LANDING_CONTRACT,
    LANDING_SHAPES,
    file_heads,
    is_batch_dir,
    landing_contract,
)
from transforms.silver import reasons as R
from transforms.silver.common import with_account_change_check, with_user_check, with_window_check
from transforms.sources import REJECT_REASON, SourceSpec

log = logging.getLogger(__name__)

DESCRIPTION = __doc__
READ_ONLY = True  # reads files only: no write lock (jobs/runtime/lock.py)
CRITICAL, WARNING = "critical", "warning"
ACCOUNTS = "silver.accounts"


class LandingContractError(quality.QualityError):
    """A landed file breaks its source's contract in a way that stops ingest."""


@dataclass(frozen=True)
class Problem:
    where: str  # the file or folder, relative to PATH
    severity: str  # critical | warning
    text: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path", nargs="?", help="the folder to check, laid out as a landing (default: <lakehouse.root>/landing)"
    )


def execute(spark: SparkSession, config: Config, args: argparse.Namespace) -> None:
    given = (args.path or f"{config.lakehouse.root.rstrip('/')}/landing").rstrip("/")
    if not storage.exists(spark, given):
        raise UserError(f"no folder at {given}: give the folder that holds one folder per source")
    root = storage.qualify(spark, given)
    problems, rows = check_landing(spark, config, root)
    print(landing_report(problems, rows))
    critical = [p for p in problems if p.severity == CRITICAL]
    if critical:
        raise LandingContractError(
            f"{len(critical)} critical problem(s) in {root}, first: {critical[0].where}: {critical[0].text}; "
            "ingest would stop on them (nothing was loaded)"
        )


def check_landing(spark: SparkSession, config: Config, root: str) -> tuple[list[Problem], dict[str, int]]:
    """The problems of the files under ``root`` (layout, shape, rows), and the rows read per file."""
    specs = enabled_sources(config)
    with timed("check-landing", "layout") as t:
        files, problems = layout(spark, config, root, specs)
        t.rows_out = sum(len(f) for f in files.values())
    if not any(files.values()):
        return problems, {}
    with timed("check-landing", "shapes"):
        problems += shapes(spark, config, root, specs, files)
    with timed("check-landing", "rows") as t:
        found, counted = rows_outcomes(spark, config, root, [s for s in specs if files[s.name]], files)
        problems += found
        t.rows_out = sum(counted.values())
    return problems, counted


def _relative(root: str, path: str) -> str:
    """``path`` below the qualified ``root`` (Spark's file paths may spell the scheme ``file:///``)."""
    return path.split(root.split(":", 1)[-1].rstrip("/") + "/", 1)[-1]


def layout(
    spark: SparkSession, config: Config, root: str, specs: list[SourceSpec]
) -> tuple[dict[str, list[storage.FileInfo]], list[Problem]]:
    """Per enabled source, the files ingest would read under ``root``; and what it would refuse or never see."""
    problems = []
    enabled = {s.name for s in specs}
    for entry in storage.list_dir(spark, root):
        if not entry.is_dir:
            problems.append(Problem(entry.name, WARNING, "a file beside the source folders: ingest never reads it"))
        elif entry.name in config.sources and entry.name not in enabled:
            problems.append(
                Problem(
                    entry.name,
                    WARNING,
                    f"source {entry.name} is disabled: ingest never reads it "
                    f"(--set sources.{entry.name}.enabled=true to take it)",
                )
            )
        elif entry.name not in enabled:
            problems.append(
                Problem(entry.name, WARNING, f"not a source: ingest never reads it (sources: {', '.join(enabled)})")
            )
    files: dict[str, list[storage.FileInfo]] = {}
    batches_of: dict[str, set[str]] = {}
    for spec in specs:
        files[spec.name], batches_of[spec.name] = [], set()
        for batch in storage.list_dir(spark, f"{root}/{spec.name}"):
            where = f"{spec.name}/{batch.name}"
            if not batch.is_dir:
                problems.append(Problem(where, WARNING, "outside any batch folder: ingest never reads it"))
                continue
            if not is_batch_dir(batch.name):
                severity = CRITICAL if batch.name.startswith("ingest_month=") else WARNING
                problems.append(
                    Problem(
                        where,
                        severity,
                        "not a batch folder (ingest_month=YYYY-MM): "
                        + ("ingest stops on it" if severity == CRITICAL else "ingest never reads it"),
                    )
                )
                continue
            for f in storage.list_dir(spark, batch.path):
                here = f"{where}/{f.name}"
                if f.is_dir:
                    problems.append(Problem(here, WARNING, "a folder inside a batch: ingest never reads it"))
                elif not f.name.endswith(spec.file_suffix):
                    problems.append(
                        Problem(here, WARNING, f"not a {spec.file_suffix} file: ingest reads only those of {spec.name}")
                    )
                elif f.size == 0:
                    problems.append(Problem(here, WARNING, "empty: no rows"))
                else:
                    files[spec.name].append(f)
                    batches_of[spec.name].add(batch.name.split("=", 1)[1])
    # Ingest's bronze suite fails a batch a source sent nothing for ("batch not empty": a broken feed),
    # with the severity the config gives it; without accounts every member is unknown.
    months = sorted(set().union(*batches_of.values()))
    for spec in specs:
        missing = [m for m in months if m not in batches_of[spec.name]]
        if not missing:
            continue
        severity = config.quality.severity_of(f"bronze.{spec.name}", "batch not empty")
        if spec.name == "accounts" and not batches_of[spec.name]:
            severity = CRITICAL
        problems.append(
            Problem(
                spec.name,
                severity,
                f"no files in batch(es) {', '.join(missing)}: ingest's check 'batch not empty' "
                + ("stops on it" if severity == CRITICAL else "warns")
                + f" (a source you do not have: --set sources.{spec.name}.enabled=false)",
            )
        )
    return files, problems


def shapes(
    spark: SparkSession, config: Config, root: str, specs: list[SourceSpec], files: dict[str, list[storage.FileInfo]]
) -> list[Problem]:
    """The landing suite's checks (expectations/suites.py), run on every file's fields: the ones ingest stops on."""
    paths = [f.path for listed in files.values() for f in listed]
    heads = {
        storage.qualify(spark, r["path"]): r
        for r in file_heads(spark.read.format("binaryFile").load(paths)).drop("sha").collect()
    }
    rows = []
    for spec in specs:
        for f in files[spec.name]:
            head = heads[storage.qualify(spark, f.path)]
            fields = fields_as_sent(spark, spec, f.path, head)
            rows += [(spec.name, _relative(root, f.path), i, name, kind) for i, (name, kind) in enumerate(fields)]
    spark.createDataFrame(rows, LANDING_SHAPES).createOrReplaceTempView("landing_shapes")
    spark.createDataFrame(landing_contract(specs), LANDING_CONTRACT).createOrReplaceTempView("contract")
    problems = []
    for check in landing_checks():
        query = check.expectation.unexpected_rows_query.replace("{batch}", "landing_shapes")
        severity = config.quality.severity_of("landing", check.name)
        for r in spark.sql(query).collect():
            detail = ", ".join(f"{k} {v}" for k, v in r.asDict().items() if k not in ("source", "file"))
            problems.append(Problem(r["file"], severity, f"{check.expectation.description} ({detail})"))
    return problems


def rows_outcomes(
    spark: SparkSession,
    config: Config,
    root: str,
    specs: list[SourceSpec],
    files: dict[str, list[storage.FileInfo]],
) -> tuple[list[Problem], dict[str, int]]:
    """Every row of every file through its source's conformer, in one Spark job: per file, the rows read
    and the rows conform would quarantine, by reason."""
    params = conform_params(config)
    tolerance = config.conform.late_tolerance_months
    conformed = {
        spec.name: spec.conform(read_landed(spark, spec, [f.path for f in files[spec.name]], "check"), params=params)
        for spec in specs
    }
    # Members are known from the accounts landed here and, for a new batch of a running lakehouse, the
    # accounts it already holds.
    known = spark.createDataFrame([], "user_id long, ingest_month string")
    if "accounts" in conformed:
        known = known.unionByName(
            conformed["accounts"].filter(F.col(REJECT_REASON).isNull()).select("user_id", "ingest_month")
        )
    registered = spark.createDataFrame([], "user_id long, ingest_month string, updated_at timestamp")
    if tables.exists(spark, config, ACCOUNTS):
        registered = tables.read(spark, config, ACCOUNTS).select("user_id", "ingest_month", "updated_at")
        known = known.unionByName(registered.select("user_id", "ingest_month"))
    outcomes = []
    for spec in specs:
        rows = conformed[spec.name]
        if spec.target == "accounts":
            rows = with_account_change_check(rows, registered)
        if spec.event_time_checked:
            rows = with_window_check(rows, late_tolerance_months=tolerance)
        if spec.user_checked:
            rows = with_user_check(rows, known)
        outcomes.append(rows.select(F.col("_source_file").alias("file"), F.col(REJECT_REASON).alias("reason")))
    counted = reduce(DataFrame.unionByName, outcomes).groupBy("file", "reason").count().collect()
    read: Counter[str] = Counter()
    rejected: dict[str, Counter[str]] = defaultdict(Counter)
    for r in counted:
        where = _relative(root, r["file"])
        read[where] += r["count"]
        if r["reason"] is not None:
            rejected[where][r["reason"]] += r["count"]
    problems = []
    for where, reasons in sorted(rejected.items()):
        quarantined = sum(reasons.values())
        by_reason = ", ".join(f"{reason} {n:,}" for reason, n in sorted(reasons.items(), key=lambda r: (-r[1], r[0])))
        problems.append(
            Problem(where, WARNING, f"{quarantined:,} of {read[where]:,} rows would be quarantined: {by_reason}")
        )
        if reasons[R.ACCOUNT_CHANGE]:
            problems.append(
                Problem(
                    where,
                    CRITICAL,
                    f"{reasons[R.ACCOUNT_CHANGE]:,} record(s) change accounts an earlier batch registered: a feed "
                    "of account changes is not supported (the registry is loaded once per account: land every "
                    "account once, in the batch it was registered in)",
                )
            )
    return problems, dict(read)


def landing_report(problems: list[Problem], rows: dict[str, int]) -> str:
    """One line per problem, grouped by file, then the summary line."""
    lines = [f"{p.severity:<8} {p.where}: {p.text}" for p in sorted(problems, key=lambda p: (p.where, p.severity))]
    critical = sum(p.severity == CRITICAL for p in problems)
    lines.append(
        f"checked {len(rows):,} file(s), {sum(rows.values()):,} row(s): "
        f"{critical} critical, {len(problems) - critical} warning(s)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from jobs.cli import main as cli_main

    return cli_main(["check-landing", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
