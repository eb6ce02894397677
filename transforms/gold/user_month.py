"""gold.user_month: each member's month as each landing batch knows it ("slices").

A slice (member, month, batch) holds what every event of the month that had
arrived by the batch adds up to, orders genuine unless a flag for them had
arrived by then. A batch has a slice of each member-month it changes (new
events of the month, up to ``late_tolerance_months`` late, or a new flag on
one of its orders); what the score of month M sees of a month is its slice
of the latest batch up to M (:func:`known_by`). So the caps hold for the
month whatever the batches its events came in, a day whose only order was
flagged later stops being active, and a month-by-month run and a full
recompute give the same rows.

Every column of a slice is a sum, a count, an OR-ed bitmask, a max, a set of
platforms, a sum per platform or a mergeable distinct-count sketch over the
month's events, so the months of a window roll up exactly. The platforms are
the configured order sources' (a platform is added by adding its source), so
they are named, never a bit position. The cap table (``caps`` in
conf/scoring.yaml) applies within a slice: per order, per day, per category,
per shop and per month.
"""

from __future__ import annotations

from decimal import Decimal
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from transforms.gold.params import CapTable
from transforms.gold.sketch import kmv_sketch
from transforms.months import add_months, shift_months
from transforms.schemas import AMOUNT_SUM, GOLD_USER_MONTH, conform_to
from transforms.taxonomy import CATEGORIES, GROUPS

# category_mask: one bit per taxonomy category, in as many BIGINT words as the taxonomy needs (63 bits a word,
# so every word stays positive): category id i is bit (i - 1) % 63 of word (i - 1) // 63. Fixed-width words
# aggregate in Spark's hash map; the taxonomy grows without a change of schema.
CATEGORY_WORD_BITS = 63
CATEGORY_WORDS = -(-len(CATEGORIES) // CATEGORY_WORD_BITS)
NIGHT_HOURS = (0, 5)  # orders placed 00:00-05:59 Shanghai (order farms work at night)
BIG_ORDER_CNY = 1000  # the published APASS profile: an average order of >= 1,000 CNY
REFUND_KINDS = ("refund", "return")
COMPLETED = "COMPLETED"
WEIGHT = "_weight"  # 1 a genuine order as its slice's batch knows it, 0 a flagged one
SLICE = ["user_id", "event_month", "batch"]


NEXT_BATCH = "next_batch"


def with_next_batch(slices: DataFrame) -> DataFrame:
    """``slices`` with ``next_batch``: the next batch of ``slices`` that restated the same member-month (null:
    none). Keep every batch up to the latest as-of month the slices are read for."""
    later = Window.partitionBy("user_id", "month").orderBy("batch")
    return slices.select("*", F.lead("batch").over(later).alias(NEXT_BATCH))


def known_by(as_of: Column) -> Column:
    """Whether a slice (of :func:`with_next_batch`) is its month as batch ``as_of`` knows it: the latest slice of
    the month up to that batch."""
    return (F.col("batch") <= as_of) & (F.col(NEXT_BATCH).isNull() | (F.col(NEXT_BATCH) > as_of))


def _money(col: Column) -> Column:
    return col.cast(AMOUNT_SUM)


# Sums of amounts run on longs of fen and come back as decimals at the end: exact like decimals, and Spark sums
# DECIMAL(22,2) as BigDecimals (aggregating the demo world's 13 batches: 120 -> 111 s, the JVM's CPU 223 -> 206 s).
def fen(amount: Column) -> Column:
    """An amount in CNY (2 decimals) as a long of fen."""
    return (amount * 100).cast("long")


def cny(fen: Column) -> Column:
    """Fen back to an exact CNY amount (null stays null)."""
    return (fen.cast(T.DecimalType(20, 0)) * F.lit(Decimal("0.01"))).cast(AMOUNT_SUM)


def _kind_cap(caps: CapTable, field: str, kind: Column) -> Column:
    """The ``field`` cap (order, day, category_month, shop_month) of the kind of goods in ``kind``."""
    cap = None
    for name, kind_caps in caps.by_kind.items():
        value = F.lit(getattr(kind_caps, field)).cast(AMOUNT_SUM)
        cap = F.when(kind == name, value) if cap is None else cap.when(kind == name, value)
    return cap


def restating_batches(
    orders: DataFrame,
    interactions: DataFrame,
    service_events: DataFrame,
    risk_flags: DataFrame,
    *,
    batches: list[str],
    late_tolerance_months: int,
) -> DataFrame:
    """(user_id, event_month, restated_by): each member-month that a batch of ``batches`` changes, with those
    batches (an array).

    A batch changes a member's month when it brings events of that month (up
    to ``late_tolerance_months`` late) or a risk flag for one of the month's
    orders (a flag follows its order within days: the order is at most
    ``late_tolerance_months + 1`` months before the flag's batch).
    """
    reach = late_tolerance_months + 1
    oldest, newest = add_months(min(batches), -reach), max(batches)

    def arrived(df: DataFrame) -> DataFrame:
        return df.filter(
            F.col("event_month").between(oldest, newest)
            & F.col("ingest_month").isin(batches)
            & (F.col("event_month") >= shift_months(F.col("ingest_month"), -late_tolerance_months))
        ).select("user_id", "event_month", F.col("ingest_month").alias("batch"))

    flags = risk_flags.filter(F.col("ingest_month").isin(batches)).select(
        "platform", "order_id", F.col("ingest_month").alias("batch")
    )
    flagged = (
        orders.filter(F.col("risk_flagged") & F.col("event_month").between(oldest, newest))
        .select("platform", "order_id", "user_id", "event_month", "ingest_month")
        .join(flags, ["platform", "order_id"])
        .filter(
            (F.col("ingest_month") <= F.col("batch"))
            & (F.col("event_month") >= shift_months(F.col("batch"), -reach))
            & (F.col("event_month") <= F.col("batch"))
        )
        .select("user_id", "event_month", "batch")
    )
    changes = reduce(DataFrame.unionByName, [arrived(orders), arrived(interactions), arrived(service_events), flagged])
    return changes.groupBy("user_id", "event_month").agg(F.array_sort(F.collect_set("batch")).alias("restated_by"))


def as_known(events: DataFrame, restated: DataFrame) -> DataFrame:
    """``events`` (silver rows) of the restated member-months, each once for every restating ``batch`` it had
    arrived by: the month as that batch knows it. One shuffle, by member and month."""
    # A lambda, interpreted per element, and cheaper here than a compiled CASE per batch: restated_by holds a
    # few batches, the pass up to 13 (aggregating the demo world's 13 batches: 55-59 s against 63-66 s).
    return events.join(restated, ["user_id", "event_month"]).select(
        *events.columns, F.explode(F.filter("restated_by", lambda b: F.col("ingest_month") <= b)).alias("batch")
    )


def genuine_weight(orders: DataFrame, risk_flags: DataFrame) -> DataFrame:
    """Orders as known by their ``batch`` with ``WEIGHT``: 1 genuine, 0 flagged by a flag that had arrived by
    ``batch`` (silver's risk_flagged says whether a flag ever came; the flags say when)."""
    first_flag = risk_flags.groupBy("platform", "order_id").agg(F.min("ingest_month").alias("_first_flag"))
    flagged = (
        orders.filter(F.col("risk_flagged"))
        .join(first_flag, ["platform", "order_id"], "left")
        .select(*orders.columns, F.when(F.col("_first_flag") <= F.col("batch"), 0).otherwise(1).alias(WEIGHT))
    )
    return orders.filter(~F.col("risk_flagged")).select("*", F.lit(1).alias(WEIGHT)).unionByName(flagged)


def credited_orders(orders: DataFrame, *, caps: CapTable) -> DataFrame:
    """Weighted orders with ``credited_cny``: what each adds to the shopping score under the caps.

    A genuine order first counts up to the per-order cap of its kind; then, for
    each of its groups (member-day-kind, member-category, member-shop, within
    the slice: the month as its batch knows it) whose credited total exceeds
    the group's cap, the group is scaled down to the cap. An order takes the
    smallest of its groups' scale factors, so no group ever credits more than
    its cap. A flagged order credits nothing. Expects orders clustered by
    member and month (the windows then need no further shuffle).
    """
    kind = F.col("item_kind")
    per_order = F.least(_money(F.col("amount_cny")), _kind_cap(caps, "order", kind))
    genuine = F.col(WEIGHT) == 1
    with_order_cap = orders.select(
        "*", F.when(genuine, per_order).otherwise(F.lit(0).cast(AMOUNT_SUM)).alias("_order_credit")
    )

    def factor(group: list[str], cap: str) -> Column:
        total = F.sum("_order_credit").over(Window.partitionBy(*SLICE, *group))
        return F.when(total > _kind_cap(caps, cap, kind), _kind_cap(caps, cap, kind) / total).otherwise(F.lit(1))

    scale = F.least(
        F.lit(1),
        factor(["event_date", "item_kind"], "day"),
        factor(["category"], "category_month"),
        factor(["seller_id"], "shop_month"),
    )
    credited = F.when(genuine, _money(F.round(F.col("_order_credit") * scale, 2))).otherwise(F.lit(0).cast(AMOUNT_SUM))
    return with_order_cap.select(*orders.columns, credited.alias("credited_cny"))


def _bit(position: Column, kind: T.DataType) -> Column:
    # F.shiftleft takes a constant shift only; the SQL function takes a column
    return F.call_function("shiftleft", F.lit(1).cast(kind), position.cast("int"))


def category_mask(category_id: Column, bought: Column) -> Column:
    """Aggregate: the category_mask words of the categories (by taxonomy id) of the rows where ``bought``."""
    position = category_id - 1
    word = F.floor(position / CATEGORY_WORD_BITS)
    bit = _bit(F.pmod(position, F.lit(CATEGORY_WORD_BITS)), T.LongType())
    zero = F.lit(0).cast(T.LongType())
    return F.array(*[F.coalesce(F.bit_or(F.when(bought & (word == w), bit)), zero) for w in range(CATEGORY_WORDS)])


def no_categories() -> Column:
    """The category_mask of a slice without genuine orders: every word zero."""
    return F.array(*[F.lit(0).cast(T.LongType())] * CATEGORY_WORDS)


def merged_category_masks(masks: Column) -> Column:
    """Aggregate: the union of category_mask words (null masks, and words a shorter mask lacks, count as none)."""
    zero = F.lit(0).cast(T.LongType())
    return F.array(*[F.coalesce(F.bit_or(F.get(masks, w)), zero) for w in range(CATEGORY_WORDS)])


def categories_in(mask: Column) -> Column:
    """How many categories a category_mask holds (0 for a null mask)."""
    counts = [F.coalesce(F.bit_count(F.get(mask, w)), F.lit(0)) for w in range(CATEGORY_WORDS)]
    return sum(counts[1:], counts[0]).cast(T.LongType())


def platform_bits(platform: Column, platforms: tuple[str, ...]) -> Column:
    """An INT with the bit of ``platform`` (its position in ``platforms``) set: platforms aggregate as a
    bitmask, a fixed-width buffer Spark aggregates in a hash map (an array would make it sort)."""
    assert len(platforms) <= 31, "a platform bitmask is an INT"
    position = F.create_map(*[x for i, p in enumerate(platforms) for x in (F.lit(p), F.lit(i))])[platform]
    return _bit(position, T.IntegerType())


def platforms_in(mask: Column, platforms: tuple[str, ...]) -> Column:
    """The platforms whose bit ``mask`` has set, in ``platforms``' order."""
    return F.filter(
        F.array(*[F.lit(p) for p in platforms]),
        lambda _, i: _bit(i, T.IntegerType()).bitwiseAND(F.coalesce(mask, F.lit(0))) != 0,
    )


def by_platform(amounts: list[Column], platforms: tuple[str, ...]) -> Column:
    """A map platform -> amount of the platforms whose amount is not zero (one per platform, in order)."""
    zero = F.lit(0).cast(AMOUNT_SUM)
    entries = F.map_from_arrays(
        F.array(*[F.lit(p) for p in platforms]), F.array(*[F.coalesce(a, zero) for a in amounts])
    )
    return F.map_filter(entries, lambda _, amount: amount != 0)


def slice_orders(weighted: DataFrame, *, caps: CapTable, platforms: tuple[str, ...]) -> DataFrame:
    """Order partials per slice (member, event month, batch) of weighted orders; ``platforms`` are the
    configured platforms (transforms.domain.platforms_of), in order."""
    weight = F.col(WEIGHT)
    genuine = weight == 1
    amount, amount_fen = F.col("amount_cny"), fen(F.col("amount_cny"))

    def spend_if(cond: Column) -> Column:  # genuine spend
        return cny(F.sum(F.when(cond & genuine, amount_fen).otherwise(0)))

    def count_if(cond: Column) -> Column:
        return F.sum(F.when(cond, weight).otherwise(0)).cast("long")

    category_id = F.create_map(*[x for c in CATEGORIES for x in (F.lit(c.code), F.lit(c.id))])[F.col("category")]
    hour = F.hour("event_time")
    credited = weighted.transform(credited_orders, caps=caps)
    partials = credited.groupBy(*SLICE).agg(
        count_if(F.lit(True)).alias("orders"),
        spend_if(F.lit(True)).alias("spend_cny"),
        F.least(cny(F.sum(fen(F.col("credited_cny")))), F.lit(caps.month).cast(AMOUNT_SUM)).alias("capped_spend_cny"),
        F.count(F.when(~genuine, 1)).alias("flagged_orders"),
        cny(F.sum(F.when(~genuine, amount_fen).otherwise(0))).alias("flagged_spend_cny"),
        F.bit_or(F.when(genuine, _bit(F.dayofmonth("event_date") - 1, T.IntegerType()))).alias("active_days_mask"),
        F.bit_or(F.when(genuine, platform_bits(F.col("platform"), platforms))).alias("_platform_mask"),
        category_mask(category_id, genuine).alias("category_mask"),
        *[spend_if(F.col("platform") == p).alias(f"_spend_{i}") for i, p in enumerate(platforms)],
        *[spend_if(F.col("category_group") == g).alias(f"spend_{g}_cny") for g in GROUPS],
        spend_if(F.col("is_group_buy")).alias("group_buy_spend_cny"),
        spend_if(F.col("is_overseas")).alias("overseas_spend_cny"),
        count_if(F.col("is_overseas")).alias("overseas_orders"),
        spend_if(F.col("company_invoice")).alias("company_invoice_spend_cny"),
        count_if(F.col("channel") == "mobile").alias("mobile_orders"),
        count_if(F.col("channel") == "pc").alias("pc_orders"),
        cny(F.max(F.when(genuine, amount_fen))).alias("max_order_cny"),
        count_if(amount >= BIG_ORDER_CNY).alias("big_orders"),
        count_if(hour.between(*NIGHT_HOURS)).alias("night_orders"),
        count_if(F.col("travel_class").isin("business", "first") | (F.col("hotel_star") >= 5)).alias(
            "premium_travel_orders"
        ),
        count_if(F.col("travel_class") == "first").alias("first_class_orders"),
        F.sum(F.when(weight != 0, hour * weight).otherwise(0)).cast("long").alias("order_hour_sum"),
        F.sum(F.when(weight != 0, hour * hour * weight).otherwise(0)).cast("long").alias("order_hour_sq_sum"),
        kmv_sketch(F.when(genuine, F.col("seller_id"))).alias("sellers_sketch"),
    )
    spends = [f"_spend_{i}" for i in range(len(platforms))]
    return partials.select(
        *[c for c in partials.columns if c != "_platform_mask" and c not in spends],
        platforms_in(F.col("_platform_mask"), platforms).alias("platforms"),
        by_platform([F.col(c) for c in spends], platforms).alias("spend_by_platform_cny"),
    )


def slice_interactions(interactions: DataFrame) -> DataFrame:
    """Interaction partials per slice (member, event month, batch)."""
    kind = F.col("kind")
    return interactions.groupBy(*SLICE).agg(
        F.count(F.when(kind == "review", 1)).alias("reviews"),
        F.count(F.when((kind == "review") & F.col("is_positive"), 1)).alias("positive_reviews"),
        F.count(F.when(kind == "qa", 1)).alias("qa"),
        F.count(F.when(kind == "like", 1)).alias("likes"),
        F.count(F.when(kind == "live", 1)).alias("live"),
        F.count(F.when(kind == "content", 1)).alias("content"),
        F.coalesce(F.sum(F.when(kind == "live", F.col("duration_s").cast("long"))), F.lit(0)).alias("live_seconds"),
        F.count(F.when(kind == "seller_chat", 1)).alias("seller_chats"),
        kmv_sketch(F.when(kind == "seller_chat", F.col("target_id"))).alias("chat_sellers_sketch"),
    )


def slice_service(service_events: DataFrame, order_kinds: DataFrame, *, caps: CapTable, reach_months: int) -> DataFrame:
    """After-sales partials per slice (member, event month, batch): counts, and completed refunds and returns.

    Refunds count in the month they happen (a month's partials never change
    because of a later month). A refund takes back at most what its order
    could have credited: the per-order cap of the order's kind of goods (from
    ``order_kinds``: platform, order_id, item_kind, order_month), looked up in
    the ``reach_months`` months up to the ticket's; for an order not found
    there, the largest per-order cap of any kind.
    """
    kind = F.col("kind")
    money_back = kind.isin(*REFUND_KINDS) & (F.col("status") == COMPLETED)
    amount = _money(F.col("amount_cny"))
    any_kind = F.lit(max(k.order for k in caps.by_kind.values())).cast(AMOUNT_SUM)
    order_cap = F.when(F.col("item_kind").isNull(), any_kind).otherwise(_kind_cap(caps, "order", F.col("item_kind")))
    zero = F.lit(0).cast(AMOUNT_SUM)
    t, o = service_events.alias("t"), order_kinds.alias("o")
    found = (
        (F.col("t.platform") == F.col("o.platform"))
        & (F.col("t.order_id") == F.col("o.order_id"))
        & F.col("o.order_month").between(shift_months(F.col("t.event_month"), -reach_months), F.col("t.event_month"))
    )
    tickets = t.join(o, found, how="left").select("t.*", "o.item_kind")
    return tickets.groupBy(*SLICE).agg(
        F.count(F.when(kind == "refund", 1)).alias("refunds"),
        F.count(F.when(kind == "return", 1)).alias("returns"),
        F.count(F.when(kind == "dispute", 1)).alias("disputes"),
        F.sum(F.when(money_back, amount).otherwise(zero)).alias("refund_cny"),
        F.sum(F.when(money_back, F.least(amount, order_cap)).otherwise(zero)).alias("capped_refund_cny"),
    )


def batch_slices(
    orders: DataFrame,
    interactions: DataFrame,
    service_events: DataFrame,
    risk_flags: DataFrame,
    *,
    batches: list[str],
    late_tolerance_months: int,
    caps: CapTable,
    platforms: tuple[str, ...],
) -> DataFrame:
    """Every slice of the landing batches ``batches``, projected onto GOLD_USER_MONTH, in one plan.

    A slice (member, month, batch) is the member's month as that batch knows
    it: every event of the month that had arrived by the batch, each order
    genuine unless a flag for it had arrived by then. A batch has a slice of
    each member-month it changes (``restating_batches``); the month's events
    are read once, for the member-months some batch changes, and shuffled
    once, by member and month, whatever the number of batches. Reads the
    months up to ``late_tolerance_months + 1`` before the first batch, and the
    kinds of the orders after-sales tickets name (up to as many months before
    each ticket).
    """
    reach = late_tolerance_months + 1
    oldest, newest = add_months(min(batches), -reach), max(batches)

    def recent(df: DataFrame) -> DataFrame:  # what the batches can know of the months they can change
        return df.filter(F.col("event_month").between(oldest, newest) & (F.col("ingest_month") <= newest))

    # a ticket follows its order within days, like a flag: its order is at most `reach` months before it
    order_kinds = orders.filter(F.col("event_month").between(add_months(oldest, -reach), newest)).select(
        "platform", "order_id", "item_kind", F.col("event_month").alias("order_month")
    )
    orders, interactions, service_events, risk_flags = map(recent, (orders, interactions, service_events, risk_flags))
    restated = restating_batches(
        orders, interactions, service_events, risk_flags, batches=batches, late_tolerance_months=late_tolerance_months
    )
    known_orders = as_known(orders, restated).transform(genuine_weight, risk_flags)
    parts = [
        slice_orders(known_orders, caps=caps, platforms=platforms),
        slice_interactions(as_known(interactions, restated)),
        slice_service(as_known(service_events, restated), order_kinds, caps=caps, reach_months=reach),
    ]
    joined = reduce(lambda a, b: a.join(b, SLICE, how="full"), parts)
    sketches = {"sellers_sketch", "chat_sellers_sketch"}
    filled = []
    for field in GOLD_USER_MONTH.fields:
        if field.name == "month":
            filled.append(F.col("event_month").alias("month"))
        elif field.name in sketches or field.name in ("user_id", "batch", "max_order_cny"):
            filled.append(F.col(field.name))
        elif field.name == "category_mask":
            filled.append(F.coalesce(F.col(field.name), no_categories()).alias(field.name))
        else:  # a slice without orders (or interactions...) has zero of them, and no platform
            kind = type(field.dataType)
            none = F.create_map() if kind is T.MapType else F.array() if kind is T.ArrayType else F.lit(0)
            filled.append(F.coalesce(F.col(field.name), none.cast(field.dataType)).alias(field.name))
    return joined.select(*filled).transform(conform_to, GOLD_USER_MONTH)
