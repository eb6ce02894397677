# Databricks notebook source
# MAGIC %md
# MAGIC # Policy what-if: other band floors
# MAGIC
# MAGIC How the month's grades and APASS invitations would change if the super floor (`scoring.bands.super`)
# MAGIC and the APASS-eligible floor (`scoring.bands.apass_eligible`) were different. Computed by
# MAGIC `jobs.what_if.policy_what_if` on a copy of the config; nothing is written.
# MAGIC
# MAGIC Widgets: `root` (the lakehouse), `month` (empty: the latest scored month), `super_floor`, `apass_floor`.
# MAGIC Locally, as a plain script:
# MAGIC `python notebooks/06_policy_what_if.py root=./lakehouse month=2026-01 super_floor=900 apass_floor=2400`
# MAGIC (add `set=KEY=VALUE` for any other setting: a cap, e.g. `set=scoring.caps.by_kind.physical.order=5000`,
# MAGIC recomputes the month's window from silver under it).

# COMMAND ----------

import pandas as pd
from pyspark.sql import functions as F

from jobs import apass_inputs, what_if
from jobs.runtime import notebook

spark, widget, display = notebook.context(
    globals(), root="./lakehouse", month="", super_floor="900", apass_floor="2400"
)
base_config = notebook.config(widget)
policy_config = notebook.config(
    widget, f"scoring.bands.super={widget('super_floor')}", f"scoring.bands.apass_eligible={widget('apass_floor')}"
)
month = apass_inputs.scored_month(spark, base_config, widget("month") or None)
now, policy = base_config.scoring.bands, policy_config.scoring.bands
print(
    f"{month}: super floor {now.super:,} -> {policy.super:,}, APASS-eligible floor "
    f"{now.apass_eligible:,} -> {policy.apass_eligible:,}"
)

# COMMAND ----------

result = what_if.policy_what_if(spark, base_config, policy_config, month)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Members per grade, now and under the policy

# COMMAND ----------

grades = pd.DataFrame(result["grades"], columns=["grade", "members_now", "members_under_policy"])
grades["change"] = grades["members_under_policy"] - grades["members_now"]
print(f"{grades['members_now'].sum():,} members scored")
display(grades)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Grade transitions
# MAGIC Members by their grade now and their grade under the policy.

# COMMAND ----------

display(result["transitions"].orderBy("grade_now", "grade_policy"))

# COMMAND ----------

# MAGIC %md
# MAGIC ## APASS members under the policy
# MAGIC The champion selector's first candidates under the policy, as many as the program's target, against
# MAGIC the month's APASS members: members still chosen (kept), newly chosen (added), no longer chosen (dropped).

# COMMAND ----------

invited = result["invited"]
if result["invited_policy"] is None:
    print(f"no champion selector: run `taoqi train --month {month}` and `taoqi promote` to see the invitations")
else:
    if invited is None:
        print(f"no APASS membership for {month} to compare with: run `taoqi select --month {month}`")
    else:
        print(
            f"target {invited['target_stock']}: kept {invited['kept']}, added {invited['added']}, "
            f"dropped {invited['dropped']}"
        )
    display(
        result["invited_policy"]
        .select("rank", "user_id", F.round("model_score", 4).alias("model_score"))
        .orderBy("rank")
    )
