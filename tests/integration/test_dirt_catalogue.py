"""The dirt catalogue: every kind of dirt the generator sends reaches quarantine with its reason.

Each source is generated with one dirt kind at a time on every row, written
in its real landing format, read back with the bronze reader and conformed:
the rows of a kind must all end with that kind's reason (docs/generator.md#dirt-catalogue).
"""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest
from pyspark.sql import functions as F

from jobs.conform import conform_params
from jobs.ingest import read_landed
from jobs.runtime.config import load_config
from jobs.runtime.registry import load_source
from transforms.silver import reasons as R
from transforms.silver.common import with_user_check, with_window_check
from transforms.sources import REJECT_REASON
from transforms.synthetic import events, landing
from transforms.synthetic.apass_history import apass_reviews
from transforms.synthetic.landing import DIRT_KINDS
from transforms.synthetic.population import population

EVERYWHERE = {
    "missing_required": R.MISSING_REQUIRED,
    "bad_amount": R.BAD_AMOUNT,
    "unknown_user": R.UNKNOWN_USER,
    "bad_timestamp": R.BAD_TIMESTAMP,
    "out_of_window": R.OUT_OF_WINDOW,
    "bad_currency": R.BAD_CURRENCY,
    "malformed_line": R.MALFORMED_LINE,
}
# (source) -> dirt kind -> the reason its rows get; None: the format cannot carry that dirt, rows stay valid.
CATALOGUE = {
    "taobao_orders": EVERYWHERE,
    "tmall_orders": EVERYWHERE,
    "taopiaopiao_tickets": EVERYWHERE,
    "service_events": EVERYWHERE,
    # Parquet has no malformed lines, and a typed timestamp cannot be unparsable: it comes as 1970.
    "fliggy_bookings": {**EVERYWHERE, "malformed_line": None, "bad_timestamp": R.OUT_OF_WINDOW},
    "accounts": {
        k: EVERYWHERE[k] if k in ("missing_required", "bad_timestamp", "malformed_line") else None for k in DIRT_KINDS
    },
    # Interactions carry no amount or currency: bad_amount spoils a review's rating (others stay valid).
    "interactions": {**EVERYWHERE, "bad_amount": R.BAD_VALUE, "bad_currency": None},
    "risk_flags": {**EVERYWHERE, "bad_amount": None, "bad_currency": None},
    "apass_reviews": {**EVERYWHERE, "bad_amount": None, "bad_currency": None},
    # Ele.me sends no currency (always CNY).
    "eleme_orders": {**EVERYWHERE, "bad_currency": None},
}
MONTHS = ["2025-01", "2025-02"]


@pytest.fixture(scope="module")
def clean_world(spark):
    """A 400-member world of two months: its events before any landing file is written (each test adds dirt)."""
    config = load_config(sets=["generator.users=400"])
    gen = config.generator
    months = events.calendar(MONTHS)
    users = population(
        spark.range(1, gen.users + 1, numPartitions=2),
        seed=gen.seed,
        segments=gen.segments,
        world_end=date(2025, 2, 28),
    ).cache()
    user_months = events.user_months(users, seed=gen.seed, months=months, seasonality=gen.seasonality).cache()
    marketplace = events.orders(
        user_months,
        seed=gen.seed,
        segments=gen.segments,
        sellers=gen.sellers,
        fx_to_cny=config.conform.fx_to_cny,
        n_months=2,
    )
    orders = marketplace.unionByName(
        events.food_delivery_orders(user_months, seed=gen.seed, conf=gen.food_delivery)
    ).cache()
    end = months[-1].start_epoch + months[-1].days * 86400
    inputs = {
        "accounts": events.accounts(users, seed=gen.seed, months=months),
        "marketplace_orders": marketplace,
        "orders": orders,
        "interactions": events.interactions(user_months, seed=gen.seed, segments=gen.segments, sellers=gen.sellers),
        "service_events": events.service_events(orders, seed=gen.seed, world_end_epoch=end),
        "risk_flags": events.risk_flags(
            orders, seed=gen.seed, flag_rate=1.0, false_positive_rate=0.05, world_end_epoch=end
        ),
        # everyone invited, so a 400-member world has reviews to spoil
        "apass_reviews": apass_reviews(
            users,
            seed=gen.seed,
            months=months,
            history=dataclasses.replace(
                gen.apass_history, invite_rate=dict.fromkeys(gen.apass_history.invite_rate, 1.0)
            ),
            accounts=gen.users,
        ),
    }
    # Every account is known from the first batch, so only injected unknown users are unknown.
    known = users.select("user_id", F.lit(MONTHS[0]).alias("ingest_month"))
    yield config, months, inputs, known
    for df in (orders, user_months, users):
        df.unpersist()


def _landing(source, inputs, *, seed, months, dirt, fx):
    common = dict(seed=seed, months=months, dirt=dirt)
    late = dict(late_rate=0.0)
    build = {
        "accounts": lambda: landing.accounts_landing(inputs["accounts"], **common),
        "taobao_orders": lambda: landing.taobao_landing(inputs["orders"], **common, **late),
        "tmall_orders": lambda: landing.tmall_landing(inputs["orders"], **common, **late, fx_to_cny=fx),
        "fliggy_bookings": lambda: landing.fliggy_landing(inputs["orders"], **common, **late, fx_to_cny=fx),
        "taopiaopiao_tickets": lambda: landing.taopiaopiao_landing(inputs["orders"], **common, **late),
        "eleme_orders": lambda: landing.eleme_landing(inputs["orders"], **common, **late),
        "interactions": lambda: landing.interactions_landing(inputs["interactions"], **common, **late),
        "service_events": lambda: landing.service_landing(inputs["service_events"], **common, **late),
        "risk_flags": lambda: landing.risk_landing(inputs["risk_flags"], **common, **late),
        "apass_reviews": lambda: landing.apass_reviews_landing(inputs["apass_reviews"], **common, **late),
    }
    return build[source]()


@pytest.mark.parametrize("source", sorted(CATALOGUE))
def test_each_dirt_kind_reaches_quarantine_with_its_reason(spark, clean_world, tmp_path, source):
    config, months, inputs, known = clean_world
    spec = load_source(source, config.sources[source].conformer)
    no_dirt = dataclasses.replace(
        config.generator.dirt, **dict.fromkeys(dataclasses.asdict(config.generator.dirt), 0.0)
    )
    batches = []
    for kind in DIRT_KINDS:  # one world per kind, with that kind on every row that can carry it
        dirt = dataclasses.replace(no_dirt, **{f"{kind}_rate": 1.0})
        rows = _landing(
            source, inputs, seed=config.generator.seed, months=months, dirt=dirt, fx=config.conform.fx_to_cny
        )
        batches.append(rows.drop("sort_key", "dirt").select("*", F.lit(kind).alias("dirt_kind")))
    rows = batches[0]
    for more in batches[1:]:
        rows = rows.unionByName(more)
    out = str(tmp_path / source)
    writer = rows.write.partitionBy("dirt_kind", "ingest_month")
    if source == "fliggy_bookings":
        writer.parquet(out)
    elif source in landing.HEADERS:
        rows.select("dirt_kind", "ingest_month", F.col("value").alias(landing.HEADERS[source])).write.partitionBy(
            "dirt_kind", "ingest_month"
        ).option("header", True).option("sep", "\u0001").option("quote", "\u0002").option("escapeQuotes", False).csv(
            out
        )
    else:
        writer.text(out)

    bronze = read_landed(spark, spec, [out], "load-test")
    conformed = spec.conform(
        bronze,
        params=conform_params(config),
    )
    if spec.event_time_checked:
        conformed = with_window_check(conformed, late_tolerance_months=config.conform.late_tolerance_months)
    if spec.user_checked:
        conformed = with_user_check(conformed, known)
    got = {
        (r["kind"], r["reason"]): r["n"]
        for r in conformed.select(
            F.regexp_extract("_source_file", "dirt_kind=([a-z_]+)", 1).alias("kind"),
            F.col(REJECT_REASON).alias("reason"),
        )
        .groupBy("kind", "reason")
        .agg(F.count("*").alias("n"))
        .collect()
    }

    assert bronze.count() == rows.count()  # nothing lost between landing and bronze
    for kind, reason in CATALOGUE[source].items():
        outcomes = {r for (k, r) in got if k == kind}
        if source == "interactions" and kind == "bad_amount":
            assert outcomes == {R.BAD_VALUE, None} and got[(kind, R.BAD_VALUE)] > 0  # reviews only
        else:
            assert outcomes == {reason}, f"{source} {kind}: {sorted(map(str, outcomes))}"


def test_food_delivery_changes_no_row_of_another_source(spark, clean_world):
    """Ele.me's orders are drawn on streams of their own: with them the world gains Ele.me's orders and the
    tickets and flags that follow them, and every other row is the same, byte for byte (dirt included)."""
    config, months, inputs, _ = clean_world
    gen = config.generator
    end = months[-1].start_epoch + months[-1].days * 86400
    without = inputs["marketplace_orders"]
    with_food = inputs["orders"]
    assert with_food.filter(F.col("platform") == "eleme").count() > 0
    common = dict(seed=gen.seed, months=months, dirt=gen.dirt, late_rate=gen.late_event_rate)
    fx = dict(fx_to_cny=config.conform.fx_to_cny)
    landings = {
        "taobao_orders": lambda o: landing.taobao_landing(o, **common),
        "tmall_orders": lambda o: landing.tmall_landing(o, **common, **fx),
        "fliggy_bookings": lambda o: landing.fliggy_landing(o, **common, **fx),
        "taopiaopiao_tickets": lambda o: landing.taopiaopiao_landing(o, **common),
        "service_events": lambda o: landing.service_landing(
            events.service_events(o, seed=gen.seed, world_end_epoch=end), **common
        ),
        "risk_flags": lambda o: landing.risk_landing(
            events.risk_flags(o, seed=gen.seed, flag_rate=0.45, false_positive_rate=0.05, world_end_epoch=end),
            **common,
        ),
    }
    for source, build in landings.items():
        before, after = build(without), build(with_food)
        # an after-sales ticket or a flag names its order: Ele.me's are ELM...
        value = F.to_json(F.struct(*[c for c in after.columns if c != "dirt"]))
        others = after.filter(~value.contains("ELM"))
        assert before.exceptAll(others).count() == 0 and others.exceptAll(before).count() == 0, source
        if source in ("service_events", "risk_flags"):
            assert after.count() > before.count(), source  # Ele.me's orders have tickets and flags of their own
    eleme = landing.eleme_landing(with_food, **common)
    assert eleme.count() >= with_food.filter(F.col("platform") == "eleme").count()  # with its replays
    assert landing.eleme_landing(without, **common).count() == 0


TAOBAO_ORDER = {
    "order_id": "TB1",
    "buyer_id": 1,
    "seller_id": 12177,
    "cat_id": 50000028,
    "quantity": 1,
    "total_fee": 26368,
    "currency": "CNY",
    "pay_time": 1736775359,
    "terminal": "mobile",
    "group_buy": False,
    "global_buy": False,
}


@pytest.mark.parametrize(
    "field, sent, reason",
    [
        ("total_fee", "263.68", R.BAD_AMOUNT),  # yuan as a decimal string instead of integer fen
        ("pay_time", "2025-01-13 21:35:59", R.BAD_TIMESTAMP),  # a local time string instead of epoch seconds
        ("quantity", 1.5, R.BAD_VALUE),  # a fraction where a count was contracted
    ],
)
def test_a_retyped_field_of_a_text_feed_is_quarantined_with_the_reason_of_its_value(
    spark, tmp_path, field, sent, reason
):
    """Text feeds are read as strings, so a type change is not drift that stops ingest: each
    row whose value no longer parses is quarantined with that value's reason; the rest stay valid."""
    import json

    config = load_config()
    spec = load_source("taobao_orders", config.sources["taobao_orders"].conformer)
    batch = tmp_path / "ingest_month=2025-01"
    batch.mkdir()
    retyped = {**TAOBAO_ORDER, "order_id": "TB2", field: sent}
    (batch / "taobao_orders-2025-01-00000.json").write_text(
        json.dumps(TAOBAO_ORDER) + "\n" + json.dumps(retyped) + "\n"
    )
    bronze = read_landed(spark, spec, [str(batch)], "load-test")
    conformed = spec.conform(
        bronze,
        params=conform_params(config),
    )
    got = {r["order_id"]: r[REJECT_REASON] for r in conformed.select("order_id", REJECT_REASON).collect()}
    assert got == {"TB1": None, "TB2": reason}
