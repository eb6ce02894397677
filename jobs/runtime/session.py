"""The one SparkSession builder: Delta configured, the master left alone when spark-submit set one."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
from collections.abc import Iterator

from py4j.protocol import Py4JError
from pyspark.sql import DataFrame, SparkSession

from jobs.runtime.config import Config
from jobs.runtime.errors import UserError

log = logging.getLogger(__name__)

INITIAL_PARTITIONS = "spark.sql.adaptive.coalescePartitions.initialPartitionNum"
# Leaves of rows from an RDD, whose size the optimiser does not know: a checkpoint (localCheckpoint keeps
# the estimate of the plan it was taken of) or createDataFrame(rdd).
_UNSIZED_LEAVES = frozenset({"LogicalRDD", "ExternalRDD"})
DELTA_PACKAGE = "io.delta:delta-spark_4.1_2.13:4.4.0"  # the artifact built for Spark 4.1
DELTA_SQL_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}


def launched_by_a_launcher() -> bool:
    """spark-submit (or any launcher that starts the JVM first) handed this process its gateway."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def starts_in_local_mode(config: Config) -> bool:
    """The session this process starts runs in local mode: no launcher chose the master, and the config's
    is ``local[...]``."""
    return not launched_by_a_launcher() and (config.spark.master or "").startswith("local")


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
    # Under a launcher the master, jars and driver memory are the launcher's and must not be overridden.
    launched_by_submit = launched_by_a_launcher()
    builder = SparkSession.builder.appName(app_name or config.spark.app_name)
    if not launched_by_submit and config.spark.master:
        builder = builder.master(config.spark.master)
    settings = {
        **DELTA_SQL_CONF,
        "spark.sql.session.timeZone": config.spark.session_time_zone,
        # In a session whose time zone is not UTC (ours: the program's, Asia/Shanghai), Delta 4.4 checks the
        # file list it keeps in each commit's checksum against a full rebuild of the table's state, a Spark job
        # after every commit; in UTC it trusts the checksum. That check only reports Delta's own mismatches (an
        # event in its logs): it is Delta's default in UTC, made ours. The check was a tenth of a profile of the
        # tiny world's month; the month in a warm session, in turn (twice three pairs): JVM CPU 54.5 -> 49.8 s
        # and 55.0 -> 48.7 s.
        "spark.databricks.delta.allFilesInCrc.verificationMode.forceOnNonUTC.enabled": "false",
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


def input_bytes(df: DataFrame) -> int | None:
    """The bytes of the table files ``df`` reads: the sizes the optimiser gives the leaves of its plan (a Delta
    scan's files once its partitions are pruned), each set of files once however many branches scan it (the
    aggregate scans each silver table in several). The plan is the one ``df`` runs with (a checkpoint of ``df``
    optimises it once): a cache counts as its size once filled, its plan's estimate before (over a join, the
    product of its sides: too large, so fill a cache before sizing what reads it). None where the plan
    cannot be seen (Spark Connect) or a leaf has no size the optimiser knows: an RDD's, a checkpoint's (it
    keeps the estimate of the plan it was taken of: a personas checkpoint of a few thousand rows, a join,
    estimated 1.2 TB)."""
    try:
        session = df.sparkSession
        plan = df._jdf.queryExecution().optimizedPlan()
        leaves = plan.collectLeaves()
        unknown = int(session.conf.get("spark.sql.defaultSizeInBytes", str(2**63 - 1)))
        scans = set()  # (what the leaf reads, its size): a table's files scanned twice count once
        for i in range(leaves.size()):
            leaf = leaves.apply(i)
            if leaf.nodeName() in _UNSIZED_LEAVES:
                return None
            size = int(leaf.stats().sizeInBytes())
            if size >= unknown:
                return None
            scans.add((_scanned_files(leaf) or f"leaf {i}", size))
    except (AttributeError, Py4JError, ValueError) as err:
        # ValueError: Py4J turns a BigInt into a Python int through its digits, and an estimate over a join
        # (the product of its sides) can have more digits than Python converts
        log.debug("no input size for a plan: %s", err)
        return None
    return sum(size for _, size in scans)


def _scanned_files(leaf) -> str | None:
    """The root paths a file scan reads (a Delta table's location), None for a leaf that is not one."""
    try:
        return str(leaf.relation().location().rootPaths())
    except Py4JError:
        return None


@contextlib.contextmanager
def shuffles_sized_for(spark: SparkSession, config: Config, df: DataFrame) -> Iterator[int | None]:
    """Start the shuffles of what runs inside from one partition per ``spark.shuffle_input_bytes_per_partition``
    of the files ``df`` reads, never fewer than ``spark.shuffle_partitions``; adaptive execution merges the
    small ones. One setting for every size: at 16 MiB the demo's aggregate of 12 batches starts from 18, a
    million members' from 130 (a fixed 8 ran out of memory there). Yields the
    partitions set, or None when left alone: the setting 0 (the default until its cost on small worlds is
    measured) turns it off, a size set in ``spark.extra`` wins, and a plan whose input cannot be sized keeps
    the session's setting."""
    per_partition = config.spark.shuffle_input_bytes_per_partition
    read = None if not per_partition or INITIAL_PARTITIONS in config.spark.extra else input_bytes(df)
    if read is None:
        yield None
        return
    initial = max(config.spark.shuffle_partitions, math.ceil(read / per_partition))
    before = spark.conf.get(INITIAL_PARTITIONS, None)
    spark.conf.set(INITIAL_PARTITIONS, str(initial))
    # worth a line where it differs from the overlay's (at scale), not on every write of a small world
    log.log(
        logging.INFO if initial > config.spark.shuffle_partitions else logging.DEBUG,
        "shuffles start from %d partitions (%.1f MB of files read)",
        initial,
        read / 1e6,
    )
    try:
        yield initial
    finally:
        if before is None:
            spark.conf.unset(INITIAL_PARTITIONS)
        else:
            spark.conf.set(INITIAL_PARTITIONS, before)
