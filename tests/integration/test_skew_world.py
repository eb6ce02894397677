"""The skewed world (generator.skew): heavy members and shops get factor x the median; off, nothing changes."""

from __future__ import annotations

import statistics
from datetime import date, timedelta

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs import generate
from jobs.runtime.config import ConfigError, load_config
from transforms.synthetic import events
from transforms.synthetic import skew as skewed
from transforms.synthetic.population import population

TINY = ["generator.users=1000", "generator.months=2"]
# 200 x: a tiny world's Taobao has too few orders for two shops of 1000 x the median shop.
SKEW = ["generator.skew.heavy_users=2", "generator.skew.heavy_sellers=2", "generator.skew.factor=200"]


def _per_key(df: DataFrame, *keys: str) -> dict:
    return {tuple(r[k] for k in keys): r["count"] for r in df.groupBy(*keys).count().collect()}


def test_heavy_members_and_shops_hold_factor_times_the_median(spark):
    config = load_config(sets=TINY + SKEW)
    gen = config.generator
    months = events.calendar(config.generator_months())
    users, user_months, orders = generate.world(spark, config, months)
    try:
        heavy = skewed.pick_ids(gen.seed, "heavy_user", 1, gen.users + 1, 2)
        interactions = events.interactions(user_months, seed=gen.seed, segments=gen.segments, sellers=gen.sellers)
        for name, frame in (("orders", orders), ("interactions", interactions)):
            per_user = {k[0]: n for k, n in _per_key(frame, "user_id").items()}
            median = statistics.median(n for u, n in per_user.items() if u not in heavy)
            for user in heavy:  # 200 x a median of a few events: hundreds, within rounding
                assert per_user[user] / median == pytest.approx(200, rel=0.05), (name, user, per_user[user], median)
        heavy_rows = users.filter(F.col("user_id").isin(heavy)).collect()
        assert {r["segment"] for r in heavy_rows} == {"brusher"}
        assert all(str(r["registered_date"]) < months[0].month for r in heavy_rows)  # active from the first month

        per_shop = _per_key(orders, "platform", "seller_num")
        shops = skewed.heavy_seller_ids(gen.seed, gen.sellers, 2)
        assert set(shops) == {"taobao", "tmall"}
        median_shop = statistics.median(n for k, n in per_shop.items() if k[1] not in shops.get(k[0], []))
        for platform, ids in shops.items():
            for shop in ids:  # a binomial draw of about 200 x the median: within a quarter of it
                assert per_shop[(platform, shop)] / median_shop == pytest.approx(200, rel=0.25), (platform, shop)
        # brushed orders stay with their colluding shops
        assert (
            orders.filter(
                F.col("is_fake")
                & F.col("seller_num").isin(*shops["taobao"], *shops["tmall"])
                & F.col("platform").isin("taobao", "tmall")
            ).count()
            == 0
        )
    finally:
        for df in (orders, user_months, users):
            df.unpersist()


def _checksum(df: DataFrame) -> tuple[int, int]:
    """(rows, sum of a 64-bit hash of every row): any changed value, added or lost row changes it."""
    row = (
        df.select(F.xxhash64(*df.columns).cast("decimal(38,0)").alias("h"))
        .agg(F.count("*").alias("n"), F.sum("h").alias("s"))
        .first()
    )
    return row["n"], int(row["s"])


def test_skew_off_leaves_the_world_exactly_as_it_was(spark):
    config = load_config(sets=TINY)  # generator.skew present, with zeros
    gen = config.generator
    assert (gen.skew.heavy_users, gen.skew.heavy_sellers) == (0, 0)
    months = events.calendar(config.generator_months())
    users, user_months, orders = generate.world(spark, config, months)
    try:
        # the calls the generator made before the setting existed
        last = months[-1]
        world_end = date.fromisoformat(last.month + "-01") + timedelta(days=last.days - 1)
        plain_users = population(
            spark.range(1, gen.users + 1, numPartitions=3), seed=gen.seed, segments=gen.segments, world_end=world_end
        )
        plain_months = events.user_months(plain_users, seed=gen.seed, months=months, seasonality=gen.seasonality)
        plain_orders = events.orders(
            plain_months,
            seed=gen.seed,
            segments=gen.segments,
            sellers=gen.sellers,
            fx_to_cny=config.conform.fx_to_cny,
            n_months=len(months),
        )
        assert users.columns == plain_users.columns and "heavy" not in users.columns
        assert _checksum(users) == _checksum(plain_users)
        assert _checksum(orders) == _checksum(plain_orders)
        assert _checksum(orders)[0] > 1000  # a world with orders, not two empty frames
    finally:
        for df in (orders, user_months, users):
            df.unpersist()


def test_median_of_a_histogram_and_the_settings_checks():
    assert skewed.median_of_histogram({1: 2, 3: 1}) == 1
    assert skewed.median_of_histogram({1: 1, 4: 1}) == 2.5
    assert skewed.median_of_histogram({7: 1}) == 7
    assert sorted(skewed.pick_ids(1, "x", 1, 11, 10)) == list(range(1, 11))  # distinct: all ten of them
    assert (
        skewed.pick_ids(1, "x", 1, 10**6, 5)
        == skewed.pick_ids(1, "x", 1, 10**6, 5)
        != skewed.pick_ids(2, "x", 1, 10**6, 5)
    )
    with pytest.raises(ConfigError, match="heavy_user_segment must be one of"):
        load_config(sets=["generator.skew.heavy_users=1", "generator.skew.heavy_user_segment=whales"])
    with pytest.raises(ConfigError, match="factor must be at least 1"):
        load_config(sets=["generator.skew.factor=0.5"])
