"""Gold transforms on hand-built members: partials, caps, the 12-month roll-up, components, bands, levels."""

from __future__ import annotations

import dataclasses
import random
from datetime import date, datetime
from decimal import Decimal

import pytest
from pyspark.sql import Row
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from jobs.runtime.config import load_config
from jobs.runtime.registry import configured_platforms
from transforms.gold import params as P
from transforms.gold.features import user_features, window_months
from transforms.gold.score import scores, with_change, with_grade, with_level
from transforms.gold.user_month import CATEGORY_WORDS, batch_slices
from transforms.schemas import (
    AMOUNT_SUM,
    GOLD_SCORES,
    GOLD_USER_FEATURES,
    GOLD_USER_MONTH,
    SILVER_ACCOUNTS,
    SILVER_INTERACTIONS,
    SILVER_ORDERS,
    SILVER_RISK_FLAGS,
    SILVER_SERVICE_EVENTS,
    conform_to,
)
from transforms.silver.common import event_time_columns
from transforms.taxonomy import BY_CODE

# The numbers these tests compute by hand, pinned here so that tuning conf/scoring.yaml does not move them.
S = load_config(
    sets=[
        "scoring.components={purchase_amount: {net_spend_cny: {max_points: 1300, half_at: 60000}}, "
        "purchase_frequency: {scored_orders: {max_points: 300, half_at: 80}, "
        "active_days: {max_points: 300, half_at: 45}}, "
        "interaction: {interaction_units: {max_points: 500, half_at: 120}}}",
        "scoring.credit_points_by_level=[0, 40, 80, 130, 180, 260, 400]",
        "scoring.credit.dimensions={"
        "account_age_years: {weight: 14, curve: saturating, at: 3.0}, "
        "identity_verified: {weight: 10, curve: linear, at: 0.0},"
        "active_months: {weight: 10, curve: saturating, at: 3.0}, "
        "active_days: {weight: 6, curve: saturating, at: 20.0},"
        "orders: {weight: 5, curve: saturating, at: 15.0}, net_spend_cny: {weight: 5, curve: saturating, at: 5000.0},"
        "platforms_used: {weight: 4, curve: saturating, at: 1.0}, "
        "review_positivity: {weight: 10, curve: linear, at: 0.5},"
        "refund_rate: {weight: 10, curve: penalty, at: 0.4}, return_rate: {weight: 10, curve: penalty, at: 0.6},"
        "dispute_rate: {weight: 10, curve: penalty, at: 0.05}, "
        "flagged_order_rate: {weight: 6, curve: penalty, at: 0.05}}",
        "scoring.credit.review_prior={positivity: 0.8, weight: 5}",
        "scoring.credit.levels=[20, 35, 50, 62, 75, 85]",
        "scoring.credit.max_level_unverified=4",
        "scoring.bands={lowest_band: 300, super: 1000, apass_eligible: 2500}",
        "scoring.growth_perk_rise=68",
        "scoring.interaction_monthly_caps={review: 20, qa: 10, like: 30, live: 20, content: 10}",
        "scoring.orders_monthly_cap=60",
    ]
).scoring
CAPS = S.caps


def _events(spark, schema, rows: list[dict], defaults: dict):
    """Silver rows from partial dicts; ``at`` is an Asia/Shanghai wall-clock time."""
    raw = [{**defaults, **r} for r in rows]
    names = list(dict.fromkeys([*defaults, *(k for r in rows for k in r), "at"]))
    types = {f.name: f.dataType for f in schema.fields}
    typed = T.StructType([T.StructField(n, types.get(n, T.StringType()), True) for n in names])
    df = spark.createDataFrame([tuple(r.get(n) for n in names) for r in raw], typed)
    ts = F.to_timestamp(F.concat(F.col("at"), F.lit(" +08:00")), "yyyy-MM-dd HH:mm:ss XXX")
    missing = [
        F.lit(None).cast(f.dataType).alias(f.name)
        for f in schema.fields
        if f.name not in df.columns and f.name not in ("event_time", "event_date", "event_month")
    ]
    return df.select("*", *event_time_columns(ts), *missing).transform(conform_to, schema)


ORDER = dict(
    platform="taobao",
    user_id=1,
    seller_id="taobao:7",
    category="snacks",
    category_group="everyday",
    item_kind="physical",
    quantity=1,
    currency="CNY",
    channel="mobile",
    is_overseas=False,
    is_group_buy=False,
    company_invoice=False,
    travel_class=None,
    hotel_star=None,
    risk_flagged=False,
    risk_rule=None,
    source="taobao_orders",
    ingest_month="2025-03",
    load_id="l1",
)
PLATFORMS = configured_platforms(load_config())  # taobao, tmall, fliggy, taopiaopiao, eleme: the configured sources'


def orders(spark, rows):
    rows = [
        {**r, "amount_cny": Decimal(str(r["amount_cny"])), "order_id": r.get("order_id", f"o{i}")}
        for i, r in enumerate(rows)
    ]
    return _events(spark, SILVER_ORDERS, rows, ORDER)


def interactions(spark, rows):
    base = dict(
        platform="taobao",
        user_id=1,
        target_id=None,
        rating=None,
        is_positive=None,
        duration_s=None,
        source="interactions",
        ingest_month="2025-03",
        load_id="l1",
    )
    return _events(spark, SILVER_INTERACTIONS, [{**r, "event_id": f"e{i}"} for i, r in enumerate(rows)], base)


def flags(spark, rows):
    base = dict(
        platform="taobao",
        user_id=1,
        rule="BRUSH_RING",
        risk_score=0.9,
        source="risk_flags",
        ingest_month="2025-03",
        load_id="l1",
    )
    return _events(spark, SILVER_RISK_FLAGS, [{**r, "flag_id": f"f{i}"} for i, r in enumerate(rows)], base)


def slices(o, i=None, s=None, f=None, *, batch="2025-03", batches=None, caps=None):
    spark = o.sparkSession
    return batch_slices(
        o,
        i if i is not None else interactions(spark, []),
        s if s is not None else service(spark, []),
        f if f is not None else flags(spark, []),
        batches=batches or [batch],
        late_tolerance_months=2,
        caps=caps or CAPS,
        platforms=PLATFORMS,
    )


def service(spark, rows):
    base = dict(
        platform="taobao",
        user_id=1,
        order_id="o0",
        status="COMPLETED",
        source="service_events",
        ingest_month="2025-03",
        load_id="l1",
    )
    rows = [{**r, "amount_cny": Decimal(str(r["amount_cny"])), "ticket_id": f"t{i}"} for i, r in enumerate(rows)]
    return _events(spark, SILVER_SERVICE_EVENTS, rows, base)


def test_user_month_partials_are_exact_and_respect_the_shanghai_month_boundary(spark):
    o = orders(
        spark,
        [
            dict(amount_cny=100.00, at="2025-03-10 12:00:00"),
            dict(
                amount_cny=250.50,
                at="2025-03-31 23:59:59",
                platform="tmall",
                seller_id="tmall:1",
                category="luxury_bags",
                category_group="luxury",
                is_overseas=True,
                channel="pc",
            ),
            # April in Shanghai, still March 31 in UTC: it came with the April batch
            dict(amount_cny=999.00, at="2025-04-01 00:00:00", ingest_month="2025-04"),
            dict(
                amount_cny=80.00, at="2025-03-12 03:00:00", risk_flagged=True, risk_rule="BRUSH_RING", order_id="fake"
            ),
            dict(amount_cny=55.00, at="2025-02-27 10:00:00"),  # a late February order in the March batch
        ],
    )
    f = flags(spark, [dict(order_id="fake", at="2025-03-13 09:00:00")])
    i = interactions(
        spark,
        [
            dict(kind="review", rating=5, is_positive=True, at="2025-03-11 10:00:00"),
            dict(kind="review", rating=2, is_positive=False, at="2025-03-11 11:00:00"),
            dict(kind="live", duration_s=600, at="2025-03-20 20:00:00"),
            dict(kind="seller_chat", target_id="taobao:7", at="2025-03-20 20:00:00"),
            dict(kind="like", at="2025-04-01 00:00:01", ingest_month="2025-04"),
            dict(kind="like", user_id=3, at="2025-01-20 10:00:00"),  # a month without orders, two batches late
        ],
    )
    s = service(
        spark,
        [
            dict(kind="refund", amount_cny=40.00, at="2025-03-15 09:00:00"),
            dict(kind="return", amount_cny=30.00, at="2025-03-16 09:00:00"),
            dict(kind="dispute", amount_cny=0.00, status="OPEN", at="2025-03-17 09:00:00"),
        ],
    )
    # batches 2025-03 and 2025-04 in one plan (each row is judged against its own batch)
    both = slices(o, i, s, f, batches=["2025-03", "2025-04"]).collect()
    batch = {(r["month"], r["batch"]): r for r in both if r["batch"] == "2025-03" and r["user_id"] == 1}
    assert set(batch) == {("2025-03", "2025-03"), ("2025-02", "2025-03")}  # the late order has its own slice
    likes_only = next(r for r in both if r["user_id"] == 3)
    assert (likes_only["month"], likes_only["orders"], likes_only["likes"]) == ("2025-01", 0, 1)
    assert likes_only["category_mask"] == [0] * CATEGORY_WORDS  # no category bought, every word zero
    late = batch[("2025-02", "2025-03")]
    assert (late["orders"], late["spend_cny"], late["active_days_mask"], late["reviews"]) == (
        1,
        Decimal("55.00"),
        1 << 26,
        0,
    )
    m = batch[("2025-03", "2025-03")]
    assert (m["orders"], m["spend_cny"], m["capped_spend_cny"]) == (2, Decimal("350.50"), Decimal("350.50"))
    assert (m["flagged_orders"], m["flagged_spend_cny"]) == (1, Decimal("80.00"))
    assert m["active_days_mask"] == (1 << 9) | (1 << 30)  # the 10th and the 31st
    assert m["platforms"] == ["taobao", "tmall"]
    snacks, bags = BY_CODE["snacks"].id - 1, BY_CODE["luxury_bags"].id - 1  # bits of word 0 (ids 1..63)
    assert m["category_mask"] == [(1 << snacks) | (1 << bags), *[0] * (CATEGORY_WORDS - 1)]
    assert m["spend_by_platform_cny"] == {"taobao": Decimal("100.00"), "tmall": Decimal("250.50")}
    assert (m["spend_luxury_cny"], m["overseas_spend_cny"]) == (Decimal("250.50"),) * 2
    assert (m["mobile_orders"], m["pc_orders"], m["max_order_cny"]) == (1, 1, Decimal("250.50"))
    assert (m["refunds"], m["returns"], m["disputes"], m["refund_cny"]) == (1, 1, 1, Decimal("70.00"))
    assert (m["reviews"], m["positive_reviews"], m["live"], m["live_seconds"], m["seller_chats"], m["likes"]) == (
        2,
        1,
        1,
        600,
        1,
        0,
    )
    april = [r for r in both if r["batch"] == "2025-04"]
    assert [(r["month"], r["orders"], r["spend_cny"], r["likes"], r["active_days_mask"]) for r in april] == [
        ("2025-04", 1, Decimal("999.00"), 1, 1)
    ]


def test_a_flag_that_arrives_a_batch_later_restates_the_month_without_its_order(spark):
    """Batch 2025-04 restates March as it knows it: the flagged order no longer counts, and the day it was the
    only order of (the 31st) is no longer an active day."""
    o = orders(
        spark,
        [
            dict(amount_cny=30000.00, at="2025-03-31 22:00:00", risk_flagged=True, order_id="x"),
            dict(amount_cny=100.00, at="2025-03-05 10:00:00"),
        ],
    )
    f = flags(spark, [dict(order_id="x", at="2025-04-01 09:00:00", ingest_month="2025-04")])
    # each batch's slices alone, then both batches in one plan: the same rows
    by_march, by_april = slices(o, f=f).collect(), slices(o, f=f, batch="2025-04").collect()
    march = by_march[0]  # by batch 2025-03 nobody knew: it counted
    assert (march["orders"], march["spend_cny"], march["capped_spend_cny"], march["flagged_orders"]) == (
        2,
        Decimal("30100.00"),
        Decimal("20100.00"),
        0,
    )
    assert [
        (
            r["month"],
            r["batch"],
            r["orders"],
            r["spend_cny"],
            r["capped_spend_cny"],
            r["flagged_orders"],
            r["flagged_spend_cny"],
            r["active_days_mask"],
        )
        for r in by_april
    ] == [("2025-03", "2025-04", 1, Decimal("100.00"), Decimal("100.00"), 1, Decimal("30000.00"), 1 << 4)]
    assert march["active_days_mask"] == (1 << 4) | (1 << 30)
    # (materialised once: the roll-ups below read it three times)
    um = slices(o, f=f, batches=["2025-03", "2025-04"]).localCheckpoint()
    assertDataFrameEqual(um.drop("sellers_sketch"), [_without(r, "sellers_sketch") for r in by_march + by_april])
    # rolled up as of April, the order is gone; as of March it was there
    accounts = _accounts(spark, [dict(user_id=1, registered_date=date(2020, 1, 1), identity_verified=True)])

    def rolled_up(as_of_months):
        return roll_up(um, accounts, as_of_months).collect()

    (march,), (april,) = rolled_up(["2025-03"]), rolled_up(["2025-04"])
    # both months in one plan: each row as its month alone gives it
    assertDataFrameEqual(rolled_up(["2025-03", "2025-04"]), [march, april])
    assert (march["orders"], march["net_spend_cny"]) == (2, Decimal("20100.00"))
    assert (april["orders"], april["net_spend_cny"], april["flagged_orders"]) == (1, Decimal("100.00"), 1)


def test_a_months_caps_hold_whatever_batch_its_events_arrive_in(spark):
    """Late events are capped with the rest of their month, not from a fresh budget: member 1's March (five orders
    of 15 000, two of them a batch late) credits the month cap of 60 000, not 75 000; member 2's two orders of
    20 000 on one day (one a batch late) credit the day cap of 30 000, not 40 000."""
    assert (CAPS.month, CAPS.by_kind["physical"].day, CAPS.by_kind["physical"].order) == (60000, 30000, 20000)
    categories = ["phones", "computers", "appliances_large", "sports", "books"]
    o = orders(
        spark,
        [
            dict(
                amount_cny=15000.0,
                category=c,
                seller_id=f"taobao:{day}",
                at=f"2025-03-{day:02d} 10:00:00",
                ingest_month="2025-03" if day < 20 else "2025-04",
            )
            for c, day in zip(categories, (2, 4, 6, 20, 25), strict=True)
        ]
        + [
            dict(
                user_id=2,
                amount_cny=20000.0,
                category=c,
                seller_id=f"taobao:9{i}",
                at=f"2025-03-10 1{i}:00:00",
                ingest_month=batch,
            )
            for i, (c, batch) in enumerate((("phones", "2025-03"), ("computers", "2025-04")))
        ],
    )
    um = slices(o, batches=["2025-03", "2025-04"]).localCheckpoint()
    got = {(r["user_id"], r["batch"]): r["capped_spend_cny"] for r in um.collect()}
    assert got == {
        (1, "2025-03"): Decimal("45000.00"),
        (1, "2025-04"): Decimal("60000.00"),  # March as April knows it: 75 000 of credit, the month cap
        (2, "2025-03"): Decimal("20000.00"),
        (2, "2025-04"): Decimal("30000.00"),  # 40 000 on one day: the day cap
    }
    accounts = _accounts(
        spark, [dict(user_id=u, registered_date=date(2020, 1, 1), identity_verified=True) for u in (1, 2)]
    )
    rolled = roll_up(um, accounts, ["2025-03", "2025-04"]).collect()
    net = {(r["user_id"], r["as_of_month"]): r["net_spend_cny"] for r in rolled}
    assert net == {
        (1, "2025-03"): Decimal("45000.00"),
        (1, "2025-04"): Decimal("60000.00"),
        (2, "2025-03"): Decimal("20000.00"),
        (2, "2025-04"): Decimal("30000.00"),
    }


def _without(row: Row, column: str) -> Row:
    """``row`` less one column."""
    return Row(**{k: v for k, v in row.asDict().items() if k != column})


def test_a_refund_is_capped_by_its_orders_kind_not_its_platform(spark):
    """A Tmall top-up is virtual: it credited at most the virtual per-order cap, and its refund takes back no more.
    A refund of an order gold cannot find (older than the tickets' reach) takes back at most the largest cap."""
    assert (CAPS.by_kind["virtual"].order, CAPS.by_kind["physical"].order) == (3000, 20000)
    o = orders(
        spark,
        [
            dict(
                platform="tmall",
                order_id="TM1",
                category="mobile_topup",
                category_group="topup",
                item_kind="virtual",
                amount_cny=4904.81,
                at="2025-03-02 12:00:00",
            ),
            dict(
                order_id="TB1",
                category="phones",
                category_group="everyday",
                item_kind="physical",
                amount_cny=4904.81,
                at="2025-03-02 12:00:00",
                user_id=2,
            ),
        ],
    )
    s = service(
        spark,
        [
            dict(platform="tmall", order_id="TM1", kind="refund", amount_cny=4904.81, at="2025-03-05 10:00:00"),
            dict(user_id=2, order_id="TB1", kind="refund", amount_cny=4904.81, at="2025-03-05 10:00:00"),
            dict(user_id=3, order_id="gone", kind="return", amount_cny=25000.0, at="2025-03-06 10:00:00"),
        ],
    )
    got = {r["user_id"]: r for r in slices(o, s=s).collect()}
    assert (got[1]["capped_spend_cny"], got[1]["capped_refund_cny"]) == (Decimal("3000.00"), Decimal("3000.00"))
    assert got[2]["capped_refund_cny"] == Decimal("4904.81")  # a physical order's cap is 20 000
    assert (got[3]["refund_cny"], got[3]["capped_refund_cny"]) == (Decimal("25000.00"), Decimal("20000.00"))


def test_another_platform_is_named_in_gold_without_a_line_of_gold_code(spark):
    """The platforms are a parameter (the configured order sources'): gold sums and names whatever it is given,
    in that order, and rolls them up by name."""
    platforms = (*PLATFORMS, "youku")
    o = orders(
        spark,
        [
            dict(platform="youku", seller_id="youku:3", amount_cny=38.5, at="2025-03-02 12:10:00"),
            dict(amount_cny=10.0, at="2025-03-02 20:00:00"),  # taobao
            dict(platform="youku", seller_id="youku:3", amount_cny=21.0, at="2025-03-09 12:30:00"),
            dict(user_id=2, platform="youku", seller_id="youku:4", amount_cny=15.0, at="2025-03-03 18:00:00"),
        ],
    )
    um = batch_slices(
        o,
        interactions(spark, []),
        service(spark, []),
        flags(spark, []),
        batches=["2025-03"],
        late_tolerance_months=2,
        caps=CAPS,
        platforms=platforms,
    ).localCheckpoint()
    got = {r["user_id"]: r for r in um.collect()}
    assert (got[1]["platforms"], got[2]["platforms"]) == (["taobao", "youku"], ["youku"])
    assert got[1]["spend_by_platform_cny"] == {"taobao": Decimal("10.00"), "youku": Decimal("59.50")}
    accounts = _accounts(
        spark, [dict(user_id=u, registered_date=date(2020, 1, 1), identity_verified=True) for u in (1, 2)]
    )
    rolled = roll_up(um, accounts, ["2025-03"], platforms).collect()
    one = next(r for r in rolled if r["user_id"] == 1)
    assert (one["platforms"], one["platforms_used"]) == (["taobao", "youku"], 2)
    assert one["spend_by_platform_cny"] == {"taobao": Decimal("10.00"), "youku": Decimal("59.50")}


def test_caps_scale_orders_down_per_order_day_and_month(spark):
    """Each kind of goods has its own row of caps; a day's cap holds per kind; the month's holds for all."""
    caps = P.CapTable(
        month=1900,
        by_kind={
            "physical": P.KindCaps(order=1000, day=1500, category_month=100000, shop_month=100000),
            "virtual": P.KindCaps(order=300, day=100000, category_month=100000, shop_month=100000),
            "food_delivery": P.KindCaps(order=50, day=80, category_month=100000, shop_month=100000),
        },
    )
    meal = dict(platform="eleme", category="meal_delivery", category_group="food_delivery", item_kind="food_delivery")
    o = orders(
        spark,
        [
            dict(amount_cny=800, at="2025-03-05 10:00:00"),
            dict(amount_cny=1200, at="2025-03-05 11:00:00"),  # order cap: 1000
            dict(amount_cny=600, at="2025-03-05 12:00:00"),  # day: 800 + 1000 + 600 = 2400 -> 1500
            dict(
                amount_cny=5000,
                at="2025-03-06 10:00:00",
                platform="fliggy",
                seller_id="fliggy:1",
                category="travel_flight",
                category_group="travel",
                item_kind="virtual",
            ),  # virtual order cap: 300
            # the same day as the physical orders, under the food-delivery caps: 60 -> 50, then 50 + 45 -> 80
            dict(amount_cny=60, at="2025-03-05 12:30:00", seller_id="eleme:7", **meal),
            dict(amount_cny=45, at="2025-03-05 19:00:00", seller_id="eleme:8", **meal),
        ],
    )
    row = slices(o, caps=caps).first()
    assert row["spend_cny"] == Decimal("7705.00")
    assert row["capped_spend_cny"] == Decimal("1880.00")  # 1500 + 300 + 80, under the month cap
    tighter_month = dataclasses.replace(caps, month=1700)
    assert slices(o, caps=tighter_month).first()["capped_spend_cny"] == Decimal("1700.00")
    physical = dataclasses.replace(caps.by_kind["physical"], shop_month=1000)
    shop_caps = dataclasses.replace(caps, by_kind={**caps.by_kind, "physical": physical})
    # all three physical orders are from one shop: 1500 -> 1000 (the smaller factor wins)
    assert slices(o, caps=shop_caps).first()["capped_spend_cny"] == Decimal("1380.00")


def _month_row(spark, user_id, month, **values):
    zeros = {T.MapType: {}, T.ArrayType: [], type(AMOUNT_SUM): Decimal(0)}
    base = {f.name: zeros.get(type(f.dataType), 0) for f in GOLD_USER_MONTH.fields}
    base.update(
        user_id=user_id, month=month, batch=month, max_order_cny=None, sellers_sketch=None, chat_sellers_sketch=None
    )
    base.update({k: Decimal(str(v)) if isinstance(v, float) else v for k, v in values.items()})
    return base


def _accounts(spark, rows):
    base = dict(
        gender="F",
        birth_year=1990,
        city_tier=1,
        mobile_share=0.8,
        source="accounts",
        ingest_month="2024-01",
        load_id="l1",
        updated_at=datetime(2024, 1, 1),
    )
    return spark.createDataFrame(
        [tuple({**base, **r}[f.name] for f in SILVER_ACCOUNTS.fields) for r in rows], SILVER_ACCOUNTS
    )


def roll_up(um, accounts, as_of_months, platforms=PLATFORMS):
    """gold.user_features of ``as_of_months`` from the slices ``um``, under the pinned settings."""
    return user_features(
        um,
        accounts,
        as_of_months=as_of_months,
        window=12,
        orders_monthly_cap=S.orders_monthly_cap,
        interaction_monthly_caps=S.interaction_monthly_caps,
        interaction_weights=S.interaction_weights,
        platforms=platforms,
    )


def features_for(spark, month_rows, accounts, as_of="2025-12"):
    return roll_up(spark.createDataFrame(month_rows, GOLD_USER_MONTH), accounts, [as_of])


def test_the_window_rolls_up_twelve_months_and_nothing_after_as_of(spark):
    rows = [
        _month_row(spark, 1, "2024-12", orders=5, capped_spend_cny=500.0, active_days_mask=0b1),  # outside
        _month_row(
            spark,
            1,
            "2025-01",
            orders=70,
            capped_spend_cny=1000.0,
            capped_refund_cny=100.0,
            active_days_mask=0b111,
            platforms=["taobao"],
            spend_by_platform_cny={"taobao": Decimal("1000.00")},
            reviews=25,
            positive_reviews=25,
        ),
        _month_row(
            spark,
            1,
            "2025-06",
            orders=2,
            capped_spend_cny=300.0,
            active_days_mask=0b11,
            platforms=["fliggy"],
            spend_by_platform_cny={"fliggy": Decimal("300.00")},
            category_mask=[1 << 62, 0],
        ),
        # a late June order came with the July batch: July's slice is June as July knows it (its day was active
        # already), and replaces June's own slice
        _month_row(
            spark,
            1,
            "2025-06",
            batch="2025-07",
            orders=3,
            capped_spend_cny=350.0,
            active_days_mask=0b11,
            platforms=["fliggy"],
            spend_by_platform_cny={"fliggy": Decimal("350.00")},
            category_mask=[1 << 62, 0],
        ),
        # December events that arrive in January are not known by the December score
        _month_row(spark, 1, "2025-12", batch="2026-01", orders=4, capped_spend_cny=400.0, active_days_mask=0b1),
        _month_row(spark, 1, "2026-01", orders=9, capped_spend_cny=900.0, active_days_mask=0b1),  # after as_of
    ]
    accounts = _accounts(
        spark,
        [
            dict(user_id=1, registered_date=date(2015, 12, 31), identity_verified=True),
            dict(user_id=2, registered_date=date(2020, 6, 30), identity_verified=False),  # a member with no events
            dict(user_id=3, registered_date=date(2026, 1, 2), identity_verified=True),  # not a member yet
            dict(
                user_id=4, registered_date=date(2025, 11, 1), identity_verified=True, ingest_month="2026-01"
            ),  # unknown
        ],
    )
    got = {r["user_id"]: r for r in features_for(spark, rows, accounts).collect()}
    assert set(got) == {1, 2}
    one = got[1]
    assert (one["orders"], one["months_active"], one["active_days"]) == (73, 2, 5)
    assert one["net_spend_cny"] == Decimal("1250.00")  # 1000 - 100 + 350
    assert one["scored_orders"] == 60 + 3  # 70 orders in January count as the monthly cap of 60
    assert one["interaction_units"] == 20 * S.interaction_weights["review"]  # 25 reviews, capped at 20
    assert (one["platforms_used"], one["categories_used"], one["account_age_years"]) == (2, 1, 10.0)
    assert one["platforms"] == ["taobao", "fliggy"]  # the configured order, not the months'
    assert one["spend_by_platform_cny"] == {"taobao": Decimal("1000.00"), "fliggy": Decimal("350.00")}
    # next month January 2025 leaves the window: what carries over is June only
    assert (one["carry_net_spend_cny"], one["carry_scored_orders"], one["carry_active_days"]) == (
        Decimal("350.00"),
        3,
        2,
    )
    two = got[2]
    assert (two["orders"], two["net_spend_cny"], two["identity_verified"], two["account_age_years"]) == (
        0,
        Decimal("0.00"),
        False,
        5.5,
    )
    assert window_months("2025-02", 3) == ["2024-12", "2025-01", "2025-02"]


def test_the_roll_up_does_not_depend_on_the_order_its_rows_arrive_in(spark):
    # likes 1..12 a month at 0.1 each: summed as doubles, the 12 products give 5 different totals
    # depending on their order; counted first and weighted once, the total is 78 x 0.1 whatever the order
    from transforms.gold.sketch import kmv_sketch

    weights = dict.fromkeys(S.interaction_weights, 0.1)
    months = window_months("2025-12", 12)
    sellers = (
        spark.createDataFrame([(m, f"shop{i % 5}") for i, m in enumerate(months)], "month string, s string")
        .groupBy("month")
        .agg(kmv_sketch(F.col("s")).alias("sk"))
    )
    sketch_of = {r["month"]: r["sk"] for r in sellers.collect()}  # five shops across the year
    rows = [_month_row(spark, 1, m, orders=1, likes=k, sellers_sketch=sketch_of[m]) for k, m in enumerate(months, 1)]
    rows += [_month_row(spark, 2, m, orders=1, likes=13 - k) for k, m in enumerate(months, 1)]
    accounts = _accounts(
        spark,
        [
            dict(user_id=1, registered_date=date(2020, 1, 1), identity_verified=True, gender="M"),
            dict(user_id=2, registered_date=date(2020, 1, 1), identity_verified=True, gender="U"),
        ],
    )

    def rolled(month_rows):
        um = spark.createDataFrame(month_rows, GOLD_USER_MONTH)
        return sorted(
            user_features(
                um.repartition(5),
                accounts,
                as_of_months=["2025-12"],
                window=12,
                orders_monthly_cap=60,
                interaction_monthly_caps=S.interaction_monthly_caps,
                interaction_weights=weights,
                platforms=PLATFORMS,
            ).collect()
        )

    forward = rolled(rows)
    random.Random(7).shuffle(rows)
    assert rolled(rows) == forward  # bit for bit, doubles included
    assert [r["interaction_units"] for r in forward] == [78 * 0.1, 78 * 0.1]
    assert [r["carry_interaction_units"] for r in forward] == [77 * 0.1, 66 * 0.1]  # without January
    assert [(r["gender"], r["distinct_sellers"]) for r in forward] == [("M", 5), ("U", 0)]


def _features(spark, rows: list[dict]):
    """gold.user_features rows: zeros everywhere except the given values."""

    def default(f):
        if f.name == "identity_verified":
            return True
        if f.name in ("registered_date", "gender", "birth_year", "city_tier", "device_mobile_share", "max_order_cny"):
            return None
        if isinstance(f.dataType, (T.MapType, T.ArrayType)):
            return {} if isinstance(f.dataType, T.MapType) else []
        return Decimal(0) if f.dataType == AMOUNT_SUM else 0.0 if f.dataType.typeName() == "double" else 0

    full = []
    for r in rows:
        row = {f.name: default(f) for f in GOLD_USER_FEATURES.fields}
        row.update(as_of_month="2025-12")
        for k, v in r.items():
            dtype = GOLD_USER_FEATURES[k].dataType
            row[k] = Decimal(str(v)) if dtype == AMOUNT_SUM else float(v) if dtype == T.DoubleType() else v
        full.append(row)
    return spark.createDataFrame(full, GOLD_USER_FEATURES)


def score_rows(spark, rows, previous=None, s=S):
    return {r["user_id"]: r for r in scores(_features(spark, rows), previous, s).collect()}


def test_components_of_a_hand_built_member(spark):
    member = dict(
        user_id=1,
        net_spend_cny=60000,
        scored_orders=80,
        active_days=45,
        interaction_units=120.0,
        # credit, dimension by dimension (weight x sub-score): age 14 x 0.5 + identity 10 + active months
        # 10 x 0.5 + active days 6 x (1 - 2^-2.25) + orders 5 x 0.5 + spend 5 x (1 - 2^-12) + platforms
        # 4 x 0.5 + positivity 10 x 0.8 ((5 + 4) / 10 = 0.9) + refunds 10 x 0.5 + returns 10 + disputes 10
        # + flagged 6 = 75.237 -> C5
        account_age_years=3.0,
        months_active=3,
        orders=15,
        platforms_used=1,
        reviews=5,
        positive_reviews=5,
        refunds=3,
        carry_net_spend_cny=0,
        carry_scored_orders=0,
        carry_active_days=0,
        carry_interaction_units=0.0,
    )
    r = score_rows(spark, [member])[1]
    assert (r["purchase_amount_points"], r["purchase_frequency_points"], r["interaction_points"]) == (650, 300, 250)
    assert (r["credit_score"], r["credit_level"], r["credit_points"]) == (75.24, "C5", 260)
    assert r["score"] == 650 + 300 + 250 + 260
    assert (r["band"], r["grade"], r["vip_fee_cny"], r["next_band_gap"]) == (3, "super", 88, 2500 - 1460)
    assert (r["carry_score"], r["keep_band_points"]) == (260, 1000 - 260)
    assert (r["previous_score"], r["score_change"], r["growth_perk"], r["service_queue"]) == (
        None,
        None,
        False,
        "priority",
    )
    # a fraud-heavy history drags credit down: flagged orders, disputes, returns
    bad = score_rows(spark, [{**member, "flagged_orders": 5, "disputes": 2, "returns": 9}])[1]
    assert (bad["credit_score"], bad["credit_level"]) == (49.24, "C2")  # 75.24 - flagged 6 - disputes 10 - returns 10


@pytest.mark.parametrize(
    "score, band, grade, fee, gap",
    [
        (0, 1, "ordinary", 888, 300),
        (299, 1, "ordinary", 888, 1),
        (300, 2, "ordinary", 888, 700),
        (999, 2, "ordinary", 888, 1),
        (1000, 3, "super", 88, 1500),
        (2499, 3, "super", 88, 1),
        (2500, 4, "apass_eligible", 88, None),
        (9000, 4, "apass_eligible", 88, None),
    ],
)
def test_band_edges(spark, score, band, grade, fee, gap):
    df = spark.createDataFrame([(1, score, 950)], "user_id long, score int, carry_score int")
    got = df.transform(with_grade, bands=S.bands, vip_fee=S.vip_fee_cny)
    keep = None if band == 1 else max({2: 300, 3: 1000, 4: 2500}[band] - 950, 0)
    assertDataFrameEqual(
        got,
        [
            Row(
                user_id=1,
                score=score,
                carry_score=950,
                band=band,
                grade=grade,
                vip_fee_cny=fee,
                next_band_gap=gap,
                keep_band_points=keep,
            )
        ],
    )


@pytest.mark.parametrize(
    "credit_score, verified, level",
    [
        (0.0, True, 0),
        (19.99, True, 0),
        (20.0, True, 1),
        (34.99, True, 1),
        (35.0, True, 2),
        (61.99, True, 3),
        (62.0, True, 4),
        (74.99, True, 4),
        (75.0, True, 5),
        (84.99, True, 5),
        (85.0, True, 6),
        (100.0, True, 6),
        (100.0, False, 4),
        (40.0, False, 2),
    ],
)
def test_credit_level_edges(spark, credit_score, verified, level):
    df = spark.createDataFrame([(credit_score, verified)], "credit_score double, identity_verified boolean")
    got = df.transform(with_level, levels=S.credit.levels, max_level_unverified=S.credit.max_level_unverified)
    assert got.first()["credit_level_num"] == level


def test_month_over_month_change_and_the_growth_perk(spark):
    cols = "user_id long, month string, score int"
    current = spark.createDataFrame(
        [(1, "2025-12", 1068), (2, "2025-12", 1067), (3, "2025-12", 500), (4, "2025-12", 700)], cols
    )
    previous = spark.createDataFrame(
        [(1, "2025-11", 1000), (2, "2025-11", 1000), (3, "2025-11", 900), (4, "2025-10", 650)], cols
    )  # member 4 was not scored in November
    got = current.transform(with_change, previous, growth_perk_rise=68)
    assertDataFrameEqual(
        got,
        [
            Row(user_id=1, month="2025-12", score=1068, previous_score=1000, score_change=68, growth_perk=True),
            Row(user_id=2, month="2025-12", score=1067, previous_score=1000, score_change=67, growth_perk=False),
            Row(user_id=3, month="2025-12", score=500, previous_score=900, score_change=-400, growth_perk=False),
            Row(user_id=4, month="2025-12", score=700, previous_score=None, score_change=None, growth_perk=False),
        ],
    )
    # several months at once: each month's change against the month before, in the set or published
    months = spark.createDataFrame([(1, "2026-01", 1200), (3, "2026-02", 600)], cols).unionByName(current)
    got = {
        (r["user_id"], r["month"]): (r["previous_score"], r["score_change"], r["growth_perk"])
        for r in months.transform(with_change, previous, growth_perk_rise=68).collect()
    }
    assert got == {
        (1, "2025-12"): (1000, 68, True),
        (2, "2025-12"): (1000, 67, False),
        (3, "2025-12"): (900, -400, False),
        (4, "2025-12"): (None, None, False),
        (1, "2026-01"): (1068, 132, True),
        (3, "2026-02"): (None, None, False),
    }


INPUTS = [
    "net_spend_cny",
    "scored_orders",
    "active_days",
    "interaction_units",
    "account_age_years",
    "months_active",
    "orders",
    "platforms_used",
    "reviews",
    "positive_reviews",
    "refunds",
    "returns",
    "disputes",
    "flagged_orders",
]
GOOD = {
    "net_spend_cny",
    "scored_orders",
    "active_days",
    "interaction_units",
    "account_age_years",
    "months_active",
    "orders",
    "platforms_used",
    "positive_reviews",
}


def test_score_is_monotonic_in_every_input(spark):
    rng = random.Random(7)
    base = []
    for uid in range(60):
        orders_n = rng.randint(0, 400)
        reviews = rng.randint(0, 50)
        base.append(
            dict(
                user_id=uid,
                net_spend_cny=round(rng.uniform(0, 300000), 2),
                scored_orders=min(orders_n, 300),
                active_days=rng.randint(0, 365),
                interaction_units=rng.uniform(0, 600),
                account_age_years=rng.uniform(0, 15),
                months_active=rng.randint(0, 12),
                orders=orders_n,
                platforms_used=rng.randint(0, 4),
                reviews=reviews,
                positive_reviews=rng.randint(0, reviews),
                refunds=rng.randint(0, 20),
                returns=rng.randint(0, 20),
                disputes=rng.randint(0, 5),
                flagged_orders=rng.randint(0, 10),
            )
        )
    # every input bumped in turn, all scored in one plan: variant v of member uid is member (v + 1) * 1000 + uid
    variants = list(base)
    for v, name in enumerate(INPUTS):
        step = 1.0 if isinstance(base[0][name], float) else 1
        for r in base:
            up = r[name] + (step * 5000 if name == "net_spend_cny" else step * 3)
            delta = up if name in GOOD else r[name]  # "bad" inputs: more of them must not raise the score
            worse = r[name] + 3 if name not in GOOD else r[name]
            row = {**r, "user_id": (v + 1) * 1000 + r["user_id"], name: delta if name in GOOD else worse}
            if name == "positive_reviews":  # more positive reviews among as many reviews
                row["reviews"] = r["reviews"] + 3
            variants.append(row)
    scored = score_rows(spark, variants)
    for v, name in enumerate(INPUTS):
        for uid in range(len(base)):
            before, after = scored[uid]["score"], scored[(v + 1) * 1000 + uid]["score"]
            if name in GOOD:
                assert after >= before, (name, uid)
            else:
                assert after <= before, (name, uid)


def test_no_single_dimension_reaches_the_top_band_alone(spark):
    huge = dict(net_spend_cny=10**12, scored_orders=10**9, active_days=10**6, interaction_units=1e9)
    rows = [
        dict(
            user_id=i,
            account_age_years=0.0,
            identity_verified=False,
            **{k: (v if k == name else 0) for k, v in huge.items()},
        )
        for i, name in enumerate(huge)
    ]
    got = score_rows(spark, rows)
    maxima = {c: sum(t.max_points for t in terms.values()) for c, terms in S.components.items()}
    for i in range(len(huge)):
        r = got[i]
        assert r["score"] < S.bands.apass_eligible
        for c, most in maxima.items():
            assert r[f"{c}_points"] <= most
    everything = score_rows(
        spark, [dict(user_id=9, **huge, account_age_years=30.0, months_active=12, orders=10**4, platforms_used=4)]
    )[9]
    assert everything["score"] >= S.bands.apass_eligible  # all of them together do


def test_invalid_scoring_settings_are_named():
    broken = dataclasses.replace(S, bands=P.Bands(lowest_band=300, super=2600, apass_eligible=2500))
    assert P.problems(broken)[0].startswith("bands:")
    negative = dataclasses.replace(S, components={"interaction": {"interaction_units": P.CurveTerm(-1, 10)}})
    assert "max_points: must not be negative" in P.problems(negative)[0]
    assert P.problems(S) == []


def test_kmv_sketch_is_exact_below_k_order_free_and_mergeable(spark):
    from transforms.gold.sketch import kmv_estimate, kmv_sketch, kmv_union

    values = spark.range(3000).select((F.col("id") % 2000).cast("string").alias("v"), (F.col("id") % 3).alias("part"))
    forward = values.orderBy("v").coalesce(1).agg(kmv_sketch(F.col("v"), 64).alias("s")).first()["s"]
    backward = values.orderBy(F.desc("v")).repartition(3).agg(kmv_sketch(F.col("v"), 64).alias("s")).first()["s"]
    assert forward == backward and len(forward) == 64  # a function of the set, not of the order
    merged = (
        values.groupBy("part")
        .agg(kmv_sketch(F.col("v"), 64).alias("s"))
        .agg(kmv_union(F.col("s"), 64).alias("s"))
        .first()["s"]
    )
    assert merged == forward  # the union of the parts' sketches is the sketch of the whole
    est = spark.createDataFrame([(forward,)], "s array<bigint>").select(kmv_estimate(F.col("s"), 64)).first()[0]
    assert 2000 * 0.7 < est < 2000 * 1.3 and est != 2000
    small = values.filter(F.col("v").isin("1", "2", "3")).agg(kmv_sketch(F.col("v")).alias("s"))
    assert small.select(kmv_estimate(F.col("s"))).first()[0] == 3
    nothing = values.filter("false").agg(kmv_sketch(F.col("v")).alias("s"))
    assert nothing.select(kmv_estimate(F.col("s"))).first()[0] == 0


def _scores(spark, rows: list[dict]):
    """gold.scores rows of APASS-eligible members: zeros everywhere except the given values."""
    base = {f.name: 0 for f in GOLD_SCORES.fields}
    base.update(
        month="2025-12",
        band=4,
        grade="apass_eligible",
        vip_fee_cny=88,
        credit_score=80.0,
        credit_level="C5",
        previous_score=None,
        score_change=None,
        growth_perk=False,
        next_band_gap=None,
        keep_band_points=None,
        service_queue="priority",
    )
    return spark.createDataFrame([{**base, **r} for r in rows], GOLD_SCORES)
