"""Re-validate the published tables of a month on demand, with the suites the stages run before publishing.

For month M: every bronze table's batch M, the silver tables' and the
quarantine's batch M, the reconciliation of batch M, gold.user_month's
slices of batch M, gold.user_features as of M, gold.scores and
gold.service_routing of M, and ops.stability of M. Each result is appended
to ops.quality_results (stage "quality") and the Data Docs of M are
rebuilt; nothing is written to the validated tables. Exit code 3 if any
critical check failed (so a scheduler can hold back what reads them).
"""

from __future__ import annotations

import argparse
import logging
import sys

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.ingest import bronze_batches, history_view
from jobs.runtime import quality, tables
from jobs.runtime.config import Config, check_month
from jobs.runtime.errors import UserError
from jobs.runtime.registry import configured_sources
from transforms import catalog

log = logging.getLogger(__name__)

DESCRIPTION = __doc__


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--month", required=True, help="month YYYY-MM whose published slices to validate")


def execute(spark: SparkSession, config: Config, args: argparse.Namespace) -> None:
    month = check_month(args.month)
    slices = published_slices(spark, config, month)
    if not slices:
        raise UserError(f"no published table has rows of {month}: run `taoqi run --month {month}` first")
    failed_critical = []
    for table, (df, references) in slices.items():
        outcomes = quality.validate(
            spark, config, "quality", table, df, month=month, references=references, stop_on_critical=False
        )
        failed_critical += [f"{table}: {o.check}" for o in outcomes if not o.success and o.severity == "critical"]
    if failed_critical:
        raise quality.QualityError(
            f"{len(failed_critical)} critical check(s) failed in {month}: "
            + "; ".join(failed_critical[:5])
            + (" ..." if len(failed_critical) > 5 else "")
        )


def published_slices(
    spark: SparkSession, config: Config, month: str
) -> dict[str, tuple[DataFrame, dict[str, DataFrame]]]:
    """table -> (its rows of ``month``, the reference views its suite needs)."""
    found: dict[str, tuple[DataFrame, dict[str, DataFrame]]] = {}

    def add(name: str, rows: DataFrame, references: dict | None = None) -> None:
        if tables.exists(spark, config, name) and not rows.isEmpty():
            found[name] = (rows, references or {})

    def table(name: str) -> DataFrame:
        return tables.read(spark, config, name)

    # a disabled source's batches of the month too
    bronze = [spec for spec in configured_sources(config) if tables.exists(spark, config, f"bronze.{spec.name}")]
    counts, _ = bronze_batches(spark, config, bronze, [month]) if bronze else ({}, set())
    for spec in bronze:
        name = f"bronze.{spec.name}"
        # the batch as a first load: its earlier batches are its history, it is "new" itself
        earlier = {m: n for m, n in counts[spec.name].items() if m != month}
        add(
            name,
            table(name).filter(F.col("_ingest_month") == month),
            {"history": history_view(spark, earlier, [month])},
        )
    accounts = (
        {"accounts": table("silver.accounts").select("user_id")}
        if tables.exists(spark, config, "silver.accounts")
        else {}
    )
    for name in catalog.CONFORMED:
        if tables.exists(spark, config, name):
            add(name, table(name).filter(F.col("ingest_month") == month), {} if name == "silver.accounts" else accounts)
    for name, column in (
        ("silver.quarantine", "ingest_month"),
        ("ops.reconciliation", "ingest_month"),
        ("gold.user_month", "batch"),
        ("gold.user_features", "as_of_month"),
        ("gold.scores", "month"),
        ("gold.service_routing", "month"),
        ("ops.stability", "month"),
    ):
        if tables.exists(spark, config, name):
            refs = accounts if name == "gold.user_features" else {}
            add(name, table(name).filter(F.col(column) == month), refs)
    return found


def main(argv: list[str] | None = None) -> int:
    from jobs.cli import main as cli_main

    return cli_main(["quality", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
