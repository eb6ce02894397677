"""The one table reader/writer: path-based Delta tables at ``<root>/<layer>/<table>``.

Tables are created once with their declared schema and layout; monthly writes
then replace their slice (``replaceWhere``) or append, so re-running a stage
leaves the same table state. A missing table is a user mistake that names
the stage to run.
"""

from __future__ import annotations

import logging

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.runtime import storage
from jobs.runtime.config import Config
from jobs.runtime.errors import UserError

log = logging.getLogger(__name__)

# Which stage publishes a table (by name, else by layer), for "run X first" messages.
PRODUCER = {"ops.ingest_manifest": "ingest", "ops.reconciliation": "conform", "gold.user_month": "aggregate",
            "ops.gold_log": "aggregate", "bronze": "ingest", "silver": "conform", "gold": "score", "ops": "run"}


class MissingTableError(UserError):
    """An upstream table does not exist yet."""


def location(config: Config, name: str) -> str:
    """``"silver.orders"`` -> ``<root>/silver/orders``."""
    layer, _, table = name.partition(".")
    return config.table_path(layer, table)


def exists(spark: SparkSession, config: Config, name: str) -> bool:
    return DeltaTable.isDeltaTable(spark, location(config, name))


def read(spark: SparkSession, config: Config, name: str, version: int | None = None) -> DataFrame:
    """Read a published table (optionally as of a Delta version); missing -> MissingTableError."""
    if not exists(spark, config, name):
        stage = PRODUCER.get(name) or PRODUCER.get(name.partition(".")[0], "run")
        raise MissingTableError(f"table {name} not found at {location(config, name)}: run `taoqi {stage}` first")
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(location(config, name))


def ensure(spark: SparkSession, config: Config, name: str, schema: T.StructType,
           partition_by: tuple[str, ...] = ()) -> None:
    """Create the table with its schema and partitioning if it does not exist yet."""
    if exists(spark, config, name):  # Delta's createIfNotExists would take a transaction to find out (0.2 s)
        return
    # qualified: Delta's builder takes a relative location without "./" (lake/ops/x) for a table name
    qualified = storage.qualify(spark, location(config, name))
    builder = DeltaTable.createIfNotExists(spark).location(qualified).addColumns(schema)
    if partition_by:
        builder = builder.partitionedBy(*partition_by)
    builder.execute()


def replace_where(df: DataFrame, config: Config, name: str, predicate: str) -> int:
    """Atomically replace the rows matching ``predicate`` with ``df`` (whose rows all match it); return the
    rows written (:func:`_counted`)."""
    counted, rows = _counted(df)
    counted.write.format("delta").mode("overwrite").option("replaceWhere", predicate).save(location(config, name))
    return rows.get["rows"]


def append(df: DataFrame, config: Config, name: str) -> int:
    """Append ``df`` in one commit; return the rows written (:func:`_counted`)."""
    counted, rows = _counted(df)
    counted.write.format("delta").mode("append").save(location(config, name))
    return rows.get["rows"]


def _counted(df: DataFrame) -> tuple[DataFrame, Observation]:
    """``df`` counting its rows as the write runs (an observed metric): no second job, no read of the table's
    history. Like Delta's own numOutputRows, a count for the logs: a stage Spark runs again after a lost
    executor counts its rows again (Spark 4.1), so bookkeeping that must be exact counts the table."""
    rows = Observation()
    return df.observe(rows, F.count(F.lit(1)).alias("rows")), rows


def version(spark: SparkSession, config: Config, name: str) -> int:
    """The table's current Delta version (logged so any month can be rebuilt with versionAsOf)."""
    return int(DeltaTable.forPath(spark, location(config, name)).history(1).collect()[0]["version"])


def sql_literal(value: str) -> str:
    """Quote a string for a replaceWhere/merge predicate."""
    return "'" + value.replace("'", "''") + "'"
