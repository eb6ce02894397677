"""Undo a bad publish: restore one table to an earlier Delta version, recorded in ops.audit.

`taoqi rollback --table gold.scores` lists the table's recent versions (what
each commit did and when); `--version V --reason TEXT` restores the table's
state as of version V with Delta's RESTORE. RESTORE is itself a new commit:
nothing is lost, and the bad version stays readable by time travel (until
VACUUM). Each rollback appends one row to ops.audit: when, which table, from
which version to which, the RESTORE's own version, who and why.

Gold bookkeeping is left alone: after restoring a gold table, rerun the
stage that produces it (`taoqi score --month M`) once its inputs are right.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime

from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from jobs.runtime import tables
from jobs.runtime.config import Config
from jobs.runtime.errors import UserError
from transforms import catalog
from transforms.schemas import OPS_AUDIT

DESCRIPTION = __doc__
AUDIT = "ops.audit"
HISTORY_SHOWN = 15


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--table", required=True, help="published table, e.g. gold.scores")
    parser.add_argument("--version", type=int, help="Delta version to restore (without it: list the versions)")
    parser.add_argument("--reason", help="why, in words the audit will read (required with --version)")
    parser.add_argument("--author", help="who decided (default: the login name)")


def execute(spark: SparkSession, config: Config, args: argparse.Namespace) -> str:
    if args.table.count(".") != 1 or args.table == AUDIT:
        raise UserError(
            f"--table {args.table}: name a published table as layer.table, e.g. gold.scores "
            f"({AUDIT} itself is append-only)"
        )
    tables.read(spark, config, args.table)  # a missing table -> one line naming the stage to run
    table = DeltaTable.forPath(spark, tables.location(config, args.table))
    # a table's commit history (newest first): one row per version kept, never data rows
    history = table.history().select("version", "timestamp", "operation").collect()
    current, oldest = history[0]["version"], history[-1]["version"]
    if args.version is None:
        lines = [f"{'version':>7}  {'committed at':<19}  operation"]
        lines += [
            f"{r['version']:>7}  {r['timestamp']:%Y-%m-%d %H:%M:%S}  {r['operation']}" for r in history[:HISTORY_SHOWN]
        ]
        return "\n".join(lines)
    if not oldest <= args.version < current:
        raise UserError(
            f"--version {args.version}: {args.table} can be restored to a version from {oldest} to "
            f"{current - 1} (current: {current}); list them with `taoqi rollback --table {args.table}`"
        )
    if not (args.reason or "").strip():
        raise UserError("--reason is required with --version: the audit records why")
    table.restoreToVersion(args.version)
    restored = tables.version(spark, config, args.table)
    row = (
        datetime.now(UTC),
        "rollback",
        args.table,
        current,
        args.version,
        restored,
        args.author or getpass.getuser(),
        args.reason.strip(),
    )
    tables.ensure(spark, config, catalog.table(AUDIT))
    tables.append(spark.createDataFrame([row], OPS_AUDIT), config, AUDIT)
    return (
        f"rollback: {args.table} restored to version {args.version} (was {current}; the RESTORE is version "
        f"{restored}), recorded in {AUDIT}"
    )


def main(argv: list[str] | None = None) -> int:
    from jobs.cli import main as cli_main

    return cli_main(["rollback", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
