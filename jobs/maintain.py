"""Keep the lakehouse tidy: compact every table, then vacuum what its history no longer reads.

For every table of the lakehouse (bronze, silver, gold, ops):

  settings  its retention properties set to lakehouse.history_months, and
            the properties the catalogue creates it with (tables created
            before the setting or the catalogue changed)
  OPTIMIZE  small files compacted into large ones (files already large are
            left alone); with --month M, the member tables of gold
            (user_month, user_features, scores) have month M's partition
            Z-ordered by user_id, so a member's rows are in few files
  VACUUM    the files no version within the history reads are deleted
  names     in a catalog that keeps them (Unity Catalog), every table has
            its name (lakehouse.catalog), the new ones included

Any version within lakehouse.history_months can still be read and restored
(`taoqi rollback`): a past month is rebuilt from what its run read. Run it
after the monthly run (the bundle's monthly job does). It rewrites files,
never rows: every table's rows are the same after it.
"""

from __future__ import annotations

import argparse
import logging
import sys

from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from jobs.runtime import tables
from jobs.runtime.config import Config, check_month
from jobs.runtime.logs import timed
from transforms import catalog

log = logging.getLogger(__name__)

DESCRIPTION = __doc__
# Where members are looked up one at a time (explain, the notebooks): Z-ordered by member, month by month.
MEMBER_TABLES = {"gold.user_month": "month", "gold.user_features": "as_of_month", "gold.scores": "month"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--month", help="also Z-order month YYYY-MM of gold's member tables by user_id")


def execute(spark: SparkSession, config: Config, args: argparse.Namespace) -> str:
    month = check_month(args.month) if args.month else None
    return maintain(spark, config, month)


def maintain(spark: SparkSession, config: Config, month: str | None) -> str:
    names = tables.lakehouse_tables(spark, config)
    for name in names:
        location = tables.location(config, name)
        table = DeltaTable.forPath(spark, location)
        properties = table.detail().first()["properties"]
        wanted = {**tables.retention_properties(config), **dict(catalog.properties_of(name))}
        stale = {k: v for k, v in wanted.items() if properties.get(k) != v}
        if stale:
            settings = ", ".join(f"'{k}' = '{v}'" for k, v in stale.items())
            spark.sql(f"ALTER TABLE delta.`{location}` SET TBLPROPERTIES ({settings})")
        with timed("maintain", f"optimize {name}") as t:
            compacted = table.optimize().executeCompaction().first()["metrics"]
            t.rows_out = compacted["numFilesRemoved"]
            if month is not None and name in MEMBER_TABLES:
                by_month = f"{MEMBER_TABLES[name]} = {tables.sql_literal(month)}"
                table.optimize().where(by_month).executeZOrderBy("user_id")
        with timed("maintain", f"vacuum {name}"):
            table.vacuum()  # keeps the table's own delta.deletedFileRetentionDuration
    if not tables.names_last_only_the_session(spark):  # Unity Catalog: name the tables this month's run created
        tables.register(spark, config)
    log.info("maintain: %d table(s), history of %d months kept", len(names), config.lakehouse.history_months)
    return (
        f"maintain: {len(names)} table(s) compacted and vacuumed; every version of the last "
        f"{config.lakehouse.history_months} month(s) can still be read and restored"
    )


def main(argv: list[str] | None = None) -> int:
    from jobs.cli import main as cli_main

    return cli_main(["maintain", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
