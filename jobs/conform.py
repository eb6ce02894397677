"""Conform bronze batches into silver: one schema per entity, typed, deduplicated, in CNY and Asia/Shanghai.

For each source and batch: parse and check every row (the source's conformer),
quarantine rows outside the batch window, of users without an account, or
account records that change an account an earlier batch registered,
drop duplicates on the natural key (within the batch and against earlier
batches), and publish. silver.orders gets the orders of every enabled
platform; risk-control flags mark the orders they name (Delta MERGE).
Every source and batch gets a reconciliation row in ops.reconciliation:
rows in = valid + quarantined + duplicates, checked and printed.

Several batches conform in one pass with the same result as one by one
(each row is judged against its own batch); re-running a batch replaces
exactly what it wrote. Without --month, the batches with files ingested
since they were last conformed are conformed.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from datetime import UTC, datetime
from functools import reduce

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.runtime import quality, tables
from jobs.runtime.config import Config, check_month
from jobs.runtime.errors import UserError
from jobs.runtime.logs import timed
from jobs.runtime.registry import configured_platforms, enabled_sources
from jobs.runtime.session import shuffles_sized_for
from transforms import catalog
from transforms.months import add_months
from transforms.schemas import OPS_RECONCILIATION, SILVER_QUARANTINE, conform_to
from transforms.silver import reasons
from transforms.silver.common import (
    IS_DUPLICATE,
    IS_LATE,
    published_before,
    with_account_change_check,
    with_duplicates_marked,
    with_user_check,
    with_window_check,
    without_valid_payload,
)
from transforms.sources import RAW_PAYLOAD, REJECT_REASON, ConformParams, SourceSpec

log = logging.getLogger(__name__)

DESCRIPTION = __doc__
QUARANTINE = "silver.quarantine"
RECONCILIATION = "ops.reconciliation"
_SOURCE = "_source_name"


class ReconciliationError(quality.QualityError):
    """Rows were lost or invented between bronze and silver: a conformer's bug, never a data problem (exit 3)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--month", help="batch YYYY-MM to (re)conform (default: every batch with new files)")


def execute(spark: SparkSession, config: Config, args: argparse.Namespace) -> None:
    if args.month:
        check_month(args.month)
        if args.month not in ingested_months(spark, config):
            raise UserError(f"batch {args.month} has not been ingested: run `taoqi ingest --month {args.month}` first")
        months = [args.month]
    else:
        months = pending_months(spark, config)
    if not months:
        log.info("conform: every ingested batch is conformed already (use --month to redo one)")
        return
    print(reconciliation_table(conform(spark, config, months)))


def ingested_months(spark: SparkSession, config: Config) -> list[str]:
    manifest = tables.read(spark, config, "ops.ingest_manifest")
    return sorted(r["ingest_month"] for r in manifest.select("ingest_month").distinct().collect())


def pending_months(spark: SparkSession, config: Config) -> list[str]:
    """Batches that received files after they were last conformed (or never were), oldest first."""
    loaded = {
        r["ingest_month"]: r["at"]
        for r in tables.read(spark, config, "ops.ingest_manifest")
        .filter(F.col("status") == "loaded")
        .groupBy("ingest_month")
        .agg(F.max("ingested_at").alias("at"))
        .collect()
    }
    done = (
        {}
        if not tables.exists(spark, config, RECONCILIATION)
        else {
            r["ingest_month"]: r["at"]
            for r in tables.read(spark, config, RECONCILIATION)
            .groupBy("ingest_month")
            .agg(F.min("conformed_at").alias("at"))
            .collect()
        }
    )
    return sorted(m for m, at in loaded.items() if m not in done or done[m] < at)


def conform(spark: SparkSession, config: Config, months: list[str]) -> list[dict]:
    """Conform batches ``months`` of every enabled source; return their reconciliation rows.

    Nothing is written before every silver table's rows are ready: each target's rows are computed,
    counted (the reconciliation must balance) and checked first, accounts first (the other targets
    check their users against silver.accounts as it will be). Then each table takes one write; the
    reconciliation rows come last, so a run that dies between two writes leaves its batches pending
    and the next run conforms them again, replacing what was written.
    """
    months = sorted(months)
    tables.ensure(spark, config, catalog.table(QUARANTINE))
    tables.ensure(spark, config, catalog.table(RECONCILIATION))
    by_target: dict[str, list[SourceSpec]] = {}
    for spec in enabled_sources(config):
        by_target.setdefault(spec.target, []).append(spec)
    batch_list = ", ".join(tables.sql_literal(m) for m in months)

    def replaced(specs: list[SourceSpec]) -> str:
        return f"ingest_month IN ({batch_list}) AND source IN ({', '.join(tables.sql_literal(s.name) for s in specs)})"

    report, ready = [], []
    with contextlib.ExitStack() as held:
        accounts = None  # silver.accounts as this run will leave it, once its rows are ready
        for target in sorted(by_target, key=lambda t: (t != "accounts", t == "risk_flags")):
            specs = by_target[target]
            with timed("conform", target) as t:
                rows, output, rejected = prepare_target(
                    spark,
                    config,
                    target,
                    specs,
                    months,
                    replacing=replaced(specs),
                    accounts=accounts,
                    held=held,
                )
                t.rows_in = sum(r["rows_in"] for r in rows)
                t.rows_out = sum(r["rows_valid"] for r in rows)
            if target == "accounts":
                kept = tables.read(spark, config, "silver.accounts").filter(f"NOT ({replaced(specs)})")
                accounts = kept.select("user_id", "ingest_month").unionByName(output.select("user_id", "ingest_month"))
            report += rows
            ready.append((f"silver.{target}", output, replaced(specs), rejected))
        unbalanced = [r for r in report if not r["balanced"]]
        if unbalanced:
            r = unbalanced[0]
            raise ReconciliationError(
                f"{r['source']} {r['ingest_month']}: rows in {r['rows_in']:,} != valid {r['rows_valid']:,} + "
                f"quarantined {r['rows_quarantined']:,} + duplicates {r['rows_duplicate']:,}: its conformer lost "
                "or invented rows; nothing was written"
            )
        these_batches = replaced([s for specs in by_target.values() for s in specs])
        with timed("conform", "quarantine") as t:
            rejected_rows = reduce(DataFrame.unionByName, [rejected for *_, rejected in ready])
            quarantine = held.enter_context(
                quality.gate(spark, config, "conform", QUARANTINE, rejected_rows, month=months[-1])
            )
            t.rows_out = sum(r["rows_quarantined"] for r in report)
        now = datetime.now(UTC)
        recon = spark.createDataFrame([{**r, "conformed_at": now} for r in report], OPS_RECONCILIATION)
        recon = held.enter_context(quality.gate(spark, config, "conform", RECONCILIATION, recon, month=months[-1]))
        # Every row is ready and checked (materialised: no write changes them): publish, the orders before
        # the risk flags that the orders' rows read.
        writes = [(name, rows, where) for name, rows, where, _ in ready] + [(QUARANTINE, quarantine, these_batches)]
        for name, rows, where in writes:
            with timed("conform", f"write {name}") as t:
                t.rows_out = tables.replace_where(rows, config, name, where)
        if "risk_flags" in by_target:
            with timed("conform", "flag orders"):
                _flag_orders(spark, config, months)
        tables.replace_where(recon, config, RECONCILIATION, these_batches)
    return report


def conform_params(config: Config) -> ConformParams:
    """What the conformers need of the config."""
    return ConformParams(
        fx_to_cny=config.conform.fx_to_cny,
        max_order_amount_cny=config.conform.max_order_amount_cny,
        platforms=configured_platforms(config),
    )


def prepare_target(
    spark: SparkSession,
    config: Config,
    target: str,
    specs: list[SourceSpec],
    months: list[str],
    *,
    replacing: str,
    accounts: DataFrame | None,
    held: contextlib.ExitStack,
) -> tuple[list[dict], DataFrame, DataFrame]:
    """The batches of every source feeding one silver table, ready to publish but not written: their
    reconciliation rows, the rows that replace ``replacing`` (checked against the table's suite) and
    the quarantined rows. ``accounts`` is silver.accounts as the run will leave it (None: as it is).

    Its materialised rows stay until ``held`` closes, after the writes."""
    name = f"silver.{target}"
    published = catalog.table(name)
    schema = published.schema
    event_table = "event_month" in published.partitioned_by
    tables.ensure(spark, config, published)
    params = conform_params(config)
    tolerance = config.conform.late_tolerance_months

    def bronze(spec: SourceSpec) -> DataFrame:
        return tables.read(spark, config, f"bronze.{spec.name}").filter(F.col("_ingest_month").isin(months))

    def materialised(df: DataFrame) -> DataFrame:
        return held.enter_context(quality.materialised(spark, config, df))

    if accounts is None and target != "accounts":
        accounts = tables.read(spark, config, "silver.accounts").select("user_id", "ingest_month")
    earlier = published_before(
        tables.read(spark, config, name), months, late_tolerance_months=tolerance, event_table=event_table
    )
    batches = []
    for spec in specs:
        rows = spec.conform(bronze(spec), params=params)
        if spec.event_time_checked:
            rows = with_window_check(rows, late_tolerance_months=tolerance)
        if spec.user_checked:
            rows = with_user_check(rows, accounts)
        if target == "accounts":
            rows = with_account_change_check(rows, earlier)
        batches.append(without_valid_payload(rows).select("*", F.lit(spec.name).alias(_SOURCE)))
    candidates = materialised(reduce(DataFrame.unionByName, batches))
    valid = F.col(REJECT_REASON).isNull()
    key = list(specs[0].natural_key)
    ranked = with_duplicates_marked(candidates.filter(valid), earlier, key, event_table=event_table)
    if target == "orders":
        ranked = _with_known_flags(spark, config, ranked)
    ranked = materialised(ranked)
    is_dup, is_late = F.col(IS_DUPLICATE), F.col(IS_LATE)
    users = {} if target == "accounts" else {"accounts": accounts.select("user_id")}
    row_month = F.col("event_month") if event_table else F.date_format("registered_date", "yyyy-MM")
    by_batch = [_SOURCE, "ingest_month"]
    # Every count of the reconciliation in one aggregation: the rows kept or found duplicate, the rows
    # quarantined, and the rows in, counted on bronze itself (a conformer that lost or invented rows
    # cannot balance), on the materialised rows the check and the write read too.
    kind = F.col("_kind")
    outcomes = ranked.select(
        *by_batch,
        F.lit("kept").alias("_kind"),
        is_dup.alias("dup"),
        is_late.alias("late"),
        row_month.alias("row_month"),
        F.lit(None).cast("string").alias("load_id"),
    ).unionByName(
        candidates.filter(~valid).select(*by_batch, F.lit("quarantined").alias("_kind"), REJECT_REASON),
        allowMissingColumns=True,
    )
    for s in specs:
        outcomes = outcomes.unionByName(
            bronze(s).select(
                F.lit(s.name).alias(_SOURCE),
                F.col("_ingest_month").alias("ingest_month"),
                F.lit("arrived").alias("_kind"),
                F.col("_load_id").alias("load_id"),
            ),
            allowMissingColumns=True,
        )
    kept = kind == "kept"
    by_batch_counts = outcomes.groupBy(*by_batch).agg(
        F.count_if(kept & ~F.col("dup")).alias("valid"),
        F.count_if(kept & F.col("dup")).alias("dups"),
        F.count_if(kept & F.col("late")).alias("late"),
        F.array_sort(F.collect_set(F.when(kept & ~F.col("dup"), F.col("row_month")))).alias("months"),
        F.count_if(kind == "quarantined").alias("quarantined"),
        F.count_if(F.col(REJECT_REASON) == reasons.ACCOUNT_CHANGE).alias("account_changes"),
        F.count_if(kind == "arrived").alias("n"),
        F.min("load_id").alias("first_load"),
        F.max("load_id").alias("last_load"),
    )
    with shuffles_sized_for(spark, config, outcomes):
        counted = {(r[_SOURCE], r["ingest_month"]): r for r in by_batch_counts.collect()}
    report = []
    for month in months:
        for spec in specs:
            got = counted.get((spec.name, month))
            if got is None or got["n"] == 0:
                log.warning("conform: %s has no rows in batch %s", spec.name, month)
            elif got["account_changes"]:
                log.warning(
                    "conform: %s sent %s record(s) in batch %s that change accounts an earlier batch registered: "
                    "a feed of account changes is not supported, they are quarantined (%s) and the first "
                    "records stand (docs: Landing your own files)",
                    spec.name,
                    f"{got['account_changes']:,}",
                    month,
                    reasons.ACCOUNT_CHANGE,
                )
            load_id = (
                "none"
                if not got or not got["n"]
                else got["first_load"]
                if got["first_load"] == got["last_load"]
                else "multiple"
            )
            row = dict(
                source=spec.name,
                ingest_month=month,
                load_id=load_id,
                target=name,
                rows_in=got["n"] if got else 0,
                rows_valid=got["valid"] if got else 0,
                rows_quarantined=got["quarantined"] if got else 0,
                rows_duplicate=got["dups"] if got else 0,
                rows_late=got["late"] if got else 0,
                event_months=list(got["months"]) if got else [],
            )
            row["balanced"] = row["rows_in"] == row["rows_valid"] + row["rows_quarantined"] + row["rows_duplicate"]
            report.append(row)
    output = held.enter_context(
        quality.gate(
            spark,
            config,
            "conform",
            name,
            conform_to(ranked.filter(~is_dup), schema),
            month=months[-1],
            references=users,
        )
    )
    quarantine = conform_to(
        candidates.filter(~valid).select(
            F.col(_SOURCE).alias("source"),
            "ingest_month",
            F.coalesce(F.col("load_id"), F.lit("unknown")).alias("load_id"),
            F.col(REJECT_REASON).alias("reason"),
            F.col(RAW_PAYLOAD).alias("raw"),
            F.col("_row_hash").alias("row_hash"),
            F.col("_source_file").alias("source_file"),
        ),
        SILVER_QUARANTINE,
    )
    return report, output, quarantine


def _with_known_flags(spark: SparkSession, config: Config, orders: DataFrame) -> DataFrame:
    """Orders get the flags silver.risk_flags already holds for them.

    Flags usually arrive with or after their order (the MERGE of _flag_orders sets them);
    this covers late orders whose flag came first, and re-runs of a batch (whose replace
    would otherwise drop the flags later batches had merged in).
    """
    if not tables.exists(spark, config, "silver.risk_flags"):
        return orders
    flags = (
        tables.read(spark, config, "silver.risk_flags")
        .groupBy("platform", "order_id")
        .agg(F.min("rule").alias("_flag_rule"))
    )
    joined = orders.join(flags, ["platform", "order_id"], how="left")
    return joined.select(
        *[c for c in orders.columns if c not in ("risk_flagged", "risk_rule")],
        (F.col("risk_flagged") | F.col("_flag_rule").isNotNull()).alias("risk_flagged"),
        F.coalesce(F.col("risk_rule"), F.col("_flag_rule")).alias("risk_rule"),
    )


def _flag_orders(spark: SparkSession, config: Config, months: list[str]) -> None:
    """MERGE the risk flags of batches ``months`` into the orders they name (the smallest rule wins)."""
    if not tables.exists(spark, config, "silver.orders"):
        return
    flags = (
        tables.read(spark, config, "silver.risk_flags")
        .filter(F.col("ingest_month").isin(months))
        .groupBy("platform", "order_id")
        .agg(F.min("rule").alias("rule"))
    )
    # A flag follows its order within days: the order's month is at most tolerance + 1 before the batch.
    oldest = add_months(months[0], -(config.conform.late_tolerance_months + 1))
    (
        DeltaTable.forPath(spark, tables.location(config, "silver.orders"))
        .alias("t")
        .merge(flags.alias("s"), f"t.event_month >= '{oldest}' AND t.platform = s.platform AND t.order_id = s.order_id")
        .whenMatchedUpdate(
            condition="NOT t.risk_flagged OR t.risk_rule IS NULL OR t.risk_rule > s.rule",
            set={"risk_flagged": F.lit(True), "risk_rule": F.col("s.rule")},
        )
        .execute()
    )


def reconciliation_table(rows: list[dict]) -> str:
    """The reconciliation as a fixed-width table, one line per source and batch."""
    lines = [
        f"{'source':<20} {'batch':<8} {'in':>10} {'valid':>10} {'quarantined':>11} {'duplicate':>9} "
        f"{'late':>7}  balanced"
    ]
    for r in sorted(rows, key=lambda r: (r["ingest_month"], r["source"])):
        lines.append(
            f"{r['source']:<20} {r['ingest_month']:<8} {r['rows_in']:>10,} {r['rows_valid']:>10,} "
            f"{r['rows_quarantined']:>11,} {r['rows_duplicate']:>9,} {r['rows_late']:>7,}  "
            f"{'yes' if r['balanced'] else 'NO'}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from jobs.cli import main as cli_main

    return cli_main(["conform", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
