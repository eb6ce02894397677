"""The one table reader/writer: path-based Delta tables at ``<root>/<layer>/<table>``.

Tables are created once with their declared schema and layout; monthly writes
then replace their slice (``replaceWhere``) or append, so re-running a stage
leaves the same table state. A missing table is a user mistake that names
the stage to run.
"""

from __future__ import annotations

import logging

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
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
    # qualified: Delta's builder takes a relative location without "./" (lake/ops/x) for a table name
    qualified = storage.qualify(spark, location(config, name))
    builder = DeltaTable.createIfNotExists(spark).location(qualified).addColumns(schema)
    if partition_by:
        builder = builder.partitionedBy(*partition_by)
    builder.execute()


def replace_where(df: DataFrame, config: Config, name: str, predicate: str) -> None:
    """Atomically replace the rows matching ``predicate`` with ``df`` (whose rows all match it)."""
    (df.write.format("delta").mode("overwrite").option("replaceWhere", predicate)
     .save(location(config, name)))


def append(df: DataFrame, config: Config, name: str) -> None:
    df.write.format("delta").mode("append").save(location(config, name))


def version(spark: SparkSession, config: Config, name: str) -> int:
    """The table's current Delta version (logged so any month can be rebuilt with versionAsOf)."""
    return int(DeltaTable.forPath(spark, location(config, name)).history(1).collect()[0]["version"])


def last_operation_metrics(spark: SparkSession, config: Config, name: str) -> dict[str, int]:
    """Delta's metrics of the latest commit (rows written, files added): counts without a scan."""
    row = DeltaTable.forPath(spark, location(config, name)).history(1).collect()[0]
    return {k: int(v) for k, v in (row["operationMetrics"] or {}).items() if str(v).isdigit()}


def sql_literal(value: str) -> str:
    """Quote a string for a replaceWhere/merge predicate."""
    return "'" + value.replace("'", "''") + "'"
