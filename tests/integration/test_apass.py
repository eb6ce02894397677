"""The APASS selector's pieces on hand-built members: indicators, metrics, reason codes, decisions, renewal."""

from __future__ import annotations

import os
import re
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import Row
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.runtime.config import load_config
from tests.unit.test_gold import _features, _month_row, _scores
from transforms.apass import selector
from transforms.apass.gates import Gates
from transforms.apass.indicators import INDICATORS, NAMES, indicators
from transforms.apass.renewal import points, renewals
from transforms.apass.selection import decisions
from transforms.schemas import GOLD_USER_MONTH

CONFIG = load_config()


def test_the_catalogue_has_60_plus_distinct_indicators():
    assert len(NAMES) == len(set(NAMES)) >= 60
    assert {i.family for i in INDICATORS} == {"spending", "breadth", "credit", "engagement", "score", "stability"}
    assert not {"gender", "birth_year", "city_tier"} & set(NAMES)  # demographics never select


def test_indicators_of_a_hand_built_member(spark):
    features = _features(
        spark,
        [
            dict(
                user_id=1,
                spend_cny=120000.0,
                orders=100,
                max_order_cny=30000.0,
                big_orders=20,
                refunds=5,
                returns=10,
                disputes=1,
                refund_cny=6000.0,
                flagged_orders=25,
                spend_luxury_cny=30000.0,
                mobile_orders=75,
                pc_orders=25,
                reviews=40,
                positive_reviews=30,
                distinct_sellers=50,
                active_days=0,
            )
        ],
    )
    scores = _scores(spark, [dict(user_id=1, score=2600, credit_level="C6", score_change=-12)])
    # monthly genuine spend 10 000 in each of 12 months, except 40 000 in December (the batch of December)
    months = [f"2025-{m:02d}" for m in range(1, 13)]
    um = spark.createDataFrame(
        [_month_row(spark, 1, m, spend_cny=40000.0 if m == "2025-12" else 10000.0, orders=10) for m in months]
        # a January 2026 slice is after the month: not seen
        + [_month_row(spark, 1, "2026-01", spend_cny=99999.0, orders=1)],
        GOLD_USER_MONTH,
    )
    got = indicators(features, scores, um, window=12).first().asDict()
    assert got["aov_cny"] == 1200.0
    assert got["max_order_share"] == 0.25
    assert (got["refund_rate"], got["return_rate"], got["dispute_rate"]) == (0.05, 0.1, 0.01)
    assert got["flagged_order_share"] == 0.2  # 25 of 125 orders
    assert (got["luxury_share"], got["mobile_order_share"], got["positive_review_rate"]) == (0.25, 0.75, 0.75)
    assert (got["orders_per_seller"], got["credit_level_number"], got["score"], got["score_change"]) == (
        2.0,
        6.0,
        2600.0,
        -12.0,
    )
    assert got["orders_per_active_day"] == 0.0  # no active days: no rate, not a division by zero
    # 11 months of 10 000 and one of 40 000: mean 12 500, standard deviation sqrt(11 * 2500^2 + 27500^2) / sqrt(12)
    assert got["monthly_spend_cv"] == pytest.approx(np.std([10000] * 11 + [40000]) / 12500)
    assert got["top_month_spend_share"] == pytest.approx(40000 / 150000)
    assert got["recent_spend_share"] == pytest.approx(60000 / 150000)
    assert got["monthly_aov_cv"] == pytest.approx(np.std([1000] * 11 + [4000]) / 1250)


def _holdout() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": [1, 2, 3, 4, 5, 6],
            "label": [1, 1, 0, 0, 1, 0],
            "reason": [None, None, "resale", "low_activity", None, "brushing"],
            "score": [2600, 2550, 3000, 2700, 1200, 2800],
            "credit_level_number": [5, 6, 5, 5, 6, 4],
        }
    )


def test_the_selector_and_the_baseline_are_judged_on_the_same_holdout_and_gates():
    # user 6 fails the credit gate, user 5 the score gate: 4 members past the gates, half of them invited
    metrics = selector.evaluate(
        _holdout(),
        probabilities=np.array([0.9, 0.8, 0.1, 0.3, 0.95, 0.2]),
        gates=Gates(min_score=2500, min_credit_level=5),
        invite_share=0.5,
    )
    assert (metrics["holdout_gated"], metrics["holdout_invited"], metrics["baseline_invited"]) == (4, 2, 2)
    assert metrics["holdout_precision_at_k"] == 1.0  # users 1 and 2
    assert metrics["holdout_adversary_share"] == 0.0
    assert metrics["baseline_precision_at_k"] == 0.0  # scores 3000 (resale) and 2700 (low activity)
    assert metrics["baseline_adversary_share"] == 0.5
    assert metrics["baseline_adversary_share_reseller"] == 0.5
    assert metrics["holdout_auc"] == 1.0  # every kept member above every removed one


def test_the_logged_holdout_judges_promotion_alike_without_members_or_reasons():
    # promotion reads the holdout artifact, which has neither the member nor why they were removed
    args = dict(
        probabilities=np.array([0.9, 0.9, 0.1, 0.3, 0.95, 0.9]),  # a tie at the top: the frame's order decides
        gates=Gates(min_score=2500, min_credit_level=4),
        invite_share=0.2,
    )
    full = selector.evaluate(_holdout(), **args)
    logged = selector.evaluate(_holdout().drop(columns=["user_id", "reason"]), **args)
    assert full["holdout_precision_at_k"] == 1.0  # user 1 before user 2 and user 6 (removed), in the frame's order
    assert {k: v for k, v in full.items() if "adversary" not in k} == logged
    assert not [k for k in logged if "adversary" in k]


def test_reason_codes_take_the_largest_contributions_each_way():
    contributions = np.array([[0.5, -0.2, 0.1, -0.7, 0.3]])  # 4 features and the expected value
    ups, downs = selector.reason_codes(contributions, ["a", "b", "c", "d"], 2)
    assert ups == [["a +0.50", "c +0.10"]]
    assert downs == [["d -0.70", "b -0.20"]]


def test_more_genuine_spend_never_lowers_the_chance():
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({name: rng.random(300) for name in NAMES})
    # the label leans on spend and against disputes, with noise that could teach the model otherwise
    frame["label"] = ((frame["net_gross_spend_cny"] - frame["dispute_rate"] + rng.normal(0, 0.6, 300)) > 0).astype(int)
    frame["as_of_month"], frame["user_id"] = "2025-06", range(300)
    booster = selector.fit(
        frame, features=list(NAMES), params=CONFIG.apass.selector.lightgbm, monotone=CONFIG.apass.selector.monotone
    )
    grid = pd.DataFrame([frame.iloc[0]] * 50).reset_index(drop=True)
    grid["net_gross_spend_cny"] = np.linspace(0, 1, 50)
    assert np.all(np.diff(selector.predict(booster, grid)) >= 0)
    grid["dispute_rate"] = np.linspace(0, 1, 50)[::-1]  # spend up and disputes down: still never lower
    assert np.all(np.diff(selector.predict(booster, grid)) >= 0)
    # the same data and seed give the same model, byte for byte
    again = selector.fit(
        frame, features=list(NAMES), params=CONFIG.apass.selector.lightgbm, monotone=CONFIG.apass.selector.monotone
    )
    assert again.model_to_string() == booster.model_to_string()


def test_overrides_apply_after_the_model_and_before_the_quota(spark):
    cands = spark.createDataFrame(
        [
            (1, True, []),
            (2, True, []),
            (3, True, []),
            (4, True, []),
            (5, False, ["gate: credit level C4 below C5"]),
        ],
        "user_id long, passes_gates boolean, gate_failures array<string>",
    )
    scored = spark.createDataFrame(
        [
            (1, 0.9, ["a +1.00"], []),
            (2, 0.8, ["a +0.50"], []),
            (3, 0.7, [], ["b -0.20"]),
            (4, 0.6, [], ["c -0.30"]),
        ],
        "user_id long, model_score double, reasons_up array<string>, reasons_down array<string>",
    )
    overrides = spark.createDataFrame(
        [(1, "exclude", "fraud case 17", "risk"), (9, "invite", "board decision 3", "board")],
        "user_id long, action string, override_reason string, override_author string",
    )
    members = spark.createDataFrame([(u,) for u in (1, 2, 3, 4, 5, 9)], "user_id long")
    no_apass_members = spark.createDataFrame([], "user_id long")
    got = decisions(
        cands,
        scored,
        overrides,
        members,
        no_apass_members,
        month="2025-12",
        model_version=3,
        capacity=2,
        target_stock=2,
    )
    want = [
        Row(
            user_id=1,
            decision="excluded_by_override",
            invited=False,
            rank=None,
            override_reason="fraud case 17",
            reason_codes=[],
        ),
        Row(user_id=2, decision="invited", invited=True, rank=1, override_reason=None, reason_codes=["a +0.50"]),
        Row(user_id=3, decision="waitlisted", invited=False, rank=2, override_reason=None, reason_codes=["b -0.20"]),
        Row(user_id=4, decision="waitlisted", invited=False, rank=3, override_reason=None, reason_codes=["c -0.30"]),
        Row(
            user_id=5,
            decision="gated_out",
            invited=False,
            rank=None,
            override_reason=None,
            reason_codes=["gate: credit level C4 below C5"],
        ),
        Row(
            user_id=9,
            decision="invited_by_override",
            invited=True,
            rank=None,
            override_reason="board decision 3",
            reason_codes=[],
        ),
    ]
    assertDataFrameEqual(got.select("user_id", "decision", "invited", "rank", "override_reason", "reason_codes"), want)
    assert {r["model_version"] for r in got.collect()} == {3}


@pytest.mark.parametrize(
    "spend, expected", [(0, 0.0), (50000, 30.0), (100000, 60.0), (200000, 80.0), (300000, 100.0), (900000, 100.0)]
)
def test_a_energy_points_follow_the_curve(spark, spend, expected):
    curve = CONFIG.apass.renewal.points_curve
    got = spark.range(1).select(points(F.lit(float(spend)), curve).alias("p")).first()["p"]
    assert got == expected


def test_renewal_evaluates_each_membership_year_on_what_was_known(spark):
    members = spark.createDataFrame(
        [(1, "2025-01", "review"), (2, "2025-03", "review"), (3, "2025-02", "invitation")],
        "user_id long, membership_start string, source string",
    )
    rows = [_month_row(spark, 1, f"2025-{m:02d}", spend_cny=9000.0) for m in range(1, 13)]  # 108 000: passes
    rows += [_month_row(spark, 1, "2025-12", spend_cny=9000.0, refund_cny=9000.0, batch="2026-01")]  # not known
    rows += [_month_row(spark, 3, f"2025-{m:02d}", spend_cny=5000.0) for m in range(2, 13)]  # 55 000 to December
    rows += [_month_row(spark, 2, f"2025-{m:02d}", spend_cny=20000.0) for m in range(3, 13)]
    um = spark.createDataFrame(rows, GOLD_USER_MONTH)
    got = {
        r["user_id"]: r
        for r in renewals(
            members,
            um,
            year=2025,
            latest_batch="2025-12",
            curve=CONFIG.apass.renewal.points_curve,
            pass_points=60,
            warn_before=1,
        ).collect()
    }
    assert set(got) == {1}  # members 2 and 3 renew in 2026
    one = got[1]
    assert (one["qualifying_spend_cny"], one["a_energy_points"], one["passed"], one["status"]) == (
        Decimal("108000.00"),
        61.6,
        True,
        "passed",
    )  # 60 + 8 000 x 40 / 200 000
    # warned in November: 11 months of 9 000 = 99 000 -> 59.4 points, below the pass mark
    assert (one["warning_month"], one["points_at_warning"], one["warned"]) == ("2025-11", 59.4, True)
    running = {
        r["user_id"]: r
        for r in renewals(
            members,
            um,
            year=2026,
            latest_batch="2025-12",
            curve=CONFIG.apass.renewal.points_curve,
            pass_points=60,
            warn_before=1,
        ).collect()
    }
    # member 3's year ends in January 2026: warned in December at 55 000 CNY = 33 points
    assert (running[3]["status"], running[3]["passed"], running[3]["points_at_warning"], running[3]["warned"]) == (
        "in_progress",
        None,
        33.0,
        True,
    )
    # member 2's year ends in February 2026: 200 000 CNY so far, its warning month is not reached yet
    assert (running[2]["a_energy_points"], running[2]["warned"], running[2]["status"]) == (80.0, None, "in_progress")


def test_the_docs_catalogue_lists_every_indicator():
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "apass.md").read_text(encoding="utf-8")
    catalogue = docs.split("### Selector indicators", 1)[1]
    assert [name for name in NAMES if f"`{name}`" not in catalogue] == []


def _labelled(rng, rows: int) -> pd.DataFrame:
    """Members past the gates whose review outcome follows two indicators, with noise."""
    frame = pd.DataFrame({name: rng.random(rows) for name in NAMES})
    signal = frame["net_gross_spend_cny"] - frame["dispute_rate"] + 0.3 * rng.standard_normal(rows)
    return frame.assign(
        user_id=np.arange(rows),
        as_of_month="2025-12",
        label=(signal > 0).astype(int),
        reason=None,
        score=2600.0,
        credit_level_number=6.0,
    )


def _register(config, booster, holdout_path: str, lakehouse: str | None = None) -> int:
    """One training run as `taoqi train` logs it (lakehouse, holdout, invited share, model), its version
    @challenger; ``lakehouse`` records another lakehouse than ``config``'s."""
    import mlflow
    import mlflow.lightgbm

    from jobs import model_registry

    client = model_registry.connect(config)
    mlflow.set_experiment(experiment_id=model_registry.experiment_id(config))
    with mlflow.start_run():
        mlflow.set_tag(model_registry.LAKEHOUSE_TAG, lakehouse or model_registry.lakehouse_id(config))
        mlflow.log_artifact(holdout_path, artifact_path="holdout")
        mlflow.log_metric("invite_share", 0.1)
        with model_registry.quiet_registration():
            info = mlflow.lightgbm.log_model(
                booster,
                name=model_registry.MODEL_ARTIFACT,
                registered_model_name=config.apass.selector.registered_model,
            )
    version = int(info.registered_model_version)
    client.set_registered_model_alias(config.apass.selector.registered_model, model_registry.CHALLENGER, str(version))
    return version


def test_a_strictly_worse_challenger_never_replaces_the_champion_and_a_better_one_does(tmp_path):
    from jobs import model_registry
    from jobs.promote import promote

    config = load_config(sets=[f"lakehouse.root={tmp_path}"])
    rng = np.random.default_rng(11)
    train, holdout = _labelled(rng, 400), _labelled(rng, 300)
    holdout_path = str(tmp_path / "holdout.parquet")
    holdout.to_parquet(holdout_path)
    params = config.apass.selector.lightgbm
    good = selector.fit(train, features=list(NAMES), params=params, monotone={})
    worse = selector.fit(train.assign(label=1 - train["label"]), features=list(NAMES), params=params, monotone={})

    first = _register(config, good, holdout_path)
    assert promote(config) == (True, f"promoted apass_selector version {first} to @champion: no champion yet")
    _register(config, worse, holdout_path)
    promoted, reason = promote(config)
    new, old = (
        float(x) for x in re.search(r"holdout_average_precision ([0-9.]+) vs champion v1 ([0-9.]+)", reason).groups()
    )
    assert not promoted and "does not beat" in reason and new < old - 0.2
    client = model_registry.connect(config)
    assert int(client.get_model_version_by_alias("apass_selector", "champion").version) == first

    # and the other way round: a champion that bad is replaced by a challenger that beats it
    client.set_registered_model_alias("apass_selector", "champion", "2")
    third = _register(config, good, holdout_path)
    promoted, reason = promote(config)
    assert promoted and reason.startswith(f"promoted apass_selector version {third} to @champion")


def _trained(tmp_path, seed: int):
    """(config of a lakehouse at ``tmp_path``, a booster fitted on 300 labels, the path of a 50-label holdout)."""
    config = load_config(sets=[f"lakehouse.root={tmp_path}"])
    rng = np.random.default_rng(seed)
    holdout_path = str(tmp_path / "holdout.parquet")
    _labelled(rng, 50).to_parquet(holdout_path)
    booster = selector.fit(
        _labelled(rng, 300), features=list(NAMES), params=config.apass.selector.lightgbm, monotone={}
    )
    return config, booster, holdout_path


def test_select_loads_the_version_its_alias_named_and_refuses_a_model_that_is_not_a_booster(tmp_path):
    import mlflow
    import mlflow.pyfunc

    from jobs import model_registry

    config, booster, holdout_path = _trained(tmp_path, seed=5)
    name, client = config.apass.selector.registered_model, model_registry.connect(config)
    version = _register(config, booster, holdout_path)
    client.set_registered_model_alias(name, model_registry.CHAMPION, str(version))
    loaded, found = model_registry.load_booster(config, model_registry.CHAMPION)
    assert found.version == version and loaded.model_to_string() == booster.model_to_string()

    class NotABooster(mlflow.pyfunc.PythonModel):
        """A pickled Python class posing as the selector: loading it would run its code on the driver."""

        def predict(self, context, model_input):
            return model_input

    mlflow.set_experiment(experiment_id=model_registry.experiment_id(config))
    with mlflow.start_run(), model_registry.quiet_registration():
        mlflow.set_tag(model_registry.LAKEHOUSE_TAG, model_registry.lakehouse_id(config))  # only its flavor is wrong
        info = mlflow.pyfunc.log_model(name="model", python_model=NotABooster(), registered_model_name=name)
    client.set_registered_model_alias(name, model_registry.CHAMPION, str(info.registered_model_version))
    with pytest.raises(model_registry.MissingModelError, match=r"not a LightGBM Booster .* refusing to load it"):
        model_registry.load_booster(config, model_registry.CHAMPION)


def test_select_refuses_a_champion_that_learnt_from_another_lakehouse(tmp_path):
    from jobs import model_registry

    config, booster, holdout_path = _trained(tmp_path, seed=7)
    other = "abfss://prod@lake.dfs.core.windows.net/taoqi"
    version = _register(config, booster, holdout_path, lakehouse=other)
    model_registry.connect(config).set_registered_model_alias("apass_selector", model_registry.CHAMPION, str(version))
    with pytest.raises(model_registry.MissingModelError, match=f"learnt from the lakehouse {other}, not this one"):
        model_registry.load_booster(config, model_registry.CHAMPION)
    # the same directory named from another working directory is the same lakehouse
    relative = load_config(sets=[f"lakehouse.root={os.path.relpath(tmp_path)}"])
    assert model_registry.lakehouse_id(relative) == model_registry.lakehouse_id(config)


def test_a_name_prefix_keeps_the_models_and_experiments_of_two_deployments_apart():
    dev = load_config(["databricks"], sets=["mlflow.name_prefix=dev_me_", "apass.selector.registered_model=main.t.sel"])
    prod = load_config(["databricks"], sets=["apass.selector.registered_model=main.t.sel"])
    assert (dev.apass.selector.registered_model, prod.apass.selector.registered_model) == (
        "main.t.dev_me_sel",
        "main.t.sel",
    )
    assert dev.apass.selector.experiment == "/Shared/taoqi/dev_me_apass_selector"
    assert prod.apass.selector.experiment == "/Shared/taoqi/apass_selector"
    assert (dev.personas.registered_model, dev.personas.experiment) == (
        "dev_me_taoqi_personas",
        "/Shared/taoqi/dev_me_taoqi_personas",
    )


def test_a_stage_logs_to_the_lakehouse_store_whatever_the_process_connected_to_before(tmp_path):
    """The personas stage may run in a process where no selector was trained (nothing connected MLflow
    yet): its experiment, run and model go to the lakehouse's store, not to whatever MLflow pointed at."""
    import mlflow
    from mlflow import MlflowClient

    from jobs import model_registry

    decoy = f"sqlite:///{tmp_path / 'decoy.db'}"
    mlflow.set_tracking_uri(decoy)  # e.g. MLflow's default store in the working directory
    config = load_config(sets=[f"lakehouse.root={tmp_path / 'lake'}"])
    created = model_registry.experiment_id(config, config.personas.experiment)
    lake = MlflowClient(tracking_uri=model_registry.tracking_uri(config))
    assert lake.get_experiment_by_name(config.personas.experiment).experiment_id == created
    assert MlflowClient(tracking_uri=decoy).get_experiment_by_name(config.personas.experiment) is None
    assert mlflow.get_tracking_uri() == model_registry.tracking_uri(config)


def test_the_programs_members_are_reviewed_in_the_worlds_first_month_and_the_rest_are_assessments(spark):
    """The generator's APASS past: membership reviews all in the first month of the world, of accounts invited
    twelve months before it, round(accounts x member_share) of them kept; every other review an assessment,
    spread over the months; the same seed, the same reviews."""
    import dataclasses
    from datetime import date

    from transforms.synthetic import events
    from transforms.synthetic.apass_history import apass_reviews
    from transforms.synthetic.population import population

    gen = load_config(sets=["generator.users=20000"]).generator
    months = events.calendar(["2025-01", "2025-02", "2025-03", "2025-04"])
    users = population(
        spark.range(1, gen.users + 1, numPartitions=2),
        seed=gen.seed,
        segments=gen.segments,
        world_end=date(2025, 4, 30),
    ).cache()
    history = dataclasses.replace(gen.apass_history, member_share=0.0005)  # ten of 20 000
    reviews = apass_reviews(users, seed=gen.seed, months=months, history=history, accounts=gen.users).cache()
    first = months[0].start_epoch
    by_kind = {
        r["kind"]: r
        for r in reviews.groupBy("kind")
        .agg(
            F.count(F.when(F.col("outcome") == "kept", 1)).alias("n"),
            F.min("event_epoch").alias("first"),
            F.max("event_epoch").alias("last"),
            F.collect_set("invited_month").alias("invited"),
        )
        .collect()
    }
    assert by_kind["membership"]["n"] == 10
    assert first <= by_kind["membership"]["first"] <= by_kind["membership"]["last"] < months[1].start_epoch
    assert by_kind["membership"]["invited"] == ["2024-01"]
    assert by_kind["assessment"]["n"] > 10 and by_kind["assessment"]["last"] >= months[-1].start_epoch
    again = apass_reviews(users, seed=gen.seed, months=months, history=history, accounts=gen.users)
    assertDataFrameEqual(again, reviews)
    users.unpersist()
    reviews.unpersist()
