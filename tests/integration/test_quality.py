"""Quality gates: suites on hand-built tables, critical vs warning, nothing published on a critical failure."""

from __future__ import annotations

import math
from datetime import datetime

import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from jobs.runtime import quality, tables
from jobs.runtime.config import ConfigError, load_config
from tests.unit.test_gold import _features
from transforms import catalog
from transforms.gold.score import scores
from transforms.gold.stability import metric_bins, stability

S = load_config().scoring  # the scoring the suites check against


def _config(tmp_path, *sets):
    return load_config(
        sets=[f"lakehouse.root={tmp_path / 'lh'}", f"quality.reports_root={tmp_path / 'reports'}", *sets]
    )


def _scores(spark, spends: list[int]):
    members = [
        dict(
            user_id=i + 1,
            net_spend_cny=spend,
            scored_orders=40,
            active_days=30,
            account_age_years=5.0,
            months_active=10,
            orders=40,
            platforms_used=2,
        )
        for i, spend in enumerate(spends)
    ]
    return scores(_features(spark, members), None, S).localCheckpoint()


def _outcomes(spark, config, df, table="gold.scores"):
    return {
        o.check: o for o in quality.validate(spark, config, "test", table, df, month="2025-12", stop_on_critical=False)
    }


def test_valid_scores_pass_and_a_broken_band_is_named(spark, tmp_path):
    config = _config(tmp_path, "quality.data_docs=false", "quality.super_share={min: 0.0, max: 1.0}")
    good = _scores(spark, [0, 5000, 50000, 200000, 900000])
    outcomes = _outcomes(spark, config, good)
    assert [name for name, o in outcomes.items() if not o.success] == []
    assert outcomes["user_id, month unique"].success and outcomes["band of score"].severity == "critical"
    broken = good.withColumn("band", F.when(F.col("user_id") == 2, F.lit(4)).otherwise(F.col("band")))
    outcomes = _outcomes(spark, config, broken)
    # one member's band contradicts the score, and so do the grade and fee that follow the score's band
    assert [name for name, o in outcomes.items() if not o.success] == ["band of score", "grade and fee of band"]
    assert outcomes["band of score"].observed_value == "1"
    doubled = good.unionByName(good.filter(F.col("user_id") == 3))
    failed = {n: o for n, o in _outcomes(spark, config, doubled).items() if not o.success}
    assert list(failed) == ["user_id, month unique"] and failed["user_id, month unique"].unexpected_count == 2


def test_super_share_is_checked_against_the_published_band(spark, tmp_path):
    config = _config(tmp_path, "quality.data_docs=false")
    # 1 super member of 5 is 20 %: above the published 3-5 %, a warning by default
    outcomes = _outcomes(spark, config, _scores(spark, [0, 0, 0, 0, 2_000_000]))
    assert outcomes["super share at least"].success
    at_most = outcomes["super share at most"]
    assert not at_most.success and at_most.severity == "warning" and at_most.observed_value == "1"  # one month
    assert "0.2" in quality.describe(at_most)  # its share, in the message


def test_a_critical_failure_publishes_nothing_and_is_recorded(spark, tmp_path):
    config = _config(tmp_path, "quality.data_docs=true", "quality.super_share={min: 0.0, max: 1.0}")
    good = _scores(spark, [0, 5000, 50000])
    tables.ensure(spark, config, catalog.table("gold.scores"))
    december = "month = '2025-12'"
    written = quality.publish(spark, config, "test", "gold.scores", good, replacing=december, month="2025-12")
    assert written == 3
    version = tables.version(spark, config, "gold.scores")
    broken = good.withColumn("score", F.col("score") + 1)  # no longer the sum of its components
    with pytest.raises(
        quality.QualityError,
        match=r"critical check 'score = sum of components' failed on "
        r"gold.scores 2025-12: .*gold.scores left unchanged",
    ):
        quality.publish(spark, config, "test", "gold.scores", broken, replacing=december, month="2025-12")
    assert tables.version(spark, config, "gold.scores") == version
    assert (
        not DeltaTable.forPath(spark, tables.location(config, "gold.scores"))
        .toDF()
        .join(broken, ["user_id", "score"])
        .take(1)
    )
    results = tables.read(spark, config, quality.RESULTS)
    failed = results.filter(~F.col("success")).select("table_name", "check_name", "severity").collect()
    assert [tuple(r) for r in failed] == [("gold.scores", "score = sum of components", "critical")]
    # two validations of the same suite: every check once each, one failure in all
    assert results.count() % 2 == 0 and results.select("run_id").distinct().count() == 1
    assert (tmp_path / "reports" / "2025-12" / "data_docs" / "index.html").is_file()


def test_checks_go_on_record_and_into_data_docs_once_per_flush_in_the_lakehouse_they_were_run_for(spark, tmp_path):
    one = _config(tmp_path / "one", "quality.data_docs=true", "quality.super_share={min: 0.0, max: 1.0}")
    other = _config(tmp_path / "other", "quality.data_docs=false", "quality.super_share={min: 0.0, max: 1.0}")
    good = _scores(spark, [0, 5000])
    checks = len(_outcomes(spark, one, good))
    _outcomes(spark, one, good, table="gold.scores")
    _outcomes(spark, other, good)
    assert not tables.exists(spark, one, quality.RESULTS)  # validated, not yet written
    docs = tmp_path / "one" / "reports" / "2025-12" / "data_docs"
    assert not (docs / "index.html").exists()  # nor rendered: the site's index is built once per flush
    quality.flush(spark)
    assert (docs / "index.html").is_file() and len(list((docs / "validations").rglob("*.html"))) == 2
    quality.flush(spark)  # nothing left: no empty commit
    for config, validations in ((one, 2), (other, 1)):
        history = DeltaTable.forPath(spark, tables.location(config, quality.RESULTS)).history()
        assert history.filter(F.col("operation") == "WRITE").count() == 1
        assert tables.read(spark, config, quality.RESULTS).count() == validations * checks


def _checkpoints(spark) -> set[int]:
    """Ids of the RDDs held by a localCheckpoint (Delta keeps its own table-state caches beside them)."""
    held = spark.sparkContext._jsc.getPersistentRDDs()
    return {int(k) for k in held.keySet() if "localCheckpoint" in held[k].toDebugString().splitlines()[0]}


def test_the_gate_releases_what_it_materialised(spark, tmp_path):
    """GE's batches are not persisted (persist=False) and the gate's own checkpoint is dropped on exit,
    whether the write went through or a critical check stopped it."""
    config = _config(tmp_path, "quality.data_docs=false", "quality.super_share={min: 0.0, max: 1.0}")
    good = _scores(spark, [0, 5000])
    tables.ensure(spark, config, catalog.table("gold.scores"))
    before = _checkpoints(spark)
    with quality.gate(spark, config, "test", "gold.scores", good, month="2025-12") as checked:
        assert len(_checkpoints(spark) - before) == 1
        tables.replace_where(checked, config, "gold.scores", "month = '2025-12'")
    # compare what is new, not the whole set: Spark's ContextCleaner may free an older test's
    # checkpoint at any driver GC, which shrinks the set without the gate having leaked anything
    assert not _checkpoints(spark) - before
    with (
        pytest.raises(quality.QualityError),
        quality.gate(
            spark, config, "test", "gold.scores", good.withColumn("score", F.col("score") + 1), month="2025-12"
        ),
    ):
        pass
    assert not _checkpoints(spark) - before


def test_a_check_made_a_warning_in_config_lets_the_write_through(spark, tmp_path):
    config = _config(
        tmp_path,
        "quality.data_docs=false",
        "quality.super_share={min: 0.0, max: 1.0}",  # a --set mapping replaces the whole mapping:
        "quality.severity={'gold.scores/score = sum of components': warning}",
    )
    broken = _scores(spark, [0, 5000]).withColumn("score", F.col("score") + 1)
    tables.ensure(spark, config, catalog.table("gold.scores"))
    quality.publish(spark, config, "test", "gold.scores", broken, replacing="month = '2025-12'", month="2025-12")
    assert tables.read(spark, config, "gold.scores").count() == 2


def test_psi_is_zero_for_the_same_month_and_follows_its_formula_for_a_shift(spark):
    specs = metric_bins(score_edges=[0, 1000], component_maxima=S.component_maxima(), component_bins=2)
    before = _scores(spark, [0] * 6 + [2_000_000] * 2)
    same = {
        r["metric"]: r
        for r in stability(before, before, month="2026-01", previous_month="2025-12", specs=specs).collect()
    }
    assert {m: r["psi"] for m, r in same.items()} == dict.fromkeys(same, 0.0) and len(same) == 6
    after = _scores(spark, [0] * 4 + [2_000_000] * 4)
    psi = {
        r["metric"]: r
        for r in stability(after, before, month="2026-01", previous_month="2025-12", specs=specs).collect()
    }
    shares_before, shares_after = [6 / 8, 2 / 8], [4 / 8, 4 / 8]  # below and at/above 1000 points
    expected = sum((p - q) * math.log(p / q) for p, q in zip(shares_after, shares_before, strict=True))
    assert psi["score"]["psi"] == pytest.approx(expected, abs=1e-6)
    assert (psi["score"]["members"], psi["score"]["previous_members"], psi["score"]["bins"]) == (8, 8, 2)


@pytest.mark.parametrize(
    "setting, message",
    [
        ("quality.severity={columns: fatal}", "quality.severity.columns must be critical or warning"),
        ("quality.super_share={min: 0.06, max: 0.05}", "quality.super_share needs 0 <= min <= max <= 1"),
        (
            "quality.stability.score_edges=[0, 500, 300]",
            "quality.stability.score_edges must be at least two increasing",
        ),
    ],
)
def test_invalid_quality_settings_are_config_errors(setting, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_config(sets=[setting])


@pytest.mark.parametrize("rows, volume_ok", [(100, True), (40, False), (250, False)])
def test_a_new_batch_is_checked_against_the_batches_before_it(spark, tmp_path, rows, volume_ok):
    """Volume: a new batch within 0.5x-2x the average of the 3 months before it (a warning); batches
    older than that do not count, and a batch with no rows fails 'batch not empty' (critical)."""
    from jobs.runtime.registry import load_source

    config = _config(tmp_path, "quality.data_docs=false")
    spec = load_source("risk_flags", config.sources["risk_flags"].conformer)
    metadata = dict(
        _source_file="f.json",
        _ingest_month="2025-05",
        _load_id="l1",
        _ingested_at=datetime(2025, 6, 1),
        _row_hash="h",
        _malformed=False,
        _raw=None,
    )
    batch = spark.createDataFrame(
        [{**dict.fromkeys(spec.raw_schema.fieldNames()), **metadata, "flag_id": str(i)} for i in range(rows)],
        spec.bronze_schema,
    )
    # 2025-01 (out of reach: 3 months before 2025-05 are 02-04) would drag the average down to 77.5
    history = spark.createDataFrame(
        [
            ("2025-01", 10, False),
            ("2025-02", 80, False),
            ("2025-03", 100, False),
            ("2025-04", 120, False),
            ("2025-05", 0, True),
        ],
        "_ingest_month string, n long, is_new boolean",
    )
    outcomes = {
        o.check: o
        for o in quality.validate(
            spark,
            config,
            "test",
            "bronze.risk_flags",
            batch,
            month="2025-05",
            references={"history": history},
            stop_on_critical=False,
        )
    }
    volume = outcomes["volume vs trailing batches"]
    assert (volume.success, volume.severity) == (volume_ok, "warning")
    assert volume.sample is None if volume_ok else volume.sample == f"m=2025-05, n={rows}, trailing=100.0"
    assert outcomes["batch not empty"].success
    empty = quality.validate(
        spark,
        config,
        "test",
        "bronze.risk_flags",
        batch.limit(0),
        month="2025-05",
        references={"history": history},
        stop_on_critical=False,
    )
    (not_empty,) = [o for o in empty if o.check == "batch not empty"]
    assert (not_empty.success, not_empty.severity, not_empty.sample) == (False, "critical", "m=2025-05")


def test_a_disabled_sources_silver_table_is_still_checked_on_its_key(spark, tmp_path):
    from datetime import date

    from transforms.schemas import SILVER_RISK_FLAGS

    # risk_flags was enabled when the batch was published; `taoqi quality` checks it after it is disabled
    config = _config(tmp_path, "quality.data_docs=false", "sources.risk_flags.enabled=false")
    flag = (
        "taobao",
        "f1",
        "o1",
        1,
        "BRUSH_RING",
        0.9,
        datetime(2025, 12, 30, 10),
        date(2025, 12, 30),
        "2025-12",
        "risk_flags",
        "2025-12",
        "load-1",
    )
    accounts = spark.createDataFrame([(1,)], "user_id long")
    twice = spark.createDataFrame([flag, flag], SILVER_RISK_FLAGS)
    outcomes = {
        o.check: o
        for o in quality.validate(
            spark,
            config,
            "test",
            "silver.risk_flags",
            twice,
            month="2025-12",
            references={"accounts": accounts},
            stop_on_critical=False,
        )
    }
    assert [name for name, o in outcomes.items() if not o.success] == ["platform, flag_id unique"]


def test_an_unexpected_rows_check_runs_its_query_once_and_counts_what_it_returns(spark):
    from expectations.runner import run_suite
    from expectations.suites import Check, unexpected_rows

    evaluated = spark.sparkContext.accumulator(0)

    def seen(v):  # counts every evaluation of the query's filter
        evaluated.add(1)
        return v

    spark.udf.register("seen", seen, "long")
    batch = spark.createDataFrame([(1,), (-1,), (-2,), (4,)], "v long").localCheckpoint()
    passing = Check("nothing below -10", unexpected_rows("no v below -10", "SELECT v FROM {batch} WHERE seen(v) < -10"))
    (outcome,) = run_suite(batch, "test.once", [passing], {passing.name: "critical"})
    assert outcome.success and outcome.unexpected_count == 0
    assert evaluated.value == 4  # one pass over the 4 rows: GE's own check reads them twice
    failing = Check("no negatives", unexpected_rows("no negative v", "SELECT v FROM {batch} WHERE v < 0"))
    (outcome,) = run_suite(batch, "test.negatives", [failing], {failing.name: "critical"})
    assert not outcome.success and outcome.unexpected_count == 2 and outcome.observed_value == "2"
    assert outcome.sample in ("v=-1; v=-2", "v=-2; v=-1")  # fetched again, only because it failed
