"""The one SparkSession builder: Delta configured, the master left alone when spark-submit set one."""

from __future__ import annotations

import logging
import os
import sys

from pyspark.sql import SparkSession

from jobs.runtime.config import Config
from jobs.runtime.errors import UserError

log = logging.getLogger(__name__)

DELTA_PACKAGE = "io.delta:delta-spark_4.1_2.13:4.4.0"  # the artifact built for Spark 4.1
DELTA_SQL_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}


def build_spark(config: Config, app_name: str | None = None) -> SparkSession:
    """Return the session for a stage.

    Under ``spark-submit`` (or on Databricks) the launcher already chose the
    master and the jars: they are used unchanged. Otherwise the session runs
    on ``spark.master`` from config and, if ``spark.delta_jars_from_maven``,
    fetches the Delta jars through Ivy (cached after the first run).
    """
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    # spark-submit (and any launcher that starts the JVM first) hands this process a gateway;
    # then the master, jars and driver memory are the launcher's and must not be overridden.
    launched_by_submit = "PYSPARK_GATEWAY_PORT" in os.environ
    builder = SparkSession.builder.appName(app_name or config.spark.app_name)
    if not launched_by_submit and config.spark.master:
        builder = builder.master(config.spark.master)
    settings = {
        **DELTA_SQL_CONF,
        "spark.sql.session.timeZone": config.spark.session_time_zone,
        "spark.sql.shuffle.partitions": str(config.spark.shuffle_partitions),
        # Delta's VACUUM lists a table's directories in one Spark job of this many tasks; Spark's default
        # (10 000) made that job most of a VACUUM's time on a small table (38 s, against 3.4 s with 2).
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": str(config.spark.shuffle_partitions),
        # Schema of every table is declared; Delta must never guess one from data.
        "spark.databricks.delta.schema.autoMerge.enabled": "false",
        # With column pruning the CSV parser only tokenises the columns a query reads, and a
        # line with too few fields is no longer flagged as corrupt: malformed lines would pass
        # as rows with missing fields (tests/integration/test_dirt_catalogue.py catches it).
        "spark.sql.csv.parser.columnPruning.enabled": "false",
        # Right-sized files without a hand-tuned repartition before every write.
        "spark.databricks.delta.optimizeWrite.enabled": "true",
        "spark.ui.showConsoleProgress": "false",
        # spark.sql(query, args=...) binds named parameters (`:month`, the notebooks' SQL cells) in the parser
        # since Spark 4.1, and Delta 4.4's SQL parser does not pass them on (delta-io/delta: "DeltaSqlParser
        # does not override parsePlanWithParameters"): the substitution of Spark 4.0, after parsing, binds them.
        "spark.sql.legacy.parameterSubstitution.constantsOnly": "true",
        **config.spark.extra,
    }
    if not launched_by_submit and not os.environ.get("PYSPARK_PYTHON"):
        # Python workers (the selector's scoring) run this interpreter, whose packages (LightGBM)
        # the job installed; PySpark reads the variable when the context starts. Under a launcher,
        # spark.pyspark.python or PYSPARK_PYTHON chooses the cluster's interpreter instead.
        os.environ["PYSPARK_PYTHON"] = sys.executable
    for key, value in settings.items():
        builder = builder.config(key, value)
    if config.spark.delta_jars_from_maven and not launched_by_submit:
        from delta import configure_spark_with_delta_pip

        builder = configure_spark_with_delta_pip(builder)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    if launched_by_submit and not _has_delta(spark):
        raise UserError(
            f"Delta Lake is not on the classpath: add --packages {DELTA_PACKAGE} to spark-submit "
            "(or install it on the cluster)"
        )
    log.info(
        "spark %s master=%s defaultParallelism=%d",
        spark.version,
        spark.sparkContext.master,
        spark.sparkContext.defaultParallelism,
    )
    return spark


def _has_delta(spark: SparkSession) -> bool:
    """Whether the Delta classes load (py4j answers a missing class with a JavaPackage, not a JavaClass)."""
    from py4j.java_gateway import JavaClass

    return isinstance(spark.sparkContext._jvm.io.delta.tables.DeltaTable, JavaClass)
