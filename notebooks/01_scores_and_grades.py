# Databricks notebook source
# MAGIC %md
# MAGIC # Scores and grades of a month
# MAGIC
# MAGIC The month's score distribution, the members per band and grade with their mean components, the
# MAGIC calibration table (the published shares beside the measured ones), the credit levels and
# MAGIC the customer-service routing. Reads `gold.scores` and `gold.service_routing`.
# MAGIC
# MAGIC Widgets: `root` (the lakehouse), `month` (empty: the latest scored month). Locally, as a plain script:
# MAGIC `python notebooks/01_scores_and_grades.py root=./lakehouse month=2026-01` (add `set=KEY=VALUE` for
# MAGIC any other setting, e.g. `set=spark.master=local[2]`). The SQL cells read the tables by name
# MAGIC (`taoqi_gold.scores`), with the widgets as parameters (`:month`).

# COMMAND ----------

from pyspark.sql import functions as F

from jobs import apass_inputs
from jobs.runtime import notebook, tables
from jobs.score import calibration_report

spark, widget, display = notebook.context(globals(), root="./lakehouse", month="")
config = notebook.config(widget)
month = apass_inputs.scored_month(spark, config, widget("month") or None)
scores = tables.read(spark, config, "gold.scores").filter(F.col("month") == month)
members = scores.count()
print(f"{month}: {members:,} members scored ({tables.location(config, 'gold.scores')})")
share = F.round(F.col("members") / members, 5).cast("decimal(8,5)").alias("share")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Score distribution
# MAGIC Members per 100-point bucket; the band floors are `scoring.bands` (300, 1000 super, 2500 APASS-eligible).

# COMMAND ----------

BUCKET = 100
display(
    scores.groupBy((F.floor(F.col("score") / BUCKET) * BUCKET).cast("int").alias("bucket"))
    .agg(F.count("*").alias("members"))
    .select("bucket", "members", share)
    .orderBy("bucket")
)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Bands and grades
# MAGIC Members and shares per band and grade, with the score range and the mean of each component.

# COMMAND ----------

components = [f"{c}_points" for c in config.scoring.components] + ["credit_points"]
display(
    scores.groupBy("band", "grade")
    .agg(
        F.count("*").alias("members"),
        F.min("score").alias("min_score"),
        F.max("score").alias("max_score"),
        *[F.round(F.avg(c), 1).alias(c) for c in components],
    )
    .select("band", "grade", "members", share, "min_score", "max_score", *components)
    .orderBy("band")
)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Calibration
# MAGIC The published shares (super members 3-5 % of members; members at >= 2500 a small multiple of
# MAGIC APASS's 1 in 10,000) beside this month's; on a synthetic world also the adversarial
# MAGIC accounts that reached the APASS band (from the generator's hidden truth).

# COMMAND ----------

print(calibration_report(spark, config, month))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Credit levels

# COMMAND ----------

# MAGIC %sql
# MAGIC -- the month of the widget, or the latest scored one
# MAGIC SELECT credit_level,
# MAGIC        count(*) AS members,
# MAGIC        CAST(count(*) / sum(count(*)) OVER () AS DECIMAL(8, 5)) AS share,
# MAGIC        round(avg(credit_score), 1) AS mean_credit_score,
# MAGIC        count_if(grade != 'ordinary') AS super_or_above
# MAGIC FROM taoqi_gold.scores
# MAGIC WHERE month = coalesce(nullif(:month, ''), (SELECT max(month) FROM taoqi_gold.scores))
# MAGIC GROUP BY credit_level
# MAGIC ORDER BY credit_level

# COMMAND ----------

# MAGIC %md
# MAGIC ## Customer-service routing
# MAGIC Members per queue (`gold.service_routing`); rank 1 is answered first.

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT queue_rank, queue, count(*) AS members
# MAGIC FROM taoqi_gold.service_routing
# MAGIC WHERE month = coalesce(nullif(:month, ''), (SELECT max(month) FROM taoqi_gold.scores))
# MAGIC GROUP BY queue_rank, queue
# MAGIC ORDER BY queue_rank
