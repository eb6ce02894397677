# Databricks notebook source
# MAGIC %md
# MAGIC # Personas of a month
# MAGIC
# MAGIC The high-value members' segments and personas (`gold.personas`, written by `taoqi personas`), the
# MAGIC attributes in which a persona differs significantly from the rest (`gold.persona_profiles`) and, on a
# MAGIC synthetic world whose lakehouse holds the generator's hidden truth, how well the personas were recovered
# MAGIC (purity and adjusted Rand index).
# MAGIC
# MAGIC Widgets: `root` (the lakehouse), `month` (empty: the latest scored month). Locally, as a plain script:
# MAGIC `python notebooks/04_personas.py root=./lakehouse month=2026-01` (add `set=KEY=VALUE` for any other
# MAGIC setting).

# COMMAND ----------

import pandas as pd
from pyspark.sql import functions as F

from jobs import apass_inputs
from jobs.runtime import notebook, storage, tables
from transforms.personas.evaluation import adjusted_rand_index, contingency, purity

spark, widget, display = notebook.context(globals(), root="./lakehouse", month="")
config = notebook.config(widget)
month = apass_inputs.scored_month(spark, config, widget("month") or None)

personas = None
if tables.exists(spark, config, "gold.personas"):
    personas = tables.read(spark, config, "gold.personas").filter(F.col("month") == month)
    if personas.isEmpty():
        personas = None
if personas is None:
    print(f"no personas for {month}: run `taoqi personas --month {month}`")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Members per persona and segment
# MAGIC Each KMeans segment is named by the mapping rules on its centroid (`personas.rules`), or `other`.

# COMMAND ----------

if personas is not None:
    segmented = personas.count()
    print(
        f"{month}: {segmented:,} members segmented (score >= {config.personas.min_score:,}), persona model "
        f"v{personas.agg(F.max('model_version')).first()[0]}"
    )
    display(
        personas.groupBy("persona", "segment")
        .agg(F.count("*").alias("members"), F.round(F.avg("distance"), 3).alias("mean_distance"))
        .select(
            "persona",
            "segment",
            "members",
            F.round(F.col("members") / segmented, 4).cast("decimal(8,4)").alias("share"),
            "mean_distance",
        )
        .orderBy(F.desc("members"), "segment")
    )

# COMMAND ----------

# MAGIC %md
# MAGIC ## What sets each persona apart
# MAGIC The significant rows of `gold.persona_profiles` (p < `personas.alpha`), most significant first: the
# MAGIC persona's mean or share (`value`) beside the rest of the population's (`rest_value`).

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT persona, attribute, level, members, round(value, 4) AS value, round(rest_value, 4) AS rest_value,
# MAGIC        test, round(statistic, 2) AS statistic, p_value, round(pearson_residual, 2) AS pearson_residual
# MAGIC FROM taoqi_gold.persona_profiles
# MAGIC WHERE month = coalesce(nullif(:month, ''), (SELECT max(month) FROM taoqi_gold.scores))
# MAGIC   AND significant
# MAGIC ORDER BY p_value, persona, attribute, level

# COMMAND ----------

# MAGIC %md
# MAGIC ## Against the hidden truth (synthetic worlds only)
# MAGIC The contingency table (found persona by row, true persona by column); purity: the share of a found
# MAGIC persona's members whose true persona is the same; adjusted Rand index: 1 is the same partition, 0 what
# MAGIC chance gives.

# COMMAND ----------

truth_path = config.truth_path("users")
if personas is not None and storage.exists(spark, truth_path):
    cells = contingency(personas, spark.read.parquet(truth_path))
    display(
        pd.DataFrame(
            [(found, true, n) for (found, true), n in sorted(cells.items())],
            columns=["found", "true_persona", "members"],
        )
        .pivot(index="found", columns="true_persona", values="members")
        .fillna(0)
        .astype(int)
        .reset_index()
    )
    display(pd.DataFrame(sorted(purity(cells).items()), columns=["persona", "purity"]).round(4))
    print(f"adjusted Rand index {adjusted_rand_index(cells):.4f}")
elif personas is not None:
    print(f"no hidden truth at {truth_path}: not a synthetic world")
