"""The persona segmentation's pieces on hand-built members: features, rules, tests, purity and ARI."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import functions as F
from scipy import stats
from sklearn.metrics import adjusted_rand_score

from jobs.runtime.config import ConfigError, load_config
from tests.unit.test_gold import _features, _scores
from transforms.personas.evaluation import adjusted_rand_index, contingency, purity
from transforms.personas.features import FEATURES, NAMES, SPEND_GROUPS, persona_features
from transforms.personas.profiles import age_band, profile_input, profile_rows, welch
from transforms.personas.segments import OTHER, assign, centroids, fit_segments, name_segments

PERSONAS_DOC = Path(__file__).resolve().parents[2] / "docs" / "personas.md"
RULES = load_config().personas.rules


def test_features_of_a_hand_built_member(spark):
    features = _features(
        spark,
        [
            dict(
                user_id=1,
                spend_cny=100000.0,
                orders=120,
                spend_luxury_cny=25000.0,
                spend_hobby_cny=5000.0,
                group_buy_spend_cny=60000.0,
                spend_office_cny=10000.0,
                spend_by_platform_cny={"tmall": Decimal("70000.00"), "taobao": Decimal("30000.00")},
                premium_travel_orders=4,
                first_class_orders=1,
                mobile_orders=90,
                pc_orders=30,
                chat_sellers=99,
                categories_used=21,
                order_hour_sum=120 * 20,
                order_hour_sq_sum=120 * 20 * 20 + 120 * 9,
            )
        ],
    )
    scores = _scores(spark, [dict(user_id=1, score=1500), dict(user_id=2, score=900)])
    got = persona_features(
        features, scores.withColumn("month", F.lit("2025-12")), month="2025-12", min_score=1000
    ).collect()
    assert len(got) == 1  # member 2 is below the population floor (and has no features)
    f = got[0].asDict()
    assert (f["luxury_share"], f["group_buy_share"], f["office_share"]) == (0.25, 0.6, 0.1)
    assert f["orders_per_month_log"] == pytest.approx(math.log10(11.0))  # 1 + 120 / 12
    assert f["aov_log"] == pytest.approx(math.log10(1 + 100000 / 120))
    assert f["sellers_contacted_log"] == pytest.approx(2.0)
    assert (f["platform_loyalty"], f["mobile_share"]) == (0.7, 0.75)
    assert (f["premium_travel_rate"], f["first_class_share"]) == (pytest.approx(4 / 120), 0.25)
    assert f["hour_spread"] == pytest.approx(3 / 12)  # orders at 20:00 on average, standard deviation 3 hours
    assert set(NAMES) <= set(f) and all(isinstance(f[n], float) for n in NAMES)


def test_segments_are_named_by_the_first_rule_their_centroid_meets():
    centre = dict.fromkeys(NAMES, 0.0)
    shopaholic = {**centre, "segment": 0, "group_buy_share": 0.6, "orders_per_month_log": 1.8}
    almost = {**centre, "segment": 1, "group_buy_share": 0.6, "orders_per_month_log": 1.2}  # too few orders
    both = {**centre, "segment": 2, "office_share": 0.3, "group_buy_share": 0.5, "orders_per_month_log": 1.5}
    names = name_segments([shopaholic, almost, both], RULES)
    assert names == {0: "paycheck_shopaholic", 1: OTHER, 2: "paycheck_shopaholic"}  # rule order decides


def test_kmeans_separates_clear_groups(spark):
    rows = [(i, float(i % 3 == 0), float(i % 3 == 1) * 0.9, 0.0) for i in range(60)]  # c: no variance, no weight
    df = spark.createDataFrame(rows, "user_id long, a double, b double, c double")
    fit = fit_segments(df, features=["a", "b", "c"], k_values=[2, 3], seed=7, max_iter=20)
    assigned = assign(fit.model, df)
    assert set(assigned.columns) == {"user_id", "a", "b", "c", "segment", "distance"}
    assert assigned.filter(F.col("distance") < 0).count() == 0
    # every segment holds one residue class of i mod 3 on a and b
    mixed = assigned.groupBy("segment").agg(F.countDistinct("a", "b").alias("kinds")).filter("kinds > 1")
    assert fit.k == 3 and fit.silhouettes[3] > fit.silhouettes[2] and mixed.count() == 0
    centres = {r["segment"]: r for r in centroids(assigned, features=["a"]).collect()}
    assert sorted(c["members"] for c in centres.values() if c["a"] == 1.0) == [20]


def test_welch_t_matches_scipy():
    x, y = [1.0, 2.0, 3.5, 4.0, 8.0], [2.0, 2.5, 2.5, 3.0, 3.0, 3.5, 9.0]
    mean_x, mean_y, t, p = welch(len(x), sum(x), sum(v * v for v in x), len(y), sum(y), sum(v * v for v in y))
    expected = stats.ttest_ind(x, y, equal_var=False)
    assert (mean_x, mean_y) == (pytest.approx(3.7), pytest.approx(25.5 / 7))
    assert (t, p) == (pytest.approx(expected.statistic), pytest.approx(expected.pvalue))


def test_purity_and_adjusted_rand_index_from_the_contingency_table(spark):
    found = ["a", "a", "a", "b", "b", "c", "c", "c", "c", "a"]
    truth = ["x", "x", "y", "y", "y", "z", "z", "z", "x", "x"]
    cells = contingency(
        spark.createDataFrame(list(enumerate(found)), "user_id long, persona string"),
        spark.createDataFrame(list(enumerate(truth)), "user_id long, persona string"),
    )
    assert cells[("a", "x")] == 3 and cells[("c", "z")] == 3
    renamed = {(f, {"x": "a", "y": "b", "z": "c"}[t]): n for (f, t), n in cells.items()}
    assert purity(renamed) == {"a": 0.75, "b": 1.0, "c": 0.75}
    assert adjusted_rand_index(cells) == pytest.approx(adjusted_rand_score(truth, found))


def test_profiles_compare_each_persona_with_the_rest(spark):
    rows = [
        (
            i,
            "quality_lifestyle" if i < 30 else "other",
            1500,
            "M" if i < 27 or i >= 57 else "F",
            1985,
            1,
            10000.0 * (2 if i < 30 else 1),
            500.0,
            0.9 if i < 30 else 0.5,
            0.1,
        )
        for i in range(90)
    ]
    assigned = spark.createDataFrame(
        rows,
        "user_id long, persona string, score int, gender string, birth_year int, "
        "city_tier int, spend_cny double, aov_cny double, mobile_share double, "
        "overseas_share double",
    )
    for g in SPEND_GROUPS:
        assigned = assigned.withColumn(f"{g}_spend_share", F.lit(0.5 if g == "hobby" else 0.0))
    invited = spark.createDataFrame([(0,), (1,)], "user_id long")
    attributes = profile_input(assigned, invited, year=2025, super_floor=1000)
    out = {(r[1], r[2], r[3]): r for r in profile_rows(attributes, month="2025-12", alpha=0.01)}
    size = out[("quality_lifestyle", "members", None)]
    assert (size[4], size[6]) == (30, 60.0)  # members, and the rest
    invited_share = out[("quality_lifestyle", "apass_invited", None)]
    assert invited_share[5:7] == (pytest.approx(2 / 30), 0.0)
    male = out[("quality_lifestyle", "gender", "M")]
    assert male[5] == pytest.approx(0.9) and male[6] == pytest.approx(33 / 60) and male[7] == "chi_square"
    # 27 men of 30 where 2/3 of everyone are men (60 of 90): expected 20, residual (27 - 20) / sqrt(20)
    assert male[10] == pytest.approx(7 / math.sqrt(20))
    assert male[9] < 0.01 and male[11] is True
    mobile = out[("quality_lifestyle", "mobile_share", None)]
    assert mobile[7] == "welch_t" and mobile[9] < 1e-10  # no variance in each group: a huge t
    assert out[("quality_lifestyle", "top_category", "hobby")][5] == 0.5


def test_age_bands(spark):
    df = spark.createDataFrame([(2001,), (1996,), (1995,), (1991,), (1990,), (1980,), (None,)], "birth_year int")
    assert [r[0] for r in df.select(age_band(2025)).collect()] == [
        "<25",
        "25-29",
        "30-34",
        "30-34",
        "35-39",
        "45+",
        "unknown",
    ]


def test_bad_persona_settings_are_user_mistakes():
    with pytest.raises(ConfigError, match=r"personas.k_min/k_max: need 2 <= k_min <= k_max"):
        load_config(sets=["personas.k_min=8", "personas.k_max=5"])
    with pytest.raises(ConfigError, match=r"personas.rules.office_hero: not one of the four published personas"):
        load_config(sets=["personas.rules={office_hero: {office_share: [0.5, null]}}"])


def test_the_docs_list_every_persona_feature():
    text = PERSONAS_DOC.read_text(encoding="utf-8")
    listed = re.findall(
        r"^\| `([a-z_0-9]+)` \| (.+) \|$", text.split("### Persona features")[1].split("###")[0], flags=re.M
    )
    assert listed == [(f.name, f.definition) for f in FEATURES]
