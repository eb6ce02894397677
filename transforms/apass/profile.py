"""The invited members' profile beside the one published for APASS members.

The published figures are a check on the synthetic world and the selector,
never a rule: nothing selects by them. Demographics come from the account
registry (carried in gold.apass_candidates, not model inputs).
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

# (figure, measured column, published text, lower bound, upper bound): the bounds make "ok"
PUBLISHED = (
    ("members profiled", "members", "about 1 in 10,000", None, None),
    ("annual genuine spend, mean CNY", "annual_spend_cny", ">= 200,000", 200_000.0, None),
    ("average order value, mean CNY", "aov_cny", ">= 1,000", 1_000.0, None),
    ("active shopping days, mean", "active_days", "> 182 (half the year)", 182.5, None),
    ("men among them", "male_share", "40 % (men:women 4:6)", 0.3, 0.5),
    ("age band, mode", "age_mode", "30-34", None, None),
    ("born after 1980", "born_after_1980", "> 60 %", 0.6, None),
    ("overseas share of spend, mean", "overseas_share", "very high", None, None),
    ("hobby share of spend, mean", "hobby_share", "heavy", None, None),
)


def invited_profiles(invited: DataFrame) -> DataFrame:
    """One row per month of ``invited`` (gold.apass_candidates rows): the month and the figures of PUBLISHED over
    its members, their ages taken in the month's year. One aggregation for every month."""
    age = F.substring("month", 1, 4).cast("int") - F.col("birth_year")
    band = F.concat(
        (F.floor(age / 5) * 5).cast("int").cast("string"),
        F.lit("-"),
        (F.floor(age / 5) * 5 + 4).cast("int").cast("string"),
    )
    bands = invited.filter(F.col("birth_year").isNotNull()).groupBy("month", band.alias("band")).count()
    commonest = Window.partitionBy("month").orderBy(F.desc("count"), F.asc("band"))
    mode = bands.select("month", F.col("band").alias("age_mode"), F.row_number().over(commonest).alias("_n"))
    figures = invited.groupBy("month").agg(
        F.count("*").alias("members"),
        F.avg("gross_spend_cny").alias("annual_spend_cny"),
        F.avg("aov_cny").alias("aov_cny"),
        F.avg("active_days").alias("active_days"),
        F.avg((F.col("gender") == "M").cast("double")).alias("male_share"),
        F.avg((F.col("birth_year") > 1980).cast("double")).alias("born_after_1980"),
        F.avg("overseas_spend_share").alias("overseas_share"),
        F.avg("hobby_share").alias("hobby_share"),
    )
    # a month without an invited member's birth year has no mode
    return figures.join(mode.filter(F.col("_n") == 1).drop("_n"), "month", "left")


def profile_lines(measured: dict) -> list[tuple[str, str, str, bool | None]]:
    """(figure, measured, published, within the published range or None) per published figure."""
    out = []
    for figure, key, published, low, high in PUBLISHED:
        value = measured.get(key)
        if isinstance(value, float):
            shown = f"{value:.1%}" if key.endswith(("share", "1980")) else f"{value:,.0f}"
        else:
            shown = "-" if value is None else str(value)
        ok = None
        if isinstance(value, float) and (low is not None or high is not None):
            ok = (low is None or value >= low) and (high is None or value <= high)
        elif key == "age_mode" and value is not None:
            ok = value == "30-34"
        out.append((figure, shown, published, ok))
    return out
