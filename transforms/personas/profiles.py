"""Persona profiles: size, super and APASS shares, demographics, spend, and each attribute's significance.

Every figure is an aggregate. Numeric attributes are compared with the rest
of the population by Welch's two-sample t-test (from per-persona counts,
sums and sums of squares); categorical ones (gender, age band, city tier) by
Spark ML's ``ChiSquareTest`` of persona-vs-rest against the attribute, with
the Pearson residual (observed - expected) / sqrt(expected) of each of the
persona's cells, from the same contingency counts.
"""

from __future__ import annotations

import math

from pyspark.ml.feature import VectorAssembler
from pyspark.ml.stat import ChiSquareTest
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from transforms.personas.features import SPEND_GROUPS

NUMERIC = ("spend_cny", "aov_cny", "mobile_share", "overseas_share", "super_member", "apass_invited")
CATEGORICAL = ("gender", "age_band", "city_tier")
AGE_BANDS = (
    (None, 25, "<25"),
    (25, 30, "25-29"),
    (30, 35, "30-34"),
    (35, 40, "35-39"),
    (40, 45, "40-44"),
    (45, None, "45+"),
)
TOP_CATEGORIES = 3


def age_band(year: int) -> Column:
    """The member's age band in ``year`` from the registry's birth year ("unknown" without one)."""
    age = F.lit(year) - F.col("birth_year")
    band = F.lit("unknown")
    for low, high, label in reversed(AGE_BANDS):
        cond = (age >= low if low is not None else F.lit(True)) & (age < high if high is not None else F.lit(True))
        band = F.when(F.col("birth_year").isNotNull() & cond, F.lit(label)).otherwise(band)
    return band


def profile_input(assigned: DataFrame, invited: DataFrame, *, year: int, super_floor: int) -> DataFrame:
    """The attributes per member: ``assigned`` (persona rows) with the invited members' ids marked."""
    marked = assigned.join(invited.select("user_id", F.lit(1.0).alias("_invited")), on="user_id", how="left")
    return marked.select(
        "persona",
        "spend_cny",
        "aov_cny",
        "mobile_share",
        "overseas_share",
        (F.col("score") >= super_floor).cast("double").alias("super_member"),
        F.coalesce(F.col("_invited"), F.lit(0.0)).alias("apass_invited"),
        F.coalesce(F.col("gender"), F.lit("unknown")).alias("gender"),
        age_band(year).alias("age_band"),
        F.coalesce(F.col("city_tier").cast("string"), F.lit("unknown")).alias("city_tier"),
        *[f"{g}_spend_share" for g in SPEND_GROUPS],
    )


def numeric_moments(attributes: DataFrame, names: list[str]) -> list[dict]:
    """Per persona: n, and the sum and sum of squares of every numeric attribute (a few small rows)."""
    aggs = [F.count("*").alias("n")]
    for name in names:
        x = F.col(name).cast("double")
        aggs += [F.sum(x).alias(f"{name}__s"), F.sum(x * x).alias(f"{name}__ss")]
    return [r.asDict() for r in attributes.groupBy("persona").agg(*aggs).collect()]


def welch(n1: float, s1: float, ss1: float, n2: float, s2: float, ss2: float) -> tuple[float, float, float, float]:
    """(mean 1, mean 2, t, two-sided p) of Welch's t-test from counts, sums and sums of squares."""
    from scipy import stats

    m1, m2 = s1 / n1 if n1 else math.nan, s2 / n2 if n2 else math.nan
    if n1 < 2 or n2 < 2:
        return m1, m2, math.nan, math.nan
    v1 = max(ss1 - n1 * m1 * m1, 0.0) / (n1 - 1)
    v2 = max(ss2 - n2 * m2 * m2, 0.0) / (n2 - 1)
    se2 = v1 / n1 + v2 / n2
    if se2 <= 0:
        return m1, m2, math.nan, math.nan
    t = (m1 - m2) / math.sqrt(se2)
    dof = se2**2 / ((v1 / n1) ** 2 / (n1 - 1) + (v2 / n2) ** 2 / (n2 - 1)) if v1 + v2 > 0 else n1 + n2 - 2
    return m1, m2, t, float(2 * stats.t.sf(abs(t), dof))


def chi_square_p_values(attributes: DataFrame, persona: str, levels: dict[str, list[str]]) -> dict[str, float]:
    """Spark ML ChiSquareTest of (member is ``persona``) against each categorical attribute: name -> p-value.

    ``levels`` lists each attribute's levels (from the contingency counts): an index per level."""
    names = list(levels)
    indexed = attributes.select((F.col("persona") == persona).cast("double").alias("label"), *[F.col(n) for n in names])
    as_index = [
        F.array_position(F.array(*[F.lit(v) for v in levels[n]]), F.col(n)).cast("double").alias(f"_{n}") for n in names
    ]
    vectors = VectorAssembler(inputCols=[f"_{n}" for n in names], outputCol="features").transform(
        indexed.select("label", *as_index)
    )
    result = ChiSquareTest.test(vectors, "features", "label").first()
    return {n: float(p) for n, p in zip(names, result["pValues"], strict=True)}


def contingency(attributes: DataFrame, names: list[str]) -> dict[str, dict[tuple[str, str], int]]:
    """attribute -> {(persona, level): members}: the contingency counts behind the residuals."""
    out = {}
    for name in names:
        rows = attributes.groupBy("persona", name).count().collect()
        out[name] = {(r["persona"], r[name]): int(r["count"]) for r in rows}
    return out


def profile_rows(attributes: DataFrame, *, month: str, alpha: float) -> list[tuple]:
    """Rows of gold.persona_profiles: per persona, every attribute beside the rest of the population."""
    numeric = [*NUMERIC, *[f"{g}_spend_share" for g in SPEND_GROUPS]]
    moments = {r["persona"]: r for r in numeric_moments(attributes, numeric)}
    total = {k: sum(r[k] or 0.0 for r in moments.values()) for k in next(iter(moments.values())) if k != "persona"}
    counts = contingency(attributes, list(CATEGORICAL))
    levels = {name: sorted({level for _, level in counts[name]}) for name in CATEGORICAL}
    rows = []
    for persona in sorted(moments):
        m = moments[persona]
        n, rest_n = float(m["n"]), float(total["n"] - m["n"])
        rows.append((month, persona, "members", None, int(n), n, rest_n, None, None, None, None, None))

        def numeric_row(attribute: str, column: str, level: str | None = None) -> tuple:
            s, ss = m[f"{column}__s"] or 0.0, m[f"{column}__ss"] or 0.0
            mean, rest_mean, t, p = welch(n, s, ss, rest_n, total[f"{column}__s"] - s, total[f"{column}__ss"] - ss)
            return (
                month,
                persona,
                attribute,
                level,
                int(n),
                mean,
                rest_mean,
                "welch_t",
                _num(t),
                _num(p),
                None,
                None if math.isnan(p) else p < alpha,
            )

        rows += [numeric_row(a, a) for a in NUMERIC]
        shares = sorted(SPEND_GROUPS, key=lambda g: -(m[f"{g}_spend_share__s"] or 0.0))[:TOP_CATEGORIES]
        rows += [numeric_row("top_category", f"{g}_spend_share", level=g) for g in shares]
        p_values = chi_square_p_values(attributes, persona, levels) if rest_n > 0 else {}
        for name in CATEGORICAL:
            cells = counts[name]
            in_persona = {lv: cells.get((persona, lv), 0) for lv in levels[name]}
            everyone = {lv: sum(c for (_, l2), c in cells.items() if l2 == lv) for lv in levels[name]}
            grand = sum(everyone.values())
            p = p_values.get(name, math.nan)
            for lv in levels[name]:
                expected = n * everyone[lv] / grand if grand else 0.0
                residual = (in_persona[lv] - expected) / math.sqrt(expected) if expected > 0 else math.nan
                rest_share = (everyone[lv] - in_persona[lv]) / rest_n if rest_n else math.nan
                rows.append(
                    (
                        month,
                        persona,
                        name,
                        lv,
                        int(n),
                        in_persona[lv] / n,
                        _num(rest_share),
                        "chi_square",
                        None,
                        _num(p),
                        _num(residual),
                        None if math.isnan(p) else p < alpha,
                    )
                )
    return rows


def _num(x: float) -> float | None:
    return None if x is None or math.isnan(x) else float(x)
