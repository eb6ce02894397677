"""The source registry: a source is one conformer module (named in ``conf/``) exposing ``SOURCE``.

Adding a platform (Ele.me, Youku) is a new module under ``transforms/silver/``
with a :class:`SourceSpec` plus an entry under ``sources:`` in the config; no
stage code changes. See docs/contributing.md#adding-a-source.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pyspark.sql import DataFrame
from pyspark.sql import types as T

# Columns every bronze table carries beside the source's own fields.
BRONZE_METADATA = T.StructType(
    [
        T.StructField("_source_file", T.StringType(), False),
        T.StructField("_ingest_month", T.StringType(), False),  # the landing batch, the partition
        T.StructField("_load_id", T.StringType(), False),
        T.StructField("_ingested_at", T.TimestampType(), False),
        T.StructField("_row_hash", T.StringType(), False),  # sha256 of the row as sent
        T.StructField("_malformed", T.BooleanType(), False),  # the line could not be parsed at all
        T.StructField("_raw", T.StringType(), True),  # the raw line, kept for malformed lines
    ]
)

# Columns a conformer returns beside the silver table's own columns.
REJECT_REASON = "_reject_reason"  # null for a valid row, else a code of transforms.silver.reasons
RAW_PAYLOAD = "_raw_payload"  # what goes to silver.quarantine.raw


@dataclass(frozen=True)
class ConformParams:
    """Plain values a conformer needs (never the config object)."""

    fx_to_cny: Mapping[str, float]
    max_order_amount_cny: float
    # the platforms of the configured order sources (transforms.domain.platforms_of): a platform
    # column holding anything else is not valid
    platforms: tuple[str, ...]


@dataclass(frozen=True)
class SourceSpec:
    name: str
    format: str  # json | csv | parquet: the reader bronze uses
    file_suffix: str  # only files with this suffix in a landing batch are read
    raw_schema: T.StructType  # the landing contract (transforms.bronze.raw_schemas)
    target: str  # silver table the valid rows go to (silver.<target> in transforms/catalog.py)
    natural_key: tuple[str, ...]  # deduplication key in the target
    event_time_checked: bool  # rows outside the batch window are quarantined (not for accounts)
    user_checked: bool  # rows of unknown users are quarantined (not for accounts)
    member_field: str  # the raw field holding the member id (dotted when nested): what `taoqi forget` matches
    conform: Callable[..., DataFrame]  # (bronze batch, *, params: ConformParams) -> candidates
    reader_options: Mapping[str, str] = field(default_factory=dict)
    # An order source's platform: its orders' silver.orders.platform. The ecosystem's platforms are the
    # configured order sources' (transforms.domain.platforms_of), so a new platform is a new source.
    platform: str | None = None

    def __post_init__(self) -> None:
        if self.platform is not None and not re.fullmatch(r"[a-z][a-z0-9_]*", self.platform):
            raise ValueError(f"source {self.name}: platform {self.platform!r} is not a lowercase identifier")

    @property
    def bronze_schema(self) -> T.StructType:
        """bronze.<name>: the source's fields as sent, then the ingest metadata."""
        return T.StructType([*self.raw_schema.fields, *BRONZE_METADATA.fields])
