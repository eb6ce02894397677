"""DuckDB reference of the gold.user_month aggregate: the same slices from the same silver files.

`taoqi aggregate` writes, for each landing batch B, the slices of B: one row
per (member, event month) that B changed, holding the whole month as B knows
it (transforms/gold/user_month.py). This module computes the same rows and
columns in one DuckDB query over the Parquet files of the current Delta
snapshot of each silver table (the file list comes from Spark: DuckDB's delta
extension cannot be installed here), so `bench/run.py` can report Spark's time
over a single-machine engine's on the same work (the Spark / DuckDB ratio).

What is mirrored, exactly:
- Which rows: the member-months B changes (events of B of the months
  B - tolerance .. B, or a flag of B on an order of the months
  B - tolerance - 1 .. B), each with every event of the month ingested by B;
  an order weighs 1 (genuine) or 0 (flagged by a flag of batch <= B). The
  batch is one more grouping key of one query.
- The cap table: every credit in integer cents (HUGEINT), with Spark's
  decimal rounding reproduced step by step: the scale factor cap / total is
  decimal(38,16) rounded half up, the product credit * factor decimal(38,6)
  rounded half up, then round(.., 2) half up. DuckDB's own `/` on decimals
  returns a DOUBLE, which would not round the same.
- Event hours in the session time zone (spark.session_time_zone); days and
  months are silver's event_date / event_month.
- The KMV sketches: Spark's xxhash64 (XXH64 of the UTF-8 bytes, seed 42) as
  DuckDB SQL over UHUGEINT (64-bit wrap-around by masking), computed once
  per distinct seller and joined back; the 256 smallest, ascending.

Delta details: the event tables are partitioned by event_month. The files
Delta 4.4 writes here happen to carry the column too, but the partition
values are read from the paths (hive_partitioning), as Delta intends. Deletion vectors
would hide rows the Parquet files still hold: each table's row count is
checked against Spark's, and a difference stops the reference.

The timed figure is the query alone, its result materialized as a DuckDB
table (Spark's includes writing Delta); listing the files is timed apart.

    python -m bench.reference.user_month_duckdb --root LAKEHOUSE [--batches 2025-01 ...] [--threads N]
        [--conf FILE] [--set key=value]   # prints rows, seconds, and whether gold.user_month matches
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import unquote, urlparse

import duckdb
import pyarrow as pa
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.runtime import gold_log, tables
from jobs.runtime.config import Config
from jobs.runtime.registry import configured_platforms
from transforms import catalog
from transforms.gold.params import CapTable
from transforms.gold.sketch import K
from transforms.gold.user_month import (
    BIG_ORDER_CNY,
    CATEGORY_WORD_BITS,
    CATEGORY_WORDS,
    COMPLETED,
    NIGHT_HOURS,
    REFUND_KINDS,
)
from transforms.months import add_months
from transforms.schemas import GOLD_USER_MONTH
from transforms.taxonomy import CATEGORIES, GROUPS

SILVER = ("orders", "interactions", "service_events", "risk_flags")
USER_MONTH = "gold.user_month"
KEY = ("user_id", "month", "batch")

# --------------------------------------------------------------------------- Spark's xxhash64 in SQL

_MASK = "18446744073709551615::UHUGEINT"
_P1, _P2, _P3, _P4, _P5 = (
    11400714785074694791,
    14029467366897019727,
    1609587929392839161,
    9650029242287828579,
    2870177450012600261,
)
_SEED = 42  # Spark's xxhash64 seed

XXHASH64_MACROS = [
    f"CREATE OR REPLACE TEMP MACRO _u64(a) AS (a::UHUGEINT & {_MASK})",
    f"CREATE OR REPLACE TEMP MACRO _mul64(a, b) AS ((a::UHUGEINT * b::UHUGEINT) & {_MASK})",
    (
        f"CREATE OR REPLACE TEMP MACRO _rotl64(a, r) AS "
        f"(((a::UHUGEINT << r::UHUGEINT) & {_MASK}) | (a::UHUGEINT >> (64 - r)::UHUGEINT))"
    ),
    (
        f"CREATE OR REPLACE TEMP MACRO _xxround(acc, lane) AS "
        f"_mul64(_rotl64(_u64(acc::UHUGEINT + _mul64(lane, {_P2})), 31), {_P1})"
    ),
    (
        f"CREATE OR REPLACE TEMP MACRO _xxmerge(acc, v) AS "
        f"_u64(_mul64(xor(acc::UHUGEINT, _xxround(0, v)), {_P1}) + {_P4}::UHUGEINT)"
    ),
    # the little-endian unsigned integer of the `size` bytes at byte offset `off` of a value of `n` bytes,
    # from rh, the hex of its bytes in reverse order (one substring and one cast per word)
    (
        "CREATE OR REPLACE TEMP MACRO _le(rh, n, off, size) AS "
        "('0x' || substr(rh, 2 * (n - off - size) + 1, 2 * size))::UHUGEINT"
    ),
]


def xxhash64_ctes(source: str, name: str) -> str:
    """CTEs ending in ``name(v, h)``: Spark's ``xxhash64(v)`` of each value ``v`` of the query ``source``.

    XXH64 (seed 42) of the UTF-8 bytes, as Spark's XXH64.hashUnsafeBytes:
    32-byte stripes, then 8-byte words, one 4-byte word, single bytes, the
    avalanche; the unsigned result read as a signed BIGINT. Needs the
    XXHASH64_MACROS. One CTE per step so no expression is evaluated twice; the last one is
    materialized (the query joins it twice).
    """
    u = "::UHUGEINT"
    stripes = ", ".join(f"_xxround(a[{i + 1}], _le(rh, n, 32 * i + {8 * i}, 8))" for i in range(4))
    init = f"[{(_SEED + _P1 + _P2) % 2**64}{u}, {(_SEED + _P2) % 2**64}{u}, {_SEED}{u}, {(_SEED - _P1) % 2**64}{u}]"
    merged = "_u64(_rotl64(s[1], 1) + _rotl64(s[2], 7) + _rotl64(s[3], 12) + _rotl64(s[4], 18))"
    for i in range(4):
        merged = f"_xxmerge({merged}, s[{i + 1}])"
    return f"""
    {name}_hex AS (SELECT v, hex(encode(v)) AS hx FROM ({source})),
    {name}_bytes AS (SELECT v, (length(hx) // 2)::BIGINT AS n, array_to_string(list_reverse(
        list_transform(range(length(hx) // 2), lambda q: substr(hx, 2 * q + 1, 2))), '') AS rh FROM {name}_hex),
    {name}_stripes AS (SELECT v, rh, n, CASE WHEN n >= 32 THEN list_reduce(range(n // 32),
        lambda a, i: [{stripes}], {init}) END AS s FROM {name}_bytes),
    {name}_len AS (SELECT v, rh, n, _u64(CASE WHEN n >= 32 THEN {merged} ELSE {_SEED + _P5}{u} END + n::UHUGEINT) AS h
        FROM {name}_stripes),
    {name}_words AS (SELECT v, rh, n, list_reduce(range((n % 32) // 8), lambda a, j: _u64(_mul64(_rotl64(
        xor(a, _xxround(0, _le(rh, n, (n // 32) * 32 + 8 * j, 8))), 27), {_P1}) + {_P4}{u}), h) AS h
        FROM {name}_len),
    {name}_half AS (SELECT v, rh, n, CASE WHEN n % 8 >= 4 THEN _u64(_mul64(_rotl64(
        xor(h, _mul64(_le(rh, n, (n // 8) * 8, 4), {_P1})), 23), {_P2}) + {_P3}{u}) ELSE h END AS h
        FROM {name}_words),
    {name}_tail AS (SELECT v, list_reduce(range(n % 4), lambda a, k: _mul64(_rotl64(
        xor(a, _mul64(_le(rh, n, n - n % 4 + k, 1), {_P5})), 11), {_P1}), h) AS h FROM {name}_half),
    {name}_mix1 AS (SELECT v, _mul64(xor(h, h >> 33{u}), {_P2}) AS h FROM {name}_tail),
    {name}_mix2 AS (SELECT v, _mul64(xor(h, h >> 29{u}), {_P3}) AS h FROM {name}_mix1),
    {name}_mix3 AS (SELECT v, xor(h, h >> 32{u}) AS h FROM {name}_mix2),
    {name} AS MATERIALIZED (SELECT v, (h::HUGEINT - CASE WHEN h >= 9223372036854775808{u}
        THEN 18446744073709551616::HUGEINT ELSE 0::HUGEINT END)::BIGINT AS h FROM {name}_mix3)"""


# --------------------------------------------------------------------------- silver snapshot


@dataclass
class SilverFiles:
    """The Parquet files of the current Delta snapshot of each silver event table."""

    files: dict[str, list[str]]
    spark_rows: dict[str, int]  # each table's row count as Spark reads it (the DuckDB side must agree)
    seconds: float  # listing the files (Spark: snapshot + inputFiles), not the row counts


def local_path(uri: str) -> str:
    """A Spark file URI as DuckDB reads it (file: URIs become paths; s3a: becomes s3: for httpfs)."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return unquote(parsed.path)
    if parsed.scheme in ("s3a", "s3n"):
        return f"s3://{parsed.netloc}{parsed.path}"
    return uri


def snapshot_files(spark: SparkSession, config: Config, name: str) -> list[str]:
    """The data files of a Delta table's current snapshot, as local paths."""
    return sorted(local_path(f) for f in tables.read(spark, config, name).inputFiles())


def list_silver(spark: SparkSession, config: Config) -> SilverFiles:
    """List the silver files the aggregate reads (timed), and count each table's rows with Spark (not timed).

    DuckDB reads the Parquet files without Delta's deletion vectors (silver.orders has them: its risk flags'
    MERGE hides the rows it updates), so those are applied to the files first (not timed)."""
    for t in SILVER:
        tables.purge_deletion_vectors(spark, config, f"silver.{t}")
    started = time.perf_counter()
    files = {t: snapshot_files(spark, config, f"silver.{t}") for t in SILVER}
    seconds = time.perf_counter() - started
    rows = {t: tables.read(spark, config, f"silver.{t}").count() for t in SILVER}  # Delta answers from its stats
    return SilverFiles(files, rows, seconds)


def _duck_type(dt: T.DataType) -> str:
    if isinstance(dt, T.DecimalType):
        return f"DECIMAL({dt.precision},{dt.scale})"
    if isinstance(dt, T.ArrayType):
        return _duck_type(dt.elementType) + "[]"
    if isinstance(dt, T.MapType):
        return f"MAP({_duck_type(dt.keyType)}, {_duck_type(dt.valueType)})"
    return {
        T.StringType: "VARCHAR",
        T.LongType: "BIGINT",
        T.IntegerType: "INTEGER",
        T.BooleanType: "BOOLEAN",
        T.DoubleType: "DOUBLE",
        T.DateType: "DATE",
        T.TimestampType: "TIMESTAMPTZ",
    }[type(dt)]


def register_parquet(
    con: duckdb.DuckDBPyConnection, view: str, files: list[str], schema: T.StructType, partition: str | None
) -> None:
    """A DuckDB view over ``files`` (partition values from the paths); an empty typed view if none."""
    if not files:
        columns = ", ".join(f"NULL::{_duck_type(f.dataType)} AS {f.name}" for f in schema.fields)
        con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT {columns} WHERE false")
        return
    listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    hive = (
        f", hive_partitioning = true, hive_types = {{'{partition}': 'VARCHAR'}}"
        if partition
        else ", hive_partitioning = false"
    )
    con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM read_parquet([{listed}]{hive})")


def connect(
    threads: int | None = None, time_zone: str = "Asia/Shanghai", memory_limit: str | None = None
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with ``threads`` threads (default: every core) and the session's time zone.

    ``memory_limit`` (e.g. "8GB"; DuckDB's default is 80 % of RAM): leave room
    for the Spark JVM that runs beside it in the bench.
    """
    settings = {"threads": threads or os.cpu_count() or 1}
    if memory_limit:
        settings["memory_limit"] = memory_limit
    con = duckdb.connect(config=settings)
    con.execute(f"SET TimeZone = '{time_zone}'")
    for macro in XXHASH64_MACROS:
        con.execute(macro)
    return con


def attach_silver(con: duckdb.DuckDBPyConnection, silver: SilverFiles) -> None:
    """Views orders, interactions, service_events, risk_flags; their row counts must be Spark's."""
    for t in SILVER:
        register_parquet(con, t, silver.files[t], catalog.table(f"silver.{t}").schema, "event_month")
        got = con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
        if got != silver.spark_rows[t]:
            raise RuntimeError(
                f"silver.{t}: the snapshot's Parquet files hold {got} rows, Delta reads "
                f"{silver.spark_rows[t]} (deletion vectors?): the Parquet reference cannot read it"
            )


# --------------------------------------------------------------------------- the query


def _cents(amount: float) -> int:
    """A configured CNY amount (a float in the config) as Spark's cast to decimal(22,2) gives it, in cents."""
    return int(Decimal(repr(float(amount))).quantize(Decimal("0.01"), ROUND_HALF_UP) * 100)


def _kind_cap(caps: CapTable, name: str) -> str:
    """The ``name`` cap of each row's ``item_kind``, in cents."""
    cases = " ".join(f"WHEN {_quote(k)} THEN {_cents(getattr(c, name))}" for k, c in caps.by_kind.items())
    return f"CASE item_kind {cases} END::HUGEINT"


def category_mask(position: str, bought: str) -> str:
    """Spark's ``category_mask``: the words of the categories (bit ``position`` = taxonomy id - 1) where ``bought``."""
    words = (
        f"coalesce(bit_or(CASE WHEN {bought} AND ({position}) // {CATEGORY_WORD_BITS} = {w} "
        f"THEN 1::BIGINT << (({position}) % {CATEGORY_WORD_BITS}) END), 0)"
        for w in range(CATEGORY_WORDS)
    )
    return f"[{', '.join(words)}]"


def no_categories() -> str:
    """Spark's ``no_categories``: the category_mask of no category, every word zero."""
    return f"[{', '.join(['0'] * CATEGORY_WORDS)}]::BIGINT[]"


def merged_category_masks(masks: str) -> str:
    """Spark's ``merged_category_masks``: the union of category_mask words (null masks count as none)."""
    return f"[{', '.join(f'coalesce(bit_or({masks}[{w + 1}]), 0)' for w in range(CATEGORY_WORDS))}]"


def categories_in(mask: str) -> str:
    """Spark's ``categories_in``: how many categories a category_mask holds."""
    return " + ".join(f"coalesce(bit_count({mask}[{w + 1}]), 0)" for w in range(CATEGORY_WORDS))


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def platforms_in(mask: str, platforms: tuple[str, ...]) -> str:
    """Spark's ``platforms_in``: the platforms whose bit ``mask`` has set, in ``platforms``' order."""
    named = ", ".join(f"CASE WHEN ({mask}) & {1 << i} <> 0 THEN {_quote(p)} END" for i, p in enumerate(platforms))
    return f"list_filter([{named}], lambda p: p IS NOT NULL)"


def by_platform(amounts: list[str], platforms: tuple[str, ...]) -> str:
    """Spark's ``by_platform``: a map platform -> amount of the platforms whose amount is not zero."""
    entries = ", ".join(f"{{'k': {_quote(p)}, 'v': coalesce({a}, 0)}}" for p, a in zip(platforms, amounts, strict=True))
    return f"map_from_entries(list_filter([{entries}], lambda e: e.v <> 0))"


def user_month_sql(
    batches: list[str],
    *,
    late_tolerance_months: int,
    caps: CapTable,
    time_zone: str,
    platforms: tuple[str, ...],
    event_time_type: str = "TIMESTAMP",
) -> str:
    """The DuckDB query of the slices of ``batches`` (columns of gold.user_month, in its order).

    ``event_time_type`` is how DuckDB reads silver's event_time: Spark writes
    INT96, which DuckDB reads as a naive TIMESTAMP holding UTC.
    """
    tol = late_tolerance_months
    reach = tol + 1  # a flag or an after-sales ticket follows its order within this many months
    batch_rows = ", ".join(
        f"({_quote(b)}, {_quote(add_months(b, -tol))}, {_quote(add_months(b, -(tol + 1)))})"
        for b in sorted(set(batches))
    )
    instant = (
        "event_time"
        if "TIME ZONE" in event_time_type.upper() or event_time_type.upper() == "TIMESTAMPTZ"
        else "timezone('UTC', event_time)"
    )
    hour = f"hour(timezone({_quote(time_zone)}, {instant}))"
    category_id = "CASE category " + " ".join(f"WHEN {_quote(c.code)} THEN {c.id}" for c in CATEGORIES) + " END"
    platform_bit = "CASE platform " + " ".join(f"WHEN {_quote(p)} THEN {i}" for i, p in enumerate(platforms)) + " END"
    e16 = "10000000000000000::HUGEINT"

    def factor(total: str, cap: str) -> str:  # cap / total as decimal(38,16) rounded half up, times 10^16
        return f"CASE WHEN {total} > {cap} THEN (2 * {cap} * {e16} + {total}) // (2 * {total}) ELSE {e16} END"

    def spend_if(cond: str) -> str:
        return f"sum(CASE WHEN ({cond}) AND w <> 0 THEN amount_cny * w ELSE 0 END)"

    def count_if(cond: str) -> str:
        return f"sum(CASE WHEN {cond} THEN w ELSE 0 END)::BIGINT"

    def sketch(values: str) -> str:
        return f"CASE WHEN len({values}) > 0 THEN list_sort(list_distinct({values}))[1:{K}] END"

    order_parts = {
        "orders": "sum(w)::BIGINT",
        "spend_cny": spend_if("true"),
        "capped_spend_c": f"least(sum(credited_c), {_cents(caps.month)}::HUGEINT)",
        "flagged_orders": "count(CASE WHEN w <> 1 THEN 1 END)",
        "flagged_spend_cny": "sum(CASE WHEN w <> 1 THEN amount_cny ELSE 0 END)",
        "active_days_mask": "bit_or(CASE WHEN w = 1 THEN 1::INTEGER << (day(event_date) - 1) END)",
        "_platform_mask": f"bit_or(CASE WHEN w = 1 THEN 1::INTEGER << ({platform_bit}) END)",
        "category_mask": category_mask(f"({category_id}) - 1", "w = 1"),
        **{f"_spend_{i}": spend_if(f"platform = {_quote(p)}") for i, p in enumerate(platforms)},
        **{f"spend_{g}_cny": spend_if(f"category_group = {_quote(g)}") for g in GROUPS},
        "group_buy_spend_cny": spend_if("is_group_buy"),
        "overseas_spend_cny": spend_if("is_overseas"),
        "overseas_orders": count_if("is_overseas"),
        "company_invoice_spend_cny": spend_if("company_invoice"),
        "mobile_orders": count_if("channel = 'mobile'"),
        "pc_orders": count_if("channel = 'pc'"),
        "max_order_cny": "max(CASE WHEN w = 1 THEN amount_cny END)",
        "big_orders": count_if(f"amount_cny >= {BIG_ORDER_CNY}"),
        "night_orders": count_if(f"hr BETWEEN {NIGHT_HOURS[0]} AND {NIGHT_HOURS[1]}"),
        "premium_travel_orders": count_if("travel_class IN ('business', 'first') OR hotel_star >= 5"),
        "first_class_orders": count_if("travel_class = 'first'"),
        "order_hour_sum": "sum(CASE WHEN w <> 0 THEN hr * w ELSE 0 END)::BIGINT",
        "order_hour_sq_sum": "sum(CASE WHEN w <> 0 THEN hr * hr * w ELSE 0 END)::BIGINT",
        "sellers_sketch": sketch("list(seller_hash) FILTER (WHERE w = 1)"),
    }
    interaction_parts = {
        "reviews": "count(CASE WHEN kind = 'review' THEN 1 END)",
        "positive_reviews": "count(CASE WHEN kind = 'review' AND is_positive THEN 1 END)",
        "qa": "count(CASE WHEN kind = 'qa' THEN 1 END)",
        "likes": "count(CASE WHEN kind = 'like' THEN 1 END)",
        "live": "count(CASE WHEN kind = 'live' THEN 1 END)",
        "content": "count(CASE WHEN kind = 'content' THEN 1 END)",
        "live_seconds": "coalesce(sum(CASE WHEN kind = 'live' THEN duration_s::BIGINT END), 0)",
        "seller_chats": "count(CASE WHEN kind = 'seller_chat' THEN 1 END)",
        "chat_sellers_sketch": sketch("list(target_hash) FILTER (WHERE kind = 'seller_chat')"),
    }
    money_back = f"kind IN ({', '.join(map(_quote, REFUND_KINDS))}) AND status = {_quote(COMPLETED)}"
    any_kind = max(_cents(c.order) for c in caps.by_kind.values())
    refund_cap = f"CASE WHEN item_kind IS NULL THEN {any_kind}::HUGEINT ELSE {_kind_cap(caps, 'order')} END"
    service_parts = {
        "refunds": "count(CASE WHEN kind = 'refund' THEN 1 END)",
        "returns": "count(CASE WHEN kind = 'return' THEN 1 END)",
        "disputes": "count(CASE WHEN kind = 'dispute' THEN 1 END)",
        "refund_cny": f"sum(CASE WHEN {money_back} THEN amount_cny ELSE 0 END)",
        "capped_refund_c": f"sum(CASE WHEN {money_back} THEN least((amount_cny * 100)::HUGEINT, {refund_cap}) "
        "ELSE 0 END)",  # cents, like capped_spend_c
    }
    cents_columns = {"capped_spend_cny": "capped_spend_c", "capped_refund_cny": "capped_refund_c"}

    def agg_list(parts: dict[str, str]) -> str:
        return ",\n        ".join(f"{expr} AS {name}" for name, expr in parts.items())

    final = []
    for f in GOLD_USER_MONTH.fields:
        typ = _duck_type(f.dataType)
        if f.name in ("user_id", "batch"):
            final.append(f"{f.name}::{typ} AS {f.name}")
        elif f.name == "month":
            final.append("event_month::VARCHAR AS month")
        elif f.name in cents_columns:  # integer cents -> decimal, exactly
            final.append(
                f"(coalesce({cents_columns[f.name]}, 0)::BIGINT::DECIMAL(20,0) * 0.01::DECIMAL(3,2))::{typ} AS {f.name}"
            )
        elif f.name == "platforms":
            final.append(f"{platforms_in('_platform_mask', platforms)}::{typ} AS {f.name}")
        elif f.name == "spend_by_platform_cny":
            spends = [f"_spend_{i}" for i in range(len(platforms))]
            final.append(f"{by_platform(spends, platforms)}::{typ} AS {f.name}")
        elif f.name in ("sellers_sketch", "chat_sellers_sketch", "max_order_cny"):
            final.append(f"{f.name}::{typ} AS {f.name}")
        elif f.name == "category_mask":  # a slice without genuine orders: every word zero
            final.append(f"coalesce({f.name}, {no_categories()})::{typ} AS {f.name}")
        else:
            final.append(f"coalesce({f.name}, 0)::{typ} AS {f.name}")
    final_list = ",\n    ".join(final)

    return f"""
WITH
batches(batch, earliest, oldest) AS (VALUES {batch_rows}),
-- the member-months each batch changes: events of the month (up to {tol} months late), or a flag on one of its orders
restated AS (
    SELECT DISTINCT user_id, event_month, b.batch FROM (
        SELECT user_id, event_month, ingest_month FROM orders
        UNION ALL SELECT user_id, event_month, ingest_month FROM interactions
        UNION ALL SELECT user_id, event_month, ingest_month FROM service_events) e
    JOIN batches b ON e.ingest_month = b.batch AND e.event_month BETWEEN b.earliest AND b.batch
    UNION
    SELECT o.user_id, o.event_month, b.batch
    FROM risk_flags f JOIN batches b ON f.ingest_month = b.batch
        JOIN orders o ON o.platform = f.platform AND o.order_id = f.order_id AND o.risk_flagged
    WHERE o.ingest_month <= b.batch AND o.event_month BETWEEN b.oldest AND b.batch),
-- the flags of the months the batches can change, as Spark reads them
first_flag AS (
    SELECT platform, order_id, min(ingest_month) AS first_ingest FROM risk_flags
    WHERE event_month BETWEEN {_quote(add_months(min(batches), -reach))} AND {_quote(max(batches))}
        AND ingest_month <= {_quote(max(batches))}
    GROUP BY ALL),
-- each restated month as its batch knows it: every order of the month that had arrived by then
weighted AS (
    SELECT r.batch, o.*,
        CASE WHEN o.risk_flagged AND ff.first_ingest <= r.batch THEN 0 ELSE 1 END AS w
    FROM orders o JOIN restated r ON r.user_id = o.user_id AND r.event_month = o.event_month
        AND o.ingest_month <= r.batch
        LEFT JOIN first_flag ff ON ff.platform = o.platform AND ff.order_id = o.order_id),
batch_interactions AS (
    SELECT r.batch, i.* FROM interactions i JOIN restated r ON r.user_id = i.user_id
        AND r.event_month = i.event_month AND i.ingest_month <= r.batch),
-- each ticket with its order's kind: the order of its platform and id in the {reach} months up to the ticket's
batch_service AS (
    SELECT r.batch, s.*, o.item_kind FROM service_events s JOIN restated r ON r.user_id = s.user_id
        AND r.event_month = s.event_month AND s.ingest_month <= r.batch
        LEFT JOIN orders o ON o.platform = s.platform AND o.order_id = s.order_id
            AND o.event_month BETWEEN strftime((s.event_month || '-01')::DATE - INTERVAL {reach} MONTH, '%Y-%m')
            AND s.event_month),
{
        xxhash64_ctes(
            "SELECT DISTINCT seller_id AS v FROM weighted WHERE w = 1 UNION "
            "SELECT DISTINCT target_id FROM batch_interactions WHERE kind = 'seller_chat' "
            "AND target_id IS NOT NULL",
            "hashes",
        )
    },
priced AS (
    SELECT wo.*, hs.h AS seller_hash, {hour} AS hr,
        (amount_cny * 100)::HUGEINT AS amount_c,
        least(amount_c, {_kind_cap(caps, "order")}) AS per_order_c,
        CASE WHEN w = 1 THEN per_order_c ELSE 0::HUGEINT END AS credit_c
    FROM weighted wo LEFT JOIN hashes hs ON wo.w = 1 AND hs.v = wo.seller_id),
totals AS (
    SELECT *,
        sum(credit_c) OVER (PARTITION BY batch, user_id, event_month, event_date, item_kind) AS day_total_c,
        sum(credit_c) OVER (PARTITION BY batch, user_id, event_month, category) AS category_total_c,
        sum(credit_c) OVER (PARTITION BY batch, user_id, event_month, seller_id) AS shop_total_c
    FROM priced),
credited AS (
    SELECT *,
        least({e16}, {factor("day_total_c", _kind_cap(caps, "day"))},
              {factor("category_total_c", _kind_cap(caps, "category_month"))},
              {factor("shop_total_c", _kind_cap(caps, "shop_month"))}) AS scale16,
        -- credit * scale: 18 decimals, rounded half up to 6 (decimal(38,6)), then to 2 (round(.., 2))
        CASE WHEN w = 1 THEN (((credit_c * scale16 + 500000000000) // 1000000000000) + 5000) // 10000
             ELSE 0::HUGEINT END AS credited_c
    FROM totals),
order_parts AS (
    SELECT batch, user_id, event_month,
        {agg_list(order_parts)}
    FROM credited GROUP BY batch, user_id, event_month),
interaction_parts AS (
    SELECT batch, user_id, event_month,
        {agg_list(interaction_parts)}
    FROM (SELECT bi.*, hs.h AS target_hash FROM batch_interactions bi
          LEFT JOIN hashes hs ON bi.kind = 'seller_chat' AND hs.v = bi.target_id)
    GROUP BY batch, user_id, event_month),
service_parts AS (
    SELECT batch, user_id, event_month,
        {agg_list(service_parts)}
    FROM batch_service GROUP BY batch, user_id, event_month),
order_interaction AS (
    SELECT coalesce(o.batch, i.batch) AS batch, coalesce(o.user_id, i.user_id) AS user_id,
        coalesce(o.event_month, i.event_month) AS event_month,
        {", ".join(f"o.{c}" for c in order_parts)},
        {", ".join(f"i.{c}" for c in interaction_parts)}
    FROM order_parts o FULL JOIN interaction_parts i
        ON o.batch = i.batch AND o.user_id = i.user_id AND o.event_month = i.event_month),
slices AS (
    SELECT coalesce(oi.batch, s.batch) AS batch, coalesce(oi.user_id, s.user_id) AS user_id,
        coalesce(oi.event_month, s.event_month) AS event_month,
        {", ".join(f"oi.{c}" for c in [*order_parts, *interaction_parts])},
        {", ".join(f"s.{c}" for c in service_parts)}
    FROM order_interaction oi FULL JOIN service_parts s
        ON oi.batch = s.batch AND oi.user_id = s.user_id AND oi.event_month = s.event_month)
SELECT
    {final_list}
FROM slices
"""


def default_batches(spark: SparkSession, config: Config) -> list[str]:
    """The batches `taoqi aggregate` knows: every conformed batch with events."""
    return gold_log.event_batches(gold_log.batches(spark, config))


def build_reference(
    con: duckdb.DuckDBPyConnection, config: Config, batches: list[str], table: str = "reference"
) -> float:
    """Materialize the slices of ``batches`` as DuckDB table ``table``; the seconds the query took.

    The silver views must be attached. The result is a DuckDB table (columnar,
    spilled to disk beyond memory_limit), as Spark's result is a Delta table.
    """
    event_time_type = {r[0]: r[1] for r in con.execute("DESCRIBE orders").fetchall()}["event_time"]
    sql = user_month_sql(
        batches,
        late_tolerance_months=config.conform.late_tolerance_months,
        caps=config.scoring.caps,
        time_zone=config.spark.session_time_zone,
        platforms=configured_platforms(config),
        event_time_type=event_time_type,
    )
    started = time.perf_counter()
    con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {sql}").fetchall()
    return time.perf_counter() - started


def user_month_duckdb(
    spark: SparkSession,
    config: Config,
    batches: list[str],
    *,
    silver: SilverFiles | None = None,
    threads: int | None = None,
    memory_limit: str | None = None,
) -> tuple[pa.Table, float]:
    """The slices of ``batches`` as gold.user_month holds them, computed by DuckDB; and the query's seconds.

    ``silver``: the listed files (``list_silver``); listed here when not given,
    outside the timing either way. ``threads``: DuckDB's threads (default:
    every core of this machine). The seconds are the query's, its result
    materialized in DuckDB; the copy to Arrow that follows is not timed.
    """
    silver = silver or list_silver(spark, config)
    con = connect(threads, config.spark.session_time_zone, memory_limit)
    try:
        attach_silver(con, silver)
        seconds = build_reference(con, config, batches)
        rel = con.table("reference")  # DuckDB 2: to_arrow_table(); 1.x: fetch_arrow_table()
        result = rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.fetch_arrow_table()
    finally:
        con.close()
    return result, seconds


# --------------------------------------------------------------------------- the checker


@dataclass
class Comparison:
    """The DuckDB reference against the rows gold.user_month holds for the same batches."""

    batches: list[str]
    reference_rows: int
    gold_rows: int
    mismatches: int  # rows missing on either side + rows present on both with any column different
    only_reference: int
    only_gold: int
    columns: dict[str, int] = field(default_factory=dict)  # rows differing, per column (non-zero only)
    examples: list[dict] = field(default_factory=list)  # a few differing rows, both sides
    duckdb_seconds: float = 0.0
    listing_seconds: float = 0.0
    threads: int = 0

    @property
    def matches(self) -> bool:
        return self.mismatches == 0


@dataclass
class RowDiff:
    """Two DuckDB relations of the same columns, joined on a key and compared column by column."""

    reference_rows: int
    gold_rows: int
    only_reference: int
    only_gold: int
    differing: int  # rows present on both sides with any column different
    columns: dict[str, int] = field(default_factory=dict)  # rows differing, per column (non-zero only)
    examples: list[dict] = field(default_factory=list)  # a few differing rows, both sides

    @property
    def mismatches(self) -> int:
        return self.only_reference + self.only_gold + self.differing


def attach_gold(
    con: duckdb.DuckDBPyConnection,
    view: str,
    files: list[str],
    schema: T.StructType,
    partition: str,
    where: str,
    spark_rows: int,
    name: str,
) -> None:
    """View ``view``: the rows of ``files`` matching ``where``; their count must be Spark's (``spark_rows``)."""
    register_parquet(con, f"{view}_all", files, schema, partition)
    con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM {view}_all WHERE {where}").fetchall()
    got = con.execute(f"SELECT count(*) FROM {view}").fetchall()[0][0]
    if got != spark_rows:
        raise RuntimeError(
            f"{name}: the snapshot's Parquet files hold {got} rows where {where}, "
            f"Delta reads {spark_rows} (deletion vectors?)"
        )


def diff_rows(
    con: duckdb.DuckDBPyConnection,
    reference: str,
    gold: str,
    key: tuple[str, ...],
    values: list[str],
    *,
    examples: int = 5,
) -> RowDiff:
    """Join ``reference`` and ``gold`` (tables, views or parenthesized queries) on ``key``; count the rows
    only one side has and, per column of ``values``, the rows whose values differ (IS DISTINCT FROM: no
    tolerance); keep a few differing rows as examples."""
    joined = f"""SELECT r.{key[0]} IS NULL AS only_gold, g.{key[0]} IS NULL AS only_ref,
        {", ".join(f"coalesce(r.{k}, g.{k}) AS {k}" for k in key)},
        {", ".join(f"(r.{c} IS DISTINCT FROM g.{c}) AS d_{c}" for c in values)},
        r AS ref_row, g AS gold_row
        FROM {reference} r FULL JOIN {gold} g ON {" AND ".join(f"r.{k} = g.{k}" for k in key)}"""
    both = "NOT only_ref AND NOT only_gold"
    any_diff = " OR ".join(f"d_{c}" for c in values)
    only_ref, only_gold, differing, *per_column = con.execute(f"""SELECT
        count(*) FILTER (WHERE only_ref), count(*) FILTER (WHERE only_gold),
        count(*) FILTER (WHERE {both} AND ({any_diff})),
        {", ".join(f"count(*) FILTER (WHERE {both} AND d_{c})" for c in values)}
        FROM ({joined})""").fetchall()[0]
    found = []
    cursor = con.execute(
        f"SELECT * FROM ({joined}) WHERE only_ref OR only_gold OR {any_diff} "
        f"ORDER BY {', '.join(reversed(key))} LIMIT {examples}"
    )
    names = [d[0] for d in cursor.description]
    for row in cursor.fetchall():
        r = dict(zip(names, row, strict=True))
        example = {**{k: r[k] for k in key}, "only_reference": r["only_ref"], "only_gold": r["only_gold"]}
        if not (r["only_ref"] or r["only_gold"]):
            example["reference_vs_gold"] = {c: (r["ref_row"][c], r["gold_row"][c]) for c in values if r[f"d_{c}"]}
        found.append(example)
    rows = [con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in (reference, gold)]
    return RowDiff(
        reference_rows=rows[0],
        gold_rows=rows[1],
        only_reference=only_ref,
        only_gold=only_gold,
        differing=differing,
        columns={c: n for c, n in zip(values, per_column, strict=True) if n},
        examples=found,
    )


def check(
    spark: SparkSession,
    config: Config,
    batches: list[str] | None = None,
    *,
    threads: int | None = None,
    memory_limit: str | None = None,
) -> Comparison:
    """Run the reference for ``batches`` (default: every batch) and compare it with gold.user_month.

    Every column must be equal exactly (IS NOT DISTINCT FROM), no tolerance:
    integers and bitmasks are exact by nature; gold.user_month has no double
    column, and its money columns are decimal(22,2) on both sides: sums of
    exact decimals, and cap credits computed in integer cents with each of
    Spark's rounding steps reproduced, so a difference of one cent is a real
    difference. The sketches compare element by element. Both sides stay in
    DuckDB (gold is read from its snapshot's Parquet files): nothing per
    member is collected to the driver.
    """
    batches = sorted(set(batches or default_batches(spark, config)))
    threads = threads or os.cpu_count() or 1
    silver = list_silver(spark, config)
    gold_files = snapshot_files(spark, config, USER_MONTH)
    gold_rows = tables.read(spark, config, USER_MONTH).filter(F.col("batch").isin(batches)).count()
    con = connect(threads, config.spark.session_time_zone, memory_limit)
    try:
        attach_silver(con, silver)
        seconds = build_reference(con, config, batches)
        attach_gold(
            con,
            "gold",
            gold_files,
            GOLD_USER_MONTH,
            "month",
            f"batch IN ({', '.join(map(_quote, batches))})",
            gold_rows,
            USER_MONTH,
        )
        found = diff_rows(con, "reference", "gold", KEY, [f.name for f in GOLD_USER_MONTH.fields if f.name not in KEY])
    finally:
        con.close()
    return Comparison(
        batches=batches,
        reference_rows=found.reference_rows,
        gold_rows=gold_rows,
        mismatches=found.mismatches,
        only_reference=found.only_reference,
        only_gold=found.only_gold,
        columns=found.columns,
        examples=found.examples,
        duckdb_seconds=seconds,
        listing_seconds=silver.seconds,
        threads=threads,
    )


def compare(
    spark: SparkSession,
    config: Config,
    batches: list[str] | None = None,
    *,
    threads: int | None = None,
    memory_limit: str | None = None,
) -> int:
    """Mismatching rows between the DuckDB reference and gold.user_month for ``batches`` (0: identical)."""
    return check(spark, config, batches, threads=threads, memory_limit=memory_limit).mismatches


def reference_parser(doc: str, *, world: str, settings: str) -> argparse.ArgumentParser:
    """The command line both references share: the lakehouse, DuckDB's resources, the config as `taoqi`'s."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help=f"lakehouse root (lakehouse.root) of {world}")
    parser.add_argument("--threads", type=int, default=None, help="DuckDB threads (default: every core)")
    parser.add_argument("--memory-limit", default=None, help="DuckDB memory_limit, e.g. 8GB (default: DuckDB's)")
    parser.add_argument(
        "--conf", action="append", default=[], metavar="FILE", help=f"config overlay, as `taoqi --conf` ({settings})"
    )
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override, as `taoqi --set` (e.g. spark.master=local[2])",
    )
    return parser


def reference_session(args: argparse.Namespace, app_name: str) -> tuple[Config, SparkSession]:
    """The config and Spark session of a reference's command line (:func:`reference_parser`)."""
    from jobs.runtime.config import load_config
    from jobs.runtime.logs import setup_logging
    from jobs.runtime.session import build_spark

    setup_logging()
    config = load_config(args.conf, [f"lakehouse.root={args.root}", *args.sets])
    return config, build_spark(config, app_name=app_name)


def main(argv: list[str] | None = None) -> int:
    parser = reference_parser(
        __doc__, world="an aggregated world", settings="the caps and tolerance must be the aggregate's"
    )
    parser.add_argument("--batches", nargs="*", help="batches YYYY-MM (default: every conformed batch)")
    args = parser.parse_args(argv)
    config, spark = reference_session(args, "taoqi-duckdb-reference")
    result = check(spark, config, args.batches, threads=args.threads, memory_limit=args.memory_limit)
    print(f"batches: {result.batches[0]} .. {result.batches[-1]} ({len(result.batches)})")
    print(f"rows: reference {result.reference_rows:,}, gold.user_month {result.gold_rows:,}")
    print(f"listing silver files (Spark): {result.listing_seconds:.2f} s")
    print(f"DuckDB query ({result.threads} threads): {result.duckdb_seconds:.2f} s")
    if result.matches:
        print("matches: yes (every row and column equal)")
        return 0
    print(
        f"matches: NO, {result.mismatches:,} mismatching rows (only reference {result.only_reference:,}, "
        f"only gold {result.only_gold:,}); differing columns: {result.columns}"
    )
    for example in result.examples:
        print(f"  {example}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
