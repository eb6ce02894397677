"""Ingest landed files into bronze: one append-only Delta table per source, exactly once per file.

For each source and batch (<root>/landing/<source>/ingest_month=M/) the files
not ingested before are read with the source's contract schema and appended
to bronze.<source> with their file, load id, ingest time and row hash. A file
whose content was already loaded (a feed's replay) is recorded and skipped;
re-running ingest adds nothing. Lines that cannot be parsed are kept with
their raw text. The file ledger is ops.ingest_manifest.
"""

from __future__ import annotations

import argparse
import logging
import sys
import uuid
from functools import reduce

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.runtime import storage, tables
from jobs.runtime.config import Config, check_month
from jobs.runtime.errors import UserError
from jobs.runtime.logs import timed
from jobs.runtime.registry import enabled_sources
from transforms.bronze.ingest import CORRUPT, LandedFile, plan_files, reader_schema, with_ingest_metadata
from transforms.schemas import OPS_INGEST_MANIFEST
from transforms.sources import BRONZE_METADATA, SourceSpec

log = logging.getLogger(__name__)

DESCRIPTION = __doc__
MANIFEST = "ops.ingest_manifest"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--month", help="landing batch YYYY-MM to ingest (default: every batch in the landing, in order)")


def execute(spark: SparkSession, config: Config, args: argparse.Namespace) -> None:
    months = [check_month(args.month)] if args.month else landed_months(spark, config)
    if args.month and args.month not in landed_months(spark, config):
        raise UserError(f"no landing batch ingest_month={args.month} under {config.lakehouse.root}/landing: "
                        f"run `taoqi generate` or pick one of: {', '.join(landed_months(spark, config)) or 'none'}")
    for month in months:
        ingest_month(spark, config, month)


def landed_months(spark: SparkSession, config: Config) -> list[str]:
    """Every batch month present in the landing of any enabled source, oldest first."""
    months = set()
    for name in config.enabled_sources():
        for entry in storage.list_dir(spark, config.landing_path(name)):
            if entry.is_dir and entry.name.startswith("ingest_month="):
                months.add(entry.name.split("=", 1)[1])
    if not months:
        raise UserError(f"the landing under {config.lakehouse.root}/landing is empty: run `taoqi generate` first")
    return sorted(months)


def ingest_month(spark: SparkSession, config: Config, month: str) -> dict[str, int]:
    """Ingest batch ``month`` of every enabled source; return rows appended per source."""
    tables.ensure(spark, config, MANIFEST, OPS_INGEST_MANIFEST, partition_by=("source",))
    specs = enabled_sources(config)
    for spec in specs:
        tables.ensure(spark, config, f"bronze.{spec.name}", _bronze_schema(spec), partition_by=("_ingest_month",))
    with timed("ingest", f"plan {month}") as t:
        plans = plan_month(spark, config, specs, month)
        t.rows_out = sum(len(plan.to_load) for plan, _ in plans.values())
    load_id = f"{month}-{uuid.uuid4().hex[:12]}"
    appended, ledger = {}, []
    for spec in specs:
        plan, in_manifest = plans[spec.name]
        with timed("ingest", f"{spec.name} {month}") as t:
            appended[spec.name] = t.rows_out = load_files(spark, config, spec, month, plan.to_load, load_id)
        ledger += [(spec.name, month, f.path, f.name, f.size, f.sha256, "loaded", None, load_id) for f in plan.to_load]
        ledger += [(spec.name, month, f.path, f.name, f.size, f.sha256, "replay", first, load_id)
                   for f, first in plan.replays]
        # Files found in bronze but missing from the ledger: a crash between the two appends.
        ledger += [(spec.name, month, f.path, f.name, f.size, f.sha256, "loaded", None, load_id)
                   for f in plan.already_loaded if f.name not in in_manifest]
        for f, first in plan.replays:
            log.info("ingest: %s %s is a replay of %s: skipped", spec.name, f.name, first)
        log.info("ingest: %s %s: %d file(s) loaded, %d replay(s) skipped, %d already ingested", spec.name, month,
                 len(plan.to_load), len(plan.replays), len(plan.already_loaded))
    if ledger:
        without_time = T.StructType(OPS_INGEST_MANIFEST.fields[:-1])
        entries = spark.createDataFrame(ledger, without_time).select("*", F.current_timestamp().alias("ingested_at"))
        tables.append(entries, config, MANIFEST)
    return appended


def plan_month(spark: SparkSession, config: Config, specs: list[SourceSpec], month: str) -> dict:
    """Per source: which landed files of the batch to load, which are replays, which are done.

    Three small queries serve all sources: file digests (hashed on the executors),
    the ledger, and the file names bronze already holds for the batch; each
    returns one row per file, never per event.
    """
    batch_dirs = {s.name: storage.qualify(spark, f"{config.landing_path(s.name)}/ingest_month={month}") for s in specs}
    present = [uri for uri in batch_dirs.values() if storage.exists(spark, uri)]
    digests = [] if not present else [
        (storage.qualify(spark, r["path"]), r["length"], r["sha"]) for r in
        spark.read.format("binaryFile").load(present)
        .select("path", "length", F.sha2("content", 256).alias("sha")).collect()]
    manifest = tables.read(spark, config, MANIFEST).select("source", "ingest_month", "file_name", "file_path",
                                                           "content_sha256", "status").collect()
    in_bronze = {(r["s"], r["f"].rsplit("/", 1)[-1]) for r in reduce(DataFrame.unionByName, [
        tables.read(spark, config, f"bronze.{s.name}").filter(F.col("_ingest_month") == month)
        .select(F.lit(s.name).alias("s"), F.col("_source_file").alias("f")).distinct() for s in specs]).collect()}
    plans = {}
    for spec in specs:
        prefix = batch_dirs[spec.name] + "/"
        found = [LandedFile(path, path.rsplit("/", 1)[-1], size, sha) for path, size, sha in digests
                 if path.startswith(prefix) and path.endswith(spec.file_suffix)]
        if not found:
            log.warning("ingest: %s has no %s files for batch %s", spec.name, spec.file_suffix, month)
        ledger = [r for r in manifest if r["source"] == spec.name]
        known_content = {r["content_sha256"]: r["file_path"] for r in ledger if r["status"] == "loaded"}
        in_manifest = {r["file_name"] for r in ledger if r["ingest_month"] == month}
        done = in_manifest | {name for source, name in in_bronze if source == spec.name}
        plans[spec.name] = (plan_files(found, loaded_names=done, known_content=known_content), in_manifest)
    return plans


def load_files(spark: SparkSession, config: Config, spec: SourceSpec, month: str, files: list[LandedFile],
               load_id: str) -> int:
    """Append the rows of ``files`` to bronze.<source>; return the number of rows appended."""
    if not files:
        return 0
    text_format = spec.format in ("json", "csv")
    reader = spark.read.schema(reader_schema(spec.raw_schema, text_format)).options(**spec.reader_options)
    if text_format:
        reader = reader.option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", CORRUPT)
    raw = reader.format(spec.format).load([f.path for f in files])
    bronze_rows = with_ingest_metadata(raw, fields=spec.raw_schema.fieldNames(), text_format=text_format,
                                       ingest_month=month, load_id=load_id)
    tables.append(bronze_rows, config, f"bronze.{spec.name}")
    return tables.last_operation_metrics(spark, config, f"bronze.{spec.name}").get("numOutputRows", 0)


def _bronze_schema(spec: SourceSpec) -> T.StructType:
    return T.StructType([*spec.raw_schema.fields, *BRONZE_METADATA.fields])


def main(argv: list[str] | None = None) -> int:
    from jobs.cli import main as cli_main

    return cli_main(["ingest", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
