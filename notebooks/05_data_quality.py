# Databricks notebook source
# MAGIC %md
# MAGIC # Data quality of a month
# MAGIC
# MAGIC The Great Expectations checks every stage ran before publishing (`ops.quality_results`): checks and
# MAGIC failures per month, the checks that failed in this month with their table and severity, and the rows
# MAGIC the conformers quarantined from this month's batch (`silver.quarantine`) by source and reason.
# MAGIC
# MAGIC Widgets: `root` (the lakehouse), `month` (empty: the latest scored month). Locally, as a plain script:
# MAGIC `python notebooks/05_data_quality.py root=./lakehouse month=2026-01` (add `set=KEY=VALUE` for any
# MAGIC other setting).

# COMMAND ----------

from pyspark.sql import functions as F

from jobs import apass_inputs
from jobs.runtime import notebook, quality, tables

spark, widget, display = notebook.context(globals(), root="./lakehouse", month="")
config = notebook.config(widget)
month = apass_inputs.scored_month(spark, config, widget("month") or None)

results = None
if tables.exists(spark, config, quality.RESULTS):
    results = tables.read(spark, config, quality.RESULTS)
else:
    print(
        f"{quality.RESULTS} does not exist: quality was disabled (quality.enabled: false) when the stages ran; "
        "`taoqi quality --month M` validates a month's published tables"
    )
failed = ~F.col("success")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Checks per month
# MAGIC Every validation is recorded, re-runs included: the trend of checks run and failed.

# COMMAND ----------

if results is not None:
    display(
        results.groupBy("month")
        .agg(
            F.countDistinct("table_name").alias("tables"),
            F.count("*").alias("checks"),
            F.count(F.when(failed, 1)).alias("failed"),
            F.count(F.when(failed & (F.col("severity") == "critical"), 1)).alias("failed_critical"),
        )
        .orderBy("month")
    )

# COMMAND ----------

# MAGIC %md
# MAGIC ## Failed checks of the month
# MAGIC A failed critical check stopped its stage (the table kept its published version); a failed warning
# MAGIC was published and counted.

# COMMAND ----------

if results is not None:
    month_failures = results.filter((F.col("month") == month) & failed)
    print(
        f"{month}: {month_failures.count():,} failed check result(s) of "
        f"{results.filter(F.col('month') == month).count():,}"
    )
    display(
        month_failures.groupBy("table_name", "check_name", "severity", "column_name")
        .agg(
            F.count("*").alias("runs_failed"),
            F.max("unexpected_count").alias("max_unexpected"),
            F.max("unexpected_percent").alias("max_unexpected_percent"),
            F.max_by("observed_value", "validated_at").alias("last_observed"),
            F.max("validated_at").alias("last_failed_at"),
        )
        .orderBy("severity", "table_name", "check_name")
    )

# COMMAND ----------

# MAGIC %md
# MAGIC ## Quarantine
# MAGIC Rows of this month's batch that failed conformance, by source and reason (`transforms/silver/reasons.py`).

# COMMAND ----------

if tables.exists(spark, config, "silver.quarantine"):
    quarantined = tables.read(spark, config, "silver.quarantine").filter(F.col("ingest_month") == month)
    print(f"batch {month}: {quarantined.count():,} rows quarantined")
else:
    print("silver.quarantine does not exist: run `taoqi conform` first")

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT source, reason, count(*) AS rows
# MAGIC FROM taoqi_silver.quarantine
# MAGIC WHERE ingest_month = coalesce(nullif(:month, ''), (SELECT max(month) FROM taoqi_gold.scores))
# MAGIC GROUP BY source, reason
# MAGIC ORDER BY rows DESC, source, reason
