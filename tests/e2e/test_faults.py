"""Faults a cluster job meets, on the tiny world: each must cost time, never a row.

The monthly lakehouse (built one month at a time, uninterrupted) is the reference;
each fault runs a stage of the last month on a copy of the lakehouse as the month before
left it, through tests/e2e/inject.py (the CLI with one fault injected at a table write).
Ingest is where the first two faults strike: it appends, so a second load of a file is
the row a fault could add (the later stages replace their months' rows).
A worker lost mid-stage is the cluster test's (tests/cluster).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from pyspark.testing import assertDataFrameEqual

from tests.tiny_world import ENV, MONTHLY, MONTHS, SOURCES, at, cli_arguments, set_args, taoqi

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
LAST = MONTHS[-1]
LINEAGE = [
    "load_id",
    "_load_id",
    "source_file",
    "_source_file",
    "_ingested_at",
]  # which load, where, when: differ by design


def read(spark, root: Path, name: str):
    layer, table = name.split(".")
    return spark.read.format("delta").load(str(root / layer / table))


def injected(fault: list[str], root: Path, *args: str, sets: list[str] = MONTHLY) -> subprocess.Popen:
    command = [sys.executable, "-m", "tests.e2e.inject", *fault, "--", *cli_arguments(args, root, sets)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=REPO)


def assert_same_tables(spark, root: Path, reference: Path, names: list[str]) -> None:
    for name in names:
        ours, theirs = read(spark, root, name), read(spark, reference, name)
        drop = [c for c in LINEAGE if c in ours.columns]
        assertDataFrameEqual(ours.drop(*drop), theirs.drop(*drop))


@pytest.fixture
def before_last(lakes, tmp_path) -> Path:
    """A private copy of the monthly lakehouse as its second-to-last month left it."""
    return Path(shutil.copytree(lakes["before_last"], tmp_path / "lake"))


BRONZE = [f"bronze.{s}" for s in SOURCES]
SILVER = ["silver.accounts", "silver.orders", "silver.interactions", "silver.service_events", "silver.quarantine"]


def versions(root: Path) -> dict[str, int]:
    """Every Delta table under ``root`` and its latest version (its newest commit file)."""
    return {
        str(log.parent.relative_to(root)): max(int(f.stem) for f in log.glob("*.json") if f.stem.isdigit())
        for log in root.rglob("_delta_log")
    }


@pytest.fixture(scope="module")
def last_batch_ingested(lakes, tmp_path_factory) -> Path:
    """The monthly lakehouse as its second-to-last month left it, with the last batch ingested, not conformed:
    ingested once for the tests that start from there (each on a copy)."""
    from jobs.cli import main

    lake = Path(shutil.copytree(lakes["before_last"], tmp_path_factory.mktemp("faults") / "ingested_last"))
    assert main(["ingest", "--month", LAST, *at(lake), *set_args(MONTHLY)]) == 0
    return lake


@pytest.fixture
def ingested_last(last_batch_ingested, tmp_path) -> Path:
    """A private copy of ``last_batch_ingested``."""
    return Path(shutil.copytree(last_batch_ingested, tmp_path / "lake"))


class DriverLost(BaseException):
    """The driver lost right after a commit, in this process (no JVM to start; a real SIGKILL and the lock's
    take-over are the ingest test's): what one stage had written stays, nothing after it ran."""


def test_a_driver_killed_between_writing_and_publishing_is_repaired_by_the_rerun(spark, lakes, before_last, capsys):
    from jobs.cli import main

    # Killed right after bronze.taobao_orders took the batch's rows, before the ingest manifest
    # recorded the files: written, not published. The rerun must not load them twice.
    killed = injected(["kill-after", "bronze.taobao_orders"], before_last, "ingest", "--month", LAST)
    _, err = killed.communicate(timeout=600)
    assert killed.returncode == -signal.SIGKILL, err[-3000:]
    assert (before_last / "_taoqi.lock").exists()  # a dead driver releases nothing
    assert read(spark, before_last, "bronze.taobao_orders").filter(f"_ingest_month = '{LAST}'").count() > 0
    capsys.readouterr()
    assert main(["ingest", "--month", LAST, *at(before_last), *set_args(MONTHLY)]) == 0
    assert "died holding" in capsys.readouterr().err  # the dead run's lock is taken over, with a warning
    assert not (before_last / "_taoqi.lock").exists()
    # the table it was killed after and every other bronze table: as the uninterrupted run left them
    assert_same_tables(spark, before_last, lakes["monthly"], BRONZE)


def test_two_runs_of_a_month_at_once_one_runs_the_other_fails_at_once(spark, lakes, before_last, monkeypatch, capsys):
    from jobs.cli import main
    from jobs.runtime import tables

    # The first run, in this process, holds the lakehouse and waits before its first bronze write; the second
    # is a process of its own, started meanwhile.
    holding, go, outcome = threading.Event(), threading.Event(), {}
    append = tables.append

    def waits_before_accounts(df, config, name, *rest):
        if name == "bronze.accounts":
            holding.set()
            go.wait(timeout=600)
        return append(df, config, name, *rest)

    def first_run() -> None:
        try:
            outcome["code"] = main(["ingest", "--month", LAST, *at(before_last), *set_args(MONTHLY)])
        finally:
            holding.set()  # also when it failed before the write: the test must not wait for nothing

    monkeypatch.setattr(tables, "append", waits_before_accounts)
    first = threading.Thread(target=first_run, name="first run")
    first.start()
    try:
        assert holding.wait(timeout=600) and (before_last / "_taoqi.lock").exists(), outcome
        second = taoqi("ingest", "--month", LAST, root=before_last, sets=MONTHLY, check=False)
        # nothing written by the refused run: the first has not written yet either
        assert read(spark, before_last, "bronze.accounts").filter(f"_ingest_month = '{LAST}'").count() == 0
    finally:
        go.set()
        first.join(timeout=600)
    assert second.returncode == 4, second.stderr[-3000:]
    last_line = second.stderr.strip().splitlines()[-1]
    assert last_line.startswith("taoqi ingest: error: the lakehouse is busy: `taoqi ingest` (pid ")
    assert "nothing was written" in last_line and "Traceback" not in second.stderr
    # refused before its Spark session started: a JVM would have announced its logging on stderr
    assert "log4j" not in second.stderr, second.stderr[-3000:]
    assert outcome.get("code") == 0, capsys.readouterr().err[-3000:]
    assert_same_tables(spark, before_last, lakes["monthly"], BRONZE)


def test_a_task_that_fails_once_is_retried_and_the_month_is_unchanged(spark, lakes, tmp_path, monkeypatch):
    from pyspark.sql import functions as F

    from jobs.cli import main
    from jobs.runtime import tables
    from tests.e2e.inject import fail_first_attempt

    assert spark.sparkContext.master == "local[2,2]"  # the session lets a task fail once (tests/conftest.py)
    lake = Path(shutil.copytree(lakes["monthly"], tmp_path / "lake"))
    mark = tmp_path / "failed_once"
    write = tables.replace_where

    def failing_once(df, config, name, *rest):
        if name == "gold.scores":
            df = df.filter(fail_first_attempt(str(mark))(F.lit(1)))
        return write(df, config, name, *rest)

    monkeypatch.setattr(tables, "replace_where", failing_once)
    assert main(["score", "--month", LAST, *at(lake), *set_args(MONTHLY)]) == 0
    assert mark.exists(), "the injected fault never fired"
    assert_same_tables(spark, lake, lakes["monthly"], ["gold.scores"])


def test_a_conformer_that_loses_rows_stops_conform_before_any_table_changes(ingested_last, capsys):
    from jobs.cli import main

    before = versions(ingested_last)
    capsys.readouterr()
    lossy = "sources.service_events.conformer=tests.e2e.lossy_conformer"
    code = main(["conform", "--month", LAST, *at(ingested_last), *set_args([*MONTHLY, lossy])])
    err = capsys.readouterr().err
    assert code == 3, err[-3000:]
    last_line = err.strip().splitlines()[-1]
    assert last_line.startswith(f"taoqi conform: error: service_events {LAST}: rows in ")
    assert last_line.endswith("its conformer lost or invented rows; nothing was written") and "Traceback" not in err
    # silver.accounts, .orders and .interactions were ready before service_events: not one is written
    assert versions(ingested_last) == before


def test_a_stage_that_dies_between_its_writes_is_repaired_by_the_rerun(spark, lakes, ingested_last, monkeypatch):
    from jobs.cli import main
    from jobs.runtime import tables

    write = tables.replace_where

    def dies_after(table):
        def written(df, config, name, *rest):
            rows = write(df, config, name, *rest)
            if name == table:
                raise DriverLost(f"lost after writing {table}")
            return rows

        return written

    # each stage dies after its first table's commit, before its other tables and its log record; the
    # stage run again without a month finds the batch or month still to do, and replaces what was written
    for stage, first_write, compared in [
        ("conform", "silver.orders", SILVER),
        ("aggregate", "gold.user_month", ["gold.user_month"]),
        ("score", "ops.stability", ["gold.user_features", "gold.scores", "gold.service_routing", "ops.stability"]),
    ]:
        monkeypatch.setattr(tables, "replace_where", dies_after(first_write))
        with pytest.raises(DriverLost):
            main([stage, *at(ingested_last), *set_args(MONTHLY)])
        monkeypatch.setattr(tables, "replace_where", write)
        assert main([stage, *at(ingested_last), *set_args(MONTHLY)]) == 0, stage
        assert_same_tables(spark, ingested_last, lakes["monthly"], compared)


def test_a_rewritten_landed_file_stops_ingest_until_a_bronze_rollback_lets_it_load_again(spark, ingested_last, capsys):
    from jobs.cli import main

    sets = [*at(ingested_last), *set_args(MONTHLY)]
    batch = ingested_last / "landing" / "taobao_orders" / f"ingest_month={LAST}"
    landed = sorted(batch.glob("*.json"))[0]
    lines = landed.read_text().splitlines(keepends=True)

    def in_bronze() -> int:
        return read(spark, ingested_last, "bronze.taobao_orders").filter(f"_ingest_month = '{LAST}'").count()

    loaded, before = in_bronze(), versions(ingested_last)
    # the same size, another content (two lines swapped): found by its time, then its hash. A feed rewrites
    # the file without Hadoop's checksum beside it (the generator wrote one: it goes with the old content)
    landed.with_name(f".{landed.name}.crc").unlink(missing_ok=True)
    landed.write_text("".join([lines[1], lines[0], *lines[2:]]))
    for rewritten in ("same size", "a line fewer"):
        capsys.readouterr()
        assert main(["ingest", "--month", LAST, *sets]) == 2, rewritten
        last_line = capsys.readouterr().err.strip().splitlines()[-1]
        assert f"taobao_orders {LAST}/{landed.name} changed after it was loaded" in last_line, last_line
        assert last_line.endswith("nothing was written") and versions(ingested_last) == before
        landed.write_text("".join(lines[:-1]))
    # to load the file's new content: bronze back to before the batch's load, then ingest again
    capsys.readouterr()
    table = "bronze.taobao_orders"
    version = before[table.replace(".", "/")] - 1
    reason = ["--reason", "a file rewritten by the feed", "--author", "test"]
    assert main(["rollback", "--table", table, "--version", str(version), *reason, *sets]) == 0
    out = capsys.readouterr().out
    assert f"file(s) of batch(es) {LAST} to ingest again" in out
    assert in_bronze() == 0
    assert main(["rollback", "--table", table, *sets]) == 0  # the history names who restored and why
    assert '"reason": "a file rewritten by the feed"' in capsys.readouterr().out
    assert main(["ingest", "--month", LAST, *sets]) == 0
    assert in_bronze() == loaded - 1  # every file of the batch again, the rewritten one as it is now


# Where a member can be named (the sources' member fields and the silver and gold user_id), and the raw text of
# bronze's unparsable lines and quarantine's payloads. Written apart from jobs/forget.py, which must agree.
MEMBER_COLUMNS = {"user_id", "uid", "buyer_id", "MemberId", "user", "member_id"}
MEMBER_KEY = '"(?:' + "|".join(sorted(MEMBER_COLUMNS)) + ')"\\s*:\\s*"?\\s*0*{user}\\s*"?\\s*[,}}]'


def naming(df, user: int):
    """The condition: a row of ``df`` names member ``user``."""
    from pyspark.sql import functions as F

    found = F.lit(False)
    for field in df.schema.fields:
        if field.name in MEMBER_COLUMNS:
            found = found | (F.trim(F.col(field.name).cast("string")).try_cast("bigint") == user)
        elif field.name == "traveller":
            found = found | (F.col("traveller.member_id") == user)
        elif field.name in ("raw", "_raw"):
            text = F.col(field.name)
            as_key = text.rlike(MEMBER_KEY.format(user=user))
            as_number = ~text.startswith("{") & F.array_contains(
                F.regexp_extract_all(text, F.lit("(\\d+)"), 1), str(user)
            )
            found = found | F.coalesce(as_key | as_number, F.lit(False))
    return found


def traces(spark, root: Path, user: int, *, on_disk: bool = True, tables: set[str] | None = None) -> dict[str, int]:
    """Rows naming ``user`` per table (of ``tables``, default every one): in each table's current version, or
    (``on_disk``) in every data file still on disk, whatever version reads it: a superset of the current
    version's rows, deleted ones and those a deletion vector hides included. One Spark job for them all."""
    from functools import reduce

    from pyspark.sql import DataFrame
    from pyspark.sql import functions as F

    found = []
    for log in sorted(root.rglob("_delta_log")):
        table, name = log.parent, str(log.parent.relative_to(root))
        if tables is not None and name not in tables:
            continue
        if on_disk:
            files = [str(f) for f in table.rglob("*.parquet") if "_delta_log" not in f.parts]
            if not files:
                continue
            rows = spark.read.parquet(*files)
        else:
            rows = spark.read.format("delta").load(str(table))
        found.append(rows.filter(naming(rows, user)).select(F.lit(name).alias("table")))
    if not found:
        return {}
    counted = reduce(DataFrame.unionAll, found).groupBy("table").count().collect()
    return {r["table"]: r["count"] for r in counted}


def test_a_forgotten_member_leaves_no_trace_and_never_comes_back(spark, lakes, before_last, capsys):
    from pyspark.sql import functions as F

    from jobs.cli import main
    from jobs.runtime import privacy
    from jobs.runtime.config import load_config
    from transforms.pseudonyms import digest

    sets = [*at(before_last), *set_args([*MONTHLY, "privacy.purge_after_hours=0"])]
    # a member with a quarantined order, a score, and orders in the batch still to come
    quarantined = read(spark, before_last, "silver.quarantine").select(
        F.get_json_object("raw", "$.buyer_id").try_cast("bigint").alias("user_id")
    )
    coming = read(spark, lakes["monthly"], "bronze.taobao_orders").filter(f"_ingest_month = '{LAST}'")
    coming = coming.select(F.trim("buyer_id").try_cast("bigint").alias("user_id"))
    scored = read(spark, before_last, "gold.scores").select("user_id")
    user = quarantined.join(scored, "user_id").join(coming, "user_id").agg(F.min("user_id")).first()[0]
    assert user is not None
    named = {"bronze/taobao_orders", "silver/quarantine", "silver/orders", "gold/scores"}
    assert set(traces(spark, before_last, user, on_disk=False, tables=named)) == named

    capsys.readouterr()
    assert main(["forget", "--user", str(user), "--reason", "deletion request 7", *sets]) == 0
    assert "recorded in ops.forgotten by a keyed hash" in capsys.readouterr().out
    # its rows gone from every current version; the record names the member by keyed hash only
    assert traces(spark, before_last, user, on_disk=False) == {}
    record = read(spark, before_last, "ops.forgotten")
    key = privacy.key(load_config(sets=[f"lakehouse.root={before_last}"]))
    assert {r["member_digest"] for r in record.collect()} == {digest(key, user)}
    assert {r["table_name"] for r in record.filter("rows_deleted > 0").collect()} >= {"silver.orders", "gold.scores"}
    # a restore to before the deletion would bring the member back: refused
    assert main(["rollback", "--table", "gold.scores", "--version", "0", "--reason", "x", *sets]) == 2
    assert "would bring them back" in capsys.readouterr().err
    # the next month: its landing holds the member's orders, which ingest leaves out
    assert main(["run", "--month", LAST, *sets]) == 0
    assert main(["forget", "--purge", *sets]) == 0
    assert traces(spark, before_last, user) == {}
