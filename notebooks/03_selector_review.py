# Databricks notebook source
# MAGIC %md
# MAGIC # APASS selector review
# MAGIC
# MAGIC The selector's registered versions and aliases (MLflow), the champion's and the challenger's holdout
# MAGIC metrics side by side, and the month's selection (`gold.apass_selection`): the decisions, the invited
# MAGIC members with their reason codes, and the near misses (the best-ranked waitlisted members) with theirs.
# MAGIC
# MAGIC Widgets: `root` (the lakehouse), `month` (empty: the latest scored month). Locally, as a plain script:
# MAGIC `python notebooks/03_selector_review.py root=./lakehouse month=2026-01` (add `set=KEY=VALUE` for any
# MAGIC other setting, e.g. `set=mlflow.tracking_uri=...`).

# COMMAND ----------

import pandas as pd
from pyspark.sql import functions as F

from jobs import apass_inputs, model_registry, models
from jobs.runtime import notebook, tables

spark, widget, display = notebook.context(globals(), root="./lakehouse", month="")
config = notebook.config(widget)
month = apass_inputs.scored_month(spark, config, widget("month") or None)
name = config.apass.selector.registered_model
SELECTION = "gold.apass_selection"

# COMMAND ----------

# MAGIC %md
# MAGIC ## Versions and aliases
# MAGIC What `taoqi models` prints: every version, newest first, with its aliases, training month and holdout metrics.

# COMMAND ----------

found: list[model_registry.Version] = []
if model_registry.may_hold_models(config):
    client = model_registry.connect(config)
    if client.search_registered_models(f"name = '{name}'"):
        found = model_registry.versions(client, name)
    print(models.versions_table(name, found, model_registry.tracking_uri(config)))
by_alias = {alias: v for v in found for alias in v.aliases}
champion = by_alias.get(model_registry.CHAMPION)
challenger = by_alias.get(model_registry.CHALLENGER)
if champion is None:
    print(f"no champion {name}: run `taoqi train --month {month}`, `taoqi promote` and `taoqi select --month {month}`")
else:
    print(f"champion v{champion.version}, " + (f"challenger v{challenger.version}" if challenger else "no challenger"))

# COMMAND ----------

# MAGIC %md
# MAGIC ## Champion vs challenger
# MAGIC Each version's metrics on the holdout of its own training run (the latest review months before its
# MAGIC training month; `taoqi promote` compares both on the challenger's holdout before promoting).

# COMMAND ----------

if champion is not None:
    compared = {f"champion v{champion.version}": champion}
    if challenger is not None:
        compared[f"challenger v{challenger.version}"] = challenger
    metrics = sorted({k for v in compared.values() for k in v.metrics if k.startswith(("holdout_", "baseline_"))})
    display(
        pd.DataFrame(
            {"metric": metrics, **{label: [v.metrics.get(k) for k in metrics] for label, v in compared.items()}}
        ).round(4)
    )

# COMMAND ----------

# MAGIC %md
# MAGIC ## The month's decisions
# MAGIC The program holds a target of members (gold.apass_members); the month's invitations fill the gap its
# MAGIC lapses and removals left. Every candidate (score at the APASS-eligible floor or above) has a row:
# MAGIC invited, a member already, waitlisted, gated out, or an override's decision.

# COMMAND ----------

selection = None
if tables.exists(spark, config, SELECTION):
    selection = tables.read(spark, config, SELECTION).filter(F.col("month") == month)
    if selection.isEmpty():
        selection = None
if selection is None:
    print(
        f"no APASS selection for {month}: run `taoqi select --month {month}`"
        + ("" if champion else " after training and promoting a selector")
    )
else:
    totals = selection.agg(
        F.count(F.when(F.col("invited"), 1)).alias("invited"),
        F.max("capacity").alias("capacity"),
        F.max("target_stock").alias("target_stock"),
        F.max("model_version").alias("model_version"),
    ).first()
    stock = (
        tables.read(spark, config, "gold.apass_members")
        .filter((F.col("month") == month) & F.col("status").isin("active", "warned"))
        .count()
    )
    print(
        f"APASS {month}: {stock} members of a target of {totals['target_stock']}; invited {totals['invited']} "
        f"of capacity {totals['capacity']}, selected by champion v{totals['model_version']}"
    )
    display(
        selection.groupBy("decision")
        .agg(
            F.count("*").alias("members"),
            F.min("rank").alias("best_rank"),
            F.max("rank").alias("worst_rank"),
            F.round(F.max("model_score"), 4).alias("max_model_score"),
            F.round(F.min("model_score"), 4).alias("min_model_score"),
        )
        .orderBy(F.desc("members"))
    )

# COMMAND ----------

# MAGIC %md
# MAGIC ## The invited and why
# MAGIC Reason codes: failed gates first, then the features that raised the member's chance most.

# COMMAND ----------

if selection is not None:
    display(
        selection.filter(F.col("invited"))
        .select(
            "user_id",
            "decision",
            "rank",
            F.round("model_score", 4).alias("model_score"),
            "reason_codes",
            "override_reason",
        )
        .orderBy(F.col("rank").asc_nulls_first(), "user_id")
    )

# COMMAND ----------

# MAGIC %md
# MAGIC ## Near misses
# MAGIC The ten best-ranked waitlisted members, with the features that lowered their chance most.

# COMMAND ----------

# MAGIC %sql
# MAGIC SELECT user_id, rank, round(model_score, 4) AS model_score, reason_codes
# MAGIC FROM taoqi_gold.apass_selection
# MAGIC WHERE month = coalesce(nullif(:month, ''), (SELECT max(month) FROM taoqi_gold.scores))
# MAGIC   AND decision = 'waitlisted'
# MAGIC ORDER BY rank
# MAGIC LIMIT 10
