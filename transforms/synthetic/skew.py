"""A skewed world: a few members and shops with ``factor`` x the median volume (``generator.skew``).

Real feeds have order farms and mega-shops whose events dwarf everyone
else's; a job that puts one member or one shop in one task must survive
them (the job's scale rule: no task above 10x its stage's median). This module
turns the ordinary world into such a world, in three steps the generate job
wires together (it runs the two small aggregates the medians need):

- ``pick_ids``: which members and shops are heavy, drawn from the seed
  (a handful of ids, not data);
- ``heavy_user_months``: a heavy member's (member, month) rows carry
  ``factor`` x the median member's orders and interactions for the world,
  spread over the months like the season; the usual
  ``explode(sequence(1, n))`` fans them out into events;
- ``with_heavy_sellers``: each heavy shop draws genuine orders of its
  platform (a hash draw per order) until it holds ``factor`` x the median
  shop's orders.

With no heavy member and no heavy shop none of this runs, so the default
world is the same row for row.
"""

from __future__ import annotations

import hashlib

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from transforms.synthetic.events import WHALE_EVENT, Month, value_at
from transforms.synthetic.rand import stochastic_round, uniform

# Heavy shops sit on the two marketplaces, alternately (a Fliggy supplier or a cinema is not a mega-shop).
HEAVY_SELLER_PLATFORMS = ("taobao", "tmall")
# An interaction's event key keeps 16 bits for its number within the member's month.
MAX_EVENTS_PER_MONTH = (1 << 16) - 1


def pick_ids(seed: int, name: str, low: int, high: int, n: int) -> list[int]:
    """``n`` distinct integers of [low, high), drawn from the seed (the same on any machine)."""
    if n > high - low:
        raise ValueError(f"cannot pick {n} distinct ids from {high - low}")
    picked: list[int] = []
    seen: set[int] = set()
    draw = 0
    while len(picked) < n:
        digest = hashlib.sha256(f"{seed}:{name}:{draw}".encode()).hexdigest()
        value = low + int(digest[:15], 16) % (high - low)
        draw += 1
        if value not in seen:
            seen.add(value)
            picked.append(value)
    return picked


def median_of_histogram(counts: dict[int, int]) -> float:
    """The median of a multiset given as {value: how many times} (the mean of the two middle values if even)."""
    total = sum(counts.values())
    if total == 0:
        raise ValueError("the median of nothing")
    middle = ((total - 1) // 2, total // 2)  # 0-based ranks of the middle value(s)
    found, seen = [], 0
    for value in sorted(counts):
        for rank in middle:
            if seen <= rank < seen + counts[value]:
                found.append(value)
        seen += counts[value]
    return (found[0] + found[1]) / 2


def user_volume_histogram(user_months: DataFrame) -> DataFrame:
    """(measure, value, members): how many ordinary members had each world total of orders / interactions.

    Heavy members are left out; members with none of a measure are too (the
    median member is a member who shops, not an empty account). One row per
    distinct total, so the result is small whatever the world's size.
    """
    totals = (
        user_months.filter(~F.col("heavy"))
        .groupBy("user_id")
        .agg(
            F.sum("n_orders").cast("long").alias("orders"),
            F.sum(F.col("n_interactions") + F.col("n_chats")).cast("long").alias("interactions"),
        )
    )
    stacked = totals.select(
        F.explode(
            F.array(
                F.struct(F.lit("orders").alias("measure"), F.col("orders").alias("value")),
                F.struct(F.lit("interactions").alias("measure"), F.col("interactions").alias("value")),
            )
        ).alias("m")
    )
    return (
        stacked.select("m.*").filter(F.col("value") > 0).groupBy("measure", "value").agg(F.count("*").alias("members"))
    )


def heavy_user_months(
    user_months: DataFrame,
    *,
    seed: int,
    months: list[Month],
    seasonality: dict[str, float],
    orders: float,
    interactions: float,
) -> DataFrame:
    """``user_months`` with a heavy member's counts set so the world holds ``orders`` and ``interactions`` of theirs.

    Month m gets its seasonal share of each total (stochastically rounded);
    interactions split into chats and the rest in the member's own ratio.
    Counts stop at what the event keys hold (65 534 orders, 65 535
    interactions in a member's month).
    """
    season = [seasonality.get(m.month[5:], 1.0) for m in months]
    share = value_at([s / sum(season) for s in season], F.col("month_idx"))
    key = ("user_id", "month_idx")
    chat_share = F.col("chat_rate") / (F.col("chat_rate") + F.col("interaction_rate"))
    n_orders = F.least(
        stochastic_round(F.lit(orders) * share, uniform(seed, "heavy_orders", *key)), F.lit(WHALE_EVENT - 1)
    )
    n_chats = F.least(
        stochastic_round(F.lit(interactions) * share * chat_share, uniform(seed, "heavy_chats", *key)),
        F.lit(MAX_EVENTS_PER_MONTH),
    )
    n_other = stochastic_round(F.lit(interactions) * share * (1 - chat_share), uniform(seed, "heavy_inter", *key))
    n_interactions = F.least(n_other, F.lit(MAX_EVENTS_PER_MONTH) - n_chats)
    heavy = F.col("heavy")
    replaced = {
        "n_orders": F.when(heavy, n_orders).otherwise(F.col("n_orders")),
        "n_chats": F.when(heavy, n_chats).otherwise(F.col("n_chats")),
        "n_interactions": F.when(heavy, n_interactions).otherwise(F.col("n_interactions")),
    }
    return user_months.select(*[replaced[c].alias(c) if c in replaced else F.col(c) for c in user_months.columns])


def movable_orders(orders: DataFrame) -> DataFrame:
    """The orders a heavy shop may draw: genuine, not the one-off whale order, on a marketplace."""
    return orders.filter(~F.col("is_fake") & ~F.col("is_whale") & F.col("platform").isin(*HEAVY_SELLER_PLATFORMS))


def seller_histogram(orders: DataFrame) -> DataFrame:
    """(value, sellers): how many shops (platform, seller) hold each number of orders (shops with none absent)."""
    per_seller = orders.groupBy("platform", "seller_num").agg(F.count("*").alias("value"))
    return per_seller.groupBy("value").agg(F.count("*").alias("sellers"))


def heavy_seller_ids(seed: int, sellers: dict[str, int], n: int) -> dict[str, list[int]]:
    """The heavy shops of each marketplace: the j-th heavy shop is on HEAVY_SELLER_PLATFORMS[j % 2]."""
    out = {}
    for i, platform in enumerate(HEAVY_SELLER_PLATFORMS):
        count = len(range(i, n, len(HEAVY_SELLER_PLATFORMS)))
        if count:
            out[platform] = pick_ids(seed, f"heavy_seller_{platform}", 0, sellers[platform], count)
    return out


def with_heavy_sellers(
    orders: DataFrame, *, seed: int, heavy: dict[str, list[int]], share: dict[str, float]
) -> DataFrame:
    """``orders`` with a ``share`` of each platform's movable orders sent to its heavy shops (evenly, by hash)."""
    movable = ~F.col("is_fake") & ~F.col("is_whale")
    seller = F.col("seller_num")
    for platform, ids in heavy.items():
        pick = F.floor(uniform(seed, "heavy_seller_pick", "order_key") * len(ids)).cast("int")
        moved = (
            movable & (F.col("platform") == platform) & (uniform(seed, "heavy_seller", "order_key") < share[platform])
        )
        seller = F.when(moved, value_at(ids, pick).cast("long")).otherwise(seller)
    return orders.select(*[seller.alias(c) if c == "seller_num" else F.col(c) for c in orders.columns])
