"""Conform bronze batches into silver: one schema per entity, typed, deduplicated, in CNY and Asia/Shanghai.

For each source and batch: parse and check every row (the source's conformer),
quarantine rows outside the batch window or of unknown users, drop
duplicates on the natural key (within the batch and against earlier
batches), and publish. silver.orders gets all four platforms;
risk-control flags are applied to the orders they name with a Delta MERGE.
Every source and batch gets a reconciliation row in ops.reconciliation:
rows in = valid + quarantined + duplicates, checked and printed.
Re-running a batch replaces exactly what that batch wrote.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import datetime, timezone
from functools import reduce

from delta.tables import DeltaTable
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.runtime import tables
from jobs.runtime.config import Config, check_month
from jobs.runtime.errors import UserError
from jobs.runtime.logs import timed
from jobs.runtime.registry import enabled_sources
from transforms.schemas import OPS_RECONCILIATION, SILVER_QUARANTINE, SILVER_TABLES, conform_to
from transforms.silver.common import DUP_RANK, add_months, with_dup_rank, with_user_check, with_window_check
from transforms.sources import RAW_PAYLOAD, REJECT_REASON, ConformParams, SourceSpec

log = logging.getLogger(__name__)

DESCRIPTION = __doc__
QUARANTINE = "silver.quarantine"
RECONCILIATION = "ops.reconciliation"
_KNOWN = "_known_in_silver"
_SOURCE = "_source_name"


class ReconciliationError(RuntimeError):
    """Rows were lost or invented between bronze and silver: a bug, never a data problem."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--month", help="batch YYYY-MM to conform (default: every ingested batch, in order)")


def execute(spark: SparkSession, config: Config, args: argparse.Namespace) -> None:
    available = ingested_months(spark, config)
    if args.month and check_month(args.month) not in available:
        raise UserError(f"batch {args.month} has not been ingested: run `taoqi ingest --month {args.month}` first "
                        f"(ingested: {', '.join(available) or 'none'})")
    for month in [args.month] if args.month else available:
        conform_month(spark, config, month)


def ingested_months(spark: SparkSession, config: Config) -> list[str]:
    """Batches the ingest ledger has loaded, oldest first."""
    manifest = tables.read(spark, config, "ops.ingest_manifest")
    return sorted(r["ingest_month"] for r in manifest.select("ingest_month").distinct().collect())


def conform_month(spark: SparkSession, config: Config, month: str) -> list[dict]:
    """Conform every enabled source's batch ``month``; return the reconciliation rows.

    Sources are grouped by target table so each table gets one write per batch:
    accounts first (the other sources check their users against it), risk flags
    last (they are merged into the orders they name).
    """
    tables.ensure(spark, config, QUARANTINE, SILVER_QUARANTINE, partition_by=("ingest_month",))
    tables.ensure(spark, config, RECONCILIATION, OPS_RECONCILIATION)
    by_target: dict[str, list[SourceSpec]] = {}
    for spec in enabled_sources(config):
        by_target.setdefault(spec.target, []).append(spec)
    ordered = sorted(by_target, key=lambda t: (t != "accounts", t == "risk_flags"))
    report, rejected = [], []
    for target in ordered:
        with timed("conform", f"{target} {month}") as t:
            rows, quarantine = conform_target(spark, config, target, by_target[target], month)
            t.rows_in = sum(r["rows_in"] for r in rows)
            t.rows_out = sum(r["rows_valid"] for r in rows)
        report += rows
        rejected.append(quarantine)
    with timed("conform", f"quarantine {month}") as t:
        names = ", ".join(tables.sql_literal(s.name) for specs in by_target.values() for s in specs)
        tables.replace_where(reduce(DataFrame.unionByName, rejected), config, QUARANTINE,
                             f"ingest_month = {tables.sql_literal(month)} AND source IN ({names})")
        t.rows_out = sum(r["rows_quarantined"] for r in report)
    for cached in rejected:
        cached.unpersist()
    now = datetime.now(timezone.utc)
    recon = spark.createDataFrame([{**r, "conformed_at": now} for r in report], OPS_RECONCILIATION)
    tables.replace_where(recon, config, RECONCILIATION, f"ingest_month = {tables.sql_literal(month)}")
    log.info("reconciliation %s:\n%s", month, reconciliation_table(report))
    unbalanced = [r for r in report if not r["balanced"]]
    if unbalanced:
        r = unbalanced[0]
        raise ReconciliationError(f"{r['source']} {month}: rows in {r['rows_in']} != valid {r['rows_valid']} + "
                                  f"quarantined {r['rows_quarantined']} + duplicates {r['rows_duplicate']}")
    return report


def conform_target(spark: SparkSession, config: Config, target: str, specs: list[SourceSpec],
                   month: str) -> tuple[list[dict], DataFrame]:
    """Conform the batch of every source feeding one silver table, publish it in one write.

    Returns the reconciliation rows and the (persisted) quarantine rows of these sources.
    """
    name = f"silver.{target}"
    schema = SILVER_TABLES[target]
    event_table = "event_month" in schema.fieldNames()
    tables.ensure(spark, config, name, schema, partition_by=("event_month",) if event_table else ())
    params = ConformParams(fx_to_cny=config.conform.fx_to_cny, max_order_amount_cny=config.conform.max_order_amount_cny)

    batches = []
    for spec in specs:
        bronze = tables.read(spark, config, f"bronze.{spec.name}").filter(F.col("_ingest_month") == month)
        rows = spec.conform(bronze, params=params)
        if spec.event_time_checked:
            rows = with_window_check(rows, ingest_month=month, late_tolerance_months=config.conform.late_tolerance_months)
        if spec.user_checked:
            rows = with_user_check(rows, tables.read(spark, config, "silver.accounts").select("user_id"))
        batches.append(rows.select("*", F.lit(spec.name).alias(_SOURCE)))
    candidates = reduce(DataFrame.unionByName, batches).persist(StorageLevel.MEMORY_AND_DISK)
    valid = F.col(REJECT_REASON).isNull()
    key = list(specs[0].natural_key)

    # Duplicates: later copies within the batch, and rows an earlier batch already published.
    earlier = tables.read(spark, config, name).filter(F.col("ingest_month") < month)
    if event_table:
        oldest = add_months(month, -config.conform.late_tolerance_months)
        earlier = earlier.filter(F.col("event_month").between(oldest, month))  # partition pruning
    known = earlier.select(*key).distinct().select(*key, F.lit(True).alias(_KNOWN))
    order_by = ["event_time"] if event_table else [F.col("updated_at").desc()]  # the latest account record wins
    ranked = with_dup_rank(candidates.filter(valid), key, order_by).join(known, key, how="left")
    if target == "orders":
        ranked = _with_known_flags(spark, config, ranked)
    ranked = ranked.persist(StorageLevel.MEMORY_AND_DISK)
    is_dup = (F.col(DUP_RANK) > 1) | F.col(_KNOWN).isNotNull()
    sources = ", ".join(tables.sql_literal(s.name) for s in specs)
    tables.replace_where(conform_to(ranked.filter(~is_dup), schema), config, name,
                         f"ingest_month = {tables.sql_literal(month)} AND source IN ({sources})")

    is_late = (~is_dup & (F.col("event_month") < month)) if event_table else F.lit(False)
    kept = {r[_SOURCE]: r for r in ranked.groupBy(_SOURCE).agg(
        F.count(F.when(~is_dup, 1)).alias("valid"), F.count(F.when(is_dup, 1)).alias("dups"),
        F.count(F.when(is_late, 1)).alias("late")).collect()}
    quarantined = {r[_SOURCE]: r["n"] for r in
                   candidates.filter(~valid).groupBy(_SOURCE).agg(F.count("*").alias("n")).collect()}
    # Rows in, counted on bronze itself: a conformer that lost or invented rows cannot balance.
    arrived = {r[_SOURCE]: r for r in reduce(DataFrame.unionByName, [
        tables.read(spark, config, f"bronze.{s.name}").filter(F.col("_ingest_month") == month)
        .select(F.lit(s.name).alias(_SOURCE), "_load_id") for s in specs])
        .groupBy(_SOURCE).agg(F.count("*").alias("n"), F.min("_load_id").alias("first_load"),
                              F.max("_load_id").alias("last_load")).collect()}
    report = []
    for spec in specs:
        got, came = kept.get(spec.name), arrived.get(spec.name)
        load_id = "none" if not came else came["first_load"] if came["first_load"] == came["last_load"] else "multiple"
        row = dict(source=spec.name, ingest_month=month, load_id=load_id, target=name,
                   rows_in=came["n"] if came else 0, rows_valid=got["valid"] if got else 0,
                   rows_quarantined=quarantined.get(spec.name, 0), rows_duplicate=got["dups"] if got else 0,
                   rows_late=got["late"] if got else 0)
        row["balanced"] = row["rows_in"] == row["rows_valid"] + row["rows_quarantined"] + row["rows_duplicate"]
        report.append(row)
    ranked.unpersist()
    quarantine = conform_to(candidates.filter(~valid).select(
        F.col(_SOURCE).alias("source"), F.lit(month).alias("ingest_month"),
        F.coalesce(F.col("load_id"), F.lit("unknown")).alias("load_id"),
        F.col(REJECT_REASON).alias("reason"), F.col(RAW_PAYLOAD).alias("raw"),
        F.col("_row_hash").alias("row_hash"), F.col("_source_file").alias("source_file")), SILVER_QUARANTINE)
    quarantine = quarantine.persist(StorageLevel.MEMORY_AND_DISK)
    quarantine.count()  # materialise before the candidates are released
    candidates.unpersist()
    if target == "risk_flags":
        _flag_orders(spark, config, month)
    return report, quarantine


def _with_known_flags(spark: SparkSession, config: Config, orders: DataFrame) -> DataFrame:
    """Orders get the flags silver.risk_flags already holds for them.

    Flags usually arrive with or after their order (the MERGE of _flag_orders sets them);
    this covers late orders whose flag came first, and re-runs of a batch (whose replace
    would otherwise drop the flags later batches had merged in).
    """
    if not tables.exists(spark, config, "silver.risk_flags"):
        return orders
    flags = (tables.read(spark, config, "silver.risk_flags")
             .groupBy("platform", "order_id").agg(F.min("rule").alias("_flag_rule")))
    joined = orders.join(flags, ["platform", "order_id"], how="left")
    return joined.select(
        *[c for c in orders.columns if c not in ("risk_flagged", "risk_rule")],
        (F.col("risk_flagged") | F.col("_flag_rule").isNotNull()).alias("risk_flagged"),
        F.coalesce(F.col("risk_rule"), F.col("_flag_rule")).alias("risk_rule"),
    )


def _flag_orders(spark: SparkSession, config: Config, month: str) -> None:
    """MERGE this batch's risk flags into the orders they name (any earlier or this batch's orders)."""
    flags = (tables.read(spark, config, "silver.risk_flags").filter(F.col("ingest_month") == month)
             .groupBy("platform", "order_id").agg(F.min("rule").alias("rule")))
    if not tables.exists(spark, config, "silver.orders"):
        return
    # An order is flagged within days: its month is the flag's batch or up to the tolerance + 1 before.
    oldest = add_months(month, -(config.conform.late_tolerance_months + 1))
    (DeltaTable.forPath(spark, tables.location(config, "silver.orders")).alias("t")
     .merge(flags.alias("s"), f"t.event_month >= '{oldest}' AND t.platform = s.platform AND t.order_id = s.order_id")
     .whenMatchedUpdate(condition="NOT t.risk_flagged OR t.risk_rule IS NULL OR t.risk_rule > s.rule",
                        set={"risk_flagged": F.lit(True), "risk_rule": F.col("s.rule")})
     .execute())


def reconciliation_table(rows: list[dict]) -> str:
    lines = [f"{'source':<20} {'batch':<8} {'in':>10} {'valid':>10} {'quarantined':>11} {'duplicate':>9} {'late':>7}  ok"]
    for r in rows:
        lines.append(f"{r['source']:<20} {r['ingest_month']:<8} {r['rows_in']:>10,} {r['rows_valid']:>10,} "
                     f"{r['rows_quarantined']:>11,} {r['rows_duplicate']:>9,} {r['rows_late']:>7,}  "
                     f"{'yes' if r['balanced'] else 'NO'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from jobs.cli import main as cli_main

    return cli_main(["conform", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
