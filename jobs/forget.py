"""Forget a member: delete their rows from every table, and keep them out of every later run.

`taoqi forget --user U --reason TEXT` deletes the member's rows from every
table that holds members: each source's bronze table (the member field the
source names, and any unparsable line that mentions the id), the quarantine,
and every silver, gold and ops table with a user_id column. It appends one
row per table to ops.forgotten, with a keyed hash of the id (never the id),
the rows deleted and the Delta version of the deletion. Ingest drops the
rows of a forgotten member from every file it loads later, so a replayed or
rebuilt landing does not bring them back, and rollback refuses to restore a
table to a version before a deletion.

Each call is one DELETE, so one pass, per table: give a day's requests in
one call (`--user` is repeatable).

The deleted rows stay in the tables' earlier versions (time travel) until
those versions' files are removed: `taoqi forget --purge` runs VACUUM on the
tables that hold members, keeping privacy.purge_after_hours of history.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.runtime import privacy, tables
from jobs.runtime.config import Config
from jobs.runtime.errors import UserError
from jobs.runtime.logs import timed
from jobs.runtime.registry import configured_sources
from transforms import catalog
from transforms.pseudonyms import digest, member_ids
from transforms.schemas import OPS_FORGOTTEN

log = logging.getLogger(__name__)

DESCRIPTION = __doc__
FORGOTTEN = "ops.forgotten"
QUARANTINE = "silver.quarantine"
RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--user",
        type=int,
        action="append",
        help="a member id to forget (repeatable: the members of one call cost one pass over each table)",
    )
    parser.add_argument("--reason", help="the request, in words the record keeps (e.g. its ticket)")
    parser.add_argument("--author", help="who carried it out (default: the login name)")
    parser.add_argument(
        "--purge",
        action="store_true",
        help="remove the files of versions older than privacy.purge_after_hours from every table holding members",
    )


def execute(spark: SparkSession, config: Config, args: argparse.Namespace) -> str:
    if args.purge:
        if args.user:
            raise UserError("--purge takes no --user: it purges what every earlier deletion left in old versions")
        return purge(spark, config)
    if not args.user or not (args.reason or "").strip():
        raise UserError("forget needs --user and --reason (the request it carries out), or --purge")
    users = sorted(set(args.user))
    deleted = forget(spark, config, users, reason=args.reason.strip(), author=args.author or getpass.getuser())
    total = sum(rows for rows, _ in deleted.values())
    touched = ", ".join(f"{name} {rows:,}" for name, (rows, _) in deleted.items() if rows)
    return (
        f"forget: {len(users)} member(s), {total:,} row(s) deleted ({touched or 'no rows held them'}); recorded in "
        f"{FORGOTTEN} "
        f"by a keyed hash. Earlier versions keep them until `taoqi forget --purge` "
        f"(privacy.purge_after_hours = {config.privacy.purge_after_hours})"
    )


def bronze_member_ids(spec) -> Column:
    """The member ids a row of ``spec``'s bronze table may name (transforms.pseudonyms.member_ids)."""
    return member_ids(F.col(spec.member_field), F.when(F.col("_malformed"), F.col("_raw")))


def member_tables(spark: SparkSession, config: Config) -> dict[str, Callable[[list[int]], Column]]:
    """Every existing table that holds members -> the condition on its rows that names any of some members."""

    def naming(ids: Column) -> Callable[[list[int]], Column]:
        return lambda users: F.arrays_overlap(ids, F.array(*[F.lit(str(u)) for u in users]))

    found = {}
    specs = configured_sources(config)
    for spec in specs:
        name = f"bronze.{spec.name}"
        if tables.exists(spark, config, name):
            found[name] = naming(bronze_member_ids(spec))
    if tables.exists(spark, config, QUARANTINE):
        # the payload is the bronze row as JSON, or the raw line when it could not be parsed
        member = F.lit(None).cast("string")
        for spec in specs:
            field = F.get_json_object("raw", f"$.{spec.member_field}")
            member = F.when(F.col("source") == spec.name, field).otherwise(member)
        found[QUARANTINE] = naming(member_ids(member, F.when(member.isNull(), F.col("raw"))))
    for name, table in catalog.CATALOG.items():
        if "user_id" in table.schema.fieldNames() and tables.exists(spark, config, name):
            found[name] = lambda users: F.col("user_id").isin(users)  # Delta skips files by their user_id range
    return found


def forget(
    spark: SparkSession, config: Config, users: list[int], *, reason: str, author: str
) -> dict[str, tuple[int, int]]:
    """Delete the rows of ``users`` everywhere, one DELETE per table, and record it; returns table -> (rows
    deleted, version after)."""
    key = privacy.key(config, spark)
    deleted = {}
    for name, naming in member_tables(spark, config).items():
        with timed("forget", name) as t:
            table = DeltaTable.forPath(spark, tables.location(config, name))
            before = tables.version(spark, config, name)
            table.delete(naming(users))
            last = table.history(1).select("version", "operation", "operationMetrics").first()
            changed = last["version"] > before and last["operation"] == "DELETE"
            rows = int((last["operationMetrics"] or {}).get("numDeletedRows", 0)) if changed else 0
            deleted[name] = (rows, int(last["version"]))
            t.rows_out = rows
    now = datetime.now(UTC)
    record = [
        (digest(key, user), name, rows, version, now, author, reason)
        for user in users
        for name, (rows, version) in deleted.items()
    ]
    tables.ensure(spark, config, catalog.table(FORGOTTEN))
    tables.append(spark.createDataFrame(record, OPS_FORGOTTEN), config, FORGOTTEN)
    log.info("forget: %d member(s) forgotten in %d table(s)", len(users), len(deleted))
    return deleted


def forgotten_digests(spark: SparkSession, config: Config) -> DataFrame | None:
    """The keyed hashes of every forgotten member (one column, ``digest``), or None when nobody was."""
    if not tables.exists(spark, config, FORGOTTEN):
        return None
    digests = tables.read(spark, config, FORGOTTEN).select(F.col("member_digest").alias("digest")).distinct()
    return None if digests.isEmpty() else digests


def deletions_after(spark: SparkSession, config: Config, name: str, version: int) -> list[int]:
    """The versions of ``name`` made by deletions of forgotten members after ``version``: restoring ``version``
    would bring those members back."""
    if not tables.exists(spark, config, FORGOTTEN):
        return []
    found = (
        tables.read(spark, config, FORGOTTEN)
        .filter((F.col("table_name") == name) & (F.col("rows_deleted") > 0) & (F.col("version") > version))
        .select("version")
        .collect()
    )
    return sorted(r["version"] for r in found)


def purge(spark: SparkSession, config: Config) -> str:
    """VACUUM every table holding members, keeping privacy.purge_after_hours of history: the files that only
    versions older than that still read (deleted members' rows among them) are removed."""
    hours = config.privacy.purge_after_hours
    names = list(member_tables(spark, config))  # ops.forgotten holds keyed hashes only: nothing to purge there
    # Delta refuses a retention under 7 days unless told the operator chose it (privacy.purge_after_hours)
    previous = spark.conf.get(RETENTION_CHECK, "true")
    spark.conf.set(RETENTION_CHECK, "false")
    try:
        for name in names:
            with timed("forget", f"purge {name}"):
                # rows a deletion vector hides are still in their file: rewrite such files first
                tables.purge_deletion_vectors(spark, config, name)
                DeltaTable.forPath(spark, tables.location(config, name)).vacuum(hours)
    finally:
        spark.conf.set(RETENTION_CHECK, previous)
    return f"forget --purge: {len(names)} table(s) vacuumed, {hours:g} hour(s) of history kept"


def main(argv: list[str] | None = None) -> int:
    from jobs.cli import main as cli_main

    return cli_main(["forget", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
