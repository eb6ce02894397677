"""The config loader: base + overlays + --set, typed, with errors that name the key."""

from __future__ import annotations

import re

import pytest

from jobs.runtime.config import ConfigError, check_month, load_config
from transforms.months import month_range


def test_base_and_local_overlay_give_the_documented_defaults():
    config = load_config()
    assert config.lakehouse.root == "./lakehouse"
    assert config.spark.master == "local[*]"
    assert config.generator.users == 100_000 and config.generator.months == 13
    assert config.table_path("silver", "orders") == "./lakehouse/silver/orders"
    # names: taoqi_gold.scores in Spark's own catalog; Unity Catalog's on Databricks, member ids tagged there
    assert (config.lakehouse.catalog, config.lakehouse.schema_prefix) == ("spark_catalog", "taoqi_")
    assert not config.lakehouse.tag_member_ids
    databricks = load_config(["databricks"]).lakehouse
    assert (databricks.catalog, databricks.tag_member_ids) == ("main", True)
    assert config.landing_path("tmall_orders") == "./lakehouse/landing/tmall_orders"
    assert abs(sum(s.share for s in config.generator.segments.values()) - 1) < 1e-9
    # YAML merge keys: a persona inherits what it does not override from the mass profile.
    assert config.generator.segments["brusher"].interactions_per_month == 30.0
    assert config.generator.segments["brusher"].birth_year_mean == config.generator.segments["mass"].birth_year_mean


def test_packaged_cluster_overlay_and_sets_apply_in_order(tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text("lakehouse: {root: s3a://bucket/first}\ngenerator: {users: 50}\n")
    config = load_config(["cluster", str(mine)], ["lakehouse.root=s3a://bucket/last", "generator.seed=7"])
    assert config.spark.master is None  # spark-submit chooses the master on a cluster
    assert config.spark.shuffle_partitions == 200
    assert config.lakehouse.root == "s3a://bucket/last"
    assert (config.generator.users, config.generator.seed) == (50, 7)
    assert config.table_path("gold", "scores") == "s3a://bucket/last/gold/scores"


@pytest.mark.parametrize(
    "sets, local_dir, published",
    [
        ([], "./lakehouse/reports/2026-01", None),
        (["lakehouse.root=file:/data/lake"], "/data/lake/reports/2026-01", None),
        (["lakehouse.root=s3a://bucket/lake/"], "reports/2026-01", "s3a://bucket/lake/reports"),
        (["lakehouse.root=s3a://bucket/lake", "quality.reports_root=/dbfs/reports"], "/dbfs/reports/2026-01", None),
    ],
)
def test_reports_are_written_on_the_driver_and_copied_to_a_remote_root(sets, local_dir, published):
    config = load_config(sets=sets)
    assert config.reports_dir("2026-01") == local_dir
    assert config.reports_publish_root() == published


def test_set_reaches_a_spark_key_with_dots_and_keeps_the_other_extra_settings():
    config = load_config(
        sets=[
            "spark.extra.spark.sql.adaptive.enabled=false",
            "spark.extra.spark.driver.memory=4g",
            "scoring.interaction_monthly_caps.like=7",
        ]
    )
    assert config.spark.extra == {
        "spark.databricks.delta.snapshotPartitions": "2",  # from local.yaml
        "spark.sql.codegen.cache.maxEntries": "2000",
        "spark.driver.extraJavaOptions": "-XX:+UseParallelGC",
        "spark.sql.streaming.checkpointFileManagerClass": (
            "org.apache.spark.sql.execution.streaming.checkpointing.FileSystemBasedCheckpointFileManager"
        ),
        "spark.python.sql.dataFrameDebugging.enabled": "false",
        "spark.driver.memory": "4g",
        "spark.sql.adaptive.enabled": "false",
    }
    assert config.scoring.interaction_monthly_caps["like"] == 7


def test_fingerprint_changes_with_any_setting():
    assert load_config().fingerprint() == load_config().fingerprint()
    assert load_config().fingerprint() != load_config(sets=["generator.seed=1"]).fingerprint()


def test_the_worlds_fingerprint_holds_food_delivery_only_while_its_source_is_on():
    """A world without Ele.me is the world generated before food delivery existed: its landing stays valid."""
    from jobs.generate import world_fingerprint

    off = load_config()
    assert world_fingerprint(off) == world_fingerprint(load_config(sets=["generator.food_delivery.aov_cny=50"]))
    on = ["sources.eleme_orders.enabled=true"]
    assert world_fingerprint(load_config(sets=on)) != world_fingerprint(off)
    changed = load_config(sets=[*on, "generator.food_delivery.aov_cny=50"])
    assert world_fingerprint(changed) != world_fingerprint(load_config(sets=on))
    assert world_fingerprint(load_config(sets=["generator.seed=1"])) != world_fingerprint(off)


@pytest.mark.parametrize(
    "sets, message",
    [
        (["generator.userz=5"], "unknown setting generator.userz"),
        (
            ["generator.food_delivery.category_mix={meal_delivery: 1.0, phones: 1.0}"],
            "generator.food_delivery.category_mix needs non-negative weights with a positive sum over the food",
        ),
        (["generator.food_delivery.member_share=2"], "generator.food_delivery.member_share must be between 0 and 1"),
        (
            ["generator.apass_history.member_share=0.5"],
            "generator.apass_history.member_share must be between 0 and 0.01",
        ),
        (
            ["scoring.caps.by_kind={physical: {order: 1, day: 1, category_month: 1, shop_month: 1}}"],
            "scoring.caps.by_kind: needs exactly the kinds physical, virtual, food_delivery",
        ),
        (["generator.users=many"], "generator.users: expected int, got 'many'"),
        (["generator.users=0"], "generator.users must be at least 1"),
        (["generator.start_month=2025-13"], "month must be YYYY-MM"),
        (["generator.segments.mass.share=0.5"], "shares must sum to 1"),
        (["generator.dirt.row_replay_rate=0.9"], "generator.dirt.row_replay_rate must be between 0 and 0.5"),
        (
            ["generator.segments.brusher.refund_rate=1.5"],
            "generator.segments.brusher.refund_rate must be between 0 and 1",
        ),
        (["conform.fx_to_cny={USD: 7.1}"], "conform.fx_to_cny must contain CNY"),
        (["conform.fx_to_cny={CNY: 1.0, USD: -7.1}"], "conform.fx_to_cny.USD must be a positive number of CNY"),
        (["conform.fx_to_cny={CNY: 1.0, USD: .nan}"], "conform.fx_to_cny.USD must be a positive number of CNY, got na"),
        (["spark.shuffle_partitions=0"], "spark.shuffle_partitions must be at least 1, got 0"),
        (
            ["spark.shuffle_input_bytes_per_partition=-1"],
            "spark.shuffle_input_bytes_per_partition must be 0 for off or a count of bytes, got -1",
        ),
        (["spark.session_time_zone=Asia/Shanghay"], "spark.session_time_zone must be a time zone name"),
        (["apass.selector.promotion_margin=.nan"], "apass.selector.promotion_margin: must be a number >= 0, got nan"),
        (["nonsense"], "--set takes key=value"),
        (["lakehouse.root.deeper=x"], "'root' is not a group of settings"),
        (["lakehouse.root="], "lakehouse.root: expected str, got None"),
        (["lakehouse.catalog=my-catalog"], "lakehouse.catalog must be letters, digits and underscores"),
        (["lakehouse.schema_prefix=taoqi.x_"], "lakehouse.schema_prefix must be letters, digits and underscores"),
    ],
)
def test_user_mistakes_raise_a_config_error_naming_the_key(sets, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_config(sets=sets)


@pytest.mark.parametrize(
    "sets, message",
    [
        (["privacy.pseudonym_key="], "privacy.pseudonym_key: expected str, got None"),
        (["privacy.pseudonym_key=env:"], "must be env:NAME, file:PATH, secret:SCOPE/KEY or lakehouse, got 'env:'"),
        (["privacy.pseudonym_key=taoqi-report"], "must be env:NAME, file:PATH, secret:SCOPE/KEY or lakehouse"),
        (["privacy.pseudonym_key=secret:taoqi"], "secret:SCOPE/KEY names a scope and a key"),
    ],
)
def test_a_pseudonym_key_from_nowhere_is_a_config_error(sets, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(sets=sets)


def test_an_unreadable_overlay_is_a_config_error(tmp_path):
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00not text")
    with pytest.raises(ConfigError, match=r"binary\.yaml.*cannot be read \(UnicodeDecodeError"):
        load_config([str(binary)])


def test_missing_overlay_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config([str(tmp_path / "nope.yaml")])


def test_overlay_that_is_not_a_mapping_is_a_config_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config([str(bad)])


def test_months():
    assert month_range("2025-11", 4) == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert check_month("2025-06") == "2025-06"
    for bad in ("2025-6", "202506", "2025-00", ""):
        with pytest.raises(ConfigError):
            check_month(bad)


def test_no_stage_script_shadows_the_standard_library():
    # spark-submit jobs/<stage>.py puts jobs/ first on sys.path: a jobs/select.py would be imported
    # by PySpark as the stdlib `select` (it was: a circular-import crash under spark-submit).
    import sys
    from pathlib import Path

    jobs = Path(__file__).resolve().parents[2] / "jobs"
    assert sorted(p.stem for p in jobs.glob("*.py") if p.stem in sys.stdlib_module_names) == []
