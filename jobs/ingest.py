"""Ingest landed files into bronze: one append-only Delta table per source, exactly once per file.

For each source, the files under <root>/landing/<source>/ingest_month=M/ that
the ledger (ops.ingest_manifest) does not hold yet are hashed, and read with
the source's contract schema into bronze.<source> with their file, batch,
load id, ingest time and row hash. A file whose content was already loaded
(a feed's replay) is recorded and skipped; re-running ingest adds nothing.
Lines that cannot be parsed are kept with their raw text.

A landed file is never rewritten: one that changed after it was loaded (its
size, or a modification after its load and another hash) stops ingest with
nothing written. A file whose rows a rollback took out of bronze is loaded
again.
"""

from __future__ import annotations

import argparse
import logging
import sys
import uuid
from collections.abc import Collection
from functools import reduce

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs import forget
from jobs.runtime import privacy, quality, storage, tables
from jobs.runtime.config import Config, check_month
from jobs.runtime.errors import UserError
from jobs.runtime.logs import timed
from jobs.runtime.registry import enabled_sources
from transforms import catalog
from transforms.bronze.ingest import (
    CORRUPT,
    LANDING_CONTRACT,
    LANDING_SHAPES,
    FilePlan,
    LandedFile,
    file_heads,
    header_fields,
    is_batch_dir,
    landing_contract,
    leaf_fields,
    plan_files,
    reader_schema,
    with_ingest_metadata,
)
from transforms.months import add_months
from transforms.pseudonyms import without_members
from transforms.schemas import OPS_INGEST_MANIFEST
from transforms.sources import SourceSpec

log = logging.getLogger(__name__)

DESCRIPTION = __doc__
MANIFEST = "ops.ingest_manifest"
# A ledger status: the file's rows left bronze with a rollback (jobs/rollback.py), so it is to be loaded again.
ROLLED_BACK = "rolled back"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--month", help="landing batch YYYY-MM to ingest (default: every batch with new files)")


def execute(spark: SparkSession, config: Config, args: argparse.Namespace) -> None:
    landed = landed_months(spark, config)
    if args.month and check_month(args.month) not in landed:
        raise UserError(
            f"no landing batch ingest_month={args.month} under {config.lakehouse.root}/landing: "
            f"run `taoqi generate` or pick one of: {', '.join(landed)}"
        )
    ingest(spark, config, [args.month] if args.month else landed)


def landed_months(spark: SparkSession, config: Config) -> list[str]:
    """Every batch month present in the landing of any enabled source, oldest first.

    A batch is a directory ``ingest_month=YYYY-MM``; another ``ingest_month=`` directory (``=tmp``,
    ``=2025-06_resend``) is a user mistake named in one line, before anything is read: the job does not
    guess which batch it belongs to."""
    batches = [
        (name, entry)
        for name in config.enabled_sources()
        for entry in storage.list_dir(spark, config.landing_path(name))
        if entry.is_dir and entry.name.startswith("ingest_month=")
    ]
    stray = [f"{name}/{entry.name}" for name, entry in batches if not is_batch_dir(entry.name)]
    if stray:
        raise UserError(
            f"not a landing batch (ingest_month=YYYY-MM): {', '.join(stray)} under {config.lakehouse.root}/landing; "
            "move its files into their batch's directory or remove it"
        )
    months = {entry.name.split("=", 1)[1] for _, entry in batches}
    if not months:
        raise UserError(f"the landing under {config.lakehouse.root}/landing is empty: run `taoqi generate` first")
    return sorted(months)


def ingest(spark: SparkSession, config: Config, months: list[str]) -> dict[str, int]:
    """Ingest the new files of batches ``months`` of every enabled source; return rows appended per source."""
    tables.ensure(spark, config, catalog.table(MANIFEST))
    specs = enabled_sources(config)
    # a bronze table this run creates holds no row: the plan does not read it (on a new lakehouse, none)
    created = {
        spec.name for spec in specs if tables.ensure(spark, config, catalog.bronze(spec.name, spec.bronze_schema))
    }
    with timed("ingest", "plan") as t:
        plans, counts = plan(spark, config, specs, months, empty=created)
        t.rows_out = sum(len(p.to_load) for p in plans.values())
    validate_landing(spark, config, specs, plans, months)
    forgotten = forget.forgotten_digests(spark, config)
    load_id = f"load-{uuid.uuid4().hex[:12]}"
    appended, ledger = {}, []
    for spec in specs:
        files = plans[spec.name]
        with timed("ingest", spec.name) as t:
            appended[spec.name] = t.rows_out = load_files(
                spark, config, spec, files.to_load, load_id, months, counts[spec.name], forgotten=forgotten
            )
        # already_loaded holds files bronze has but the ledger lacks (a crash between the two appends).
        for f, status, first in [(f, "loaded", None) for f in files.to_load + files.already_loaded] + [
            (f, "replay", first) for f, first in files.replays
        ]:
            ledger.append((spec.name, f.ingest_month, f.path, f.name, f.size, f.sha256, status, first, load_id))
        for f, first in files.replays:
            log.info("ingest: %s %s/%s is a replay of %s: skipped", spec.name, f.ingest_month, f.name, first)
        log.info(
            "ingest: %s: %d new file(s) loaded, %d replay(s) skipped", spec.name, len(files.to_load), len(files.replays)
        )
    if ledger:
        without_time = T.StructType(OPS_INGEST_MANIFEST.fields[:-1])
        entries = spark.createDataFrame(ledger, without_time).select("*", F.current_timestamp().alias("ingested_at"))
        tables.append(entries, config, MANIFEST)
    return appended


def plan(
    spark: SparkSession, config: Config, specs: list[SourceSpec], months: list[str], *, empty: Collection[str] = ()
) -> tuple[dict[str, FilePlan], dict[str, dict[str, int]]]:
    """Per source: which landed files to load, which are replays, which bronze holds already; and the rows
    per batch bronze holds within the volume check's reach (:func:`bronze_batches`; the sources in ``empty``,
    whose bronze tables hold no row, are not read).

    Only files the ledger does not know are hashed (on the executors), so a new
    month costs its own files, never a re-read of the landing. Everything that
    reaches the driver is one row per file (its digest and its shape, for the
    drift checks of the ``landing`` suite) or per batch.
    """
    # What the ledger says of each file now: its newest row (a rolled-back file is to load again).
    ledger = {}
    for r in (
        tables.read(spark, config, MANIFEST)
        .select(
            "source", "ingest_month", "file_name", "file_path", "file_size", "content_sha256", "status", "ingested_at"
        )
        .orderBy("ingested_at")
        .collect()
    ):
        ledger[(r["source"], r["ingest_month"], r["file_name"])] = r
    ledger = {k: r for k, r in ledger.items() if r["status"] != ROLLED_BACK}
    listed: dict[str, list[tuple[str, str, str]]] = {}
    suspects = []  # known files that may have changed since they were loaded: hashed again to find out
    for spec in specs:
        listed[spec.name] = []
        for month in months:
            for f in storage.list_dir(spark, f"{config.landing_path(spec.name)}/ingest_month={month}"):
                if f.is_dir or not f.name.endswith(spec.file_suffix):
                    continue
                known = ledger.get((spec.name, month, f.name))
                if known is None:
                    listed[spec.name].append((month, f.path, f.name))
                elif f.size != known["file_size"] or f.modified_ms > known["ingested_at"].timestamp() * 1000:
                    suspects.append((spec.name, month, f.path, known))
    paths = [path for files in listed.values() for _, path, _ in files] + [path for *_, path, _ in suspects]
    heads = (
        {}
        if not paths
        else {
            storage.qualify(spark, r["path"]): r
            for r in file_heads(spark.read.format("binaryFile").load(paths)).collect()
        }
    )
    for source, month, path, known in suspects:
        now = heads[storage.qualify(spark, path)]["sha"]
        if now != known["content_sha256"]:
            raise UserError(
                f"{source} {month}/{known['file_name']} changed after it was loaded (sha256 "
                f"{known['content_sha256'][:12]}... then, {now[:12]}... now): a landed file is never rewritten. "
                f"To load its new content in place of the old, roll bronze.{source} back to before its load "
                f"(`taoqi rollback --table bronze.{source}`) and ingest again; nothing was written"
            )
    # Bronze's files are looked up only for batches with files the ledger lacks (a crash between the
    # bronze append and the ledger's left them there).
    unknown_batches = sorted({month for files in listed.values() for month, _, _ in files})
    counts, in_bronze = bronze_batches(
        spark, config, [s for s in specs if s.name not in empty], months, files_of=unknown_batches
    )
    counts.update({name: {} for name in empty})
    plans = {}
    for spec in specs:
        found = []
        for month, path, name in listed[spec.name]:
            head = heads[storage.qualify(spark, path)]
            shape = fields_as_sent(spark, spec, path, head) if config.quality.enabled else ()  # for the gate only
            found.append(LandedFile(path, name, head["length"], head["sha"], month, shape))
        known_content = {
            r["content_sha256"]: r["file_path"]
            for r in ledger.values()
            if r["source"] == spec.name and r["status"] == "loaded"
        }
        loaded = {(m, f) for s, m, f in in_bronze if s == spec.name}
        plans[spec.name] = plan_files(found, loaded=loaded, known_content=known_content)
    return plans, counts


def bronze_batches(
    spark: SparkSession, config: Config, specs: list[SourceSpec], months: list[str], files_of: list[str] = ()
) -> tuple[dict[str, dict[str, int]], set[tuple[str, str, str]]]:
    """One query over the bronze tables of ``specs``: per source, its rows per batch from the volume check's
    trailing batches before ``months`` up to their last; and the (source, batch, file name) it holds for the
    batches ``files_of``."""
    if not specs:
        return {}, set()
    oldest = add_months(min(months), -config.quality.volume.trailing_batches)
    per_batch = reduce(
        DataFrame.unionByName,
        [
            tables.read(spark, config, f"bronze.{s.name}")
            .filter(F.col("_ingest_month").between(oldest, max(months)))
            .groupBy(F.lit(s.name).alias("source"), "_ingest_month")
            .agg(
                F.count("*").alias("n"),
                F.collect_set(F.when(F.col("_ingest_month").isin(list(files_of)), F.col("_source_file"))).alias(
                    "files"
                ),
            )
            for s in specs
        ],
    ).collect()
    counts: dict[str, dict[str, int]] = {s.name: {} for s in specs}
    for r in per_batch:
        counts[r["source"]][r["_ingest_month"]] = r["n"]
    files = {(r["source"], r["_ingest_month"], f.rsplit("/", 1)[-1]) for r in per_batch for f in r["files"]}
    return counts, files


def history_view(spark: SparkSession, counts: dict[str, int], months: list[str]) -> DataFrame:
    """The ``history`` view of the bronze suite: rows per earlier batch (``counts``, from
    :func:`bronze_batches`), and the batches of ``months`` with no rows yet (``n`` 0, ``is_new``)."""
    rows = [(m, n, False) for m, n in sorted(counts.items())] + [(m, 0, True) for m in months if m not in counts]
    return spark.createDataFrame(rows, "_ingest_month string, n long, is_new boolean")


def validate_landing(
    spark: SparkSession, config: Config, specs: list[SourceSpec], plans: dict[str, FilePlan], months: list[str]
) -> None:
    """Check the shapes of every file about to be loaded (suite ``landing``) before any is read:
    a drifted file stops ingest with every bronze table unchanged."""
    shapes = [
        (source, f.name, i, field, kind)
        for source, files in plans.items()
        for f in files.to_load
        for i, (field, kind) in enumerate(f.fields)
    ]
    if shapes and config.quality.enabled:
        contract = spark.createDataFrame(landing_contract(specs), LANDING_CONTRACT)
        quality.validate(
            spark,
            config,
            "ingest",
            "landing",
            spark.createDataFrame(shapes, LANDING_SHAPES),
            month=max(months),
            references={"contract": contract},
            publishes="every bronze table",
        )


def fields_as_sent(spark: SparkSession, spec: SourceSpec, path: str, head) -> tuple:
    """The fields a landed file carries (LandedFile.fields), from its head or its Parquet footer."""
    if head["length"] == 0:
        return ()
    if spec.format == "csv":
        return header_fields(head["first_line"], spec.reader_options.get("sep", ","))
    if spec.format == "json":
        return tuple((key, None) for key in sorted(head["json_keys"]))
    # One footer read per new file, on the driver: a Parquet file's schema is in its last bytes.
    return leaf_fields(spark.read.parquet(path).schema)


def read_landed(spark: SparkSession, spec: SourceSpec, paths: list[str], load_id: str) -> DataFrame:
    """The bronze rows of landed files: the source's contract schema plus ingest metadata."""
    text_format = spec.format in ("json", "csv")
    reader = spark.read.schema(reader_schema(spec.raw_schema, text_format)).options(**spec.reader_options)
    if text_format:
        reader = reader.option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", CORRUPT)
    raw = reader.format(spec.format).load(paths)
    return with_ingest_metadata(raw, fields=spec.raw_schema.fieldNames(), text_format=text_format, load_id=load_id)


def load_files(
    spark: SparkSession,
    config: Config,
    spec: SourceSpec,
    files: list[LandedFile],
    load_id: str,
    months: list[str],
    counts: dict[str, int],
    *,
    forgotten: DataFrame | None = None,
) -> int:
    """Validate the rows of ``files`` and append them to bronze.<source> in one commit; return the rows appended.

    ``counts`` are the source's rows per batch (:func:`bronze_batches`). A batch of ``months`` the source
    has no rows of yet is validated even without files: an empty platform month is a broken feed, not a
    quiet one. The rows of members in ``forgotten`` (jobs/forget.py) are dropped.
    """
    name = f"bronze.{spec.name}"
    if not files and all(m in counts for m in months):
        return 0
    history = {"history": history_view(spark, counts, months)}
    if not files:  # nothing to write, but the check that the platform sent nothing must run (and fail)
        empty = spark.createDataFrame([], spec.bronze_schema)
        with quality.gate(spark, config, "ingest", name, empty, month=max(months), references=history):
            return 0
    rows = read_landed(spark, spec, [f.path for f in files], load_id)
    if forgotten is not None:
        rows = without_members(rows, forget.bronze_member_ids(spec), privacy.key(config, spark), forgotten)
    return quality.publish(spark, config, "ingest", name, rows, replacing=None, month=max(months), references=history)


def main(argv: list[str] | None = None) -> int:
    from jobs.cli import main as cli_main

    return cli_main(["ingest", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
