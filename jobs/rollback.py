"""Undo a bad publish: restore one table to an earlier Delta version, recorded in ops.audit.

`taoqi rollback --table gold.scores` lists the table's recent versions (what
each commit did and when); `--version V --reason TEXT` restores the table's
state as of version V with Delta's RESTORE. RESTORE is itself a new commit:
nothing is lost, and the bad version stays readable by time travel (until
VACUUM). Each rollback appends one row to ops.audit: when, which table, from
which version to which, the RESTORE's own version, who and why.

A restored gold table's months are marked in ops.gold_log as rolled back, so the
next `taoqi run` computes them again (once their inputs are right) instead of
taking the restored rows for current ones. A restored bronze table's files
whose rows the restore took out are marked in ops.ingest_manifest as rolled
back, so the next ingest loads them again (as they are landed then), and
conform follows. A restored silver table's batches whose rows the restore
changed lose their ops.reconciliation rows, so the next run conforms them
again, and gold follows. The RESTORE commit itself carries who and why (its
userMetadata, in the table's history), whatever happens to the audit row after it. The job's own records (the audit,
the gold log, the ingest manifest, the quality results) are append-only
histories and are never restored.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from datetime import UTC, datetime

from delta.tables import DeltaTable
from py4j.protocol import Py4JJavaError
from pyspark.errors import AnalysisException
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs import forget, ingest
from jobs.runtime import gold_log, tables
from jobs.runtime.config import Config
from jobs.runtime.errors import UserError
from transforms import catalog
from transforms.schemas import OPS_AUDIT

DESCRIPTION = __doc__
AUDIT = "ops.audit"
HISTORY_SHOWN = 15
ROLLED_BACK = "rolled back"  # the settings of a gold_log entry no computed month has: the month is stale
USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"  # Delta: text kept in the next commit's info
RECORDS = (AUDIT, gold_log.GOLD_LOG, "ops.ingest_manifest", "ops.quality_results", "ops.forgotten")  # never restored
# A restored gold table -> the ops.gold_log entry that says its months are current, and its month column.
MARKS = {
    "gold.user_month": ("gold.user_month", "batch"),
    "gold.user_features": ("gold.scores", "as_of_month"),
    "gold.scores": ("gold.scores", "month"),
    "gold.service_routing": ("gold.scores", "month"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--table", required=True, help="published table, e.g. gold.scores")
    parser.add_argument("--version", type=int, help="Delta version to restore (without it: list the versions)")
    parser.add_argument("--reason", help="why, in words the audit will read (required with --version)")
    parser.add_argument("--author", help="who decided (default: the login name)")


def execute(spark: SparkSession, config: Config, args: argparse.Namespace) -> str:
    if args.table.count(".") != 1:
        raise UserError(f"--table {args.table}: name a published table as layer.table, e.g. gold.scores")
    if args.table in RECORDS:
        raise UserError(
            f"--table {args.table}: the job's own record, append-only, is never restored; roll back the "
            "table it describes instead"
        )
    tables.read(spark, config, args.table)  # a missing table -> one line naming the stage to run
    table = DeltaTable.forPath(spark, tables.location(config, args.table))
    # a table's commit history (newest first): one row per version kept, never data rows
    history = table.history().select("version", "timestamp", "operation", "userMetadata").collect()
    current, oldest = history[0]["version"], history[-1]["version"]
    if args.version is None:
        lines = [f"{'version':>7}  {'committed at':<19}  operation"]
        lines += [
            f"{r['version']:>7}  {r['timestamp']:%Y-%m-%d %H:%M:%S}  {r['operation']}"
            + (f"  {r['userMetadata']}" if r["userMetadata"] else "")
            for r in history[:HISTORY_SHOWN]
        ]
        return "\n".join(lines)
    if not oldest <= args.version < current:
        raise UserError(
            f"--version {args.version}: {args.table} can be restored to a version from {oldest} to "
            f"{current - 1} (current: {current}); list them with `taoqi rollback --table {args.table}`"
        )
    if not (args.reason or "").strip():
        raise UserError("--reason is required with --version: the audit records why")
    deleted = forget.deletions_after(spark, config, args.table, args.version)
    if deleted:
        raise UserError(
            f"--version {args.version}: forgotten members' rows left {args.table} at version(s) "
            f"{', '.join(map(str, deleted))}; restoring an earlier one would bring them back: pick version "
            f"{max(deleted)} or later"
        )
    author, reason = args.author or getpass.getuser(), args.reason.strip()
    try:
        marked = _months_changed(spark, config, args.table, args.version)
        unloaded = _files_taken_out(spark, config, args.table, args.version)
        unconformed = _batches_changed(spark, config, args.table, args.version)
        # who and why in the RESTORE commit itself (Delta's commit userMetadata), atomically with it
        spark.conf.set(USER_METADATA, json.dumps({"rollback_by": author, "reason": reason}))
        try:
            table.restoreToVersion(args.version)
        finally:
            spark.conf.unset(USER_METADATA)
    except (AnalysisException, Py4JJavaError) as err:  # the version's files vacuumed, its log expired
        first_line = str(err).strip().splitlines()[0][:300]
        raise UserError(
            f"--version {args.version}: {args.table} cannot be restored to it ({first_line}); its files or log "
            "entries are no longer kept (VACUUM, log retention): pick a later version"
        ) from None
    restored = tables.version(spark, config, args.table)
    if marked:
        gold_log.record_months(spark, config, [MARKS[args.table][0]], dict.fromkeys(marked, 0), ROLLED_BACK)
    if unloaded:
        _mark_to_load_again(spark, config, args.table.split(".")[1], unloaded, f"rollback to v{args.version}")
    if unconformed:
        DeltaTable.forPath(spark, tables.location(config, gold_log.RECONCILIATION)).delete(
            F.col("ingest_month").isin(unconformed)
        )
    row = (datetime.now(UTC), "rollback", args.table, current, args.version, restored, author, reason)
    tables.ensure(spark, config, catalog.table(AUDIT))
    tables.append(spark.createDataFrame([row], OPS_AUDIT), config, AUDIT)
    recompute = f"; months to compute again: {', '.join(marked)}" if marked else ""
    if unloaded:
        batches = sorted({batch for batch, _ in unloaded})
        recompute = f"; {len(unloaded)} file(s) of batch(es) {', '.join(batches)} to ingest again"
    if unconformed:
        recompute = f"; batch(es) {', '.join(unconformed)} to conform again"
    return (
        f"rollback: {args.table} restored to version {args.version} (was {current}; the RESTORE is version "
        f"{restored}), recorded in {AUDIT}{recompute}"
    )


def _months_changed(spark: SparkSession, config: Config, name: str, version: int) -> list[str]:
    """The months of a gold table that a restore to ``version`` may change, [] for other tables: every month in
    the current version or the restored one (its month column alone is read). Computing a month again
    that did not change costs time, never a wrong row."""
    if name not in MARKS:
        return []
    column = MARKS[name][1]
    both = (
        tables.read(spark, config, name)
        .select(column)
        .unionByName(tables.read(spark, config, name, version=version).select(column))
        .distinct()
    )
    return sorted(r[column] for r in both.collect())


def _files_taken_out(spark: SparkSession, config: Config, name: str, version: int) -> list[tuple[str, str]]:
    """(batch, file name) of every landed file whose rows a bronze table has now and would not have at
    ``version``; [] for other tables. Only the data files the two versions do not share are read."""
    if not name.startswith("bronze."):
        return []
    now, then = (set(tables.read(spark, config, name, version=v).inputFiles()) for v in (None, version))
    gone = sorted(now - then)
    if not gone:
        return []
    rows = spark.read.parquet(*gone).select("_ingest_month", "_source_file").distinct().collect()
    return sorted({(r["_ingest_month"], r["_source_file"].rsplit("/", 1)[-1]) for r in rows})


def _batches_changed(spark: SparkSession, config: Config, name: str, version: int) -> list[str]:
    """The batches of a silver table whose rows a restore to ``version`` changes, [] for other tables (or when
    nothing was conformed yet): those of every data file one of the two versions reads and the other does not."""
    if not name.startswith("silver.") or not tables.exists(spark, config, gold_log.RECONCILIATION):
        return []
    now, then = (set(tables.read(spark, config, name, version=v).inputFiles()) for v in (None, version))
    changed = sorted(now ^ then)
    if not changed:
        return []
    return sorted(r["ingest_month"] for r in spark.read.parquet(*changed).select("ingest_month").distinct().collect())


def _mark_to_load_again(
    spark: SparkSession, config: Config, source: str, files: list[tuple[str, str]], load_id: str
) -> None:
    """Append a ``rolled back`` row to the ingest ledger for each of ``files``: the next ingest loads them."""
    wanted = spark.createDataFrame(files, "ingest_month string, file_name string")
    ledger = tables.read(spark, config, ingest.MANIFEST)
    marks = (
        ledger.filter((F.col("source") == source) & (F.col("status") == "loaded"))
        .join(wanted, ["ingest_month", "file_name"], "left_semi")
        .dropDuplicates(["ingest_month", "file_name"])
        .select(
            "source",
            "ingest_month",
            "file_path",
            "file_name",
            "file_size",
            "content_sha256",
            F.lit(ingest.ROLLED_BACK).alias("status"),
            F.lit(None).cast("string").alias("replay_of"),
            F.lit(load_id).alias("load_id"),
            F.current_timestamp().alias("ingested_at"),
        )
    )
    tables.append(marks, config, ingest.MANIFEST)


def main(argv: list[str] | None = None) -> int:
    from jobs.cli import main as cli_main

    return cli_main(["rollback", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
