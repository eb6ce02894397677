"""Turn the generated events into what each source really sends, dirt included.

Each ``*_landing`` function returns the rows of one source as they will be
written: ``ingest_month`` (the landing batch), ``sort_key`` (a stable row
key), ``dirt`` (the dirt kind the row carries, or null; not written) and
either ``value`` (one text line: JSON, CSV or TSV) or the nested columns of
a Parquet feed. Dirt is drawn per row at the configured rates
(``generator.dirt``); the same dirt kind may surface under another reason
where the format cannot carry it (docs/generator.md#dirt-catalogue).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from transforms.bronze import raw_schemas
from transforms.synthetic.events import Month, month_of_epoch
from transforms.synthetic.profiles import DirtConf
from transforms.synthetic.rand import choice_fixed, uniform
from transforms.taxonomy import CATEGORIES, TAOBAO_CAT_OFFSET

ORDER_PREFIX = {"taobao": "TB", "tmall": "TM", "fliggy": "FZ", "taopiaopiao": "TPP", "eleme": "ELM"}
UNKNOWN_USER_OFFSET = 900_000_000_000
ABSURD_FEN = 10**15
OUT_OF_WINDOW_SECONDS = 75 * 86400  # pushes an event two months past its batch
CITIES = {
    "CN": ["Hangzhou", "Beijing", "Shanghai", "Chengdu", "Sanya", "Xiamen"],
    "JP": ["Tokyo", "Osaka"],
    "TH": ["Bangkok", "Phuket"],
    "US": ["New York", "Los Angeles"],
    "FR": ["Paris"],
    "GB": ["London"],
    "KR": ["Seoul"],
    "SG": ["Singapore"],
    "AU": ["Sydney"],
    "IT": ["Rome", "Milan"],
    "HK": ["Hong Kong"],
}

DIRT_KINDS = (
    "missing_required",
    "bad_amount",
    "unknown_user",
    "bad_timestamp",
    "out_of_window",
    "bad_currency",
    "malformed_line",
)


def header_of(schema) -> str:
    """The CSV header line of a text source (its field names joined by its separator)."""
    return ",".join(f.name for f in schema.fields)


def _dirt(seed: int, source: str, key: Column, dirt: DirtConf, kinds: tuple[str, ...]) -> Column:
    """Which dirt kind (or null) a row gets; kinds a source cannot carry stay clean."""
    u = uniform(seed, f"dirt_{source}", key)
    expr, upper = None, 0.0
    for kind in DIRT_KINDS:
        upper += getattr(dirt, f"{kind}_rate")
        branch = F.lit(kind if kind in kinds else None)
        expr = F.when(u < upper, branch) if expr is None else expr.when(u < upper, branch)
    return expr.otherwise(F.lit(None)).cast("string")


def _batch(seed: int, source: str, key: Column, event_epoch: Column, months: list[Month], late_rate: float) -> Column:
    """Landing batch index: the event's month, or one or two batches later for late events."""
    own = month_of_epoch(event_epoch, months)
    late = uniform(seed, f"late_{source}", key) < late_rate
    shift = F.when(late, 1 + F.floor(uniform(seed, f"late_by_{source}", key) * 2)).otherwise(F.lit(0))
    return F.least(own + shift, F.lit(len(months) - 1)).cast("int")


def _finish(rows: DataFrame, *, seed: int, source: str, months: list[Month], dirt: DirtConf) -> DataFrame:
    """Exact row replays (the copy lands in the same or the next batch), then the batch label."""
    replay = uniform(seed, f"replay_{source}", "sort_key") < dirt.row_replay_rate
    copies = F.explode(F.when(replay, F.array(F.lit(0), F.lit(1))).otherwise(F.array(F.lit(0)))).alias("copy")
    doubled = rows.select("*", copies)
    next_batch = F.floor(uniform(seed, f"replay_batch_{source}", "sort_key") * 2).cast("int")
    batch = F.when(F.col("copy") == 1, F.least(F.col("batch") + next_batch, F.lit(len(months) - 1))).otherwise(
        F.col("batch")
    )
    labels = F.array(*[F.lit(m.month) for m in months])
    payload = [c for c in rows.columns if c not in ("batch", "sort_key")]
    return doubled.select(
        F.element_at(labels, batch + 1).alias("ingest_month"),
        (F.col("sort_key") * 2 + F.col("copy")).alias("sort_key"),
        *payload,
    )


def _staged(
    rows: DataFrame,
    *,
    seed: int,
    source: str,
    key: Column,
    dirt: DirtConf,
    kinds: tuple[str, ...],
    months: list[Month],
    late_rate: float,
    payload: list[Column],
) -> DataFrame:
    """Draw each row's dirt, then lay out batch, key, dirt and the source's payload (built on ``dirt``)."""
    with_dirt = rows.select("*", _dirt(seed, source, key, dirt, kinds).alias("dirt"))
    staged = with_dirt.select(
        _batch(seed, source, key, F.col("event_epoch"), months, late_rate).alias("batch"),
        key.alias("sort_key"),
        "dirt",
        *payload,
    )
    return _finish(staged, seed=seed, source=source, months=months, dirt=dirt)


def _local(epoch: Column, pattern: str) -> Column:
    """Wall-clock text of an epoch second in the session time zone (Asia/Shanghai)."""
    return F.date_format(F.timestamp_seconds(epoch), pattern)


def _money(value: Column) -> Column:
    return F.format_string("%.2f", value)


def _csv(*fields: Column, sep: str = ",") -> Column:
    return F.concat_ws(sep, *[F.coalesce(f.cast("string"), F.lit("")) for f in fields])


def _malformed(line: Column, dirt: Column) -> Column:
    """Cut a line in half: truncated JSON, or a CSV line with too few fields."""
    return F.when(dirt == "malformed_line", F.substring(line, 1, F.length(line) / 2)).otherwise(line)


def _fx(fx_to_cny: dict[str, float]) -> Column:
    return F.create_map(*[x for code, rate in fx_to_cny.items() for x in (F.lit(code), F.lit(rate))])


def _order_ref(platform: Column, order_key: Column) -> Column:
    prefix = F.create_map(*[x for p, v in ORDER_PREFIX.items() for x in (F.lit(p), F.lit(v))])[platform]
    return F.concat(prefix, order_key.cast("string"))


def _user(user_id: Column, dirt: Column) -> Column:
    return F.when(dirt == "unknown_user", user_id + UNKNOWN_USER_OFFSET).otherwise(user_id)


def _epoch(epoch: Column, dirt: Column) -> Column:
    return F.when(dirt == "out_of_window", epoch + OUT_OF_WINDOW_SECONDS).otherwise(epoch)


def taobao_landing(orders: DataFrame, *, seed: int, months: list[Month], dirt: DirtConf, late_rate: float) -> DataFrame:
    """Taobao orders as JSON lines: amounts in fen, pay_time in epoch seconds."""
    src = "taobao_orders"
    rows = orders.filter(F.col("platform") == "taobao")
    key = F.col("order_key")
    cat_id = F.create_map(*[x for c in CATEGORIES for x in (F.lit(c.code), F.lit(c.id + TAOBAO_CAT_OFFSET))])
    fen = F.round(F.col("amount_cny") * 100).cast("long")
    pay_time = _epoch(F.col("event_epoch"), F.col("dirt"))
    record = F.struct(
        F.concat(F.lit("TB"), key.cast("string")).alias("order_id"),
        _not_missing(_user(F.col("user_id"), F.col("dirt"))).alias("buyer_id"),
        F.col("seller_num").alias("seller_id"),
        cat_id[F.col("category")].alias("cat_id"),
        F.col("quantity"),
        F.when(
            F.col("dirt") == "bad_amount", F.when(uniform(seed, "tb_bad", key) < 0.5, -fen).otherwise(F.lit(ABSURD_FEN))
        )
        .otherwise(fen)
        .alias("total_fee"),
        F.when(F.col("dirt") == "bad_currency", F.lit("RMB")).otherwise(F.lit("CNY")).alias("currency"),
        F.when(F.col("dirt") == "bad_timestamp", F.lit(-1)).otherwise(pay_time).alias("pay_time"),
        F.col("channel").alias("terminal"),
        F.col("is_group_buy").alias("group_buy"),
        F.col("is_overseas").alias("global_buy"),
    )
    # A feed that sends text where a number belongs: the one unparsable timestamp of this source.
    line = F.regexp_replace(F.to_json(record), '"pay_time":-1', '"pay_time":"0000-00-00 00:00:00"')
    return _staged(
        rows,
        seed=seed,
        source=src,
        key=key,
        dirt=dirt,
        kinds=DIRT_KINDS,
        months=months,
        late_rate=late_rate,
        payload=[
            _malformed(line, F.col("dirt")).alias("value"),
        ],
    )


def _not_missing(value: Column) -> Column:
    return F.when(F.col("dirt").isNull() | (F.col("dirt") != "missing_required"), value)


def tmall_landing(
    orders: DataFrame, *, seed: int, months: list[Month], dirt: DirtConf, late_rate: float, fx_to_cny: dict[str, float]
) -> DataFrame:
    """Tmall orders as CSV lines: yuan strings in the order's currency, ISO times with offset."""
    src = "tmall_orders"
    rows = orders.filter(F.col("platform") == "tmall")
    key = F.col("order_key")
    local_amount = F.col("amount_cny") / _fx(fx_to_cny)[F.col("currency")]
    amount = F.when(
        F.col("dirt") == "bad_amount",
        F.when(uniform(seed, "tm_bad", key) < 0.5, _money(-local_amount)).otherwise(F.lit("99999999999.00")),
    ).otherwise(_money(local_amount))
    paid_at = F.when(F.col("dirt") == "bad_timestamp", F.lit("2025-13-45T25:61:00+08:00")).otherwise(
        _local(_epoch(F.col("event_epoch"), F.col("dirt")), raw_schemas.ISO_OFFSET_TIME)
    )
    line = _csv(
        F.concat(F.lit("TM"), key.cast("string")),
        _not_missing(_user(F.col("user_id"), F.col("dirt"))),
        F.concat(F.lit("S"), F.col("seller_num").cast("string")),
        F.upper(F.col("category")),
        F.col("quantity"),
        amount,
        F.when(F.col("dirt") == "bad_currency", F.lit("RMB")).otherwise(F.col("currency")),
        paid_at,
        F.when(F.col("channel") == "mobile", F.lit("APP")).otherwise(F.lit("PC")),
        F.when(F.col("is_overseas"), F.lit("Y")).otherwise(F.lit("N")),
        F.when(F.col("company_invoice"), F.lit("COMPANY"))
        .when(uniform(seed, "tm_invoice", key) < 0.3, F.lit("PERSONAL"))
        .otherwise(F.lit("NONE")),
        F.when(F.col("is_group_buy"), F.lit("Y")).otherwise(F.lit("N")),
    )
    return _staged(
        rows,
        seed=seed,
        source=src,
        key=key,
        dirt=dirt,
        kinds=DIRT_KINDS,
        months=months,
        late_rate=late_rate,
        payload=[
            _malformed(line, F.col("dirt")).alias("value"),
        ],
    )


def fliggy_landing(
    orders: DataFrame, *, seed: int, months: list[Month], dirt: DirtConf, late_rate: float, fx_to_cny: dict[str, float]
) -> DataFrame:
    """Fliggy bookings as nested Parquet rows (no malformed lines: Parquet cannot carry them)."""
    src = "fliggy_bookings"
    rows = orders.filter(F.col("platform") == "fliggy")
    key = F.col("order_key")
    kinds = tuple(k for k in DIRT_KINDS if k != "malformed_line")
    product_type = F.upper(F.regexp_replace(F.col("category"), "^travel_", ""))
    country = F.coalesce(F.col("country"), F.lit("CN"))
    city_choice = None
    for code, cities in CITIES.items():
        pick = F.element_at(
            F.array(*[F.lit(c) for c in cities]), (F.floor(uniform(seed, "fz_city", key) * len(cities)) + 1).cast("int")
        )
        city_choice = F.when(country == code, pick) if city_choice is None else city_choice.when(country == code, pick)
    local_amount = F.round(F.col("amount_cny") / _fx(fx_to_cny)[F.col("currency")], 2)
    # Parquet carries a typed timestamp: an "unparsable" one arrives as the epoch (1970-01-01).
    booked = F.when(F.col("dirt") == "bad_timestamp", F.lit(0)).otherwise(_epoch(F.col("event_epoch"), F.col("dirt")))
    return _staged(
        rows,
        seed=seed,
        source=src,
        key=key,
        dirt=dirt,
        kinds=kinds,
        months=months,
        late_rate=late_rate,
        payload=[
            F.concat(F.lit("FZ"), key.cast("string")).alias("booking_id"),
            F.struct(
                _not_missing(_user(F.col("user_id"), F.col("dirt"))).alias("member_id"),
                F.col("quantity").alias("traveller_count"),
            ).alias("traveller"),
            F.struct(
                product_type.alias("type"),
                F.upper(F.col("travel_class")).alias("cabin_class"),
                F.col("hotel_star"),
                F.struct(city_choice.alias("city"), country.alias("country")).alias("destination"),
            ).alias("product"),
            F.struct(
                F.when(
                    F.col("dirt") == "bad_amount",
                    F.when(uniform(seed, "fz_bad", key) < 0.5, -local_amount).otherwise(F.lit(1e12)),
                )
                .otherwise(local_amount)
                .alias("amount"),
                F.when(F.col("dirt") == "bad_currency", F.lit("XXX")).otherwise(F.col("currency")).alias("currency"),
            ).alias("price"),
            F.concat(F.lit("SUP"), F.col("seller_num").cast("string")).alias("supplier_id"),
            F.timestamp_seconds(booked).alias("booked_at"),
            F.when(F.col("channel") == "mobile", F.lit("app")).otherwise(F.lit("web")).alias("channel"),
        ],
    )


def taopiaopiao_landing(
    orders: DataFrame, *, seed: int, months: list[Month], dirt: DirtConf, late_rate: float
) -> DataFrame:
    """Taopiaopiao tickets as TSV lines with local-time strings (no zone)."""
    src = "taopiaopiao_tickets"
    rows = orders.filter(F.col("platform") == "taopiaopiao")
    key = F.col("order_key")
    show_type = F.when(F.col("category") == "cinema", F.lit("CINEMA")).otherwise(
        choice_fixed(uniform(seed, "tpp_show", key), {"CONCERT": 0.4, "DRAMA": 0.35, "SPORTS": 0.25})
    )
    purchase = _epoch(F.col("event_epoch"), F.col("dirt"))
    show = F.col("event_epoch") + (1 + F.floor(uniform(seed, "tpp_show_day", key) * 10)) * 86400
    amount = F.when(
        F.col("dirt") == "bad_amount",
        F.when(uniform(seed, "tpp_bad", key) < 0.5, _money(-F.col("amount_cny"))).otherwise(F.lit("1e15")),
    ).otherwise(_money(F.col("amount_cny")))
    line = _csv(
        F.concat(F.lit("TPP"), key.cast("string")),
        _not_missing(_user(F.col("user_id"), F.col("dirt"))),
        F.col("seller_num"),
        show_type,
        F.col("quantity"),
        amount,
        F.when(F.col("dirt") == "bad_currency", F.lit("RMB")).otherwise(F.lit("CNY")),
        F.when(F.col("dirt") == "bad_timestamp", F.lit("32/13/2025 99:99")).otherwise(
            _local(purchase, "yyyy/MM/dd HH:mm")
        ),
        _local(show, "yyyy/MM/dd HH:mm"),
        F.when(F.col("channel") == "mobile", F.lit("app")).otherwise(F.lit("pc")),
        sep="\t",
    )
    return _staged(
        rows,
        seed=seed,
        source=src,
        key=key,
        dirt=dirt,
        kinds=DIRT_KINDS,
        months=months,
        late_rate=late_rate,
        payload=[
            _malformed(line, F.col("dirt")).alias("value"),
        ],
    )


def eleme_landing(orders: DataFrame, *, seed: int, months: list[Month], dirt: DirtConf, late_rate: float) -> DataFrame:
    """Ele.me's food delivery orders as camelCase JSON lines: yuan strings, Shanghai wall-clock times, no
    currency (always CNY: its dirt cannot carry a bad currency)."""
    src = "eleme_orders"
    rows = orders.filter(F.col("platform") == "eleme")
    key = F.col("order_key")
    kinds = tuple(k for k in DIRT_KINDS if k != "bad_currency")
    biz_type = {"meal_delivery": "RESTAURANT", "grocery_delivery": "GROCERY", "pharmacy_delivery": "PHARMACY"}
    order_from = F.when(F.col("channel") == "pc", F.lit("WEB")).otherwise(
        F.when(uniform(seed, "elm_alipay", key) < 0.3, F.lit("ALIPAY")).otherwise(F.lit("APP"))
    )
    record = F.struct(
        _order_ref(F.col("platform"), key).alias("orderId"),
        _not_missing(_user(F.col("user_id"), F.col("dirt"))).alias("userId"),
        F.concat(F.lit("R"), F.col("seller_num").cast("string")).alias("shopId"),
        F.create_map(*[x for c, t in biz_type.items() for x in (F.lit(c), F.lit(t))])[F.col("category")].alias(
            "bizType"
        ),
        F.col("quantity").alias("itemCount"),
        F.when(
            F.col("dirt") == "bad_amount",
            F.when(uniform(seed, "elm_bad", key) < 0.5, _money(-F.col("amount_cny"))).otherwise(F.lit("1e15")),
        )
        .otherwise(_money(F.col("amount_cny")))
        .alias("totalPrice"),
        F.when(F.col("dirt") == "bad_timestamp", F.lit("2025-02-30 12:00:00"))
        .otherwise(_local(_epoch(F.col("event_epoch"), F.col("dirt")), "yyyy-MM-dd HH:mm:ss"))
        .alias("createdAt"),
        order_from.alias("orderFrom"),
    )
    return _staged(
        rows,
        seed=seed,
        source=src,
        key=key,
        dirt=dirt,
        kinds=kinds,
        months=months,
        late_rate=late_rate,
        payload=[
            _malformed(F.to_json(record), F.col("dirt")).alias("value"),
        ],
    )


def accounts_landing(accounts: DataFrame, *, seed: int, months: list[Month], dirt: DirtConf) -> DataFrame:
    """Account records as JSON lines, in the batch of the registration month; never late."""
    src = "accounts"
    key = F.col("user_id")
    kinds = ("missing_required", "bad_timestamp", "malformed_line")
    record = F.struct(
        _not_missing(F.col("user_id")).alias("uid"),
        F.date_format("registered_date", "yyyy-MM-dd").alias("reg_date"),
        "gender",
        "birth_year",
        "city_tier",
        F.col("identity_verified").alias("id_verified"),
        "mobile_share",
        F.when(F.col("dirt") == "bad_timestamp", F.lit("N/A"))
        .otherwise(_local(F.col("event_epoch"), "yyyy-MM-dd HH:mm:ss"))
        .alias("updated_at"),
    )
    staged = accounts.select("*", _dirt(seed, src, key, dirt, kinds).alias("dirt")).select(
        F.col("month_idx").alias("batch"),
        key.alias("sort_key"),
        "dirt",
        _malformed(F.to_json(record), F.col("dirt")).alias("value"),
    )
    return _finish(staged, seed=seed, source=src, months=months, dirt=dirt)


def interactions_landing(
    events: DataFrame, *, seed: int, months: list[Month], dirt: DirtConf, late_rate: float
) -> DataFrame:
    """The interaction feed as JSON lines with epoch-millisecond times."""
    src = "interactions"
    key = F.col("event_key")
    kinds = ("missing_required", "bad_amount", "unknown_user", "bad_timestamp", "out_of_window", "malformed_line")
    ts = _epoch(F.col("event_epoch"), F.col("dirt")) * 1000
    record = F.struct(
        F.concat(F.lit("IX"), key.cast("string")).alias("event_id"),
        _not_missing(_user(F.col("user_id"), F.col("dirt"))).alias("user_id"),
        "platform",
        "kind",
        F.when(F.col("dirt") == "bad_timestamp", F.lit(-1)).otherwise(ts).alias("ts"),
        # bad_amount has no amount to spoil here: it spoils the rating instead (BAD_VALUE).
        F.when((F.col("dirt") == "bad_amount") & (F.col("kind") == "review"), F.lit(9))
        .otherwise(F.col("rating"))
        .alias("rating"),
        F.col("target_num").cast("string").alias("target_id"),
        "duration_s",
    )
    line = F.regexp_replace(F.to_json(record), '"ts":-1', '"ts":"yesterday"')
    return _staged(
        events,
        seed=seed,
        source=src,
        key=key,
        dirt=dirt,
        kinds=kinds,
        months=months,
        late_rate=late_rate,
        payload=[
            _malformed(line, F.col("dirt")).alias("value"),
        ],
    )


def service_landing(
    tickets: DataFrame, *, seed: int, months: list[Month], dirt: DirtConf, late_rate: float
) -> DataFrame:
    """After-sales tickets as CSV lines with local-time strings."""
    src = "service_events"
    kind_no = F.when(F.col("kind") == "REFUND", F.lit(1)).when(F.col("kind") == "RETURN", F.lit(2)).otherwise(F.lit(3))
    key = F.col("order_key") * 4 + kind_no
    amount = F.when(
        F.col("dirt") == "bad_amount",
        F.when(uniform(seed, "as_bad", key) < 0.5, _money(-F.col("amount_cny") - 1)).otherwise(F.lit("abc")),
    ).otherwise(_money(F.col("amount_cny")))
    line = _csv(
        F.concat(F.lit("AS"), key.cast("string")),
        _not_missing(_order_ref(F.col("platform"), F.col("order_key"))),
        F.col("platform"),
        _user(F.col("user_id"), F.col("dirt")),
        F.col("kind"),
        amount,
        F.when(F.col("dirt") == "bad_currency", F.lit("RMB")).otherwise(F.lit("CNY")),
        F.when(F.col("dirt") == "bad_timestamp", F.lit("yesterday 10am")).otherwise(
            _local(_epoch(F.col("event_epoch"), F.col("dirt")), "yyyy-MM-dd HH:mm:ss")
        ),
        F.col("status"),
    )
    return _staged(
        tickets,
        seed=seed,
        source=src,
        key=key,
        dirt=dirt,
        kinds=DIRT_KINDS,
        months=months,
        late_rate=late_rate,
        payload=[
            _malformed(line, F.col("dirt")).alias("value"),
        ],
    )


def risk_landing(flags: DataFrame, *, seed: int, months: list[Month], dirt: DirtConf, late_rate: float) -> DataFrame:
    """Risk-control flags as JSON lines with ISO times."""
    src = "risk_flags"
    key = F.col("order_key")
    kinds = ("missing_required", "unknown_user", "bad_timestamp", "out_of_window", "malformed_line")
    record = F.struct(
        F.concat(F.lit("RF"), key.cast("string")).alias("flag_id"),
        _not_missing(_order_ref(F.col("platform"), key)).alias("order_ref"),
        "platform",
        _user(F.col("user_id"), F.col("dirt")).alias("user_id"),
        "rule",
        "risk_score",
        F.when(F.col("dirt") == "bad_timestamp", F.lit("not-a-time"))
        .otherwise(_local(_epoch(F.col("event_epoch"), F.col("dirt")), raw_schemas.ISO_OFFSET_TIME))
        .alias("flagged_at"),
    )
    return _staged(
        flags,
        seed=seed,
        source=src,
        key=key,
        dirt=dirt,
        kinds=kinds,
        months=months,
        late_rate=late_rate,
        payload=[
            _malformed(F.to_json(record), F.col("dirt")).alias("value"),
        ],
    )


def apass_reviews_landing(
    reviews: DataFrame, *, seed: int, months: list[Month], dirt: DirtConf, late_rate: float
) -> DataFrame:
    """The APASS program's yearly reviews as JSON lines with ISO times, upper-case kinds and outcomes."""
    src = "apass_reviews"
    key = F.col("user_id")
    kinds = ("missing_required", "unknown_user", "bad_timestamp", "out_of_window", "malformed_line")
    record = F.struct(
        F.concat(F.lit("AR"), F.col("invited_month"), F.lit("-"), key.cast("string")).alias("review_id"),
        _not_missing(_user(key, F.col("dirt"))).alias("member_id"),
        F.upper(F.col("kind")).alias("kind"),
        "invited_month",
        F.when(F.col("dirt") == "bad_timestamp", F.lit("last week"))
        .otherwise(_local(_epoch(F.col("event_epoch"), F.col("dirt")), raw_schemas.ISO_OFFSET_TIME))
        .alias("reviewed_at"),
        F.upper(F.col("outcome")).alias("outcome"),
        "reason",
    )
    return _staged(
        reviews,
        seed=seed,
        source=src,
        key=key,
        dirt=dirt,
        kinds=kinds,
        months=months,
        late_rate=late_rate,
        payload=[
            _malformed(F.to_json(record), F.col("dirt")).alias("value"),
        ],
    )


# The CSV/TSV header of each text source, written as the first line of every file.
HEADERS = {
    "tmall_orders": header_of(raw_schemas.TMALL_ORDERS),
    "taopiaopiao_tickets": "\t".join(f.name for f in raw_schemas.TAOPIAOPIAO_TICKETS.fields),
    "service_events": header_of(raw_schemas.SERVICE_EVENTS),
}
