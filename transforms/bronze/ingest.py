"""Bronze: the rows of landed files as sent, plus ingest metadata; which files to load at all."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

CORRUPT = "_corrupt_record"


BATCH_DIR = r"ingest_month=([0-9]{4}-[0-9]{2})"


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


@dataclass(frozen=True)
class LandedFile:
    path: str
    name: str
    size: int
    sha256: str
    ingest_month: str


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
