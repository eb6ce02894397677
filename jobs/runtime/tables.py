"""The one table reader/writer: path-based Delta tables at ``<root>/<layer>/<table>``.

Tables are created once as the table catalogue (transforms/catalog.py) declares them: schema, partitioning,
the description as the table comment and each column's as its comment. Monthly writes
then replace their slice (``replaceWhere``) or append, so re-running a stage
leaves the same table state. A missing table is a user mistake that names
the stage to run.
"""

from __future__ import annotations

import logging

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from jobs.runtime import storage
from jobs.runtime.config import Config
from jobs.runtime.errors import UserError
from transforms.catalog import Table, producer

log = logging.getLogger(__name__)


class MissingTableError(UserError):
    """An upstream table does not exist yet."""


def location(config: Config, name: str) -> str:
    """``"silver.orders"`` -> ``<root>/silver/orders``."""
    layer, _, table = name.partition(".")
    return config.table_path(layer, table)


def exists(spark: SparkSession, config: Config, name: str) -> bool:
    where = location(config, name)
    storage.file_system(spark, where)  # a root of an unknown scheme: one line (UnknownFileSystemError)
    return DeltaTable.isDeltaTable(spark, where)


def read(spark: SparkSession, config: Config, name: str, version: int | None = None) -> DataFrame:
    """Read a published table (optionally as of a Delta version); missing -> MissingTableError."""
    if not exists(spark, config, name):
        raise MissingTableError(
            f"table {name} not found at {location(config, name)}: run `taoqi {producer(name)}` first"
        )
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(location(config, name))


def ensure(spark: SparkSession, config: Config, table: Table) -> None:
    """Create ``table`` as the catalogue declares it, if it does not exist yet: schema (column comments
    included), partitioning, its description as the table comment, and the history it keeps
    (:func:`retention_properties`)."""
    if exists(spark, config, table.name):  # Delta's createIfNotExists would take a transaction to find out (0.2 s)
        return
    # qualified: Delta's builder takes a relative location without "./" (lake/ops/x) for a table name
    qualified = storage.qualify(spark, location(config, table.name))
    builder = (
        DeltaTable.createIfNotExists(spark).location(qualified).addColumns(table.schema).comment(table.description)
    )
    for key, value in retention_properties(config).items():
        builder = builder.property(key, value)
    if table.partitioned_by:
        builder = builder.partitionedBy(*table.partitioned_by)
    builder.execute()


def retention_properties(config: Config) -> dict[str, str]:
    """The Delta table properties that keep ``lakehouse.history_months`` of history: the log (time travel
    reaches no version whose commit the log dropped) and the files a version reads (VACUUM removes
    only files no version of that age reads)."""
    interval = f"interval {config.lakehouse.history_days} days"
    return {"delta.logRetentionDuration": interval, "delta.deletedFileRetentionDuration": interval}


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
