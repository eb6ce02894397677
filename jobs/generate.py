"""Generate the synthetic ecosystem: raw landing files per platform and the hidden truth.

Writes <root>/landing/<source>/ingest_month=YYYY-MM/<source>-<batch>-NNNNN.<ext>
for every source and month (dirt, late events and replays included, at the
rates of generator.dirt) and the per-user truth to <root>/truth/users
(Parquet; for evaluation and tests only, no stage reads it).
Deterministic: the same settings give the same rows on any cluster shape.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import logging
import math
import sys
from datetime import date, timedelta

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.runtime import gold_log, storage, tables
from jobs.runtime.config import Config
from jobs.runtime.errors import UserError
from jobs.runtime.logs import timed
from transforms.synthetic import events, landing
from transforms.synthetic import skew as skewed
from transforms.synthetic.apass_history import apass_reviews
from transforms.synthetic.population import HeavyUsers, population, truth

log = logging.getLogger(__name__)

DESCRIPTION = __doc__
GENERATED = "_generated"  # beside the sources' landing: the fingerprint of the settings of the world it holds
MEMBERS_PER_PARTITION = 20_000  # the generated world's members per partition (see world())

# Source -> (writer format, file suffix). Parquet for Fliggy; text lines for the rest.
LAYOUT = {
    "accounts": ("text", ".json"),
    "taobao_orders": ("text", ".json"),
    "tmall_orders": ("csv", ".csv"),
    "fliggy_bookings": ("parquet", ".parquet"),
    "taopiaopiao_tickets": ("csv", ".tsv"),
    "eleme_orders": ("text", ".json"),
    "interactions": ("text", ".json"),
    "service_events": ("csv", ".csv"),
    "risk_flags": ("text", ".json"),
    "apass_reviews": ("text", ".json"),
}


# The source of the world's food delivery orders (generator.food_delivery): they exist while it is enabled.
FOOD_DELIVERY_SOURCE = "eleme_orders"


def food_delivery_on(config: Config) -> bool:
    """Whether the world has Ele.me's orders: its source is configured and enabled."""
    source = config.sources.get(FOOD_DELIVERY_SOURCE)
    return source is not None and source.enabled


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--users", type=int, help="shorthand for --set generator.users=N")
    parser.add_argument("--months", type=int, help="shorthand for --set generator.months=N")
    parser.add_argument("--seed", type=int, help="shorthand for --set generator.seed=N")
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace a landing that bronze has ingested by a world of other settings (its tables then describe "
        "the old world: use a fresh lakehouse.root instead when you can)",
    )


def execute(spark: SparkSession, config: Config, args: argparse.Namespace) -> None:
    config = _with_shorthands(config, args)
    gen = config.generator
    settings = world_fingerprint(config)
    marker = f"{config.lakehouse.root.rstrip('/')}/landing/{GENERATED}"
    if storage.exists(spark, marker) and storage.read_text(spark, marker).strip() == settings:
        log.info("generate: the landing already holds this world (settings %s): nothing to generate", settings)
        return
    if tables.exists(spark, config, "ops.ingest_manifest") and not getattr(args, "force", False):
        raise UserError(
            f"the landing under {config.lakehouse.root} was generated with other settings (or by an older version) "
            "and bronze has ingested it: a new world would change files bronze holds. Use a fresh "
            "--set lakehouse.root=..., or --force to replace it anyway"
        )
    months = events.calendar(config.generator_months())
    last = months[-1]
    world_end_epoch = last.start_epoch + last.days * 86400
    log.info(
        "generating %s users x %d months (%s..%s), seed %d",
        f"{gen.users:,}",
        gen.months,
        months[0].month,
        last.month,
        gen.seed,
    )

    users, user_months, orders = world(spark, config, months)

    common = dict(seed=gen.seed, months=months, dirt=gen.dirt)
    late = dict(late_rate=gen.late_event_rate)
    fx = dict(fx_to_cny=config.conform.fx_to_cny)
    outputs = {
        "accounts": lambda: landing.accounts_landing(events.accounts(users, seed=gen.seed, months=months), **common),
        "taobao_orders": lambda: landing.taobao_landing(orders, **common, **late),
        "tmall_orders": lambda: landing.tmall_landing(orders, **common, **late, **fx),
        "fliggy_bookings": lambda: landing.fliggy_landing(orders, **common, **late, **fx),
        "taopiaopiao_tickets": lambda: landing.taopiaopiao_landing(orders, **common, **late),
        FOOD_DELIVERY_SOURCE: lambda: landing.eleme_landing(orders, **common, **late),
        "interactions": lambda: landing.interactions_landing(
            events.interactions(user_months, seed=gen.seed, segments=gen.segments, sellers=gen.sellers),
            **common,
            **late,
        ),
        "service_events": lambda: landing.service_landing(
            events.service_events(orders, seed=gen.seed, world_end_epoch=world_end_epoch), **common, **late
        ),
        "risk_flags": lambda: landing.risk_landing(
            events.risk_flags(
                orders,
                seed=gen.seed,
                flag_rate=gen.risk_flag_rate,
                false_positive_rate=gen.risk_false_positive_rate,
                world_end_epoch=world_end_epoch,
            ),
            **common,
            **late,
        ),
        "apass_reviews": lambda: landing.apass_reviews_landing(
            apass_reviews(users, seed=gen.seed, months=months, history=gen.apass_history, accounts=gen.users),
            **common,
            **late,
        ),
    }
    if not food_delivery_on(config):
        del outputs[FOOD_DELIVERY_SOURCE]
    dirt_counts = []
    for source, build in outputs.items():
        with timed("generate", source) as t:
            counts = write_landing(spark, build(), config=config, source=source)
            t.rows_out = sum(counts.values())
        dirt_counts += [(source, month, kind, n) for (month, kind), n in counts.items() if kind is not None]
    with timed("generate", "file replays") as t:
        t.rows_out = replay_files(spark, config, [m.month for m in months], sources=list(outputs))
    with timed("generate", "truth") as t:
        truth(users).write.mode("overwrite").parquet(config.truth_path("users"))
        # How many rows of each dirt kind every source and batch was sent (before file replays).
        spark.createDataFrame(dirt_counts, "source string, ingest_month string, dirt string, rows long").coalesce(
            1
        ).write.mode("overwrite").parquet(config.truth_path("dirt"))
        t.rows_out = gen.users
    for cached in (orders, user_months, users):
        cached.unpersist()
    storage.write_text(spark, marker, settings)  # last: a landing half written by a failed run is not marked


def world_fingerprint(config: Config) -> str:
    """What the generated world depends on: the generator's settings and the FX rates of the amounts; the food
    delivery settings only while its source is on (a world without it is the one generated before it existed)."""
    settings = dataclasses.asdict(config.generator)
    food_delivery = settings.pop("food_delivery")
    parts = [settings, config.conform.fx_to_cny]
    return gold_log.settings_fingerprint(*parts, *([food_delivery] if food_delivery_on(config) else []))


def world(spark: SparkSession, config: Config, months: list[events.Month]) -> tuple[DataFrame, DataFrame, DataFrame]:
    """The members, their (member, month) rows and their orders, persisted (the caller unpersists them).

    A skewed world (``generator.skew``) needs the median member's and the
    median shop's volume first: two small aggregates (one row per distinct
    total) are collected for them; an unskewed world runs none.
    """
    gen = config.generator
    skew = gen.skew
    last = months[-1]
    world_end = date.fromisoformat(last.month + "-01") + timedelta(days=last.days - 1)
    heavy = None
    if skew.heavy_users:
        heavy = HeavyUsers(
            ids=tuple(skewed.pick_ids(gen.seed, "heavy_user", 1, gen.users + 1, skew.heavy_users)),
            segment=skew.heavy_user_segment,
            registered_by=date.fromisoformat(months[0].month + "-01") - timedelta(days=1),
        )
    # Partitions of MEMBERS_PER_PARTITION members: each holds its members' 13 months of orders (about 90 MiB
    # cached at 20 000), so the cached frames fit the executors' storage at any world size (at 200 000 a
    # partition of the 1 M-member world held over 900 MiB and spilled every block to disk).
    partitions = max(spark.sparkContext.defaultParallelism, gen.users // MEMBERS_PER_PARTITION)
    ids = spark.range(1, gen.users + 1, numPartitions=partitions)
    users = population(ids, seed=gen.seed, segments=gen.segments, world_end=world_end, heavy=heavy).persist(
        StorageLevel.MEMORY_AND_DISK_DESER
    )
    user_months = events.user_months(users, seed=gen.seed, months=months, seasonality=gen.seasonality)
    if heavy is not None:
        histogram: dict[str, dict[int, int]] = {"orders": {}, "interactions": {}}
        for r in skewed.user_volume_histogram(user_months).collect():
            histogram[r["measure"]][r["value"]] = r["members"]
        median = {k: skewed.median_of_histogram(v) for k, v in histogram.items()}
        log.info(
            "skew: %d heavy %s members, %g x the median member's %g orders and %g interactions",
            len(heavy.ids),
            heavy.segment,
            skew.factor,
            median["orders"],
            median["interactions"],
        )
        user_months = skewed.heavy_user_months(
            user_months,
            seed=gen.seed,
            months=months,
            seasonality=gen.seasonality,
            orders=skew.factor * median["orders"],
            interactions=skew.factor * median["interactions"],
        )
    user_months = user_months.persist(StorageLevel.MEMORY_AND_DISK_DESER)
    orders = events.orders(
        user_months,
        seed=gen.seed,
        segments=gen.segments,
        sellers=gen.sellers,
        fx_to_cny=config.conform.fx_to_cny,
        n_months=len(months),
    )
    if food_delivery_on(config):
        orders = orders.unionByName(events.food_delivery_orders(user_months, seed=gen.seed, conf=gen.food_delivery))
    if skew.heavy_sellers:
        orders = _with_heavy_sellers(orders, config)
    return users, user_months, orders.persist(StorageLevel.MEMORY_AND_DISK_DESER)


def _with_heavy_sellers(orders: DataFrame, config: Config) -> DataFrame:
    """Send each heavy shop its ``factor`` x the median shop's orders (a share of its platform's movable orders)."""
    gen = config.generator
    skew = gen.skew
    median = skewed.median_of_histogram({r["value"]: r["sellers"] for r in skewed.seller_histogram(orders).collect()})
    movable = {r["platform"]: r["count"] for r in skewed.movable_orders(orders).groupBy("platform").count().collect()}
    heavy = skewed.heavy_seller_ids(gen.seed, gen.sellers, skew.heavy_sellers)
    share = {}
    for platform, ids in heavy.items():
        wanted = len(ids) * skew.factor * median
        share[platform] = wanted / movable.get(platform, 0) if movable.get(platform) else math.inf
        if share[platform] > 1:
            raise UserError(
                f"generator.skew: {len(ids)} heavy {platform} shops at {skew.factor:g} x the median "
                f"shop's {median:g} orders need {wanted:,.0f} orders; the world has "
                f"{movable.get(platform, 0):,} genuine {platform} orders: lower heavy_sellers or "
                "factor, or raise generator.users"
            )
    log.info(
        "skew: %d heavy shops (%s), %g x the median shop's %g orders",
        skew.heavy_sellers,
        ", ".join(f"{p} {ids}" for p, ids in heavy.items()),
        skew.factor,
        median,
    )
    return skewed.with_heavy_sellers(orders, seed=gen.seed, heavy=heavy, share=share)


def _with_shorthands(config: Config, args: argparse.Namespace) -> Config:
    changes = {k: v for k, v in (("users", args.users), ("months", args.months), ("seed", args.seed)) if v is not None}
    if not changes:
        return config
    from jobs.runtime.config import validate

    updated = dataclasses.replace(config, generator=dataclasses.replace(config.generator, **changes))
    validate(updated)
    return updated


def write_landing(spark: SparkSession, rows: DataFrame, *, config: Config, source: str) -> dict:
    """Write one source's batches as files of about ``rows_per_file`` rows.

    Returns the rows written per (batch, dirt kind), the kind None being clean rows.

    Rows are assigned to files by a hash of their key and the number of files
    follows from the row count, so every file's content is the same whatever
    the cluster shape (a replayed file is then a faithful copy).
    """
    writer_format, suffix = LAYOUT[source]
    gen = config.generator
    counts = {
        (r["ingest_month"], r["dirt"]): r["count"] for r in rows.groupBy("ingest_month", "dirt").count().collect()
    }
    per_batch: dict[str, int] = {}
    for (month, _), n in counts.items():
        per_batch[month] = per_batch.get(month, 0) + n
    files = {m: max(1, math.ceil(n / gen.rows_per_file)) for m, n in per_batch.items()}
    # (a source with no rows in a tiny world writes no files; an empty map literal has no key type)
    n_files = (
        F.create_map(*[x for m, n in files.items() for x in (F.lit(m), F.lit(n))])[F.col("ingest_month")]
        if files
        else F.lit(1)
    )
    file_no = F.pmod(F.xxhash64(F.lit(gen.seed), F.lit("file"), F.col("sort_key")), n_files)
    laid_out = (
        rows.select("*", file_no.alias("file_no"))
        .repartition(max(1, sum(files.values())), "ingest_month", "file_no")
        .sortWithinPartitions("sort_key")
    )
    uri = config.landing_path(source)
    writer_rows = laid_out.drop("sort_key", "file_no", "dirt")
    if writer_format == "text":
        writer_rows.write.mode("overwrite").partitionBy("ingest_month").text(uri)
    elif writer_format == "csv":
        # One column named after the header line, written verbatim: the lines were built by the
        # landing formatters (including the malformed ones a CSV writer would have quoted away).
        header = landing.HEADERS[source]
        (
            writer_rows.select("ingest_month", F.col("value").alias(header))
            .write.mode("overwrite")
            .partitionBy("ingest_month")
            .option("header", True)
            .option("sep", "\u0001")
            .option("quote", "\u0002")
            .option("escapeQuotes", False)
            .csv(uri)
        )
    else:
        writer_rows.write.mode("overwrite").partitionBy("ingest_month").parquet(uri)
    _name_files(spark, uri, source, suffix)
    return counts


def _name_files(spark: SparkSession, uri: str, source: str, suffix: str) -> None:
    """Give Spark's part files the names a sender would use: <source>-<batch>-NNNNN<suffix>."""
    for batch_dir in storage.list_dir(spark, uri):
        if not batch_dir.is_dir:
            continue
        month = batch_dir.name.split("=", 1)[1]
        parts = [f for f in storage.list_dir(spark, batch_dir.path) if f.name.startswith("part-")]
        for i, part in enumerate(parts):
            storage.rename(spark, part.path, f"{batch_dir.path}/{source}-{month}-{i:05d}{suffix}")


def replay_files(spark: SparkSession, config: Config, months: list[str], *, sources: list[str]) -> int:
    """Send some files of ``sources`` again in the next batch, byte for byte (the feed's whole-file replays)."""
    gen = config.generator
    copied = 0
    for source in sources:
        suffix = LAYOUT[source][1]
        for prev, month in itertools.pairwise(months):
            draw = (
                int(hashlib.sha256(f"{gen.seed}:file_replay:{source}:{month}".encode()).hexdigest()[:13], 16) / 16**13
            )
            if draw >= gen.dirt.file_replay_rate:
                continue
            prev_files = [
                f
                for f in storage.list_dir(spark, f"{config.landing_path(source)}/ingest_month={prev}")
                if f.name.endswith(suffix)
            ]
            if prev_files:
                first = prev_files[0]
                storage.copy(spark, first.path, f"{config.landing_path(source)}/ingest_month={month}/{first.name}")
                copied += 1
    return copied


def main(argv: list[str] | None = None) -> int:
    from jobs.cli import main as cli_main

    return cli_main(["generate", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
