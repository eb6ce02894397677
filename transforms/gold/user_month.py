"""gold.user_month: one row per (member, month) of additive partials of that month's silver events.

Every column is a sum, a count, an OR-ed bitmask, a max or a mergeable HLL
sketch, so a 12-month window is the exact roll-up of 12 rows (ARCHITECTURE
§1). The cap table (SPEC §2) is applied here, on the month's orders, because
per-order, per-day, per-category and per-shop caps need the events: what a
month stores is the capped spend, and caps never span months.
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from transforms.gold.params import CapTable
from transforms.schemas import AMOUNT_SUM, GOLD_USER_MONTH, conform_to
from transforms.taxonomy import CATEGORIES, GROUPS

# Bit i of platform_mask; spend_<platform> columns.
PLATFORMS = ("taobao", "tmall", "fliggy", "taopiaopiao")
VIRTUAL_PLATFORMS = ("fliggy", "taopiaopiao")  # everything they sell is virtual (travel, tickets)
# Bit (id - 1) of category_mask: one bit per taxonomy category in a BIGINT.
assert len(CATEGORIES) <= 63, "category_mask holds 63 categories; widen it before adding more"
HLL_LG_K = 10  # sketch precision: about 3 % error on distinct sellers, small sketches
NIGHT_HOURS = (0, 5)  # orders placed 00:00-05:59 Shanghai (order farms work at night)
BIG_ORDER_CNY = 1000  # SPEC §5: APASS members' average order is >= 1,000 CNY
REFUND_KINDS = ("refund", "return")
COMPLETED = "COMPLETED"


def _money(col: Column) -> Column:
    return col.cast(AMOUNT_SUM)


def _kind_cap(caps: CapTable, field: str, is_virtual: Column) -> Column:
    return F.when(is_virtual, F.lit(getattr(caps.virtual, field))).otherwise(
        F.lit(getattr(caps.physical, field))).cast(AMOUNT_SUM)


def credited_orders(orders: DataFrame, *, caps: CapTable) -> DataFrame:
    """Orders with ``credited_cny``: what each genuine order adds to the shopping score under the caps.

    An order first counts up to the per-order cap of its kind; then, for each of
    its groups (member-day-kind, member-category, member-shop, within the month)
    whose credited total exceeds the group's cap, the group is scaled down to the
    cap. An order takes the smallest of its groups' scale factors, so no group
    ever credits more than its cap. Risk-flagged orders credit nothing.
    Expects one month of orders, already clustered by ``user_id`` (the windows
    below then need no further shuffle).
    """
    is_virtual = F.col("item_kind") == "virtual"
    genuine = ~F.col("risk_flagged")
    per_order = F.when(genuine, F.least(_money(F.col("amount_cny")), _kind_cap(caps, "order", is_virtual))) \
        .otherwise(F.lit(0).cast(AMOUNT_SUM))
    with_order_cap = orders.select("*", per_order.alias("_order_credit"))

    def factor(group: list[str], cap: str) -> Column:
        total = F.sum("_order_credit").over(Window.partitionBy("user_id", *group))
        return F.when(total > _kind_cap(caps, cap, is_virtual), _kind_cap(caps, cap, is_virtual) / total) \
            .otherwise(F.lit(1))

    scale = F.least(F.lit(1), factor(["event_date", "item_kind"], "day"),
                    factor(["category"], "category_month"), factor(["seller_id"], "shop_month"))
    return with_order_cap.select(
        *orders.columns, _money(F.round(F.col("_order_credit") * scale, 2)).alias("credited_cny"))


def _bit(position: Column, kind: T.DataType) -> Column:
    # F.shiftleft takes a constant shift only; the SQL function takes a column
    return F.call_function("shiftleft", F.lit(1).cast(kind), position.cast("int"))


def monthly_orders(orders: DataFrame, *, caps: CapTable) -> DataFrame:
    """Order partials of one month per member (orders of that month only)."""
    genuine = ~F.col("risk_flagged")
    amount = _money(F.col("amount_cny"))
    zero = F.lit(0).cast(AMOUNT_SUM)

    def spend_if(cond: Column) -> Column:
        return F.sum(F.when(genuine & cond, amount).otherwise(zero))

    def count_if(cond: Column) -> Column:
        return F.count(F.when(genuine & cond, 1))

    category_id = F.create_map(*[x for c in CATEGORIES for x in (F.lit(c.code), F.lit(c.id))])[F.col("category")]
    platform_bit = F.create_map(*[x for i, p in enumerate(PLATFORMS) for x in (F.lit(p), F.lit(i))])[F.col("platform")]
    hour = F.hour("event_time")
    credited = orders.repartition("user_id").transform(credited_orders, caps=caps)
    return credited.groupBy("user_id").agg(
        count_if(F.lit(True)).alias("orders"),
        spend_if(F.lit(True)).alias("spend_cny"),
        F.least(F.sum("credited_cny"), F.lit(caps.month).cast(AMOUNT_SUM)).alias("capped_spend_cny"),
        F.count(F.when(~genuine, 1)).alias("flagged_orders"),
        F.sum(F.when(~genuine, amount).otherwise(zero)).alias("flagged_spend_cny"),
        F.bit_or(F.when(genuine, _bit(F.dayofmonth("event_date") - 1, T.IntegerType()))).alias("active_days_mask"),
        F.bit_or(F.when(genuine, _bit(platform_bit, T.IntegerType()))).alias("platform_mask"),
        F.bit_or(F.when(genuine, _bit(category_id - 1, T.LongType()))).alias("category_mask"),
        *[spend_if(F.col("platform") == p).alias(f"spend_{p}_cny") for p in PLATFORMS],
        *[spend_if(F.col("category_group") == g).alias(f"spend_{g}_cny") for g in GROUPS],
        spend_if(F.col("is_group_buy")).alias("group_buy_spend_cny"),
        spend_if(F.col("is_overseas")).alias("overseas_spend_cny"),
        count_if(F.col("is_overseas")).alias("overseas_orders"),
        spend_if(F.col("company_invoice")).alias("company_invoice_spend_cny"),
        count_if(F.col("channel") == "mobile").alias("mobile_orders"),
        count_if(F.col("channel") == "pc").alias("pc_orders"),
        F.max(F.when(genuine, amount)).alias("max_order_cny"),
        count_if(amount >= BIG_ORDER_CNY).alias("big_orders"),
        count_if(hour.between(*NIGHT_HOURS)).alias("night_orders"),
        count_if(F.col("travel_class").isin("business", "first") | (F.col("hotel_star") >= 5)).alias("premium_travel_orders"),
        count_if(F.col("travel_class") == "first").alias("first_class_orders"),
        F.hll_sketch_agg(F.when(genuine, F.col("seller_id")), HLL_LG_K).alias("sellers_sketch"),
    )


def monthly_interactions(interactions: DataFrame) -> DataFrame:
    """Interaction partials of one month per member."""
    kind = F.col("kind")
    return interactions.groupBy("user_id").agg(
        F.count(F.when(kind == "review", 1)).alias("reviews"),
        F.count(F.when((kind == "review") & F.col("is_positive"), 1)).alias("positive_reviews"),
        F.count(F.when(kind == "qa", 1)).alias("qa"),
        F.count(F.when(kind == "like", 1)).alias("likes"),
        F.count(F.when(kind == "live", 1)).alias("live"),
        F.count(F.when(kind == "content", 1)).alias("content"),
        F.coalesce(F.sum(F.when(kind == "live", F.col("duration_s").cast("long"))), F.lit(0)).alias("live_seconds"),
        F.count(F.when(kind == "seller_chat", 1)).alias("seller_chats"),
        F.hll_sketch_agg(F.when(kind == "seller_chat", F.col("target_id")), HLL_LG_K).alias("chat_sellers_sketch"),
    )


def monthly_service(service_events: DataFrame, *, caps: CapTable) -> DataFrame:
    """After-sales partials of one month per member: counts, and completed refunds and returns.

    Refunds count in the month they happen (a month's partials never change
    because of a later month). A refund takes back at most what an order of
    its platform's kind could have credited (the per-order cap).
    """
    kind = F.col("kind")
    money_back = kind.isin(*REFUND_KINDS) & (F.col("status") == COMPLETED)
    amount = _money(F.col("amount_cny"))
    is_virtual = F.col("platform").isin(*VIRTUAL_PLATFORMS)
    zero = F.lit(0).cast(AMOUNT_SUM)
    return service_events.groupBy("user_id").agg(
        F.count(F.when(kind == "refund", 1)).alias("refunds"),
        F.count(F.when(kind == "return", 1)).alias("returns"),
        F.count(F.when(kind == "dispute", 1)).alias("disputes"),
        F.sum(F.when(money_back, amount).otherwise(zero)).alias("refund_cny"),
        F.sum(F.when(money_back, F.least(amount, _kind_cap(caps, "order", is_virtual))).otherwise(zero))
        .alias("capped_refund_cny"),
    )


def user_month(orders: DataFrame, interactions: DataFrame, service_events: DataFrame, *,
               month: str, caps: CapTable) -> DataFrame:
    """Partials of ``month`` for every member with an event in it, projected onto GOLD_USER_MONTH.

    Each event table is read for that month only and shuffled once (by member);
    the three pre-aggregates join on their shared partitioning.
    """
    def in_month(df: DataFrame) -> DataFrame:
        return df.filter(F.col("event_month") == month)

    parts = [in_month(orders).transform(monthly_orders, caps=caps),
             in_month(interactions).transform(monthly_interactions),
             in_month(service_events).transform(monthly_service, caps=caps)]
    joined = reduce(lambda a, b: a.join(b, "user_id", how="full"), parts)
    sketches = {"sellers_sketch", "chat_sellers_sketch"}
    filled = []
    for field in GOLD_USER_MONTH.fields:
        if field.name == "month":
            filled.append(F.lit(month).alias("month"))
        elif field.name in sketches or field.name in ("user_id", "max_order_cny"):
            filled.append(F.col(field.name))
        else:  # a member without orders (or interactions...) that month has zero of them
            filled.append(F.coalesce(F.col(field.name), F.lit(0).cast(field.dataType)).alias(field.name))
    return joined.select(*filled).transform(conform_to, GOLD_USER_MONTH)
