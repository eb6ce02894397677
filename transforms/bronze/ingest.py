"""Bronze: the rows of landed files as sent, plus ingest metadata; which files to load at all."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from transforms.sources import SourceSpec

CORRUPT = "_corrupt_record"


BATCH_DIR = r"ingest_month=([0-9]{4}-[0-9]{2})"


def is_batch_dir(name: str) -> bool:
    """Whether a landing folder's name is a batch: ``ingest_month=YYYY-MM`` of a calendar month."""
    return bool(re.fullmatch(BATCH_DIR, name)) and 1 <= int(name[-2:]) <= 12


def with_ingest_metadata(raw: DataFrame, *, fields: list[str], text_format: bool, load_id: str) -> DataFrame:
    """Source fields + bronze metadata; a line the reader could not parse keeps its raw text.

    ``raw`` is the reader's output with ``_metadata`` available and, for text
    formats, the corrupt-record column. The batch is the file's
    ``ingest_month=YYYY-MM`` directory. The row hash is taken over the row as
    sent: the raw line when it did not parse, else the JSON of its fields.
    """
    as_sent = F.to_json(F.struct(*fields))
    corrupt = F.col(CORRUPT) if text_format else F.lit(None).cast("string")
    return raw.select(
        *fields,
        F.col("_metadata.file_path").alias("_source_file"),
        F.regexp_extract(F.col("_metadata.file_path"), BATCH_DIR, 1).alias("_ingest_month"),
        F.lit(load_id).alias("_load_id"),
        F.current_timestamp().alias("_ingested_at"),
        F.sha2(F.coalesce(corrupt, as_sent), 256).alias("_row_hash"),
        corrupt.isNotNull().alias("_malformed"),
        corrupt.alias("_raw"),
    )


def reader_schema(raw_schema: T.StructType, text_format: bool) -> T.StructType:
    """The schema the reader is given: text formats add the corrupt-record column."""
    if not text_format:
        return raw_schema
    return T.StructType([*raw_schema.fields, T.StructField(CORRUPT, T.StringType(), True)])


# How much of each landed text file is read for its shape: a CSV header, or enough JSON lines
# that a field the feed renamed or added shows up among their keys.
HEAD_BYTES = 65_536


@dataclass(frozen=True)
class LandedFile:
    path: str
    name: str
    size: int
    sha256: str
    ingest_month: str
    # The fields the file carries, in its order, as (name, type): a CSV header's names; the keys
    # of a JSON file's first lines (type None); a Parquet footer's leaf columns with their types.
    fields: tuple[tuple[str, str | None], ...] = ()


def file_heads(binary_files: DataFrame) -> DataFrame:
    """Per file of a ``binaryFile`` read: path, length, sha256, its first line and the keys of its
    first JSON lines (the whole file when it is at most HEAD_BYTES, else its complete lines).

    Evaluated on the executors, so one short row per file reaches the driver.
    """
    head = F.substring("content", 1, HEAD_BYTES).cast("string")
    lines = F.split(head, "\n")
    complete = F.when(F.col("length") <= HEAD_BYTES, lines).otherwise(F.slice(lines, 1, F.size(lines) - 1))
    keys = F.array_distinct(
        F.flatten(
            F.transform(complete, lambda line: F.coalesce(F.json_object_keys(line), F.array().cast("array<string>")))
        )
    )
    return binary_files.select(
        "path",
        "length",
        F.sha2("content", 256).alias("sha"),
        F.substring_index(head, "\n", 1).alias("first_line"),
        keys.alias("json_keys"),
    )


def header_fields(first_line: str | None, sep: str) -> tuple[tuple[str, None], ...]:
    """The column names of a CSV/TSV header line (quotes, BOM and a CR stripped)."""
    if not first_line:
        return ()
    line = first_line.lstrip("\ufeff").rstrip("\r")
    return tuple((name.strip().strip('"'), None) for name in line.split(sep))


# The landed files' shapes and the sources' contracts, as the `landing` suite reads them
# (the batch and its reference view ``contract``).
LANDING_SHAPES = "source string, file string, position int, field string, type string"
LANDING_CONTRACT = "source string, format string, field string, type string, position int"


def landing_contract(sources: Iterable[SourceSpec]) -> list[tuple]:
    """Every field each source's contract expects, as LANDING_CONTRACT rows: a Parquet file's leaf
    columns with their types, a text file's fields (all read as strings) in their order."""
    rows = []
    for spec in sources:
        fields = (
            leaf_fields(spec.raw_schema)
            if spec.format == "parquet"
            else [(f.name, "string") for f in spec.raw_schema.fields]
        )
        rows += [(spec.name, spec.format, name, kind, i) for i, (name, kind) in enumerate(fields)]
    return rows


def leaf_fields(schema: T.StructType, prefix: str = "") -> tuple[tuple[str, str], ...]:
    """A schema's leaf columns as (dotted path, type): how a Parquet file's shape is compared."""
    fields: list[tuple[str, str]] = []
    for f in schema.fields:
        if isinstance(f.dataType, T.StructType):
            fields += leaf_fields(f.dataType, f"{prefix}{f.name}.")
        else:
            fields.append((prefix + f.name, f.dataType.simpleString()))
    return tuple(fields)


@dataclass(frozen=True)
class FilePlan:
    to_load: list[LandedFile]
    replays: list[tuple[LandedFile, str]]  # (file, path of the file first loaded with that content)
    already_loaded: list[LandedFile]


def plan_files(found: list[LandedFile], *, loaded: set[tuple[str, str]], known_content: dict[str, str]) -> FilePlan:
    """Decide per landed file of one source: load it, skip it as a replay, or skip it as done.

    ``loaded`` holds the (batch, file name) pairs already ingested;
    ``known_content`` maps the sha256 of every file ever loaded for the
    source to its path. Exactly-once per file, and a file re-sent under
    another name or in a later batch is a replay, not new data. Files are
    taken batch by batch in name order, so the first copy is the one loaded.
    """
    to_load, replays, done = [], [], []
    seen = dict(known_content)
    for f in sorted(found, key=lambda f: (f.ingest_month, f.name)):
        if (f.ingest_month, f.name) in loaded:
            done.append(f)
        elif f.sha256 in seen:
            replays.append((f, seen[f.sha256]))
        else:
            seen[f.sha256] = f.path
            to_load.append(f)
    return FilePlan(to_load, replays, done)
