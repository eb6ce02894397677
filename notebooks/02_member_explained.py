# Databricks notebook source
# MAGIC %md
# MAGIC # One member's score explained
# MAGIC
# MAGIC What `taoqi explain` prints for a member and month: each component with the inputs behind it, the
# MAGIC credit level and its dimensions, the change since last month, what would move the member up a band,
# MAGIC and why the member was (or was not) invited to APASS; then the member's months so far.
# MAGIC
# MAGIC Widgets: `root` (the lakehouse), `month` (empty: the latest scored month), `user` (empty: the member
# MAGIC with the month's highest score). Locally, as a plain script:
# MAGIC `python notebooks/02_member_explained.py root=./lakehouse month=2026-01 user=42`
# MAGIC (add `set=KEY=VALUE` for any other setting). The SQL cell reads `taoqi_gold.scores` by name.

# COMMAND ----------

from pyspark.sql import functions as F

from jobs import apass_inputs, explain
from jobs.runtime import notebook, tables
from jobs.runtime.errors import UserError

spark, widget, display = notebook.context(globals(), root="./lakehouse", month="", user="")
config = notebook.config(widget)
month = apass_inputs.scored_month(spark, config, widget("month") or None)
scores = tables.read(spark, config, "gold.scores")

# COMMAND ----------

# MAGIC %md
# MAGIC ## The member
# MAGIC The `user` widget, or else the member with the month's highest score (the lowest id on a tie).

# COMMAND ----------

if widget("user"):
    if not widget("user").isdigit():
        raise UserError(f"user must be a member id (a whole number), got {widget('user')!r}")
    user = int(widget("user"))
else:
    top = scores.filter(F.col("month") == month).orderBy(F.desc("score"), "user_id").first()
    if top is None:
        raise UserError(f"gold.scores has no members for {month}")
    user = top["user_id"]
print(f"member {user}" + ("" if widget("user") else f": the highest score of {month}"))

# COMMAND ----------

# MAGIC %md
# MAGIC ## The explanation
# MAGIC Exactly what `taoqi explain --user U --month M` prints (`jobs/explain.py`).

# COMMAND ----------

print(explain.explain(spark, config, user, month))

# COMMAND ----------

# MAGIC %md
# MAGIC ## The member's months
# MAGIC Every scored month up to this one: score, band, grade, credit level and the change month to month.

# COMMAND ----------

# MAGIC %sql
# MAGIC -- the `user` widget's member, or the month's highest score (the lowest id on a tie), as above
# MAGIC WITH as_of AS (
# MAGIC   SELECT coalesce(nullif(:month, ''), max(month)) AS month FROM taoqi_gold.scores
# MAGIC ),
# MAGIC member AS (
# MAGIC   SELECT coalesce(
# MAGIC     try_cast(nullif(:user, '') AS BIGINT),
# MAGIC     (SELECT s.user_id FROM taoqi_gold.scores s JOIN as_of USING (month)
# MAGIC      ORDER BY s.score DESC, s.user_id LIMIT 1)
# MAGIC   ) AS user_id
# MAGIC )
# MAGIC SELECT s.month, s.score, s.score_change, s.band, s.grade, s.credit_level, s.credit_score, s.growth_perk,
# MAGIC        s.next_band_gap, s.keep_band_points, s.service_queue
# MAGIC FROM taoqi_gold.scores s
# MAGIC JOIN member USING (user_id)
# MAGIC WHERE s.month <= (SELECT month FROM as_of)
# MAGIC ORDER BY s.month
