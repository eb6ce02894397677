"""Operations: `taoqi rollback` (Delta RESTORE, audited), ops.gold_log, the tables as the catalogue creates them."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.cli import main
from jobs.runtime import gold_log, quality, tables
from jobs.runtime.config import load_config
from transforms import catalog
from transforms.schemas import OPS_GOLD_LOG


def _sets(root) -> list[str]:
    return ["--set", f"lakehouse.root={root}"]


def _scores(spark, root, rows: list[tuple[int, str, int]], mode: str) -> None:
    (
        spark.createDataFrame(rows, "user_id long, month string, score int")
        .write.format("delta")
        .mode(mode)
        .save(f"{root}/gold/scores")
    )


@pytest.fixture
def published(spark, tmp_path):
    """gold.scores with a good version 0 and a bad publish on top (version 1)."""
    _scores(spark, tmp_path, [(1, "2025-11", 1200), (2, "2025-11", 300)], "overwrite")
    _scores(spark, tmp_path, [(1, "2025-12", 999_999)], "overwrite")
    return tmp_path


def test_rollback_restores_the_version_and_audits_it(spark, published, capsys):
    code = main(
        [
            "rollback",
            "--table",
            "gold.scores",
            "--version",
            "0",
            "--reason",
            "a cap table typo",
            "--author",
            "ops-oncall",
            *_sets(published),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "restored to version 0 (was 1; the RESTORE is version 2)" in out
    scores = spark.read.format("delta").load(f"{published}/gold/scores")
    assertDataFrameEqual(scores, [(1, "2025-11", 1200), (2, "2025-11", 300)])
    # the months the restore touched are to be scored again: the next run does not take them as current
    assert "months to compute again: 2025-11, 2025-12" in out
    config = load_config(sets=[f"lakehouse.root={published}"])
    marked = gold_log.computed(spark, config, "gold.scores")
    assert {m: c.settings for m, c in marked.items()} == {"2025-11": "rolled back", "2025-12": "rolled back"}
    audit = spark.read.format("delta").load(f"{published}/ops/audit").collect()
    assert [
        (r["action"], r["table_name"], r["from_version"], r["to_version"], r["new_version"], r["author"], r["reason"])
        for r in audit
    ] == [("rollback", "gold.scores", 1, 0, 2, "ops-oncall", "a cap table typo")]
    # the bad publish stays readable by time travel: RESTORE is a commit, not a deletion
    bad = spark.read.format("delta").option("versionAsOf", 1).load(f"{published}/gold/scores")
    assert bad.filter(F.col("score") == 999_999).count() == 1


def test_a_silver_rollback_sends_the_batches_it_changed_to_conform_again(spark, tmp_path, capsys):
    from jobs.conform import pending_months
    from transforms.schemas import OPS_INGEST_MANIFEST, OPS_RECONCILIATION

    config = load_config(sets=[f"lakehouse.root={tmp_path}"])
    orders = f"{tmp_path}/silver/orders"
    for batch, mode in (("2025-11", "overwrite"), ("2025-12", "append")):  # versions 0 and 1: one batch each
        spark.createDataFrame([("o-" + batch, batch)], "order_id string, ingest_month string").write.format(
            "delta"
        ).mode(mode).save(orders)
    loaded_at, conformed_at = (datetime(2026, 1, 1, hour, tzinfo=UTC) for hour in (1, 2))
    for name, schema, rows in (
        (
            "ops.ingest_manifest",
            OPS_INGEST_MANIFEST,
            [
                ("taobao_orders", b, f"/l/{b}.json", f"{b}.json", 1, "0" * 64, "loaded", None, "i", loaded_at)
                for b in ("2025-11", "2025-12")
            ],
        ),
        (
            "ops.reconciliation",
            OPS_RECONCILIATION,
            [
                ("taobao_orders", b, "c", "silver.orders", 1, 1, 0, 0, 0, True, [b], conformed_at)
                for b in ("2025-11", "2025-12")
            ],
        ),
    ):
        tables.ensure(spark, config, catalog.table(name))
        tables.append(spark.createDataFrame(rows, schema), config, name)
    assert pending_months(spark, config) == []

    assert main(["rollback", "--table", "silver.orders", "--version", "0", "--reason", "x", *_sets(tmp_path)]) == 0
    assert "batch(es) 2025-12 to conform again" in capsys.readouterr().out
    # the batch the restore took out of silver is conformed again by the next run (and gold follows it);
    # the batch it kept as it was is not
    assert pending_months(spark, config) == ["2025-12"]


def test_rollback_without_a_version_lists_the_versions(published, capsys):
    assert main(["rollback", "--table", "gold.scores", *_sets(published)]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed[-2:]] == ["1", "0"] and listed[-1].endswith("WRITE")


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--table", "gold.scores", "--version", "1", "--reason", "x"],
            "restored to a version from 0 to 0 (current: 1)",
        ),
        (["--table", "gold.scores", "--version", "0"], "--reason is required with --version"),
        (["--table", "gold.nothing", "--version", "0", "--reason", "x"], "table gold.nothing not found"),
        (["--table", "scores", "--version", "0", "--reason", "x"], "name a published table as layer.table"),
        (["--table", "ops.gold_log", "--version", "0", "--reason", "x"], "the job's own record, append-only"),
    ],
)
def test_rollback_mistakes_exit_2_with_one_line(spark, published, capsys, args, message):
    assert main(["rollback", *args, *_sets(published)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1]
    assertDataFrameEqual(spark.read.format("delta").load(f"{published}/gold/scores"), [(1, "2025-12", 999_999)])


def test_a_relative_lakehouse_root_without_dot_slash_creates_its_tables(spark, tmp_path):
    # Delta's table builder reads a bare relative location ("lake/ops/x") as a table name and fails;
    # relative to the working directory the JVM started in (the session's, not changed by the test)
    config = load_config(sets=[f"lakehouse.root={os.path.relpath(tmp_path / 'lake')}"])
    assert not config.lakehouse.root.startswith(("./", "/"))
    tables.ensure(spark, config, catalog.table("ops.gold_log"))
    assert (tmp_path / "lake" / "ops" / "gold_log" / "_delta_log").is_dir()
    assert tables.read(spark, config, "ops.gold_log").schema == OPS_GOLD_LOG


def test_a_table_is_created_as_the_catalogue_describes_it(spark, tmp_path):
    config = load_config(sets=[f"lakehouse.root={tmp_path}"])
    scores = catalog.table("gold.scores")
    tables.ensure(spark, config, scores)
    location = tables.location(config, "gold.scores")
    described = {r["col_name"]: r["comment"] for r in spark.sql(f"DESCRIBE delta.`{location}`").collect()}
    assert described["vip_fee_cny"] == "88VIP yearly fee: 88 or 888"  # column comments, as DESCRIBE shows them
    assert described["user_id"] == "the member (one account across the platforms)"
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{location}`").collect()[0]
    assert detail["description"] == scores.description and detail["partitionColumns"] == ["month"]
    # a write of rows without comments keeps them (Delta keeps the table's schema metadata)
    tables.append(spark.createDataFrame([], without_comments(scores.schema)), config, "gold.scores")
    assert (
        spark.read.format("delta").load(location).schema["score"].metadata["comment"]
        == "the Taoqi score: the sum of the four components"
    )


def without_comments(schema):
    from pyspark.sql import types as T

    return T.StructType([T.StructField(f.name, f.dataType, f.nullable) for f in schema.fields])


def test_the_gold_log_keeps_every_recompute_and_answers_with_the_latest(spark, tmp_path):
    config = load_config(sets=[f"lakehouse.root={tmp_path}"])
    gold_log.record(spark, config, "gold.scores", "2025-01", "old-settings", 10)
    gold_log.record(spark, config, "gold.scores", "2025-02", "old-settings", 20)
    gold_log.record(spark, config, "gold.user_features", "2025-01", "old-settings", 30)
    gold_log.record(spark, config, "gold.scores", "2025-01", "new-settings", 11)  # month 1 rescored
    done = gold_log.computed(spark, config, "gold.scores")
    assert {m: (c.settings, c.rows) for m, c in done.items()} == {
        "2025-01": ("new-settings", 11),
        "2025-02": ("old-settings", 20),
    }
    assert done["2025-01"].at > done["2025-02"].at
    history = tables.read(spark, config, "ops.gold_log").filter(F.col("gold_table") == "gold.scores")
    assert sorted(r["settings"] for r in history.filter(F.col("month") == "2025-01").collect()) == [
        "new-settings",
        "old-settings",
    ]


def test_publishing_a_report_replaces_the_remote_copy_without_nesting(spark, tmp_path, monkeypatch):
    from jobs import report
    from jobs.runtime.config import Config

    # only a report that copies to the lakehouse takes its write lock
    assert report.is_read_only(load_config(sets=[f"lakehouse.root={tmp_path / 'lake'}"]))
    assert not report.is_read_only(load_config(sets=["lakehouse.root=s3a://bucket/lake"]))
    config = load_config(sets=[f"quality.reports_root={tmp_path / 'driver disk'}"])  # a space: no %20 on the way
    local = tmp_path / "driver disk" / "2026-01"
    (local / "data_docs").mkdir(parents=True)
    (local / "index.html").write_text("<html>new</html>")
    (local / "data_docs" / "index.html").write_text("docs")
    remote = tmp_path / "lake" / "reports"
    (remote / "2026-01").mkdir(parents=True)
    (remote / "2026-01" / "stale.html").write_text("from the month's previous run")
    # a remote root is what makes a copy; file: stands in for s3a: here (the same Hadoop FileSystem calls)
    monkeypatch.setattr(Config, "reports_publish_root", lambda self: remote.as_uri())

    def published() -> list[str]:
        month = remote / "2026-01"
        return sorted(str(p.relative_to(month)) for p in month.rglob("*") if p.is_file() and p.suffix != ".crc")

    # this run's checks go with the copy and beside the report, though the renewals were checked as 2026-12
    quality.start_run()
    quality.RUN.validated.append(("gold.apass_renewals", "2026-12", 29, []))
    quality.RUN.report_month = "2026-01"  # report.report() notes it
    try:
        report.publish(spark, config, "2026-01")
        assert quality.write_summary(config) == str(local / "quality_summary.txt")
    finally:
        quality.start_run()
    assert published() == ["data_docs/index.html", "index.html", "quality_summary.txt"]
    assert (remote / "2026-01" / "index.html").read_text() == "<html>new</html>"
    assert "gold.apass_renewals" in (remote / "2026-01" / "quality_summary.txt").read_text()
    # a copy that fails (here: nothing on the driver for the month) leaves the published one as it was
    with pytest.raises(Exception):  # noqa: B017 (whatever fails, what matters is what stays published)
        report.publish(spark, config, "2026-02")
    assert len(published()) == 3


def test_rollback_to_a_vacuumed_version_is_one_line_and_changes_nothing(spark, published, capsys):
    spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
    try:
        spark.sql(f"VACUUM delta.`{published}/gold/scores` RETAIN 0 HOURS")  # version 0's files are gone
    finally:
        spark.conf.unset("spark.databricks.delta.retentionDurationCheck.enabled")
    assert main(["rollback", "--table", "gold.scores", "--version", "0", "--reason", "x", *_sets(published)]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("taoqi rollback: error: --version 0: gold.scores cannot be restored to it (")
    assert last.endswith("pick a later version")
    assertDataFrameEqual(spark.read.format("delta").load(f"{published}/gold/scores"), [(1, "2025-12", 999_999)])
    assert not (published / "ops" / "audit").exists()


@pytest.mark.parametrize(
    "root, message",
    [
        ("nosuchfs://lake/taoqi", "nosuchfs://lake/taoqi/_taoqi.lock: no file system for its scheme"),
        ("/dev/null/lake", "cannot write the lakehouse at /dev/null/lake (Not a directory)"),
    ],
)
def test_a_lakehouse_root_that_cannot_be_used_ends_in_one_line(spark, capsys, root, message):
    assert main(["ingest", *_sets(root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and "Traceback" not in "\n".join(err)
    # a stage that only reads: the same one line for a scheme nothing serves
    assert main(["explain", "--user", "1", *_sets(root)]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert ("no file system for its scheme" if "://" in root else "not found at /dev/null/lake") in last


def test_purge_removes_rows_a_deletion_vector_hid_and_rewrites_only_tables_that_have_them(spark, tmp_path):
    """On a platform that turns deletion vectors on (Databricks does, for new tables), `forget` hides a member's
    rows in their file instead of rewriting it; `forget --purge` rewrites such files before its VACUUM, and leaves
    the tables without the feature to VACUUM alone."""
    sets = [*_sets(tmp_path), "--set", "privacy.purge_after_hours=0"]
    config = load_config(sets=[f"lakehouse.root={tmp_path}"])
    for name in ("gold.service_routing", "gold.personas"):
        tables.ensure(spark, config, catalog.table(name))
    routing = f"{tmp_path}/gold/service_routing"
    spark.sql(f"ALTER TABLE delta.`{routing}` SET TBLPROPERTIES ('delta.enableDeletionVectors' = 'true')")
    rows = [(user, "2025-12", "C3", "standard", user) for user in (1, 2, 3)]
    schema = catalog.table("gold.service_routing").schema
    # one file for the three members: deleting one of them marks a row of a kept file, not a whole file
    spark.createDataFrame(rows, schema).coalesce(1).write.format("delta").mode("append").save(routing)
    personas = [(user, "2025-12", 0, "the planner", 0.5, 1) for user in (1, 2, 3)]
    tables.append(spark.createDataFrame(personas, catalog.table("gold.personas").schema), config, "gold.personas")

    def on_disk(table: str) -> set[int]:
        files = [str(p) for p in (tmp_path / "gold" / table).rglob("*.parquet")]
        return {r["user_id"] for r in spark.read.parquet(*files).select("user_id").collect()}

    assert main(["forget", "--user", "2", "--reason", "request 1", *sets]) == 0
    assert {r["user_id"] for r in spark.read.format("delta").load(routing).collect()} == {1, 3}
    assert 2 in on_disk("service_routing")  # hidden by a deletion vector, its file kept
    assert main(["forget", "--purge", *sets]) == 0
    assert on_disk("service_routing") == on_disk("personas") == {1, 3}
    operations = {
        table: {r["operation"] for r in spark.sql(f"DESCRIBE HISTORY delta.`{tmp_path}/gold/{table}`").collect()}
        for table in ("service_routing", "personas")
    }
    assert "REORG" in operations["service_routing"] and "REORG" not in operations["personas"], operations
