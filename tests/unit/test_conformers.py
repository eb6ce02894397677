"""The conformers: exact values of valid rows, one reason per kind of dirt, never a lost row."""

from __future__ import annotations

import dataclasses
import importlib
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pyspark.sql import Row
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual, assertSchemaEqual

from jobs.runtime.config import load_config
from jobs.runtime.registry import configured_platforms, configured_sources
from transforms import catalog
from transforms.domain import platforms_of
from transforms.silver import (
    accounts,
    apass_reviews,
    eleme_orders,
    fliggy_bookings,
    interactions,
    reasons,
    risk_flags,
    service_events,
    taobao_orders,
    taopiaopiao_tickets,
    tmall_orders,
)
from transforms.silver.common import CANDIDATE_EXTRAS
from transforms.sources import BRONZE_METADATA, REJECT_REASON, ConformParams
from transforms.taxonomy import BY_CODE, TAOBAO_CAT_OFFSET

PARAMS = ConformParams(
    fx_to_cny={"CNY": 1.0, "USD": 7.1, "HKD": 0.91, "JPY": 0.047},
    max_order_amount_cny=50_000_000.0,
    platforms=configured_platforms(load_config()),
)
R = reasons
LAST_SECOND_OF_MARCH = 1743436799  # 2025-03-31 23:59:59 Asia/Shanghai = 15:59:59 UTC
# Times are compared as text in the session zone (Asia/Shanghai) with their offset, so the
# tests do not depend on the machine's zone.
SHOWN = "yyyy-MM-dd HH:mm:ss.SSSXXX"


def bronze(spark, raw_schema: T.StructType, rows: list[dict]):
    """A bronze batch: each dict gives source fields (absent = null) and may override metadata."""
    schema = T.StructType(raw_schema.fields + BRONZE_METADATA.fields)
    records = []
    for i, row in enumerate(rows):
        meta = {
            "_source_file": "landing/part-0",
            "_ingest_month": "2025-04",
            "_load_id": "load-1",
            "_ingested_at": datetime(2025, 4, 2, tzinfo=UTC),
            "_row_hash": f"h{i}",
            "_malformed": False,
            "_raw": None,
        }
        values = {**meta, **row}
        records.append(tuple(values.get(f.name) for f in schema.fields))
    return spark.createDataFrame(records, schema)


def malformed(line: str) -> dict:
    return {"_malformed": True, "_raw": line}


def conform_rows(spark, source_module, rows_in: list[dict]) -> list[Row]:
    """Conform a bronze batch of ``rows_in``, check what every conformer owes (the target's columns,
    one row out per row in) and collect the result once, times also as text (``<column>_shown``)."""
    df = bronze(spark, source_module.SOURCE.raw_schema, rows_in)
    got = source_module.SOURCE.conform(df, params=PARAMS)
    target = catalog.table(f"silver.{source_module.SOURCE.target}").schema
    assert got.columns == [f.name for f in target.fields] + list(CANDIDATE_EXTRAS)
    assertSchemaEqual(got.select(*[f.name for f in target.fields]).schema, target, ignoreNullable=True)
    times = [f.name for f in target.fields if f.dataType == T.TimestampType()]
    rows = got.select("*", *[F.date_format(c, SHOWN).alias(f"{c}_shown") for c in times]).collect()
    assert len(rows) == len(rows_in)
    return rows


def valid(rows: list[Row], *columns: str) -> list[Row]:
    """The valid rows, only ``columns``."""
    return [Row(**{c: r[c] for c in columns}) for r in rows if r[REJECT_REASON] is None]


def reasons_by(rows: list[Row], key: str) -> dict:
    return {r[key]: r[REJECT_REASON] for r in rows}


# --------------------------------------------------------------------------- registry


def test_every_configured_source_has_a_matching_spec():
    config = load_config()
    assert list(config.sources) == [
        "accounts",
        "taobao_orders",
        "tmall_orders",
        "fliggy_bookings",
        "taopiaopiao_tickets",
        "eleme_orders",
        "interactions",
        "service_events",
        "risk_flags",
        "apass_reviews",
    ]
    assert config.enabled_sources() == [s for s in config.sources if s != "eleme_orders"]  # Ele.me: off by default
    for name, conf in config.sources.items():
        spec = importlib.import_module(conf.conformer).SOURCE
        assert spec.name == name
        assert f"silver.{spec.target}" in catalog.CONFORMED
        assert set(spec.natural_key) <= set(catalog.table(f"silver.{spec.target}").schema.fieldNames())
        assert spec.event_time_checked == spec.user_checked == (name != "accounts")
        assert (spec.format, spec.file_suffix) in {
            ("json", ".json"),
            ("csv", ".csv"),
            ("csv", ".tsv"),
            ("parquet", ".parquet"),
        }
    assert taopiaopiao_tickets.SOURCE.reader_options == {"header": "true", "sep": "\t"}


def test_the_platforms_are_the_configured_order_sources():
    config = load_config()
    # Ele.me's source is configured (disabled): its platform is one of the ecosystem's, so what it sent while
    # enabled stays valid and scored
    assert configured_platforms(config) == ("taobao", "tmall", "fliggy", "taopiaopiao", "eleme")
    # a platform is a source that declares it; a second source of a platform adds nothing, sources without
    # a platform (accounts, interactions...) neither
    tmall_again = dataclasses.replace(tmall_orders.SOURCE, name="tmall_global_orders")
    specs = [s for s in configured_sources(config) if s.name != "eleme_orders"]
    assert platforms_of([*specs, tmall_again]) == ("taobao", "tmall", "fliggy", "taopiaopiao")
    assert platforms_of([*specs, tmall_again, eleme_orders.SOURCE])[-1] == "eleme"
    with pytest.raises(ValueError, match="not a lowercase identifier"):
        dataclasses.replace(tmall_orders.SOURCE, platform="Ele.me")


def test_a_platform_outside_the_configured_ones_is_not_valid(spark):
    rows = [interaction_row("I1"), interaction_row("I2", platform="fliggy")]
    only_two = dataclasses.replace(PARAMS, platforms=("taobao", "tmall"))
    judged = interactions.SOURCE.conform(bronze(spark, interactions.SOURCE.raw_schema, rows), params=only_two)
    assert reasons_by(judged.collect(), "event_id") == {"I1": None, "I2": R.BAD_VALUE}
    assert reasons_by(conform_rows(spark, interactions, rows), "event_id") == {"I1": None, "I2": None}


# --------------------------------------------------------------------------- orders

ORDER_COLUMNS = (
    "platform",
    "order_id",
    "user_id",
    "seller_id",
    "category",
    "category_group",
    "item_kind",
    "quantity",
    "amount_cny",
    "currency",
    "event_time_shown",
    "event_date",
    "event_month",
    "channel",
    "is_overseas",
    "is_group_buy",
    "company_invoice",
    "travel_class",
    "hotel_star",
    "risk_flagged",
    "risk_rule",
    "source",
    "ingest_month",
    "load_id",
)
_SOURCE_OF = {
    "taobao": "taobao_orders",
    "tmall": "tmall_orders",
    "fliggy": "fliggy_bookings",
    "taopiaopiao": "taopiaopiao_tickets",
    "eleme": "eleme_orders",
}


def order(
    platform: str,
    order_id: str,
    user_id: int,
    seller_id: str,
    category: str,
    category_group: str,
    item_kind: str,
    quantity: int,
    amount_cny: str,
    currency: str,
    shown: str,
    channel: str,
    *,
    is_overseas=False,
    is_group_buy=False,
    company_invoice=False,
    travel_class=None,
    hotel_star=None,
) -> Row:
    """An expected silver.orders row (ORDER_COLUMNS) of the test batch 2025-04 / load-1."""
    day = date.fromisoformat(shown[:10])
    return Row(
        platform=platform,
        order_id=order_id,
        user_id=user_id,
        seller_id=seller_id,
        category=category,
        category_group=category_group,
        item_kind=item_kind,
        quantity=quantity,
        amount_cny=Decimal(amount_cny),
        currency=currency,
        event_time_shown=shown,
        event_date=day,
        event_month=shown[:7],
        channel=channel,
        is_overseas=is_overseas,
        is_group_buy=is_group_buy,
        company_invoice=company_invoice,
        travel_class=travel_class,
        hotel_star=hotel_star,
        risk_flagged=False,
        risk_rule=None,
        source=_SOURCE_OF[platform],
        ingest_month="2025-04",
        load_id="load-1",
    )


def taobao_row(order_id: str, **changes) -> dict:
    row = {
        "order_id": order_id,
        "buyer_id": "1001",
        "seller_id": "77",
        "cat_id": str(BY_CODE["phones"].id + TAOBAO_CAT_OFFSET),
        "quantity": "2",
        "total_fee": "123456",
        "currency": "CNY",
        "pay_time": str(LAST_SECOND_OF_MARCH),
        "terminal": "mobile",
        "group_buy": "true",
        "global_buy": "false",
    }
    return {**row, **changes}


def test_taobao_orders(spark):
    rows = conform_rows(
        spark,
        taobao_orders,
        [
            taobao_row("T1"),
            taobao_row(
                "T2",
                total_fee="1234",
                currency="USD",
                pay_time=str(LAST_SECOND_OF_MARCH + 1),
                terminal="pc",
                group_buy="false",
                global_buy="true",
                cat_id=str(BY_CODE["luxury_bags"].id + TAOBAO_CAT_OFFSET),
            ),
            malformed('{"order_id": "T3", "buyer_id": "10'),
            taobao_row("T4", buyer_id=None),
            taobao_row("T5", seller_id="  "),
            taobao_row("T6", total_fee="-500"),
            taobao_row("T7", total_fee="600000000000"),  # 6 billion yuan
            taobao_row("T8", total_fee="12.3.4"),
            taobao_row("T9", currency="RMB"),
            taobao_row("T10", pay_time="2025-03-31 10:00:00"),
            taobao_row("T11", pay_time="99999999999999999"),  # would overflow timestamp_seconds
            taobao_row("T12", terminal="tablet"),
            taobao_row("T13", cat_id="123"),
            taobao_row("T14", quantity="0"),
            taobao_row("T15", group_buy="yes"),
            taobao_row("T16", buyer_id="u1001"),
            taobao_row("T17", currency="RMB", pay_time="yesterday", total_fee="-1"),  # the first reason wins
        ],
    )
    assertDataFrameEqual(
        valid(rows, *ORDER_COLUMNS),
        [
            order(
                "taobao",
                "T1",
                1001,
                "taobao:77",
                "phones",
                "everyday",
                "physical",
                2,
                "1234.56",
                "CNY",
                "2025-03-31 23:59:59.000+08:00",
                "mobile",
                is_group_buy=True,
            ),
            # 12.34 USD at 7.1; one second later is the next day and the next month in Shanghai
            order(
                "taobao",
                "T2",
                1001,
                "taobao:77",
                "luxury_bags",
                "luxury",
                "physical",
                2,
                "87.61",
                "USD",
                "2025-04-01 00:00:00.000+08:00",
                "pc",
                is_overseas=True,
            ),
        ],
    )
    assert reasons_by(rows, "_row_hash") == {
        "h0": None,
        "h1": None,
        "h2": R.MALFORMED_LINE,
        "h3": R.MISSING_REQUIRED,
        "h4": R.MISSING_REQUIRED,
        "h5": R.BAD_AMOUNT,
        "h6": R.BAD_AMOUNT,
        "h7": R.BAD_AMOUNT,
        "h8": R.BAD_CURRENCY,
        "h9": R.BAD_TIMESTAMP,
        "h10": R.BAD_TIMESTAMP,
        "h11": R.BAD_VALUE,
        "h12": R.BAD_VALUE,
        "h13": R.BAD_VALUE,
        "h14": R.BAD_VALUE,
        "h15": R.BAD_VALUE,
        "h16": R.BAD_TIMESTAMP,
    }
    payloads = {r["_row_hash"]: r["_raw_payload"] for r in rows}
    assert payloads["h2"] == '{"order_id": "T3", "buyer_id": "10'
    assert json.loads(payloads["h3"]) == {**taobao_row("T4"), "buyer_id": None}
    assert {r["_source_file"] for r in rows} == {"landing/part-0"}


def tmall_row(trade_no: str, **changes) -> dict:
    row = {
        "TradeNo": trade_no,
        "MemberId": "2002",
        "ShopId": "S5",
        "CategoryCode": "LUXURY_BAGS",
        "Qty": "1",
        "PayAmount": "1234.50",
        "Currency": "CNY",
        "PaidAt": "2025-03-31T23:59:59+08:00",
        "Channel": "APP",
        "CrossBorder": "N",
        "InvoiceType": "COMPANY",
        "Juhuasuan": "N",
    }
    return {**row, **changes}


def test_tmall_orders(spark):
    rows = conform_rows(
        spark,
        tmall_orders,
        [
            tmall_row("M1"),
            tmall_row(
                "M2",
                PayAmount="100.00",
                Currency="HKD",
                PaidAt="2025-03-31T16:00:00Z",
                Channel="PC",
                CrossBorder="Y",
                InvoiceType="PERSONAL",
                CategoryCode="OFFICE_SUPPLIES",
                Qty="3",
                Juhuasuan="Y",
            ),
            malformed("M3,2002,S5,LUXURY_BAGS"),
            tmall_row("M4", MemberId=""),
            tmall_row("M5", PayAmount="-1.00"),
            tmall_row("M6", PayAmount="50000000.01"),
            tmall_row("M7", PayAmount="12,50"),
            tmall_row("M8", Currency="RMB"),
            tmall_row("M9", PaidAt="2025-03-31 23:59:59"),  # no offset: not the agreed ISO 8601 form
            tmall_row("M10", CategoryCode="FLYING_CARS"),
            tmall_row("M11", Channel="WAP"),
            tmall_row("M12", Qty="1.5"),
            tmall_row("M13", CrossBorder="maybe"),
            tmall_row("M14", InvoiceType="VAT"),
            tmall_row("M15", Juhuasuan="yes"),
        ],
    )
    assertDataFrameEqual(
        valid(rows, *ORDER_COLUMNS),
        [
            # 23:59:59 on the last day of March at +08:00 stays in March
            order(
                "tmall",
                "M1",
                2002,
                "tmall:S5",
                "luxury_bags",
                "luxury",
                "physical",
                1,
                "1234.50",
                "CNY",
                "2025-03-31 23:59:59.000+08:00",
                "mobile",
                company_invoice=True,
            ),
            # 100 HKD at 0.91; 16:00Z is midnight in Shanghai
            order(
                "tmall",
                "M2",
                2002,
                "tmall:S5",
                "office_supplies",
                "office",
                "physical",
                3,
                "91.00",
                "HKD",
                "2025-04-01 00:00:00.000+08:00",
                "pc",
                is_overseas=True,
                is_group_buy=True,
            ),
        ],
    )
    assert reasons_by(rows, "_row_hash") == {
        "h0": None,
        "h1": None,
        "h2": R.MALFORMED_LINE,
        "h3": R.MISSING_REQUIRED,
        "h4": R.BAD_AMOUNT,
        "h5": R.BAD_AMOUNT,
        "h6": R.BAD_AMOUNT,
        "h7": R.BAD_CURRENCY,
        "h8": R.BAD_TIMESTAMP,
        "h9": R.BAD_VALUE,
        "h10": R.BAD_VALUE,
        "h11": R.BAD_VALUE,
        "h12": R.BAD_VALUE,
        "h13": R.BAD_VALUE,
        "h14": R.BAD_VALUE,
    }
    assert {r["_row_hash"]: r["_raw_payload"] for r in rows}["h2"] == "M3,2002,S5,LUXURY_BAGS"


def fliggy_row(
    booking_id: str,
    *,
    member_id=3003,
    count=None,
    type_="FLIGHT",
    cabin="BUSINESS",
    star=None,
    country="JP",
    amount=500.0,
    currency="USD",
    booked_at=None,
    channel="app",
) -> dict:
    return {
        "booking_id": booking_id,
        "traveller": {"member_id": member_id, "traveller_count": count},
        "product": {
            "type": type_,
            "cabin_class": cabin,
            "hotel_star": star,
            "destination": {"city": "Tokyo" if country == "JP" else "Hangzhou", "country": country},
        },
        "price": {"amount": amount, "currency": currency},
        "supplier_id": "SUP9",
        "booked_at": booked_at or datetime(2025, 3, 31, 15, 59, 59, tzinfo=UTC),
        "channel": channel,
    }


def test_fliggy_bookings(spark):
    rows = conform_rows(
        spark,
        fliggy_bookings,
        [
            fliggy_row("F1"),
            fliggy_row(
                "F2",
                count=2,
                type_="HOTEL",
                cabin=None,
                star=5,
                country="CN",
                amount=800.5,
                currency="CNY",
                booked_at=datetime(2025, 3, 31, 16, 0, 0, tzinfo=UTC),
                channel="web",
            ),
            fliggy_row("F3", member_id=None),
            fliggy_row("F4", amount=-10.0),
            fliggy_row("F5", amount=float("nan")),
            fliggy_row("F6", currency="RMB"),
            fliggy_row("F7", type_="CRUISE"),
            fliggy_row("F8", cabin="PREMIUM"),
            fliggy_row("F9", type_="HOTEL", cabin=None, star=7),
            fliggy_row("F10", count=0),
            fliggy_row("F11", channel="kiosk"),
            fliggy_row("F12", country=None),
        ],
    )
    assertDataFrameEqual(
        valid(rows, *ORDER_COLUMNS),
        [
            # 500 USD at 7.1; no traveller count means one traveller
            order(
                "fliggy",
                "F1",
                3003,
                "fliggy:SUP9",
                "travel_flight",
                "travel",
                "virtual",
                1,
                "3550.00",
                "USD",
                "2025-03-31 23:59:59.000+08:00",
                "mobile",
                is_overseas=True,
                travel_class="business",
            ),
            order(
                "fliggy",
                "F2",
                3003,
                "fliggy:SUP9",
                "travel_hotel",
                "travel",
                "virtual",
                2,
                "800.50",
                "CNY",
                "2025-04-01 00:00:00.000+08:00",
                "pc",
                hotel_star=5,
            ),
        ],
    )
    assert reasons_by(rows, "order_id") == {
        "F1": None,
        "F2": None,
        "F3": R.MISSING_REQUIRED,
        "F4": R.BAD_AMOUNT,
        "F5": R.BAD_AMOUNT,
        "F6": R.BAD_CURRENCY,
        "F7": R.BAD_VALUE,
        "F8": R.BAD_VALUE,
        "F9": R.BAD_VALUE,
        "F10": R.BAD_VALUE,
        "F11": R.BAD_VALUE,
        "F12": R.MISSING_REQUIRED,
    }
    payload = json.loads({r["order_id"]: r["_raw_payload"] for r in rows}["F3"])
    assert payload["traveller"] == {"member_id": None, "traveller_count": None}
    assert payload["product"]["destination"] == {"city": "Tokyo", "country": "JP"}


def ticket_row(ticket_no: str, **changes) -> dict:
    row = {
        "ticket_no": ticket_no,
        "user": "4004",
        "venue_id": "V1",
        "show_type": "CINEMA",
        "seats": "2",
        "price_yuan": "45.00",
        "currency": "CNY",
        "purchase_local": "2025/03/31 23:59",
        "show_local": "2025/04/01 19:30",
        "client": "app",
    }
    return {**row, **changes}


def test_taopiaopiao_tickets(spark):
    rows = conform_rows(
        spark,
        taopiaopiao_tickets,
        [
            ticket_row("P1"),
            ticket_row(
                "P2",
                show_type="CONCERT",
                seats="1",
                price_yuan="680",
                purchase_local="2025/04/01 00:00",
                show_local=None,
                client="pc",
            ),
            malformed("P3\t4004\tV1"),
            ticket_row("P4", user=None),
            ticket_row("P5", price_yuan="0"),
            ticket_row("P6", currency="RMB"),
            ticket_row("P7", purchase_local="2025-03-31 23:59"),
            ticket_row("P8", show_type="CIRCUS"),
            ticket_row("P9", seats="-1"),
        ],
    )
    assertDataFrameEqual(
        valid(rows, *ORDER_COLUMNS),
        [
            order(
                "taopiaopiao",
                "P1",
                4004,
                "taopiaopiao:V1",
                "cinema",
                "tickets",
                "virtual",
                2,
                "45.00",
                "CNY",
                "2025-03-31 23:59:00.000+08:00",
                "mobile",
            ),
            order(
                "taopiaopiao",
                "P2",
                4004,
                "taopiaopiao:V1",
                "shows",
                "tickets",
                "virtual",
                1,
                "680.00",
                "CNY",
                "2025-04-01 00:00:00.000+08:00",
                "pc",
            ),
        ],
    )
    assert reasons_by(rows, "_row_hash") == {
        "h0": None,
        "h1": None,
        "h2": R.MALFORMED_LINE,
        "h3": R.MISSING_REQUIRED,
        "h4": R.BAD_AMOUNT,
        "h5": R.BAD_CURRENCY,
        "h6": R.BAD_TIMESTAMP,
        "h7": R.BAD_VALUE,
        "h8": R.BAD_VALUE,
    }


def eleme_row(order_id: str, **changes) -> dict:
    row = {
        "orderId": order_id,
        "userId": "5005",
        "shopId": "R88",
        "bizType": "RESTAURANT",
        "itemCount": "3",
        "totalPrice": "42.5",
        "createdAt": "2025-03-31 23:59:59",
        "orderFrom": "ALIPAY",
    }
    return {**row, **changes}


def test_eleme_orders(spark):
    """Food delivery: its own kind of goods, CNY without a currency field, Shanghai wall-clock times."""
    rows = conform_rows(
        spark,
        eleme_orders,
        [
            eleme_row("E1"),
            eleme_row(
                "E2",
                bizType="PHARMACY",
                itemCount="1",
                totalPrice="18",
                orderFrom="WEB",
                createdAt="2025-04-01 00:00:00",
            ),
            malformed('{"orderId":"E3","userId":"50'),
            eleme_row("E4", shopId=" "),
            eleme_row("E5", totalPrice="-42.5"),
            eleme_row("E6", createdAt="2025-02-30 12:00:00"),
            eleme_row("E7", bizType="LAUNDRY"),
            eleme_row("E8", orderFrom="PHONE"),
            eleme_row("E9", itemCount="0"),
        ],
    )
    assertDataFrameEqual(
        valid(rows, *ORDER_COLUMNS),
        [
            order(
                "eleme",
                "E1",
                5005,
                "eleme:R88",
                "meal_delivery",
                "food_delivery",
                "food_delivery",
                3,
                "42.50",
                "CNY",
                "2025-03-31 23:59:59.000+08:00",
                "mobile",
            ),
            order(
                "eleme",
                "E2",
                5005,
                "eleme:R88",
                "pharmacy_delivery",
                "food_delivery",
                "food_delivery",
                1,
                "18.00",
                "CNY",
                "2025-04-01 00:00:00.000+08:00",
                "pc",
            ),
        ],
    )
    assert reasons_by(rows, "_row_hash") == {
        "h0": None,
        "h1": None,
        "h2": R.MALFORMED_LINE,
        "h3": R.MISSING_REQUIRED,
        "h4": R.BAD_AMOUNT,
        "h5": R.BAD_TIMESTAMP,
        "h6": R.BAD_VALUE,
        "h7": R.BAD_VALUE,
        "h8": R.BAD_VALUE,
    }


# --------------------------------------------------------------------------- other sources


def account_row(uid: str, **changes) -> dict:
    row = {
        "uid": uid,
        "reg_date": "2019-05-20",
        "gender": "F",
        "birth_year": "1993",
        "city_tier": "1",
        "id_verified": "true",
        "mobile_share": "0.85",
        "updated_at": "2025-03-31 23:59:59",
    }
    return {**row, **changes}


def test_accounts(spark):
    rows = conform_rows(
        spark,
        accounts,
        [
            account_row("1"),
            account_row("2", gender="U", birth_year=None, city_tier=None, id_verified=None, mobile_share=None),
            malformed('{"uid": "3", "reg_'),
            account_row("4", gender=""),
            account_row("5", reg_date="2019-02-30"),
            account_row("6", updated_at="2025-03-31T23:59:59"),
            account_row("7", gender="X"),
            account_row("8", city_tier="9"),
            account_row("9", mobile_share="1.5"),
            account_row("10", mobile_share="NaN"),
            account_row("11", birth_year="19x3"),
            account_row("12", birth_year="2030"),  # born after the record was written
            account_row("13", id_verified="yes"),
            account_row("u14"),
        ],
    )
    columns = (
        "user_id",
        "registered_date",
        "gender",
        "birth_year",
        "city_tier",
        "identity_verified",
        "mobile_share",
        "updated_at_shown",
        "source",
        "ingest_month",
        "load_id",
    )
    assertDataFrameEqual(
        valid(rows, *columns),
        [
            Row(
                user_id=1,
                registered_date=date(2019, 5, 20),
                gender="F",
                birth_year=1993,
                city_tier=1,
                identity_verified=True,
                mobile_share=0.85,
                updated_at_shown="2025-03-31 23:59:59.000+08:00",
                source="accounts",
                ingest_month="2025-04",
                load_id="load-1",
            ),
            Row(
                user_id=2,
                registered_date=date(2019, 5, 20),
                gender="U",
                birth_year=None,
                city_tier=None,
                identity_verified=False,
                mobile_share=None,
                updated_at_shown="2025-03-31 23:59:59.000+08:00",
                source="accounts",
                ingest_month="2025-04",
                load_id="load-1",
            ),
        ],
    )
    assert reasons_by(rows, "_row_hash") == {
        "h0": None,
        "h1": None,
        "h2": R.MALFORMED_LINE,
        "h3": R.MISSING_REQUIRED,
        "h4": R.BAD_TIMESTAMP,
        "h5": R.BAD_TIMESTAMP,
        "h6": R.BAD_VALUE,
        "h7": R.BAD_VALUE,
        "h8": R.BAD_VALUE,
        "h9": R.BAD_VALUE,
        "h10": R.BAD_VALUE,
        "h11": R.BAD_VALUE,
        "h12": R.BAD_VALUE,
        "h13": R.BAD_VALUE,
    }


def interaction_row(event_id: str, **changes) -> dict:
    row = {
        "event_id": event_id,
        "user_id": "5005",
        "platform": "taobao",
        "kind": "review",
        "ts": str(LAST_SECOND_OF_MARCH * 1000 + 999),
        "rating": "5",
        "target_id": "88",
        "duration_s": None,
    }
    return {**row, **changes}


def test_interactions(spark):
    rows = conform_rows(
        spark,
        interactions,
        [
            interaction_row("I1"),
            interaction_row(
                "I2",
                platform="tmall",
                kind="live",
                ts=str(LAST_SECOND_OF_MARCH * 1000 + 1000),
                rating=None,
                target_id=None,
                duration_s="300",
            ),
            interaction_row("I3", kind="seller_chat", rating=None, target_id="5"),
            interaction_row("I4", rating="2"),
            malformed('{"event_id": "I5"'),
            interaction_row("I6", rating=None),  # a review without its rating
            interaction_row("I7", kind="seller_chat", rating=None, target_id=""),  # a chat with nobody
            interaction_row("I8", ts="2025-03-31"),
            interaction_row("I9", rating="6"),
            interaction_row("I10", kind="share"),
            interaction_row("I11", platform="jd"),
            interaction_row("I12", kind="live", rating=None, duration_s="-5"),
        ],
    )
    columns = (
        "platform",
        "event_id",
        "user_id",
        "kind",
        "target_id",
        "rating",
        "is_positive",
        "duration_s",
        "event_time_shown",
        "event_month",
        "source",
    )
    last_ms = "2025-03-31 23:59:59.999+08:00"
    assertDataFrameEqual(
        valid(rows, *columns),
        [
            Row(
                platform="taobao",
                event_id="I1",
                user_id=5005,
                kind="review",
                target_id="taobao:88",
                rating=5,
                is_positive=True,
                duration_s=None,
                event_time_shown=last_ms,
                event_month="2025-03",
                source="interactions",
            ),
            Row(
                platform="tmall",
                event_id="I2",
                user_id=5005,
                kind="live",
                target_id=None,
                rating=None,
                is_positive=None,
                duration_s=300,
                event_time_shown="2025-04-01 00:00:00.000+08:00",
                event_month="2025-04",
                source="interactions",
            ),
            Row(
                platform="taobao",
                event_id="I3",
                user_id=5005,
                kind="seller_chat",
                target_id="taobao:5",
                rating=None,
                is_positive=None,
                duration_s=None,
                event_time_shown=last_ms,
                event_month="2025-03",
                source="interactions",
            ),
            Row(
                platform="taobao",
                event_id="I4",
                user_id=5005,
                kind="review",
                target_id="taobao:88",
                rating=2,
                is_positive=False,
                duration_s=None,
                event_time_shown=last_ms,
                event_month="2025-03",
                source="interactions",
            ),
        ],
    )
    assert reasons_by(rows, "_row_hash") == {
        "h0": None,
        "h1": None,
        "h2": None,
        "h3": None,
        "h4": R.MALFORMED_LINE,
        "h5": R.MISSING_REQUIRED,
        "h6": R.MISSING_REQUIRED,
        "h7": R.BAD_TIMESTAMP,
        "h8": R.BAD_VALUE,
        "h9": R.BAD_VALUE,
        "h10": R.BAD_VALUE,
        "h11": R.BAD_VALUE,
    }


def service_row(ticket_id: str, **changes) -> dict:
    row = {
        "ticket_id": ticket_id,
        "order_ref": "T1",
        "platform": "taobao",
        "user_id": "1001",
        "type": "REFUND",
        "amount": "99.90",
        "currency": "CNY",
        "created_at": "2025-03-31 23:59:59",
        "status": "COMPLETED",
    }
    return {**row, **changes}


def test_service_events(spark):
    rows = conform_rows(
        spark,
        service_events,
        [
            service_row("S1"),
            service_row("S2", type="DISPUTE", amount="0.00", status="OPEN", created_at="2025-04-01 00:00:00"),
            service_row("S3", platform="tmall", type="RETURN", amount="10.00", currency="USD"),
            service_row("S4", amount="0.00"),  # a refund of nothing
            service_row("S5", type="RETURN", amount="-5.00"),
            service_row("S6", amount="99999999999.00"),
            service_row("S7", currency="RMB"),
            service_row("S8", type="CHARGEBACK"),
            service_row("S9", created_at="2025/03/31 23:59:59"),
            service_row("S10", status=None),
            malformed("S11,T1,taobao"),
        ],
    )
    columns = (
        "platform",
        "ticket_id",
        "order_id",
        "user_id",
        "kind",
        "amount_cny",
        "status",
        "event_time_shown",
        "event_date",
        "event_month",
        "source",
    )
    assertDataFrameEqual(
        valid(rows, *columns),
        [
            Row(
                platform="taobao",
                ticket_id="S1",
                order_id="T1",
                user_id=1001,
                kind="refund",
                amount_cny=Decimal("99.90"),
                status="COMPLETED",
                event_time_shown="2025-03-31 23:59:59.000+08:00",
                event_date=date(2025, 3, 31),
                event_month="2025-03",
                source="service_events",
            ),
            Row(
                platform="taobao",
                ticket_id="S2",
                order_id="T1",
                user_id=1001,
                kind="dispute",
                amount_cny=Decimal("0.00"),
                status="OPEN",
                event_time_shown="2025-04-01 00:00:00.000+08:00",
                event_date=date(2025, 4, 1),
                event_month="2025-04",
                source="service_events",
            ),
            Row(
                platform="tmall",
                ticket_id="S3",
                order_id="T1",
                user_id=1001,
                kind="return",
                amount_cny=Decimal("71.00"),
                status="COMPLETED",
                event_time_shown="2025-03-31 23:59:59.000+08:00",
                event_date=date(2025, 3, 31),
                event_month="2025-03",
                source="service_events",
            ),
        ],
    )
    assert reasons_by(rows, "_row_hash") == {
        "h0": None,
        "h1": None,
        "h2": None,
        "h3": R.BAD_AMOUNT,
        "h4": R.BAD_AMOUNT,
        "h5": R.BAD_AMOUNT,
        "h6": R.BAD_CURRENCY,
        "h7": R.BAD_VALUE,
        "h8": R.BAD_TIMESTAMP,
        "h9": R.MISSING_REQUIRED,
        "h10": R.MALFORMED_LINE,
    }


def flag_row(flag_id: str, **changes) -> dict:
    row = {
        "flag_id": flag_id,
        "order_ref": "T1",
        "platform": "taobao",
        "user_id": "1001",
        "rule": "BRUSH_RING",
        "risk_score": "0.873",
        "flagged_at": "2025-03-31T23:59:59+08:00",
    }
    return {**row, **changes}


def test_risk_flags(spark):
    rows = conform_rows(
        spark,
        risk_flags,
        [
            flag_row("R1"),
            flag_row("R2", risk_score=None, flagged_at="2025-03-31T16:00:00Z"),
            flag_row("R3", rule=" "),
            flag_row("R4", flagged_at="31/03/2025 23:59"),
            flag_row("R5", risk_score="high"),
            flag_row("R6", platform="jd"),
            malformed('{"flag_id": "R7",'),
        ],
    )
    columns = (
        "platform",
        "flag_id",
        "order_id",
        "user_id",
        "rule",
        "risk_score",
        "event_time_shown",
        "event_month",
        "source",
    )
    assertDataFrameEqual(
        valid(rows, *columns),
        [
            Row(
                platform="taobao",
                flag_id="R1",
                order_id="T1",
                user_id=1001,
                rule="BRUSH_RING",
                risk_score=0.873,
                event_time_shown="2025-03-31 23:59:59.000+08:00",
                event_month="2025-03",
                source="risk_flags",
            ),
            Row(
                platform="taobao",
                flag_id="R2",
                order_id="T1",
                user_id=1001,
                rule="BRUSH_RING",
                risk_score=None,
                event_time_shown="2025-04-01 00:00:00.000+08:00",
                event_month="2025-04",
                source="risk_flags",
            ),
        ],
    )
    assert reasons_by(rows, "_row_hash") == {
        "h0": None,
        "h1": None,
        "h2": R.MISSING_REQUIRED,
        "h3": R.BAD_TIMESTAMP,
        "h4": R.BAD_VALUE,
        "h5": R.BAD_VALUE,
        "h6": R.MALFORMED_LINE,
    }


def review_row(review_id: str, **changes) -> dict:
    row = {
        "review_id": review_id,
        "member_id": "1001",
        "kind": "ASSESSMENT",
        "invited_month": "2024-03",
        "reviewed_at": "2025-03-31T23:59:59+08:00",
        "outcome": "REMOVED",
        "reason": "resale",
    }
    return {**row, **changes}


def test_apass_reviews(spark):
    rows = conform_rows(
        spark,
        apass_reviews,
        [
            review_row("A1"),
            review_row("A2", outcome="KEPT", reason="resale", reviewed_at="2025-03-31T16:00:00Z"),  # kept: no reason
            review_row("A3", outcome=" "),
            review_row("A4", reviewed_at="last week"),
            review_row("A5", outcome="PROMOTED"),
            review_row("A6", reason=None),  # a removal must say why
            review_row("A7", reason="rude"),
            review_row("A8", invited_month="2024-13"),
            malformed('{"review_id": "A9",'),
            review_row("A10", kind="MEMBERSHIP", outcome="KEPT", reason=None),
            review_row("A11", kind="TRIAL"),
        ],
    )
    columns = ("review_id", "user_id", "kind", "invited_month", "outcome", "reason", "event_time_shown", "event_month")
    assertDataFrameEqual(
        valid(rows, *columns),
        [
            Row(
                review_id="A1",
                user_id=1001,
                kind="assessment",
                invited_month="2024-03",
                outcome="removed",
                reason="resale",
                event_time_shown="2025-03-31 23:59:59.000+08:00",
                event_month="2025-03",
            ),
            Row(
                review_id="A2",
                user_id=1001,
                kind="assessment",
                invited_month="2024-03",
                outcome="kept",
                reason=None,
                event_time_shown="2025-04-01 00:00:00.000+08:00",
                event_month="2025-04",
            ),
            Row(
                review_id="A10",
                user_id=1001,
                kind="membership",
                invited_month="2024-03",
                outcome="kept",
                reason=None,
                event_time_shown="2025-03-31 23:59:59.000+08:00",
                event_month="2025-03",
            ),
        ],
    )
    assert reasons_by(rows, "_row_hash") == {
        "h0": None,
        "h1": None,
        "h2": R.MISSING_REQUIRED,
        "h3": R.BAD_TIMESTAMP,
        "h4": R.BAD_VALUE,
        "h5": R.BAD_VALUE,
        "h6": R.BAD_VALUE,
        "h7": R.BAD_VALUE,
        "h8": R.MALFORMED_LINE,
        "h9": None,
        "h10": R.BAD_VALUE,
    }


def test_empty_batch_gives_no_candidates(spark):
    assert conform_rows(spark, taobao_orders, []) == []
