"""End to end: the real CLI on a tiny world in a temp dir.

One session-scoped world (tests/conftest.py, tests/e2e/conftest.py), several lakehouses built from it:
  bulk    -- the world's landing through one `taoqi run` over every batch, every table validated
  replica -- the same world generated again by `taoqi generate` on another parallelism
  monthly -- the same landing run one month at a time through the CLI in this process, quality checks off
             (spark-submit is the cluster test's: tests/cluster)
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.run import CHAIN
from tests.tiny_world import GOLD, MONTHLY, MONTHS, SILVER, SOURCES, WORLD, at, set_args, taoqi
from transforms.silver import reasons as R

pytestmark = pytest.mark.e2e


def landing_digest(root: Path) -> dict[str, str]:
    """sha256 of every landed file; for Parquet, of its rows (parquet-mr writes a column's
    encodings in hash-set order, so equal rows may differ in a few footer bytes across JVMs)."""

    def digest(path: Path) -> str:
        if path.suffix == ".parquet":
            return hashlib.sha256(pq.read_table(path).to_pandas().to_json(orient="records").encode()).hexdigest()
        return hashlib.sha256(path.read_bytes()).hexdigest()

    return {
        str(p.relative_to(root)): digest(p)
        for p in sorted((root / "landing").rglob("*"))
        if p.is_file() and not p.name.startswith((".", "_"))
    }


def read(spark, root: Path, name: str):
    layer, table = name.split(".")
    return spark.read.format("delta").load(str(root / layer / table))


def test_generator_writes_every_source_and_is_identical_on_another_parallelism(lakes):
    bulk, replica = landing_digest(lakes["bulk"]), landing_digest(lakes["replica"])
    assert bulk == replica  # file for file: text byte for byte, Parquet row for row
    sources = {Path(p).parts[1] for p in bulk}
    assert sources == set(SOURCES)
    batches = {p.split("ingest_month=")[1][:7] for p in bulk}
    assert batches == set(MONTHS)


def test_run_reconciles_every_source_and_batch(spark, lakes):
    recon = read(spark, lakes["bulk"], "ops.reconciliation")
    rows = recon.collect()
    assert len(rows) == len(SOURCES) * len(MONTHS)
    assert all(r["balanced"] for r in rows)
    totals = recon.agg(
        *[F.sum(c).alias(c) for c in ("rows_in", "rows_valid", "rows_quarantined", "rows_duplicate", "rows_late")]
    ).first()
    assert totals["rows_quarantined"] > 0 and totals["rows_duplicate"] > 0 and totals["rows_late"] > 0
    # Counted independently of the reconciliation: what silver and quarantine really hold.
    silver_rows = sum(read(spark, lakes["bulk"], f"silver.{t}").count() for t in SILVER[:-1])
    assert silver_rows == totals["rows_valid"]
    assert read(spark, lakes["bulk"], "silver.quarantine").count() == totals["rows_quarantined"]
    bronze_rows = sum(read(spark, lakes["bulk"], f"bronze.{s}").count() for s in SOURCES)
    assert bronze_rows == totals["rows_in"]
    assert "balanced" in lakes["run"].stdout and "silver.orders" in lakes["run"].stdout


def test_every_reason_is_quarantined_and_silver_is_clean(spark, lakes):
    quarantine = read(spark, lakes["bulk"], "silver.quarantine")
    # the generator's accounts feed sends every account once (replays aside): no ACCOUNT_CHANGE
    # (tests/integration/test_check_landing.py lands changes by hand)
    sent = set(R.DESCRIPTIONS) - {R.ACCOUNT_CHANGE}
    assert {r["reason"] for r in quarantine.select("reason").distinct().collect()} == sent
    orders = read(spark, lakes["bulk"], "silver.orders")
    assert orders.filter(F.col("amount_cny") <= 0).count() == 0
    assert orders.groupBy("platform", "order_id").count().filter("count > 1").count() == 0
    assert {r["platform"] for r in orders.select("platform").distinct().collect()} == {
        "taobao",
        "tmall",
        "fliggy",
        "taopiaopiao",
        "eleme",
    }
    # Risk control flagged some orders, and the flags reached the orders they name.
    flags = read(spark, lakes["bulk"], "silver.risk_flags")
    flagged = orders.filter("risk_flagged")
    assert (
        flagged.count()
        == flags.join(orders, ["platform", "order_id"], how="left_semi")
        .select("platform", "order_id")
        .distinct()
        .count()
        > 0
    )


def test_the_risk_flags_merge_writes_again_only_the_orders_it_flags(spark, lakes):
    """silver.orders has deletion vectors: each month's MERGE of its risk flags writes the orders they name again
    and hides their old rows, instead of copying every other order of the files those sit in."""
    orders = DeltaTable.forPath(spark, str(lakes["monthly"] / "silver" / "orders"))
    assert "deletionVectors" in orders.detail().first()["tableFeatures"]
    merges = [r["operationMetrics"] for r in orders.history().filter("operation = 'MERGE'").collect()]
    assert len(merges) == len(MONTHS), merges
    for metrics in merges:
        assert int(metrics["numTargetRowsUpdated"]) > 0, metrics
        assert int(metrics["numTargetDeletionVectorsAdded"]) > 0, metrics
        assert int(metrics["numTargetRowsCopied"]) == 0, metrics


def test_tables_keep_statistics_only_on_the_columns_the_job_filters_by(spark, lakes):
    """Bronze is read by batch only: Delta records each file's rows, not the per-column ranges a load would pay for.
    Silver keeps the ranges of the columns a batch's or a member's rows are found by (forget skips files by
    their user_id range), and of no other."""

    def statistics(table: str) -> list[dict]:
        log = spark.read.json(str(lakes["monthly"] / table / "_delta_log" / "*.json"))
        return [json.loads(r["stats"]) for r in log.filter("add IS NOT NULL").select("add.stats").collect()]

    for source in SOURCES:
        files = statistics(f"bronze/{source}")
        assert files and all(f["numRecords"] > 0 and not f.get("minValues") for f in files), (source, files[:2])
    orders = statistics("silver/orders")
    assert orders and all(set(f["minValues"]) == {"user_id", "ingest_month", "source"} for f in orders), orders[:2]


def test_a_fifth_platforms_orders_are_scored_capped_and_checked(spark, lakes):
    """Ele.me, enabled by config alone: its orders reach silver (dirt quarantined), take the food delivery
    caps (a day of 60 CNY in the tiny world), are named in gold, score, and pass every check."""
    root = lakes["bulk"]
    orders = read(spark, root, "silver.orders").filter(F.col("platform") == "eleme")
    assert orders.count() > 0
    assert {r["item_kind"] for r in orders.select("item_kind").distinct().collect()} == {"food_delivery"}
    quarantined = read(spark, root, "silver.quarantine").filter(F.col("source") == "eleme_orders")
    assert quarantined.filter(F.col("reason") == R.MALFORMED_LINE).count() > 0
    # slices of members who only ordered from Ele.me: the day cap of food delivery holds on every active day
    only_eleme = (
        read(spark, root, "gold.user_month")
        .filter(F.col("platforms") == F.array(F.lit("eleme")))
        .select(
            "spend_cny",
            "capped_spend_cny",
            F.bit_count("active_days_mask").alias("days"),
            F.col("spend_by_platform_cny")["eleme"].alias("eleme_cny"),
        )
        .collect()
    )
    assert only_eleme and all(r["eleme_cny"] == r["spend_cny"] for r in only_eleme)
    assert all(r["capped_spend_cny"] <= 60 * r["days"] for r in only_eleme)
    assert any(r["capped_spend_cny"] < r["spend_cny"] for r in only_eleme)  # the cap binds
    # members whose window holds Ele.me only score purchase points from it
    features = read(spark, root, "gold.user_features").filter(F.col("platforms") == F.array(F.lit("eleme")))
    scores = read(spark, root, "gold.scores").withColumnRenamed("month", "as_of_month")
    scored = features.join(scores, ["user_id", "as_of_month"]).filter(F.col("as_of_month") == MONTHS[-1])
    assert scored.filter(F.col("purchase_amount_points") > 0).count() > 0
    checks = read(spark, root, "ops.quality_results")
    named = {
        ("silver.orders", "item_kind in set"),
        ("silver.orders", "platform in set"),
        ("gold.user_month", "platforms known"),
        ("gold.user_features", "platforms known"),
    }
    ran = checks.filter(F.struct("table_name", "check_name").isin(*[F.struct(F.lit(t), F.lit(c)) for t, c in named]))
    assert {(r["table_name"], r["check_name"]) for r in ran.collect()} == named
    assert ran.filter(~F.col("success")).count() == 0


def test_replayed_files_are_recorded_and_never_loaded(spark, lakes):
    manifest = read(spark, lakes["bulk"], "ops.ingest_manifest")
    replays = manifest.filter("status = 'replay'")
    assert replays.count() > 0
    loaded_files = {
        r["_source_file"].split("/")[-1] + "@" + r["_ingest_month"]
        for r in read(spark, lakes["bulk"], "bronze.taobao_orders")
        .select("_source_file", "_ingest_month")
        .distinct()
        .collect()
    }
    for r in replays.filter("source = 'taobao_orders'").collect():
        assert f"{r['file_name']}@{r['ingest_month']}" not in loaded_files


def gold_rows(spark, root: Path) -> dict[str, list]:
    return {t: read(spark, root, f"gold.{t}").collect() for t in GOLD}


def test_rerunning_the_pipeline_adds_nothing(spark, lakes, capsys):
    root = lakes["bulk"]
    before = {t: read(spark, root, t).count() for t in ("bronze.taobao_orders", "silver.orders", "ops.ingest_manifest")}
    log_before = read(spark, root, "ops.gold_log").collect()
    code, _, err = taoqi_here(capsys, "run", root=root)
    assert code == 0 and "nothing new to conform" in err
    assert "aggregating" not in err and "scoring month" not in err
    assert {t: read(spark, root, t).count() for t in before} == before
    assertDataFrameEqual(read(spark, root, "ops.gold_log"), log_before)  # nothing was recomputed


def test_month_by_month_equals_one_pass_over_all_months(spark, lakes):
    lineage = ["load_id"]
    for table in SILVER:
        bulk = read(spark, lakes["bulk"], f"silver.{table}").drop(*lineage, "source_file")
        monthly = read(spark, lakes["monthly"], f"silver.{table}").drop(*lineage, "source_file")
        assertDataFrameEqual(monthly, bulk)
    volatile = ["load_id", "conformed_at"]
    assertDataFrameEqual(
        read(spark, lakes["monthly"], "ops.reconciliation").drop(*volatile),
        read(spark, lakes["bulk"], "ops.reconciliation").drop(*volatile),
    )
    # Incremental = full for gold, bit for bit, although late events arrived: batch 3 brought
    # events of months 1 and 2, whose slices of batch 3 restate those months.
    late = (
        read(spark, lakes["monthly"], "ops.reconciliation")
        .filter((F.col("target") == "silver.orders") & (F.col("ingest_month") == MONTHS[2]))
        .first()
    )
    assert late["rows_late"] > 0 and late["event_months"] == MONTHS[:3]
    slices = read(spark, lakes["monthly"], "gold.user_month").filter(F.col("batch") == MONTHS[2])
    assert {r["month"] for r in slices.select("month").distinct().collect()} >= set(MONTHS[:3])
    for table in GOLD:
        assertDataFrameEqual(
            read(spark, lakes["monthly"], f"gold.{table}"), read(spark, lakes["bulk"], f"gold.{table}")
        )
    scores = read(spark, lakes["bulk"], "gold.scores")
    assert {r["month"] for r in scores.select("month").distinct().collect()} == set(MONTHS)
    members = (
        read(spark, lakes["bulk"], "silver.accounts").filter(F.col("registered_date") <= f"{MONTHS[-1]}-31").count()
    )
    assert scores.filter(F.col("month") == MONTHS[-1]).count() == members
    assert scores.filter(F.col("previous_score").isNotNull() & (F.col("month") == MONTHS[0])).count() == 0
    assert scores.filter(F.col("score_change").isNotNull()).count() > 0


def test_rerunning_a_month_leaves_the_same_tables(spark, lakes, capsys):
    root = lakes["monthly"]
    before = read(spark, root, "silver.orders").drop("load_id").collect()
    gold_before = gold_rows(spark, root)
    code, _, err = taoqi_here(capsys, "run", "--month", MONTHS[1], root=root, sets=MONTHLY)
    # the batch is conformed again, so it and the batches whose slices read its orders are
    # aggregated again, and the months after it rescored: with the same result
    assert code == 0
    assert f"aggregating batch(es) {', '.join(MONTHS[1:])}" in err
    assert f"scoring month(s) {', '.join(MONTHS[1:])}" in err
    assertDataFrameEqual(read(spark, root, "silver.orders").drop("load_id"), before)
    for table, rows in gold_before.items():
        assertDataFrameEqual(read(spark, root, f"gold.{table}"), rows)


def taoqi_here(capsys, *args: str, root: Path, sets: list[str] = WORLD) -> tuple[int, str, str]:
    """The CLI in this process, on the tests' SparkSession (no JVM start): (exit code, stdout, stderr)."""
    from jobs.cli import main

    capsys.readouterr()
    code = main([*args, *at(root), *set_args(sets)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_generating_the_same_world_again_leaves_the_landing_as_it_is(lakes, capsys):
    landing = lakes["bulk"] / "landing"
    before = {p: p.stat().st_mtime_ns for p in landing.rglob("*") if p.is_file()}
    code, _, err = taoqi_here(capsys, "generate", root=lakes["bulk"])
    assert code == 0 and "the landing already holds this world" in err
    assert {p: p.stat().st_mtime_ns for p in landing.rglob("*") if p.is_file()} == before


def test_run_ends_with_the_calibration_table_and_explain_explains(spark, lakes, capsys):
    out = lakes["run"].stdout
    assert f"calibration {MONTHS[-1]}: the measured figures beside the published ones" in out
    assert "super members (score >= 1000)" in out
    assert "adversaries among >= 2500" in out  # the synthetic world's truth is there
    top = (
        read(spark, lakes["bulk"], "gold.scores")
        .filter(F.col("month") == MONTHS[-1])
        .orderBy(F.desc("score"), "user_id")
        .first()
    )
    code, text, _ = taoqi_here(
        capsys, "explain", "--user", str(top["user_id"]), "--month", MONTHS[-1], root=lakes["bulk"]
    )
    assert code == 0
    assert f"member {top['user_id']}, {MONTHS[-1]}: score {top['score']:,}" in text
    assert f"level {top['credit_level']}" in text and "refund_rate" in text and "customer service queue" in text
    assert ("next band:" in text) and ("to keep band" in text or top["band"] == 1)


def test_run_ends_with_the_report_which_says_what_to_run_for_what_it_lacks(spark, lakes):
    from tests.e2e.test_report import Page

    root, month = lakes["bulk"], MONTHS[-1]
    path = root / "reports" / month / "index.html"
    assert lakes["run"].stdout.strip().splitlines()[-1] == f"report: {path}"
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    assert {"run", "score", "credit", "selector", "personas", "quality", "calibration"} <= page.sections
    # a world this small trains no selector and segments nobody: the sections say what to run
    assert (
        "run `taoqi train --month" in path.read_text() and f"run `taoqi personas --month {month}`" in path.read_text()
    )
    # the run: every stage's steps from the manifest, the batch's reconciliation and quarantine
    stages = {row[0] for row in page.tables["table-steps"][1:]}
    assert {"ingest", "conform", "aggregate", "score"} <= stages
    recon = read(spark, root, "ops.reconciliation").filter(F.col("ingest_month") == month)
    shown_in = sum(int(row[2].replace(",", "")) for row in page.tables["table-reconciliation"][1:])
    assert shown_in == recon.agg(F.sum("rows_in")).first()[0]
    quarantined = read(spark, root, "silver.quarantine").filter(F.col("ingest_month") == month).count()
    assert int(page.text["quarantined"].split()[0].replace(",", "")) == quarantined > 0
    # quality: the month's checks, one validation per table (one run here), and the Data Docs link
    results = read(spark, root, "ops.quality_results").filter(F.col("month") == month)
    assert int(page.text["checks-run"].replace(",", "")) == results.count()
    assert int(page.text["checks-failed"]) == results.filter(~F.col("success")).count()
    assert page.images["chart-quality-trend"].startswith("data:image/png;base64,")
    assert page.text["data-docs"].startswith("Great Expectations Data Docs")


def test_a_user_mistake_exits_2_with_one_line_and_no_traceback(lakes):
    done = taoqi("ingest", "--month", "2031-01", root=lakes["bulk"], check=False)  # the real process
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("taoqi ingest: error:") and "no landing batch ingest_month=2031-01" in last


@pytest.mark.parametrize(
    "args, sets, message",
    [
        (["ingest", "--month", "2031-1"], [], "month must be YYYY-MM"),
        (["run"], ["generator.users=lots"], "generator.users: expected int"),
        (["generate", "--users", "0"], [], "generator.users must be at least 1"),
        (["generate", "--seed", "7"], [], "bronze has ingested it: a new world would change files bronze holds"),
        (["run"], ["sources.taobao_orders.conformer=transforms.silver.nope"], "cannot import"),
        (["aggregate", "--month", "2031-01"], [], "no events for 2031-01 in silver (conformed batches: 2025-01 to"),
        (["score", "--month", "2031-01"], [], "gold.user_month has no slices of batch 2031-01"),
        (["run"], ["scoring.components.interaction.interaction_units.max_points=-5"], "must not be negative"),
        (["score"], ["scoring.bands.super=3000"], "scoring.bands: lowest_band < super < apass_eligible"),
        (
            ["explain", "--user", "999999999", "--month", MONTHS[-1]],
            [],
            f"user 999999999 has no score for {MONTHS[-1]}",
        ),
        (["explain", "--user", "1", "--month", "2031-01"], [], "no scores for 2031-01"),
        # the APASS stages on a world too small to have trained a selector
        (["train"], [], f"too few labels to train as of {MONTHS[-1]}"),
        (["train", "--month", "2031-01"], [], "no scores for 2031-01"),
        (["promote"], [], "apass_selector has no @challenger version: run `taoqi train` first"),
        (["select"], [], "no champion version of apass_selector"),
        (["renew", "--year", "2031"], [], "--year 2031 is outside the data (2025-01 to 2025-03)"),
        (["override", "add", "--user", "1"], [], "override add needs --month, --action, --reason"),
        (
            ["override", "add", "--user", "1", "--month", MONTHS[-1], "--action", "exclude", "--reason", "  "],
            [],
            "override add needs --reason",
        ),
        (["select"], ["apass.member_share=0.5"], "apass.member_share: must be in (0, 0.01]"),
        (["train"], ["apass.selector.monotone.shoe_size=1"], "apass.selector.monotone.shoe_size: not an indicator"),
        # personas and the report
        (["personas"], [], f"members at score >= 1000 in {MONTHS[-1]}: segmenting into up to 10 personas needs"),
        (
            ["personas"],
            ["personas.rules={paycheck_shopaholic: {shoe_size: [1, null]}}"],
            "personas.rules.paycheck_shopaholic.shoe_size: not a persona feature",
        ),
        (["report", "--month", "2031-01"], [], "no scores for 2031-01"),
    ],
)
def test_user_mistakes_end_with_one_line_and_exit_code_2(lakes, capsys, args, sets, message):
    code, _, err = taoqi_here(capsys, *args, root=lakes["bulk"], sets=[*WORLD, *sets])
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"taoqi {args[0]}: error:") and message in last, last


@pytest.mark.parametrize(
    "stage, missing, producer",
    [
        ("conform", "ops.ingest_manifest", "ingest"),
        ("aggregate", "ops.reconciliation", "conform"),
        ("score", "gold.user_month", "aggregate"),
        ("explain", "gold.scores", "score"),
    ],
)
def test_stages_need_their_upstream_tables(tmp_path, capsys, stage, missing, producer):
    extra = ["--user", "1"] if stage == "explain" else []
    code, _, err = taoqi_here(capsys, stage, *extra, root=tmp_path / "empty")
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert f"{missing} not found" in last or f"{missing} is missing" in last, last
    assert f"`taoqi {producer}`" in last, last


def test_every_published_table_was_validated_before_it_was_published(spark, lakes):
    results = read(spark, lakes["bulk"], "ops.quality_results")
    validated = {r["table_name"] for r in results.select("table_name").distinct().collect()}
    assert validated == {
        "landing",
        *(f"bronze.{s}" for s in SOURCES),
        *(f"silver.{t}" for t in SILVER),
        "ops.reconciliation",
        *(f"gold.{t}" for t in GOLD),
        "ops.stability",
    }
    assert results.filter((F.col("severity") == "critical") & ~F.col("success")).count() == 0
    # one validation per table for the whole `taoqi run` over every batch and month (each check once,
    # filed under the newest month), one run id
    validations = results.groupBy("table_name").agg(
        F.countDistinct("validated_at").alias("n"), F.collect_set("month").alias("months")
    )
    assert validations.filter((F.col("n") != 1) | (F.col("months") != F.array(F.lit(MONTHS[-1])))).count() == 0
    assert results.select("run_id").distinct().count() == 1
    # on record once per stage of the run, not once per validated table (21 here)
    commits = (
        DeltaTable.forPath(spark, str(lakes["bulk"] / "ops" / "quality_results"))
        .history()
        .filter(F.col("operation") == "WRITE")
        .count()
    )
    assert commits <= len(CHAIN) < results.select("table_name").distinct().count()
    stability = read(spark, lakes["bulk"], "ops.stability")
    assert stability.count() == (len(MONTHS) - 1) * 6 and stability.filter(F.col("psi") < 0).count() == 0
    assert "quality: table" in lakes["run"].stdout
    summary = lakes["bulk"] / "reports" / MONTHS[-1] / "quality_summary.txt"
    assert f"quality summary: {summary}" in lakes["run"].stdout
    assert "gold.scores" in summary.read_text() and "bronze.fliggy_bookings" in summary.read_text()
    assert (lakes["bulk"] / "reports" / MONTHS[-1] / "data_docs" / "index.html").is_file()


def test_quality_revalidates_a_published_month_without_writing(spark, lakes, capsys):
    root = lakes["bulk"]
    versions = {t: tables_version(spark, root, t) for t in ("gold.scores", "silver.orders", "bronze.tmall_orders")}
    code, out, _ = taoqi_here(capsys, "quality", "--month", MONTHS[1], root=root)
    assert code == 0
    assert "gold.scores" in out and "silver.orders" in out and "bronze.tmall_orders" in out
    assert {t: tables_version(spark, root, t) for t in versions} == versions
    again = read(spark, root, "ops.quality_results").filter(F.col("stage") == "quality")
    assert {r["month"] for r in again.select("month").distinct().collect()} == {MONTHS[1]}
    # every bronze and silver table (quarantine too), reconciliation, the 4 score tables, stability
    assert again.select("table_name").distinct().count() == len(SOURCES) + len(SILVER) + 1 + len(GOLD) + 1


def test_an_empty_platform_month_stops_ingest_and_publishes_nothing(spark, lakes, tmp_path, capsys):
    root = tmp_path / "gap"
    shutil.copytree(
        lakes["bulk"] / "landing",
        root / "landing",
        ignore=lambda d, names: [
            n for n in names if n.startswith("ingest_month=") and n != f"ingest_month={MONTHS[0]}"
        ],
    )
    # Fliggy and the accounts alone: the check is per source, the other sources would only add minutes
    two_sources = [*WORLD, *(f"sources.{s}.enabled=false" for s in SOURCES if s not in ("accounts", "fliggy_bookings"))]
    assert taoqi_here(capsys, "ingest", root=root, sets=two_sources)[0] == 0
    versions = {s: tables_version(spark, root, f"bronze.{s}") for s in ("accounts", "fliggy_bookings")}
    for source in (lakes["bulk"] / "landing").iterdir():  # the second month lands, except Fliggy's
        if source.name != "fliggy_bookings" and not source.name.startswith(("_", ".")):  # not the _generated mark
            shutil.copytree(
                source / f"ingest_month={MONTHS[1]}", root / "landing" / source.name / f"ingest_month={MONTHS[1]}"
            )
    code, _, err = taoqi_here(capsys, "ingest", root=root, sets=two_sources)
    assert code == 3
    last = err.strip().splitlines()[-1]
    assert (
        last.startswith(
            f"taoqi ingest: error: critical check 'batch not empty' failed on bronze.fliggy_bookings {MONTHS[1]}"
        )
        and "left unchanged" in last
    ), last
    assert tables_version(spark, root, "bronze.fliggy_bookings") == versions["fliggy_bookings"]
    assert read(spark, root, "bronze.fliggy_bookings").filter(F.col("_ingest_month") == MONTHS[1]).count() == 0


def tables_version(spark, root: Path, name: str) -> int:
    layer, table = name.split(".")
    return DeltaTable.forPath(spark, str(root / layer / table)).history(1).first()["version"]


# ---------------------------------------------------------------------------- schema drift


def _rewrite_lines(path: Path, edit) -> None:
    """Edit a landed text file line by line, as bytes (its dirty lines need not be UTF-8)."""
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join(edit(i, line) if line else line for i, line in enumerate(lines)))


def _rename_csv_column(path: Path) -> None:
    _rewrite_lines(path, lambda i, line: line.replace(b"PayAmount", b"PayAmt") if i == 0 else line)


def _extra_csv_column(path: Path) -> None:
    _rewrite_lines(path, lambda i, line: line + (b",Coupon" if i == 0 else b",C1"))


def _swap_csv_columns(path: Path) -> None:  # the header moved, the values did not: read by position, a silent mix-up
    _rewrite_lines(path, lambda i, line: line.replace(b"MemberId,ShopId", b"ShopId,MemberId") if i == 0 else line)


def _rename_json_field(path: Path) -> None:
    _rewrite_lines(path, lambda i, line: line.replace(b'"total_fee":', b'"total_fee_fen":'))


def _extra_json_field(path: Path) -> None:
    _rewrite_lines(path, lambda i, line: line.replace(b"{", b'{"coupon_id":"C1",', 1))


def _write_parquet(table, path: Path) -> None:
    """Write ``table`` as a new writer would: no Spark schema in the footer, times as UTC micros
    (pyarrow reads Spark's INT96 times as naive nanos, which Spark does not read back)."""
    import pyarrow as pa

    utc = table.column("booked_at").cast(pa.timestamp("us", tz="UTC"))
    table = table.set_column(table.schema.get_field_index("booked_at"), "booked_at", utc)
    pq.write_table(table.replace_schema_metadata(None), path)


def _retype_parquet_column(path: Path) -> None:  # traveller.member_id sent as a string instead of a long
    import pyarrow as pa

    table = pq.read_table(path)
    traveller = table.column("traveller").combine_chunks()
    retyped = pa.StructArray.from_arrays(
        [traveller.field("member_id").cast(pa.string()), traveller.field("traveller_count")],
        names=["member_id", "traveller_count"],
    )
    _write_parquet(table.set_column(table.schema.get_field_index("traveller"), "traveller", retyped), path)


def _rename_parquet_column(path: Path) -> None:
    table = pq.read_table(path)
    _write_parquet(table.rename_columns(["sales_channel" if n == "channel" else n for n in table.column_names]), path)


@pytest.mark.parametrize(
    "source, drift, check, unexpected",
    [
        ("tmall_orders", _rename_csv_column, "no contract field missing", 1),
        ("tmall_orders", _extra_csv_column, "no field beyond the contract", 1),
        ("tmall_orders", _swap_csv_columns, "columns in contract order", 2),
        ("taobao_orders", _rename_json_field, "no field beyond the contract", 1),
        ("taobao_orders", _extra_json_field, "no field beyond the contract", 1),
        ("fliggy_bookings", _retype_parquet_column, "field types as contracted", 1),
        ("fliggy_bookings", _rename_parquet_column, "no contract field missing", 1),
    ],
    ids=[
        "csv-renamed",
        "csv-extra",
        "csv-reordered",
        "json-renamed",
        "json-extra",
        "parquet-retyped",
        "parquet-renamed",
    ],
)
def test_schema_drift_stops_ingest_before_a_row_is_loaded(
    spark, lakes, tmp_path, capsys, source, drift, check, unexpected
):
    """Each drift stops ingest on the landed files' shapes, naming the check, the source and the file."""
    root = tmp_path / "drift"
    batch = f"ingest_month={MONTHS[0]}"
    shutil.copytree(lakes["bulk"] / "landing" / source / batch, root / "landing" / source / batch)
    drifted = sorted(p for p in (root / "landing" / source / batch).iterdir() if not p.name.startswith("."))[0]
    (drifted.parent / f".{drifted.name}.crc").unlink()  # Spark's checksum of the file as generated
    drift(drifted)
    only_this_source = [*WORLD, *(f"sources.{s}.enabled=false" for s in SOURCES if s != source)]
    code, _, err = taoqi_here(capsys, "ingest", root=root, sets=only_this_source)
    assert code == 3, err[-2000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith(
        f"taoqi ingest: error: critical check {check!r} failed on landing {MONTHS[0]}: "
        f"{unexpected} unexpected row(s) (e.g. source={source}, file={drifted.name}, "
    ), last
    assert "every bronze table left unchanged" in last
    assert read(spark, root, f"bronze.{source}").count() == 0
    failed = read(spark, root, "ops.quality_results").filter(~F.col("success")).collect()
    assert {(r["table_name"], r["check_name"]) for r in failed} >= {("landing", check)}


def test_maintenance_compacts_rewrites_no_row_and_keeps_every_version_a_month_was_built_from(
    spark, lakes, tmp_path, capsys
):
    from jobs.cli import main

    lake = Path(shutil.copytree(lakes["monthly"], tmp_path / "lake"))

    def table(name: str) -> DeltaTable:
        return DeltaTable.forPath(spark, str(lake / name.replace(".", "/")))

    def as_of(name: str, version: int):
        return spark.read.format("delta").option("versionAsOf", version).load(str(lake / name.replace(".", "/")))

    # every version the monthly runs left, as they left it: what a past month's run read and wrote
    names = ["silver.orders", "gold.scores"]
    versions = {name: [r["version"] for r in table(name).history().select("version").collect()] for name in names}
    before = {(name, v): as_of(name, v).collect() for name in names for v in versions[name]}
    orders_files = table("silver.orders").detail().first()["numFiles"]
    scores = read(spark, lake, "gold.scores").collect()

    # tables made before the catalogue set their statistics' columns are brought to them too
    unset = {
        "silver/interactions": "delta.dataSkippingStatsColumns",
        "bronze/taobao_orders": "delta.dataSkippingNumIndexedCols",
    }
    for path, key in unset.items():
        spark.sql(f"ALTER TABLE delta.`{lake / path}` UNSET TBLPROPERTIES ('{key}')")
    capsys.readouterr()
    sets = set_args([*MONTHLY, "lakehouse.history_months=2"])  # tables made with 13 are brought to 2
    assert main(["maintain", "--month", MONTHS[-1], *at(lake), *sets]) == 0
    assert "every version of the last 2 month(s) can still be read and restored" in capsys.readouterr().out

    properties = table("gold.scores").detail().first()["properties"]
    assert properties["delta.deletedFileRetentionDuration"] == "interval 62 days"
    assert properties["delta.logRetentionDuration"] == "interval 62 days"
    assert {
        path: table(path.replace("/", ".")).detail().first()["properties"].get(key) for path, key in unset.items()
    } == {
        "silver/interactions": "user_id,ingest_month,source",
        "bronze/taobao_orders": "0",
    }
    optimized = table("gold.scores").history().filter("operation = 'OPTIMIZE'").collect()
    assert any("user_id" in r["operationParameters"]["zOrderBy"] for r in optimized)  # the month, by member
    assert table("silver.orders").detail().first()["numFiles"] < orders_files  # small files compacted
    assertDataFrameEqual(read(spark, lake, "gold.scores"), scores)  # files rewritten, never rows
    for (name, version), rows in before.items():  # each version still reads as it did: any month rebuilds
        assertDataFrameEqual(as_of(name, version), rows)
