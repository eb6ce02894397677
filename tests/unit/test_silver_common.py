"""Shared conformer helpers: reasons, parsing that never raises, FX, window and user checks, dedup."""

from __future__ import annotations

from datetime import UTC, date
from decimal import Decimal

from pyspark.sql import Row
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from transforms.months import add_months
from transforms.silver import common, reasons
from transforms.sources import REJECT_REASON

FX = {"CNY": 1.0, "USD": 7.1, "JPY": 0.047, "KRW": 0.0052}


def test_reasons_have_descriptions_and_a_precedence():
    assert set(reasons.DESCRIPTIONS) == set(reasons.PRECEDENCE)
    assert reasons.PRECEDENCE[:3] == (reasons.MALFORMED_LINE, reasons.MISSING_REQUIRED, reasons.BAD_TIMESTAMP)
    assert all(getattr(reasons, code) == code for code in reasons.PRECEDENCE)


def test_first_reason_takes_the_first_true_check_and_treats_null_as_false(spark):
    df = spark.createDataFrame(
        [(1, True, True), (2, False, True), (3, None, True), (4, False, False), (5, None, None)],
        "id int, a boolean, b boolean",
    )
    got = df.select("id", common.first_reason((F.col("a"), "A"), (F.col("b"), "B")).alias("reason"))
    assertDataFrameEqual(
        got,
        [
            Row(id=1, reason="A"),
            Row(id=2, reason="B"),
            Row(id=3, reason="B"),
            Row(id=4, reason=None),
            Row(id=5, reason=None),
        ],
    )


def test_parsing_never_raises_and_converts_exactly(spark):
    # ANSI mode is on: each of these values would fail a plain cast and abort the batch.
    df = spark.createDataFrame(
        [
            ("a", "12.345", "CNY", "1700000000", "1700000000123"),
            ("b", "1", "KRW", "99999999999999999", "-99999999999999999999"),
            ("c", "100", "JPY", "12.5", "soon"),
            ("d", "12.34", "USD", "", None),
            ("e", "1e30", "USD", "0", "0"),
            ("f", "abc", "RMB", "-1", "1"),
        ],
        "id string, amount string, currency string, secs string, millis string",
    )
    got = df.select(
        "id",
        common.to_cny(common.parse_amount("amount"), "currency", FX).alias("cny"),
        F.date_format(common.epoch_seconds("secs"), "yyyy-MM-dd HH:mm:ss").alias("secs"),
        F.date_format(common.epoch_millis("millis"), "yyyy-MM-dd HH:mm:ss.SSS").alias("millis"),
    )
    assertDataFrameEqual(
        got,
        [
            Row(id="a", cny=Decimal("12.35"), secs="2023-11-15 06:13:20", millis="2023-11-15 06:13:20.123"),
            Row(id="b", cny=Decimal("0.01"), secs=None, millis=None),  # 0.0052 rounds half up
            Row(id="c", cny=Decimal("4.70"), secs=None, millis=None),
            Row(id="d", cny=Decimal("87.61"), secs=None, millis=None),  # 87.614
            Row(id="e", cny=None, secs="1970-01-01 08:00:00", millis="1970-01-01 08:00:00.000"),
            Row(id="f", cny=None, secs="1970-01-01 07:59:59", millis="1970-01-01 08:00:00.001"),
        ],
    )


def test_fen_amounts_are_exact_and_must_be_integers(spark):
    df = spark.createDataFrame([("123456",), ("1",), ("12.5",), ("x",)], "fen string")
    got = df.select("fen", common.amount_from_fen("fen").alias("yuan"))
    assertDataFrameEqual(
        got,
        [
            Row(fen="123456", yuan=Decimal("1234.56")),
            Row(fen="1", yuan=Decimal("0.01")),
            Row(fen="12.5", yuan=None),
            Row(fen="x", yuan=None),
        ],
    )


def test_bad_amount_bounds(spark):
    df = spark.createDataFrame(
        [
            (1, Decimal("0.00"), False),
            (2, Decimal("0.00"), True),
            (3, Decimal("-0.01"), True),
            (4, Decimal("50000000.00"), False),
            (5, Decimal("50000000.01"), False),
            (6, None, True),
        ],
        "id int, a decimal(18,2), zero_ok boolean",
    )
    got = df.select("id", common.bad_amount("a", max_cny=50_000_000.0, allow_zero=F.col("zero_ok")).alias("bad"))
    assertDataFrameEqual(
        got,
        [
            Row(id=1, bad=True),
            Row(id=2, bad=False),
            Row(id=3, bad=True),
            Row(id=4, bad=False),
            Row(id=5, bad=True),
            Row(id=6, bad=True),
        ],
    )


def test_local_times_are_shanghai_whatever_the_session_zone(spark):
    df = spark.createDataFrame([("2025/03/31 23:59",), ("2025/02/30 10:00",)], "t string")
    parsed = df.select(F.unix_timestamp(common.parse_local_time("t", "yyyy/MM/dd HH:mm")).alias("epoch"))
    zone = spark.conf.get("spark.sql.session.timeZone")
    want = [Row(epoch=1743436740), Row(epoch=None)]  # 2025-03-31T15:59:00Z
    try:
        spark.conf.set("spark.sql.session.timeZone", "UTC")
        assertDataFrameEqual(parsed, want)
    finally:
        spark.conf.set("spark.sql.session.timeZone", zone)
    assertDataFrameEqual(parsed, want)


def test_event_time_buckets_by_shanghai_day(spark):
    df = spark.createDataFrame([(1, 1743436799), (2, 1743436800)], "id int, epoch long")  # 23:59:59 / 00:00:00
    got = df.select("id", *common.event_time_columns(F.timestamp_seconds("epoch")))
    assert got.columns == ["id", "event_time", "event_date", "event_month"]
    assertDataFrameEqual(
        got.select("id", "event_date", "event_month"),
        [
            Row(id=1, event_date=date(2025, 3, 31), event_month="2025-03"),
            Row(id=2, event_date=date(2025, 4, 1), event_month="2025-04"),
        ],
    )


def test_lookup_is_null_for_unknown_and_null_keys(spark):
    df = spark.createDataFrame([("mobile",), ("tablet",), (None,)], "k string")
    got = df.select("k", common.lookup({"mobile": "m", "pc": "p"}, "k").alias("v"))
    assertDataFrameEqual(got, [Row(k="mobile", v="m"), Row(k="tablet", v=None), Row(k=None, v=None)])


def test_raw_payload_keeps_the_raw_line_of_malformed_rows_and_json_otherwise(spark):
    from pyspark.sql import types as T

    raw = T.StructType([T.StructField("a", T.StringType()), T.StructField("b", T.StringType())])
    df = spark.createDataFrame(
        [(1, "x", None, False, None), (2, None, None, True, '{"a": "x", "b')],
        "id int, a string, b string, _malformed boolean, _raw string",
    )
    got = df.select("id", common.raw_payload(raw).alias("payload"))
    assertDataFrameEqual(got, [Row(id=1, payload='{"a":"x","b":null}'), Row(id=2, payload='{"a": "x", "b')])


def test_add_months_crosses_years():
    assert add_months("2025-01", -2) == "2024-11"
    assert add_months("2024-12", 1) == "2025-01"
    assert add_months("2025-06", 0) == "2025-06"


def test_window_check_accepts_late_events_within_tolerance_only(spark):
    df = spark.createDataFrame(
        [
            (1, "2025-06", "2025-06", None),
            (2, "2025-05", "2025-06", None),  # this batch, and late
            (3, "2025-04", "2025-06", None),  # two batches late: still accepted
            (4, "2025-03", "2025-06", None),  # 3 batches late: too old
            (5, "2025-07", "2025-06", None),  # in the future of the batch
            (6, "2025-09", "2025-06", reasons.BAD_AMOUNT),  # an earlier reason wins
            (7, "2024-11", "2025-01", None),  # two batches late across a new year
            (8, "2024-10", "2025-01", None),  # three across a new year
        ],
        f"id int, event_month string, ingest_month string, {REJECT_REASON} string",
    )
    got = df.transform(common.with_window_check, late_tolerance_months=2)
    assert got.columns == df.columns
    assertDataFrameEqual(
        got.select("id", REJECT_REASON),
        [
            Row(id=1, _reject_reason=None),
            Row(id=2, _reject_reason=None),
            Row(id=3, _reject_reason=None),
            Row(id=4, _reject_reason=reasons.OUT_OF_WINDOW),
            Row(id=5, _reject_reason=reasons.OUT_OF_WINDOW),
            Row(id=6, _reject_reason=reasons.BAD_AMOUNT),
            Row(id=7, _reject_reason=None),
            Row(id=8, _reject_reason=reasons.OUT_OF_WINDOW),
        ],
    )


def test_user_check_flags_unknown_users_without_multiplying_rows(spark):
    accounts = spark.createDataFrame(
        [(1, "2025-01"), (1, "2025-03"), (2, "2025-02")], "user_id long, ingest_month string"
    )
    events = spark.createDataFrame(
        [
            ("e1", 1, "2025-01", None),
            ("e2", 2, "2025-02", None),
            ("e3", 3, "2025-02", None),
            ("e4", 3, "2025-02", reasons.BAD_TIMESTAMP),  # an earlier reason wins
            ("e5", 2, "2025-01", None),  # user 2's account only arrives in batch 2025-02
        ],
        f"event_id string, user_id long, ingest_month string, {REJECT_REASON} string",
    )
    got = events.transform(common.with_user_check, accounts)
    assert got.columns == events.columns
    assertDataFrameEqual(
        got.select("event_id", REJECT_REASON),
        [
            Row(event_id="e1", _reject_reason=None),
            Row(event_id="e2", _reject_reason=None),
            Row(event_id="e3", _reject_reason=reasons.UNKNOWN_USER),
            Row(event_id="e4", _reject_reason=reasons.BAD_TIMESTAMP),
            Row(event_id="e5", _reject_reason=reasons.UNKNOWN_USER),
        ],
    )


def test_a_later_record_of_a_registered_account_is_a_change_unless_it_is_a_replay(spark):
    from datetime import datetime

    t1, t2, t3 = (datetime(2025, m, 1, 12, 0, tzinfo=UTC) for m in (1, 2, 3))
    cols = f"record string, user_id long, ingest_month string, updated_at timestamp, {REJECT_REASON} string"
    published = spark.createDataFrame([(1, "2025-01", t1)], "user_id long, ingest_month string, updated_at timestamp")
    records = spark.createDataFrame(
        [
            ("r1", 1, "2025-02", t1, None),  # a replay of account 1's registration: left to the deduplication
            ("r2", 1, "2025-03", t3, None),  # account 1 again, written later: a change
            ("r3", 2, "2025-02", t1, None),  # account 2 registered with two records in one batch: the latest stands
            ("r4", 2, "2025-02", t2, None),
            ("r5", 2, "2025-03", t2, None),  # a replay of its latest
            ("r6", 2, "2025-03", t3, None),  # changed in a later batch of the same pass
            ("r7", 3, "2025-03", t3, reasons.MISSING_REQUIRED),  # already quarantined: keeps its reason
            ("r8", 3, "2025-03", t2, None),  # registered by the pass's last batch
        ],
        cols,
    )
    got = records.transform(common.with_account_change_check, published)
    assert got.columns == records.columns
    assertDataFrameEqual(
        got.select("record", REJECT_REASON),
        [
            Row(record="r1", _reject_reason=None),
            Row(record="r2", _reject_reason=reasons.ACCOUNT_CHANGE),
            Row(record="r3", _reject_reason=None),
            Row(record="r4", _reject_reason=None),
            Row(record="r5", _reject_reason=None),
            Row(record="r6", _reject_reason=reasons.ACCOUNT_CHANGE),
            Row(record="r7", _reject_reason=reasons.MISSING_REQUIRED),
            Row(record="r8", _reject_reason=None),
        ],
    )


def test_dedup_keeps_one_deterministic_row_per_key_and_counts_the_rest(spark):
    from datetime import datetime

    t1 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    t2 = datetime(2025, 3, 2, 12, 0, tzinfo=UTC)
    cols = (
        "platform string, order_id string, event_time timestamp, event_month string, ingest_month string, "
        "_row_hash string, _source_file string"
    )
    df = spark.createDataFrame(
        [
            ("taobao", "A", t1, "2025-03", "2025-03", "h1", "f2.json"),  # exact replay of the next row, in another file
            ("taobao", "A", t1, "2025-03", "2025-03", "h1", "f1.json"),
            ("taobao", "A", t1, "2025-03", "2025-03", "h1", "f1.json"),  # exact duplicate line in the same file
            ("taobao", "B", t2, "2025-03", "2025-03", "h3", "f1.json"),  # same key, later: a duplicate of the earlier
            ("taobao", "B", t1, "2025-03", "2025-03", "h2", "f1.json"),
            ("tmall", "A", t2, "2025-03", "2025-03", "h4", "f1.json"),  # same order id, other platform: not a duplicate
        ],
        cols,
    )
    key = ["platform", "order_id"]
    nothing_before = df.limit(0)
    want = [
        Row(platform="taobao", order_id="A", _row_hash="h1", _source_file="f1.json"),
        Row(platform="taobao", order_id="B", _row_hash="h2", _source_file="f1.json"),
        Row(platform="tmall", order_id="A", _row_hash="h4", _source_file="f1.json"),
    ]
    for shuffled in (df, df.repartition(3, "_row_hash").sortWithinPartitions(F.rand(7))):
        marked = common.with_duplicates_marked(shuffled, nothing_before, key, event_table=True)
        assert marked.columns == [*df.columns, common.IS_DUPLICATE, common.IS_LATE]
        kept = marked.filter(~F.col(common.IS_DUPLICATE))
        assertDataFrameEqual(kept.select("platform", "order_id", "_row_hash", "_source_file"), want)
        assert marked.filter(common.IS_DUPLICATE).count() == 3
    ranks = common.with_dup_rank(df, key).groupBy(common.DUP_RANK).count()
    assertDataFrameEqual(ranks, [Row(_dup_rank=1, count=3), Row(_dup_rank=2, count=2), Row(_dup_rank=3, count=1)])


def test_a_row_published_in_an_earlier_batch_makes_the_later_copy_a_duplicate_and_late_rows_are_counted(spark):
    from datetime import datetime

    jan, feb = datetime(2025, 1, 20, tzinfo=UTC), datetime(2025, 2, 20, tzinfo=UTC)
    cols = (
        "order_id string, event_time timestamp, event_month string, ingest_month string, _row_hash string, "
        "_source_file string"
    )
    published = spark.createDataFrame(
        [
            ("A", jan, "2025-01", "2025-01", "h1", "f"),  # batch 1, outside the pass
            ("Z", jan, "2025-01", "2025-01", "h9", "f"),
            ("C", feb, "2025-02", "2025-03", "h5", "f"),  # a later batch: not "before" a row of batch 2
            ("D", feb, "2025-02", "2025-02", "h6", "f"),  # batch 2 itself, in the pass: re-judged, not a reference
        ],
        cols,
    )
    earlier = common.published_before(published, ["2025-02"], late_tolerance_months=1, event_table=True)
    assert sorted(r["order_id"] for r in earlier.collect()) == ["A", "Z"]
    pass_rows = spark.createDataFrame(
        [
            ("A", jan, "2025-01", "2025-02", "h1", "g"),  # sent again a batch later: a duplicate of batch 1's
            ("B", jan, "2025-01", "2025-02", "h2", "g"),  # a January event first sent in February: late
            ("C", feb, "2025-02", "2025-02", "h3", "g"),  # known only from a later batch: kept, on time
            ("D", feb, "2025-02", "2025-02", "h6", "g"),
        ],
        cols,
    )
    marked = common.with_duplicates_marked(pass_rows, earlier, ["order_id"], event_table=True)
    assertDataFrameEqual(
        marked.select("order_id", common.IS_DUPLICATE, common.IS_LATE),
        [
            Row(order_id="A", _is_duplicate=True, _is_late=False),
            Row(order_id="B", _is_duplicate=False, _is_late=True),
            Row(order_id="C", _is_duplicate=False, _is_late=False),
            Row(order_id="D", _is_duplicate=False, _is_late=False),
        ],
    )


def test_the_latest_record_of_an_account_in_a_batch_wins_and_accounts_are_never_late(spark):
    from datetime import datetime

    cols = "user_id long, updated_at timestamp, ingest_month string, _row_hash string, _source_file string"
    rows = spark.createDataFrame(
        [
            (1, datetime(2025, 1, 3, tzinfo=UTC), "2025-01", "h1", "f"),
            (1, datetime(2025, 1, 9, tzinfo=UTC), "2025-01", "h2", "f"),  # the later update wins
            (2, datetime(2025, 1, 9, tzinfo=UTC), "2025-02", "h3", "f"),  # batch 2's copy loses to batch 1's
            (2, datetime(2025, 1, 1, tzinfo=UTC), "2025-01", "h4", "f"),
        ],
        cols,
    )
    marked = common.with_duplicates_marked(rows, rows.limit(0), ["user_id"], event_table=False)
    assertDataFrameEqual(
        marked.filter(~F.col(common.IS_DUPLICATE)).select("user_id", "_row_hash", common.IS_LATE),
        [Row(user_id=1, _row_hash="h2", _is_late=False), Row(user_id=2, _row_hash="h4", _is_late=False)],
    )


def test_only_quarantined_rows_keep_their_raw_payload(spark):
    rows = spark.createDataFrame(
        [("a", None, '{"x": 1}'), ("b", "BAD_AMOUNT", '{"x": 2}')],
        f"id string, {REJECT_REASON} string, {common.RAW_PAYLOAD} string",
    )
    got = common.without_valid_payload(rows)
    assert got.columns == rows.columns
    assertDataFrameEqual(
        got,
        [
            Row(id="a", _reject_reason=None, **{common.RAW_PAYLOAD: None}),
            Row(id="b", _reject_reason="BAD_AMOUNT", **{common.RAW_PAYLOAD: '{"x": 2}'}),
        ],
    )
