"""Query the lakehouse's tables by name: `taoqi sql "SELECT ... FROM taoqi_gold.scores"`.

The session names every table of the lakehouse first (lakehouse.catalog,
e.g. taoqi_silver.orders, taoqi_gold.scores, taoqi_ops.gold_log) and then
runs each query, printing its rows. Queries only (SELECT, WITH, SHOW,
DESCRIBE, EXPLAIN, VALUES, TABLE): the tables are the job's to write, through
its stages and their quality gates.

  taoqi sql                                   the named tables
  taoqi sql "SELECT grade, count(*) FROM taoqi_gold.scores WHERE month = '2026-01' GROUP BY grade"
  taoqi sql -f queries.sql                    statements ending with ';' at the end of a line
  taoqi sql --ddl                             the SQL that names the tables, for another session:
                                              spark-sql (with Delta) -i names.sql

Any other Delta reader can still read a table by its path
(delta.`<root>/gold/scores`).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from pyspark.errors import AnalysisException
from pyspark.sql import SparkSession

from jobs.runtime import tables
from jobs.runtime.config import Config
from jobs.runtime.errors import UserError

DESCRIPTION = __doc__
READ_ONLY = True  # queries only: no write lock (jobs/runtime/lock.py)
QUERY = re.compile(r"^\s*(SELECT|WITH|SHOW|DESCRIBE|DESC|EXPLAIN|VALUES|TABLE|FROM)\b", re.IGNORECASE)
COMMENT = re.compile(r"^\s*--[^\n]*$", re.MULTILINE)
# A statement of a file ends with ';' at the end of a line (a ';' inside a string literal is left alone).
END_OF_STATEMENT = re.compile(r";[ \t]*(?:\n|$)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("queries", nargs="*", metavar="QUERY", help="a query (repeatable); none: list the tables")
    parser.add_argument("-f", "--file", type=Path, help="run the statements of a file")
    parser.add_argument("--rows", type=int, default=100, help="rows printed per query (default 100)")
    parser.add_argument("--ddl", action="store_true", help="print the SQL that names the tables, run nothing")


def execute(spark: SparkSession, config: Config, args: argparse.Namespace) -> str | None:
    if args.ddl:
        return ";\n".join(tables.registration(spark, config)) + ";"
    statements = [*args.queries, *(read_statements(args.file) if args.file else [])]
    for statement in statements:
        if not QUERY.match(COMMENT.sub("", statement)):
            raise UserError(
                f"taoqi sql runs queries (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN), not {statement.strip()[:60]!r}: "
                "the tables are written by the job's stages"
            )
    names = tables.register(spark, config)
    if not names:
        raise UserError(f"no table in the lakehouse at {config.lakehouse.root}: run `taoqi run` first")
    if not statements:
        return "\n".join(names)
    for statement in statements:
        try:
            rows = spark.sql(statement)
        except AnalysisException as err:  # a typo in a name, a column that is not there: the query's mistake
            raise UserError(f"{err.getMessage().splitlines()[0]} (tables: taoqi sql, no query)") from None
        rows.show(args.rows, truncate=False)
    return None


def read_statements(path: Path) -> list[str]:
    """The statements of a SQL file; a missing file is a user mistake."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise UserError(f"cannot read {path}: {err.strerror}") from None
    return [s for s in END_OF_STATEMENT.split(text) if COMMENT.sub("", s).strip()]


def main(argv: list[str] | None = None) -> int:
    from jobs.cli import main as cli_main

    return cli_main(["sql", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
