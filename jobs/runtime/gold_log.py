"""What gold holds and what changed under it: the bookkeeping behind incremental months.

``ops.gold_log`` has one row per (gold table, month): when it was computed,
from which settings, how many rows. ``ops.reconciliation`` says, per source
and batch, when the batch was conformed and which months its rows fall in.
Comparing the two tells which months late data re-opened (a batch of May
with April events re-opens April) and which scores must follow.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.runtime import tables
from jobs.runtime.config import Config
from jobs.runtime.errors import UserError
from transforms.schemas import OPS_GOLD_LOG

GOLD_LOG = "ops.gold_log"
RECONCILIATION = "ops.reconciliation"
# A risk flag follows its order within days: it can change the order's month or the month before.
FLAG_TARGET = "silver.risk_flags"
ACCOUNTS_TARGET = "silver.accounts"


@dataclass(frozen=True)
class Computed:
    at: datetime
    settings: str
    rows: int


@dataclass(frozen=True)
class Batch:
    target: str
    ingest_month: str
    conformed_at: datetime
    event_months: tuple[str, ...]


def settings_fingerprint(*parts: object) -> str:
    """Short stable hash of the settings a gold table depends on."""
    text = json.dumps([asdict(p) if hasattr(p, "__dataclass_fields__") else p for p in parts], sort_keys=True,
                      default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def computed(spark: SparkSession, config: Config, gold_table: str) -> dict[str, Computed]:
    """Month -> when and from which settings ``gold_table`` was last computed for it."""
    if not tables.exists(spark, config, GOLD_LOG):
        return {}
    rows = tables.read(spark, config, GOLD_LOG).filter(F.col("gold_table") == gold_table).collect()
    return {r["month"]: Computed(r["computed_at"], r["settings"], r["rows"]) for r in rows}


def record(spark: SparkSession, config: Config, gold_table: str, month: str, settings: str, rows: int) -> None:
    """Note that ``gold_table`` was (re)computed for ``month``."""
    tables.ensure(spark, config, GOLD_LOG, OPS_GOLD_LOG)
    row = spark.createDataFrame([(gold_table, month, settings, rows, datetime.now(timezone.utc))], OPS_GOLD_LOG)
    tables.replace_where(row, config, GOLD_LOG,
                         f"gold_table = {tables.sql_literal(gold_table)} AND month = {tables.sql_literal(month)}")


def batches(spark: SparkSession, config: Config) -> list[Batch]:
    """Every conformed (silver table, batch) with its conform time and the months its rows fall in."""
    if not tables.exists(spark, config, RECONCILIATION):
        raise UserError("nothing has been conformed yet (ops.reconciliation is missing): run `taoqi conform` first")
    rows = (tables.read(spark, config, RECONCILIATION)
            .groupBy("target", "ingest_month")
            .agg(F.max("conformed_at").alias("at"),
                 F.array_sort(F.array_distinct(F.flatten(F.collect_list("event_months")))).alias("months"))
            .collect())
    return [Batch(r["target"], r["ingest_month"], r["at"], tuple(r["months"])) for r in rows]


def event_months_touched(batch: Batch) -> set[str]:
    """The months of gold.user_month a batch can change (accounts change none)."""
    if batch.target == ACCOUNTS_TARGET:
        return set()
    months = set(batch.event_months)
    if batch.target == FLAG_TARGET:
        months |= {previous_month(m) for m in batch.event_months}
    return months


def previous_month(month: str) -> str:
    year, mon = (int(p) for p in month.split("-"))
    return f"{year - 1:04d}-12" if mon == 1 else f"{year:04d}-{mon - 1:02d}"


def data_months(all_batches: list[Batch]) -> list[str]:
    """Months with events in silver (orders, interactions or after-sales), oldest first."""
    return sorted({m for b in all_batches if b.target not in (ACCOUNTS_TARGET, FLAG_TARGET) for m in b.event_months})
