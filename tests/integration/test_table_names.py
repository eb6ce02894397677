"""Tables by name: `taoqi sql`, the names a session gives a lakehouse's tables, and what naming never touches."""

from __future__ import annotations

import dataclasses
import re

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.cli import main
from jobs.runtime import tables
from jobs.runtime.config import load_config
from jobs.runtime.registry import load_source
from transforms import catalog

ACCOUNTS = "transforms.silver.accounts"


def lakehouse(spark, root, scores: list[tuple[int, str, int]]):
    """A lakehouse of three tables as the catalogue creates them: gold.scores (with ``scores``), silver.orders
    and bronze.accounts (empty)."""
    config = load_config(sets=[f"lakehouse.root={root}"])
    for name in ("gold.scores", "silver.orders"):
        tables.ensure(spark, config, catalog.table(name))
    tables.ensure(spark, config, catalog.bronze("accounts", load_source("accounts", ACCOUNTS).bronze_schema))
    schema = catalog.table("gold.scores").schema
    given = ("user_id", "month", "score")
    rows = spark.createDataFrame(scores, "user_id long, month string, score int").select(
        *[(F.col(f.name) if f.name in given else placeholder(f)).cast(f.dataType).alias(f.name) for f in schema]
    )
    tables.append(rows, config, "gold.scores")
    return config


def placeholder(field):
    """A value of the field's type: null where it may be, else an empty string, false or 0."""
    if field.nullable:
        return F.lit(None)
    return F.lit({"string": "", "boolean": False}.get(field.dataType.typeName(), 0))


@pytest.fixture
def two_lakehouses(spark, tmp_path):
    first = lakehouse(spark, tmp_path / "first", [(1, "2026-01", 1200), (2, "2026-01", 300), (3, "2025-12", 900)])
    second = lakehouse(spark, tmp_path / "second", [(7, "2026-01", 2600)])
    return first, second


def sql(capsys, config, *args: str) -> tuple[int, str, str]:
    code = main(["sql", *args, "--set", f"lakehouse.root={config.lakehouse.root}"])
    out, err = capsys.readouterr()
    return code, out, err


def test_sql_queries_the_tables_by_name(spark, capsys, two_lakehouses):
    first, _ = two_lakehouses
    code, out, _ = sql(capsys, first)
    assert code == 0
    assert out.split() == ["taoqi_bronze.accounts", "taoqi_silver.orders", "taoqi_gold.scores"]

    query = "SELECT month, count(*) AS members, max(score) AS top FROM taoqi_gold.scores GROUP BY month ORDER BY month"
    code, out, _ = sql(capsys, first, query)
    assert code == 0
    assert "|2025-12|1      |900 |" in out and "|2026-01|2      |1200|" in out
    # a query's parameters, as the notebooks' SQL cells pass their widgets (`:month`)
    month = "SELECT count(*) FROM taoqi_gold.scores WHERE month = :month"
    assert spark.sql(month, args={"month": "2026-01"}).first()[0] == 2


def test_a_session_names_the_lakehouse_it_was_given_and_naming_never_touches_the_data(spark, capsys, two_lakehouses):
    first, second = two_lakehouses
    assert sql(capsys, first, "SELECT count(*) AS n FROM taoqi_gold.scores")[1].count("|3  |") == 1
    # the same session, another lakehouse: its tables take the names, the first lakehouse's are forgotten
    code, out, _ = sql(capsys, second, "SELECT user_id, score FROM taoqi_gold.scores")
    assert code == 0 and "|7      |2600 |" in out
    assert spark.sql("SELECT count(*) FROM taoqi_gold.scores").first()[0] == 1
    # the first lakehouse's table, forgotten by name, is whole: the names are an external table's, never the data
    assertDataFrameEqual(
        tables.read(spark, first, "gold.scores").select("user_id", "score"), [(1, 1200), (2, 300), (3, 900)]
    )
    described = {
        r["col_name"]: r["data_type"] for r in spark.sql("DESCRIBE TABLE EXTENDED taoqi_gold.scores").collect()
    }
    assert described["Location"] == tables.storage.qualify(spark, tables.location(second, "gold.scores"))
    # the catalogue's descriptions are the comments
    assert described["Comment"] == catalog.table("gold.scores").description
    user_id = spark.sql("DESCRIBE TABLE taoqi_gold.scores").filter(F.col("col_name") == "user_id").first()
    assert user_id["comment"] == catalog.table("gold.scores").schema["user_id"].metadata["comment"]


@pytest.mark.parametrize(
    "query, message",
    [
        ("DELETE FROM taoqi_gold.scores", "runs queries (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN), not 'DELETE"),
        ("DROP TABLE taoqi_gold.scores", "not 'DROP TABLE taoqi_gold.scores': the tables are written by the job's"),
        ("SELECT * FROM taoqi_gold.score", "The table or view `taoqi_gold`.`score` cannot be found"),
        ("SELECT nope FROM taoqi_gold.scores", "A column, variable, or function parameter with name `nope` cannot be"),
    ],
)
def test_a_statement_that_is_not_a_query_or_names_nothing_ends_with_one_line(
    spark, capsys, two_lakehouses, query, message
):
    first, _ = two_lakehouses
    code, _, err = sql(capsys, first, query)
    assert code == 2
    # one line of ours (this session's JVM may log the failed query on its own: Spark 4.1's observation
    # listener, registered by the writes above, throws on a query that failed analysis)
    (line,) = [line for line in err.splitlines() if line.startswith("taoqi sql: ")]
    assert message in line, line
    assert tables.read(spark, first, "gold.scores").count() == 3  # nothing was deleted


def test_sql_runs_a_file_and_prints_the_ddl_for_another_session(spark, capsys, tmp_path, two_lakehouses):
    first, _ = two_lakehouses
    queries = tmp_path / "q.sql"
    queries.write_text(
        "-- the month's members\nSELECT count(*) AS members FROM taoqi_gold.scores WHERE month = '2026-01';\n"
        "SHOW TABLES IN taoqi_silver;\n",
        encoding="utf-8",
    )
    code, out, _ = sql(capsys, first, "-f", str(queries))
    # (SHOW TABLES lists the session's temporary views too, and its columns are as wide as their names)
    assert code == 0 and "|2      |" in out and re.search(r"\|taoqi_silver\|orders\s*\|false\s*\|", out), out

    code, out, _ = sql(capsys, first, "--ddl")
    assert code == 0
    statements = [s.strip().rstrip(";") for s in out.strip().split(";\n")]
    location = tables.storage.qualify(spark, tables.location(first, "gold.scores"))
    assert f"CREATE TABLE IF NOT EXISTS spark_catalog.taoqi_gold.scores USING DELTA LOCATION '{location}'" in statements
    assert sum(s.startswith("CREATE SCHEMA IF NOT EXISTS spark_catalog.taoqi_") for s in statements) == 3
    assert not any("SET TAGS" in s for s in statements)  # Spark's own catalog keeps no column tags

    code, _, err = sql(capsys, first, "-f", str(tmp_path / "missing.sql"))
    assert code == 2 and "cannot read" in err


def test_where_the_catalog_keeps_tags_every_member_id_column_is_tagged(spark, two_lakehouses):
    first, _ = two_lakehouses
    unity = dataclasses.replace(first.lakehouse, catalog="main", tag_member_ids=True)
    tagged = dataclasses.replace(first, lakehouse=unity)
    statements = tables.registration(spark, tagged, ["bronze.accounts", "gold.scores", "silver.orders"])
    tags = [s for s in statements if "SET TAGS" in s]
    assert tags == [
        "ALTER TABLE main.taoqi_bronze.accounts ALTER COLUMN `uid` SET TAGS ('personal_data' = 'member_id')",
        "ALTER TABLE main.taoqi_bronze.accounts ALTER COLUMN `_raw` SET TAGS ('personal_data' = 'member_id')",
        "ALTER TABLE main.taoqi_gold.scores ALTER COLUMN `user_id` SET TAGS ('personal_data' = 'member_id')",
        "ALTER TABLE main.taoqi_silver.orders ALTER COLUMN `user_id` SET TAGS ('personal_data' = 'member_id')",
    ]
    assert tables.member_id_columns(first, "bronze.fliggy_bookings") == ["traveller", "_raw"]
    assert tables.member_id_columns(first, "silver.quarantine") == ["raw"]
    assert tables.member_id_columns(first, "ops.gold_log") == []
