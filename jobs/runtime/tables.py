"""The one table reader/writer: path-based Delta tables at ``<root>/<layer>/<table>``, and their names.

Tables are created once as the table catalogue (transforms/catalog.py) declares them: schema, partitioning,
the description as the table comment and each column's as its comment. Monthly writes
then replace their slice (``replaceWhere``) or append, so re-running a stage
leaves the same table state. A missing table is a user mistake that names
the stage to run.

The job reads and writes by path; a table's name (``taoqi_gold.scores``) is for people and tools
(:func:`register`): SQL, notebooks, BI, grants.
"""

from __future__ import annotations

import logging
import time

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from jobs.runtime import storage
from jobs.runtime.config import Config
from jobs.runtime.errors import UserError
from jobs.runtime.registry import configured_sources
from jobs.runtime.session import shuffles_sized_for
from transforms.catalog import CATALOG, Table, producer

log = logging.getLogger(__name__)


class MissingTableError(UserError):
    """An upstream table does not exist yet."""


def location(config: Config, name: str) -> str:
    """``"silver.orders"`` -> ``<root>/silver/orders``."""
    layer, _, table = name.partition(".")
    return config.table_path(layer, table)


def lakehouse_tables(spark: SparkSession, config: Config) -> list[str]:
    """Every table the lakehouse holds: each source's bronze table (enabled or not) and the catalogue's."""
    names = [f"bronze.{source}" for source in config.sources] + list(CATALOG)
    return [name for name in names if exists(spark, config, name)]


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


def ensure(spark: SparkSession, config: Config, table: Table) -> bool:
    """Create ``table`` as the catalogue declares it, if it does not exist yet: schema (column comments
    included), partitioning, its description as the table comment, its properties, and the history it keeps
    (:func:`retention_properties`). Returns whether it created it (then it holds no row)."""
    if exists(spark, config, table.name):  # Delta's createIfNotExists would take a transaction to find out (0.2 s)
        return False
    # qualified: Delta's builder takes a relative location without "./" (lake/ops/x) for a table name
    qualified = storage.qualify(spark, location(config, table.name))
    builder = (
        DeltaTable.createIfNotExists(spark).location(qualified).addColumns(table.schema).comment(table.description)
    )
    for key, value in {**retention_properties(config), **dict(table.properties)}.items():
        builder = builder.property(key, value)
    if table.partitioned_by:
        builder = builder.partitionedBy(*table.partitioned_by)
    builder.execute()
    return True


def retention_properties(config: Config) -> dict[str, str]:
    """The Delta table properties that keep ``lakehouse.history_months`` of history: the log (time travel
    reaches no version whose commit the log dropped) and the files a version reads (VACUUM removes
    only files no version of that age reads)."""
    interval = f"interval {config.lakehouse.history_days} days"
    return {"delta.logRetentionDuration": interval, "delta.deletedFileRetentionDuration": interval}


def purge_deletion_vectors(spark: SparkSession, config: Config, name: str) -> bool:
    """Rewrite the files of table ``name`` in which deletion vectors hide rows (``REORG TABLE ... APPLY (PURGE)``),
    so that every row its current files hold is a current row. Returns whether it ran: a table whose protocol
    lacks the feature has no such file (of the program's own tables, only those the catalogue creates with
    deletion vectors have it), and the pass over its files is skipped."""
    path = location(config, name)
    if "deletionVectors" not in (DeltaTable.forPath(spark, path).detail().first()["tableFeatures"] or []):
        return False
    spark.sql(f"REORG TABLE delta.`{path}` APPLY (PURGE)")
    return True


def replace_where(df: DataFrame, config: Config, name: str, predicate: str) -> int:
    """Atomically replace the rows matching ``predicate`` with ``df`` (whose rows all match it); return the
    rows written (:func:`_counted`)."""
    counted, rows = _counted(df)
    with shuffles_sized_for(df.sparkSession, config, df):
        counted.write.format("delta").mode("overwrite").option("replaceWhere", predicate).save(location(config, name))
    return rows.get["rows"]


def append(df: DataFrame, config: Config, name: str) -> int:
    """Append ``df`` in one commit; return the rows written (:func:`_counted`)."""
    counted, rows = _counted(df)
    with shuffles_sized_for(df.sparkSession, config, df):
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


# --------------------------------------------------------------------------- names


def table_name(config: Config, name: str) -> str:
    """``"gold.scores"`` -> ``taoqi_gold.scores``: the table's name where lakehouse.catalog is the current
    catalog (:func:`qualified_name` names the catalog too)."""
    layer, _, table = name.partition(".")
    return f"{config.lakehouse.schema_prefix}{layer}.{table}"


def qualified_name(config: Config, name: str) -> str:
    """``"gold.scores"`` -> ``spark_catalog.taoqi_gold.scores`` (Unity Catalog: ``main.taoqi_gold.scores``)."""
    return f"{config.lakehouse.catalog}.{table_name(config, name)}"


def names_last_only_the_session(spark: SparkSession) -> bool:
    """Whether the catalog forgets its names when the session ends: Spark's in-memory catalog (a local
    session, a cluster without a metastore), as against a Hive metastore or Unity Catalog."""
    return spark.conf.get("spark.sql.catalogImplementation", "in-memory") == "in-memory"


def registration(spark: SparkSession, config: Config, names: list[str] | None = None) -> list[str]:
    """The SQL that names the lakehouse's tables (``names``: those to name; default every one it holds): a
    schema per layer, an external table per table at its location (its comments are the Delta table's own),
    and where lakehouse.tag_member_ids, a personal-data tag on each member id column."""
    catalog = config.lakehouse.catalog
    names = lakehouse_tables(spark, config) if names is None else names
    statements = []
    for layer in dict.fromkeys(name.partition(".")[0] for name in names):
        schema = f"{catalog}.{config.lakehouse.schema_prefix}{layer}"
        if names_last_only_the_session(spark):
            # Spark's own catalog makes a directory for a schema (under ./spark-warehouse by default): one
            # beside the tables instead. Never the layer's own directory: dropping the schema deletes it.
            where = storage.qualify(spark, f"{config.lakehouse.root.rstrip('/')}/_catalog/{layer}.db")
            statements.append(f"CREATE SCHEMA IF NOT EXISTS {schema} LOCATION {sql_literal(where)}")
        else:
            statements.append(f"CREATE SCHEMA IF NOT EXISTS {schema} COMMENT 'taoqi: the {layer} layer'")
    for name in names:
        where = storage.qualify(spark, location(config, name))
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {qualified_name(config, name)} USING DELTA LOCATION {sql_literal(where)}"
        )
        if config.lakehouse.tag_member_ids:
            statements += [
                f"ALTER TABLE {qualified_name(config, name)} ALTER COLUMN `{column}` SET TAGS ('personal_data' = "
                "'member_id')"
                for column in member_id_columns(config, name)
            ]
    return statements


def register(spark: SparkSession, config: Config) -> list[str]:
    """Name the lakehouse's tables in lakehouse.catalog (:func:`registration`); return the names given.

    Idempotent and cheap once done: only tables without a name are named. Spark's in-memory catalog
    forgets names with its session, so a local session that wants them (`taoqi sql`, the notebooks) calls
    this when it starts; a persistent catalog (Unity Catalog) keeps them, and `taoqi maintain` names the
    tables a run created. A session that named another lakehouse's tables before forgets those first.
    """
    schemas = [f"{config.lakehouse.schema_prefix}{layer}" for layer in ("bronze", "silver", "gold", "ops")]
    root = storage.qualify(spark, config.lakehouse.root)
    if names_last_only_the_session(spark) and spark.conf.get(NAMED_ROOT, root) != root:
        for schema in schemas:  # external tables: a DROP forgets the name, never the data
            spark.sql(f"DROP SCHEMA IF EXISTS {config.lakehouse.catalog}.{schema} CASCADE")
    named = {
        f"{schema}.{row['tableName']}"
        for schema in schemas
        if spark.catalog.databaseExists(f"{config.lakehouse.catalog}.{schema}")
        for row in spark.sql(f"SHOW TABLES IN {config.lakehouse.catalog}.{schema}").collect()
        if not row["isTemporary"]
    }
    held = lakehouse_tables(spark, config)
    missing = [name for name in held if table_name(config, name) not in named]
    if missing:
        started = time.perf_counter()
        for statement in registration(spark, config, missing):
            spark.sql(statement)
        log.info(
            "named %d table(s) in %s in %.1fs: %s",
            len(missing),
            config.lakehouse.catalog,
            time.perf_counter() - started,
            ", ".join(missing),
        )
    if names_last_only_the_session(spark):
        spark.conf.set(NAMED_ROOT, root)
    return [table_name(config, name) for name in held]


# The lakehouse whose tables a session's in-memory catalog names (a session conf: it ends with the session).
NAMED_ROOT = "taoqi.catalog.named_root"


def member_id_columns(config: Config, name: str) -> list[str]:
    """The columns of ``name`` that hold member ids: a bronze table's member field (its top-level column) and
    its raw lines, the quarantine's raw rows, every other table's user_id."""
    layer, _, table = name.partition(".")
    if layer == "bronze":
        (spec,) = [s for s in configured_sources(config) if s.name == table]
        return [spec.member_field.partition(".")[0], "_raw"]
    if name == "silver.quarantine":
        return ["raw"]
    return ["user_id"] if "user_id" in CATALOG[name].schema.fieldNames() else []
