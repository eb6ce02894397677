"""What the members do, month by month: orders, after-sales tickets, risk flags, interactions.

All events of all months are generated in one parallel pass: users x months
rows carry the month's event counts, ``explode(sequence(...))`` makes one row
per event, and every attribute is a hash draw keyed by the event. Amounts
here are true CNY values; the landing formatters turn them into each
source's own representation (fen, yuan strings, foreign currency).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from transforms.months import add_months
from transforms.synthetic.population import mix_keys
from transforms.synthetic.profiles import FoodDeliveryConf, SegmentProfile
from transforms.synthetic.rand import choice, choice_fixed, normal, stochastic_round, uniform
from transforms.taxonomy import CATEGORIES, MARKETPLACE_GROUPS, codes_in

SHANGHAI = ZoneInfo("Asia/Shanghai")

TRAVEL_MIX = {"travel_flight": 0.40, "travel_hotel": 0.35, "travel_train": 0.15, "travel_package": 0.10}
TICKET_MIX = {"cinema": 0.8, "shows": 0.2}
OVERSEAS_COUNTRIES = ["JP", "TH", "US", "FR", "GB", "KR", "SG", "AU", "IT", "HK"]
CROSS_BORDER_CURRENCIES = ["USD", "HKD", "JPY", "KRW", "EUR", "GBP"]
CABIN_PRICE = {"economy": 1.0, "business": 3.5, "first": 7.0}
WHALE_CATEGORIES = {"automobile": 0.6, "real_estate": 0.4}
# Event key layout: user_id << 24 | month index << 16 | event number (< 65535; 65535 = the whale order).
WHALE_EVENT = 65535
# Ele.me's order keys: the same layout above this offset, so its orders' keys (and their tickets' and
# flags', which derive from them) never meet the marketplace's (whose keys stay below it for member ids
# under 2^32); small enough that a ticket's row key (order key x 4, x 2 for its replay) fits a BIGINT.
FOOD_DELIVERY_KEY_OFFSET = 1 << 56
# Food delivery orders cluster around lunch and dinner (Shanghai hours): P(lunch), then each meal's centre.
LUNCH_SHARE, LUNCH_HOUR, DINNER_HOUR, MEAL_HOUR_SPREAD = 0.45, 11.8, 18.6, 1.0


@dataclass(frozen=True)
class Month:
    index: int
    month: str  # YYYY-MM
    start_epoch: int  # 00:00 on day 1, Asia/Shanghai, in epoch seconds
    days: int


def calendar(months: list[str]) -> list[Month]:
    """Epoch bounds of each month in Asia/Shanghai (pure Python over a handful of months)."""
    out = []
    for i, month in enumerate(months):
        year, mon = (int(x) for x in month.split("-"))
        start = datetime(year, mon, 1, tzinfo=SHANGHAI)
        nxt = datetime(*(int(x) for x in add_months(month, 1).split("-")), 1, tzinfo=SHANGHAI)
        out.append(Month(i, month, int(start.timestamp()), (nxt - start).days))
    return out


def value_at(values: list, index: Column) -> Column:
    """values[index] for a 0-based index column, as a literal array lookup."""
    return F.element_at(F.array(*[F.lit(v) for v in values]), index + 1)


def user_months(users: DataFrame, *, seed: int, months: list[Month], seasonality: dict[str, float]) -> DataFrame:
    """One row per (user, month) with the month's event counts (zero before registration)."""
    season = [seasonality.get(m.month[5:], 1.0) for m in months]
    month_idx = F.explode(F.sequence(F.lit(0), F.lit(len(months) - 1))).alias("month_idx")
    rows = users.select("*", month_idx)
    key = ("user_id", "month_idx")
    month_start = value_at([m.start_epoch for m in months], F.col("month_idx"))
    month_end = month_start + value_at([m.days * 86400 for m in months], F.col("month_idx"))
    registered_epoch = F.unix_timestamp(F.col("registered_date").cast("timestamp"))
    registered = registered_epoch < month_end
    active = registered & (uniform(seed, "active", *key) < F.col("p_active_month_prob"))
    noise = F.exp(0.3 * normal(seed, "month_noise", *key) - 0.045)
    # A member who registers mid-month is active for the rest of it only.
    share_of_month = F.least(
        F.lit(1.0), (month_end - F.greatest(registered_epoch, month_start)) / (month_end - month_start)
    )
    scale = F.when(active, noise * share_of_month * value_at(season, F.col("month_idx"))).otherwise(F.lit(0.0))
    return rows.select(
        "*",
        month_start.alias("month_start"),
        F.greatest(registered_epoch, month_start).alias("earliest_epoch"),
        (month_end - F.greatest(registered_epoch, month_start)).alias("span_seconds"),
        value_at([m.days for m in months], F.col("month_idx")).alias("month_days"),
        F.least(
            stochastic_round(F.col("order_rate") * scale, uniform(seed, "n_orders", *key)), F.lit(WHALE_EVENT - 1)
        ).alias("n_orders"),
        stochastic_round(F.col("interaction_rate") * scale, uniform(seed, "n_inter", *key)).alias("n_interactions"),
        stochastic_round(F.col("chat_rate") * scale, uniform(seed, "n_chats", *key)).alias("n_chats"),
    )


def _event_time(seed: int, name: str, key: tuple) -> Column:
    """An instant in the member's active days of the month, around the member's peak hour (Shanghai)."""
    first_day = F.floor((F.col("earliest_epoch") - F.col("month_start")) / 86400)
    day = first_day + F.floor(uniform(seed, f"{name}_day", *key) * (F.col("month_days") - first_day))
    hour = F.pmod(F.col("p_peak_hour") + F.col("p_hour_spread") * normal(seed, f"{name}_hour", *key), F.lit(24.0))
    epoch = F.col("month_start") + day * 86400 + F.floor(hour * 3600)
    return F.greatest(epoch, F.col("earliest_epoch")).cast("long")


def orders(
    months_rows: DataFrame,
    *,
    seed: int,
    segments: dict[str, SegmentProfile],
    sellers: dict[str, int],
    fx_to_cny: dict[str, float],
    n_months: int,
) -> DataFrame:
    """Every order of every month, platform-neutral, with true CNY amounts and truth flags."""
    k = F.explode(F.sequence(F.lit(1), F.col("n_orders"))).alias("k")
    exploded = months_rows.filter(F.col("n_orders") > 0).select("*", k)
    key = ("user_id", "month_idx", "k")
    u = lambda name: uniform(seed, name, *key)  # noqa: E731
    z = lambda name: normal(seed, name, *key)  # noqa: E731

    platforms = mix_keys(segments, "platform_mix")
    platform = choice(u("platform"), platforms, [F.col(f"cum_platform_mix_{p}") for p in platforms])
    groups = [g for g in mix_keys(segments, "category_mix") if g in MARKETPLACE_GROUPS]
    group = choice(u("group"), groups, [F.col(f"cum_category_mix_{g}") for g in groups])
    is_fake = u("fake") < F.col("p_fake_order_share")
    cabins = mix_keys(segments, "cabin_mix")

    step1 = exploded.select(
        "*",
        platform.alias("platform"),
        F.when(is_fake, F.lit("everyday")).otherwise(group).alias("group"),
        is_fake.alias("is_fake"),
        _event_time(seed, "order", key).alias("event_epoch"),
        (u("overseas") < F.col("p_overseas_share")).alias("is_overseas"),
        choice(u("cabin"), cabins, [F.col(f"cum_cabin_mix_{c}") for c in cabins]).alias("cabin"),
    )
    marketplace_category = None
    for g in groups:
        codes = codes_in(g)
        pick = F.element_at(F.array(*[F.lit(c) for c in codes]), (F.floor(u(f"cat_{g}") * len(codes)) + 1).cast("int"))
        marketplace_category = (
            F.when(F.col("group") == g, pick)
            if marketplace_category is None
            else marketplace_category.when(F.col("group") == g, pick)
        )
    category = (
        F.when(F.col("platform") == "fliggy", choice_fixed(u("travel"), TRAVEL_MIX))
        .when(F.col("platform") == "taopiaopiao", choice_fixed(u("ticket"), TICKET_MIX))
        .otherwise(marketplace_category)
    )
    step2 = step1.select("*", category.alias("category"))

    price_level = F.create_map(*[x for c in CATEGORIES for x in (F.lit(c.code), F.lit(c.price_level))])
    group_of = F.create_map(*[x for c in CATEGORIES for x in (F.lit(c.code), F.lit(c.group))])
    hotel_star = F.least(F.greatest(F.round(F.col("p_hotel_star_mean") + 0.7 * z("star")), F.lit(1.0)), F.lit(5.0))
    travel_factor = (
        F.when(
            F.col("category") == "travel_flight",
            F.create_map(*[x for c, v in CABIN_PRICE.items() for x in (F.lit(c), F.lit(v))])[F.col("cabin")],
        )
        .when(F.col("category").isin("travel_hotel", "travel_package"), 0.4 + 0.25 * hotel_star)
        .otherwise(F.lit(1.0))
    )
    quantity = F.when(
        F.col("platform") == "taopiaopiao", 1 + F.floor(-F.log(F.greatest(u("qty"), F.lit(1e-12))) * 0.8)
    ).otherwise(1 + F.floor(-F.log(F.greatest(u("qty"), F.lit(1e-12))) * (F.col("p_quantity_mean") - 1)))
    # Brushed orders are cheap and identical-looking: they only have to exist.
    unit = F.when(F.col("is_fake"), F.lit(25.0) * F.exp(0.3 * z("fake_amount"))).otherwise(
        F.col("unit_price")
        * price_level[F.col("category")]
        * travel_factor
        * F.exp(F.col("p_order_aov_sigma") * z("amount") - F.col("p_order_aov_sigma") ** 2 / 2)
    )
    n_sellers = F.create_map(*[x for p, n in sellers.items() for x in (F.lit(p), F.lit(n))])[F.col("platform")]
    pooled = F.col("p_seller_pool") > 0
    seller = F.when(
        pooled, F.pmod(F.col("seller_base") + F.floor(u("seller") * F.col("p_seller_pool")), n_sellers)
    ).otherwise(F.floor(n_sellers * F.pow(u("seller"), 3.0)))  # a long-tailed market: few big shops
    countries = value_at(OVERSEAS_COUNTRIES, F.floor(u("country") * len(OVERSEAS_COUNTRIES)).cast("int"))
    currencies = value_at(CROSS_BORDER_CURRENCIES, F.floor(u("ccy") * len(CROSS_BORDER_CURRENCIES)).cast("int"))
    currency = (
        F.when((F.col("platform") == "tmall") & F.col("is_overseas"), currencies)
        .when((F.col("platform") == "fliggy") & F.col("is_overseas") & (u("fliggy_ccy") < 0.3), currencies)
        .otherwise(F.lit("CNY"))
    )
    marketplace = F.col("platform").isin("taobao", "tmall")
    regular = step2.select(
        ((F.col("user_id") * (1 << 24)) + F.col("month_idx") * (1 << 16) + F.col("k")).alias("order_key"),
        "user_id",
        "month_idx",
        "platform",
        "category",
        group_of[F.col("category")].alias("category_group"),
        "event_epoch",
        quantity.cast("int").alias("quantity"),
        F.round(unit * quantity, 2).alias("amount_cny"),
        currency.alias("currency"),
        F.when(u("channel") < F.col("mobile_pref"), F.lit("mobile")).otherwise(F.lit("pc")).alias("channel"),
        (F.col("is_overseas") & (F.col("platform") != "taopiaopiao")).alias("is_overseas"),
        F.when(F.col("platform") == "fliggy", F.when(F.col("is_overseas"), countries).otherwise(F.lit("CN"))).alias(
            "country"
        ),
        (marketplace & (u("group_buy") < F.col("p_group_buy_share"))).alias("is_group_buy"),
        ((F.col("platform") == "tmall") & (u("invoice") < F.col("p_company_invoice_share"))).alias("company_invoice"),
        F.when(F.col("category") == "travel_flight", F.col("cabin")).alias("travel_class"),
        F.when(F.col("category").isin("travel_hotel", "travel_package"), hotel_star.cast("int")).alias("hotel_star"),
        seller.cast("long").alias("seller_num"),
        "is_fake",
        F.lit(False).alias("is_whale"),
        "p_refund_rate",
        "p_return_rate",
        "p_dispute_rate",
    )
    return regular.unionByName(_whale_orders(months_rows, seed=seed, n_months=n_months))


def food_delivery_orders(months_rows: DataFrame, *, seed: int, conf: FoodDeliveryConf) -> DataFrame:
    """Ele.me's orders of every month, with the columns of :func:`orders`.

    Every draw is on a stream of its own (names ``fd_*``), so adding these
    orders to the world changes no other row. A member orders food at all
    with ``member_share``, in a month with ``active_month_prob`` (for the
    part of it after registration), at a lognormal rate around
    ``orders_per_month``; values scale with the category's price level and,
    mildly, with the member's own price level.
    """
    member_month = ("user_id", "month_idx")
    sigma = conf.activity_sigma
    rate = conf.orders_per_month * F.exp(sigma * normal(seed, "fd_rate", "user_id") - sigma**2 / 2)
    active = (uniform(seed, "fd_member", "user_id") < conf.member_share) & (
        uniform(seed, "fd_active", *member_month) < conf.active_month_prob
    )
    share_of_month = F.greatest(F.col("span_seconds") / (F.col("month_days") * 86400), F.lit(0.0))
    n_orders = F.when(
        active,
        F.least(stochastic_round(rate * share_of_month, uniform(seed, "fd_n", *member_month)), F.lit(WHALE_EVENT - 1)),
    ).otherwise(F.lit(0))
    counted = months_rows.select("*", n_orders.alias("_fd_orders")).filter(F.col("_fd_orders") > 0)
    exploded = counted.select("*", F.explode(F.sequence(F.lit(1), F.col("_fd_orders"))).alias("k"))
    key = ("user_id", "month_idx", "k")
    u = lambda name: uniform(seed, name, *key)  # noqa: E731

    first_day = F.floor((F.col("earliest_epoch") - F.col("month_start")) / 86400)
    day = first_day + F.floor(u("fd_day") * (F.col("month_days") - first_day))
    centre = F.when(u("fd_meal") < LUNCH_SHARE, F.lit(LUNCH_HOUR)).otherwise(F.lit(DINNER_HOUR))
    hour = F.pmod(centre + MEAL_HOUR_SPREAD * normal(seed, "fd_hour", *key), F.lit(24.0))
    epoch = F.greatest(F.col("month_start") + day * 86400 + F.floor(hour * 3600), F.col("earliest_epoch"))
    category = choice_fixed(u("fd_category"), conf.category_mix)
    price_level = F.create_map(*[x for c in CATEGORIES for x in (F.lit(c.code), F.lit(c.price_level))])[category]
    member_level = F.sqrt(F.col("unit_price") / F.col("p_aov_cny"))
    s = conf.order_aov_sigma
    amount = conf.aov_cny * price_level * member_level * F.exp(s * normal(seed, "fd_amount", *key) - s**2 / 2)
    no = F.lit(False)
    return exploded.select(
        (
            F.lit(FOOD_DELIVERY_KEY_OFFSET) + F.col("user_id") * (1 << 24) + F.col("month_idx") * (1 << 16) + F.col("k")
        ).alias("order_key"),
        "user_id",
        "month_idx",
        F.lit("eleme").alias("platform"),
        category.alias("category"),
        F.lit("food_delivery").alias("category_group"),
        epoch.cast("long").alias("event_epoch"),
        (1 + F.floor(-F.log(F.greatest(u("fd_items"), F.lit(1e-12))) * 1.5)).cast("int").alias("quantity"),
        F.round(amount, 2).alias("amount_cny"),
        F.lit("CNY").alias("currency"),
        F.when(u("fd_channel") < conf.mobile_share, F.lit("mobile")).otherwise(F.lit("pc")).alias("channel"),
        no.alias("is_overseas"),
        F.lit(None).cast("string").alias("country"),
        no.alias("is_group_buy"),
        no.alias("company_invoice"),
        F.lit(None).cast("string").alias("travel_class"),
        F.lit(None).cast("int").alias("hotel_star"),
        F.floor(conf.shops * F.pow(u("fd_shop"), 2.0)).cast("long").alias("seller_num"),  # a few big chains
        no.alias("is_fake"),
        no.alias("is_whale"),
        "p_refund_rate",
        "p_return_rate",
        "p_dispute_rate",
    )


def _whale_orders(months_rows: DataFrame, *, seed: int, n_months: int) -> DataFrame:
    """The one-off huge order (a car or a flat bought online) of members whose profile has one."""
    whale_month = F.floor(uniform(seed, "whale_month", "user_id") * n_months)
    key = ("user_id",)
    rows = months_rows.filter(
        (F.col("p_whale_order_cny") > 0) & (F.col("month_idx") == whale_month) & (F.col("span_seconds") > 0)
    )
    category = choice_fixed(uniform(seed, "whale_cat", *key), WHALE_CATEGORIES)
    amount = (
        F.col("p_whale_order_cny")
        * F.exp(0.4 * normal(seed, "whale_amount", *key))
        * F.when(category == "automobile", F.lit(0.3)).otherwise(F.lit(1.5))
    )
    return rows.select(
        ((F.col("user_id") * (1 << 24)) + F.col("month_idx") * (1 << 16) + F.lit(WHALE_EVENT)).alias("order_key"),
        "user_id",
        "month_idx",
        F.lit("taobao").alias("platform"),
        category.alias("category"),
        F.lit("whale").alias("category_group"),
        (F.col("earliest_epoch") + F.floor(uniform(seed, "whale_time", *key) * F.col("span_seconds")))
        .cast("long")
        .alias("event_epoch"),
        F.lit(1).alias("quantity"),
        F.round(amount, 2).alias("amount_cny"),
        F.lit("CNY").alias("currency"),
        F.lit("pc").alias("channel"),
        F.lit(False).alias("is_overseas"),
        F.lit(None).cast("string").alias("country"),
        F.lit(False).alias("is_group_buy"),
        F.lit(False).alias("company_invoice"),
        F.lit(None).cast("string").alias("travel_class"),
        F.lit(None).cast("int").alias("hotel_star"),
        F.floor(uniform(seed, "whale_seller", *key) * 1000).cast("long").alias("seller_num"),
        F.lit(False).alias("is_fake"),
        F.lit(True).alias("is_whale"),
        "p_refund_rate",
        "p_return_rate",
        "p_dispute_rate",
    )


def service_events(orders_df: DataFrame, *, seed: int, world_end_epoch: int) -> DataFrame:
    """Refunds, returns and disputes that follow genuine orders, days later (possibly next month)."""
    kinds = F.explode(F.array(*[F.lit(k) for k in ("REFUND", "RETURN", "DISPUTE")])).alias("kind")
    rows = orders_df.filter(~F.col("is_fake") & ~F.col("is_whale")).select("*", kinds)
    key = ("order_key", "kind")
    u = lambda name: uniform(seed, name, *key)  # noqa: E731
    rate = (
        F.when(F.col("kind") == "REFUND", F.col("p_refund_rate"))
        .when(
            F.col("kind") == "RETURN",
            # nothing to send back: a trip, a show, a top-up, a meal
            F.when(F.col("category_group").isin("travel", "tickets", "topup", "food_delivery"), F.lit(0.0)).otherwise(
                F.col("p_return_rate")
            ),
        )
        .otherwise(F.col("p_dispute_rate"))
    )
    delay_days = (
        F.when(F.col("kind") == "REFUND", 1 + F.floor(u("delay") * 10))
        .when(F.col("kind") == "RETURN", 3 + F.floor(u("delay") * 18))
        .otherwise(5 + F.floor(u("delay") * 25))
    )
    share = (
        F.when(F.col("kind") == "RETURN", F.lit(1.0))
        .when(F.col("kind") == "REFUND", 0.3 + 0.7 * u("share"))
        .otherwise(F.floor(u("share") * 2) * u("share2"))
    )
    created = F.col("event_epoch") + delay_days * 86400 + F.floor(u("secs") * 36000)
    status = F.when(
        F.col("kind") == "DISPUTE",
        choice_fixed(u("status"), {"RESOLVED_BUYER": 0.6, "RESOLVED_SELLER": 0.3, "OPEN": 0.1}),
    ).otherwise(F.lit("COMPLETED"))
    return (
        rows.filter(u("happens") < rate)
        .select(
            "order_key",
            "user_id",
            "platform",
            F.col("kind"),
            F.round(F.col("amount_cny") * share, 2).alias("amount_cny"),
            created.cast("long").alias("event_epoch"),
            status.alias("status"),
        )
        .filter(F.col("event_epoch") < world_end_epoch)
    )


def risk_flags(
    orders_df: DataFrame, *, seed: int, flag_rate: float, false_positive_rate: float, world_end_epoch: int
) -> DataFrame:
    """Risk control flags some brushed orders (not all) and a few genuine ones."""
    u = lambda name: uniform(seed, name, "order_key")  # noqa: E731
    flagged = F.when(F.col("is_fake"), u("flag") < flag_rate).otherwise(u("flag") < false_positive_rate)
    rule = choice_fixed(u("rule"), {"BRUSH_RING": 0.5, "FAKE_LOGISTICS": 0.3, "ABNORMAL_REVIEW": 0.2})
    return (
        orders_df.filter(flagged)
        .select(
            "order_key",
            "user_id",
            "platform",
            rule.alias("rule"),
            F.round(0.6 + 0.4 * u("score"), 3).alias("risk_score"),
            (F.col("event_epoch") + F.floor(u("delay") * 3 * 86400)).cast("long").alias("event_epoch"),
        )
        .filter(F.col("event_epoch") < world_end_epoch)
    )


def interactions(
    months_rows: DataFrame, *, seed: int, segments: dict[str, SegmentProfile], sellers: dict[str, int]
) -> DataFrame:
    """Reviews, Q&A, likes, live-stream and content engagement, and chats with sellers."""
    total = F.col("n_interactions") + F.col("n_chats")
    k = F.explode(F.sequence(F.lit(1), total)).alias("k")
    exploded = months_rows.filter(total > 0).select("*", k)
    key = ("user_id", "month_idx", "k")
    u = lambda name: uniform(seed, name, *key)  # noqa: E731
    kinds = mix_keys(segments, "interaction_mix")
    platforms = mix_keys(segments, "platform_mix")
    kind = F.when(F.col("k") <= F.col("n_chats"), F.lit("seller_chat")).otherwise(
        choice(u("kind"), kinds, [F.col(f"cum_interaction_mix_{x}") for x in kinds])
    )
    platform = F.when(
        F.col("k") <= F.col("n_chats"), choice_fixed(u("chat_platform"), {"taobao": 0.65, "tmall": 0.35})
    ).otherwise(choice(u("platform"), platforms, [F.col(f"cum_platform_mix_{p}") for p in platforms]))
    step = exploded.select("*", kind.alias("kind"), platform.alias("platform"))
    positive = u("positive") < F.col("p_review_positive_rate")
    rating = F.when(
        F.col("kind") == "review", F.when(positive, 4 + F.floor(u("stars") * 2)).otherwise(1 + F.floor(u("stars") * 3))
    )
    n_sellers = F.create_map(*[x for p, n in sellers.items() for x in (F.lit(p), F.lit(n))])[F.col("platform")]
    target = F.when(
        F.col("kind").isin("seller_chat", "review", "qa"), F.floor(n_sellers * F.pow(u("target"), 1.5)).cast("long")
    )
    return step.select(
        ((F.col("user_id") * (1 << 24)) + F.col("month_idx") * (1 << 16) + F.col("k")).alias("event_key"),
        "user_id",
        "month_idx",
        "platform",
        "kind",
        _event_time(seed, "inter", key).alias("event_epoch"),
        rating.cast("int").alias("rating"),
        target.alias("target_num"),
        F.when(F.col("kind") == "live", F.floor(60 + -F.log(F.greatest(u("dur"), F.lit(1e-9))) * 900))
        .cast("int")
        .alias("duration_s"),
    )


def accounts(users: DataFrame, *, seed: int, months: list[Month]) -> DataFrame:
    """One registry record per member, sent in the batch of the registration month (or the first batch)."""
    registered_epoch = F.unix_timestamp(F.col("registered_date").cast("timestamp"))
    batch = F.lit(0)
    for m in months[1:]:
        batch = F.when(registered_epoch >= m.start_epoch, F.lit(m.index)).otherwise(batch)
    in_window = registered_epoch >= months[0].start_epoch
    updated = F.when(in_window, registered_epoch + F.floor(uniform(seed, "acct_time", "user_id") * 3600)).otherwise(
        F.lit(months[0].start_epoch) + F.floor(uniform(seed, "acct_time", "user_id") * 86400)
    )
    return users.filter(registered_epoch < F.lit(months[-1].start_epoch + months[-1].days * 86400)).select(
        "user_id",
        "registered_date",
        "gender",
        "birth_year",
        "city_tier",
        "identity_verified",
        F.round("mobile_pref", 3).alias("mobile_share"),
        updated.cast("long").alias("event_epoch"),
        batch.alias("month_idx"),
    )


def month_of_epoch(epoch: Column, months: list[Month]) -> Column:
    """Index of the month an epoch second falls in (-1 before, len(months) after the world)."""
    idx = F.lit(-1)
    for m in months:
        idx = F.when(epoch >= m.start_epoch, F.lit(m.index)).otherwise(idx)
    end = months[-1].start_epoch + months[-1].days * 86400
    return F.when(epoch >= end, F.lit(len(months))).otherwise(idx)
