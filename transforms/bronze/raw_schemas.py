"""The landing contract: each source's file format and fields exactly as the source sends them.

The generator writes these shapes and the bronze reader reads them. Text
formats (JSON lines, CSV, TSV) are read with every field as a string so a
type change in a feed cannot lose a row: parsing and typing happen in the
conformers, where a bad value is quarantined with a reason.

Every field carries its description (what it is, its unit, the format and
time zone of a time, the values conform accepts) as its column comment, like
the silver and gold columns (transforms/schemas.py): bronze tables created
from these schemas show it, and docs/landing.md is generated from it.
"""

from __future__ import annotations

from pyspark.sql import types as T

from transforms.taxonomy import TAOBAO_CAT_OFFSET

# The ISO 8601 form with a UTC offset that Tmall (PaidAt), risk control (flagged_at) and the APASS reviews
# (reviewed_at) send, e.g. 2025-03-14T19:30:05+08:00 (the pattern letters that print and read the offset are XXX).
ISO_OFFSET_TIME = "yyyy-MM-dd'T'HH:mm:ssXXX"


def _field(name: str, data_type: T.DataType, doc: str) -> T.StructField:
    """A field as sent (nullable: a feed may leave any field out); ``doc`` becomes its column comment."""
    return T.StructField(name, data_type, True, {"comment": doc})


def _strings(*fields: tuple[str, str]) -> T.StructType:
    """A text source's fields, (name, description) in the order they are sent, all read as strings."""
    return T.StructType([_field(name, T.StringType(), doc) for name, doc in fields])


# How each kind of time a source sends is described: its format and its time zone.
def _epoch_time(what: str, unit: str) -> str:
    return f"{what}: epoch {unit}, an integer count of {unit} since 1970-01-01 00:00 UTC"


def _offset_time(what: str) -> str:
    return f"{what}: ISO 8601 with its UTC offset, {ISO_OFFSET_TIME} (e.g. 2025-03-14T19:30:05+08:00, Z for UTC)"


def _wall_clock_time(what: str, pattern: str) -> str:
    return f"{what}: Asia/Shanghai wall clock '{pattern}', no offset"


_AMOUNT_LIMITS = "more than 0 and, in CNY, at most conform.max_order_amount_cny"
_CURRENCY = "ISO 4217 code of {amount}; one of conform.fx_to_cny"
_MEMBER = "the member's account uid, an integer"
_PLATFORM = "a platform of the configured order sources (taobao | tmall | fliggy | taopiaopiao | eleme by default)"


# Taobao (C2C marketplace): JSON lines.
TAOBAO_ORDERS = _strings(
    ("order_id", "Taobao's order id; with the platform, the order's key"),
    ("buyer_id", f"who paid: {_MEMBER}"),
    ("seller_id", "the shop's id on Taobao (silver.orders.seller_id is 'taobao:' and this id)"),
    ("cat_id", f"the category: its taxonomy id (transforms/taxonomy.py) + {TAOBAO_CAT_OFFSET}"),
    ("quantity", "items ordered, an integer count more than 0"),
    (
        "total_fee",
        f"what the buyer paid, an integer count of fen, 1/100 of the currency's unit (0.01 CNY); {_AMOUNT_LIMITS}",
    ),
    ("currency", _CURRENCY.format(amount="total_fee")),
    ("pay_time", _epoch_time("when the order was paid", "seconds")),
    ("terminal", "mobile | pc: where the order was placed"),
    ("group_buy", "true | false: bought in a group-buy deal"),
    ("global_buy", "true | false: a cross-border (global buy) order"),
)

# Tmall (B2C brand stores): CSV with a header, in its own column names.
TMALL_ORDERS = _strings(
    ("TradeNo", "Tmall's order id; with the platform, the order's key"),
    ("MemberId", f"who paid: {_MEMBER}"),
    ("ShopId", "the brand store's id on Tmall (silver.orders.seller_id is 'tmall:' and this id)"),
    ("CategoryCode", "the category: its taxonomy code (transforms/taxonomy.py) in upper case, e.g. APPAREL_WOMEN"),
    ("Qty", "items ordered, an integer count more than 0"),
    (
        "PayAmount",
        f"what the buyer paid, a decimal string in units of Currency (yuan for CNY), e.g. 899.00; {_AMOUNT_LIMITS}",
    ),
    ("Currency", _CURRENCY.format(amount="PayAmount")),
    ("PaidAt", _offset_time("when the order was paid")),
    ("Channel", "APP | PC: where the order was placed"),
    ("CrossBorder", "Y | N: a cross-border order"),
    ("InvoiceType", "PERSONAL | COMPANY | NONE: who the invoice is made out to (COMPANY: a company invoice)"),
    ("Juhuasuan", "Y | N: bought in a Juhuasuan group-buy deal"),
)

# Fliggy (travel): Parquet with nested fields, read by name with these types.
FLIGGY_BOOKINGS = T.StructType(
    [
        _field("booking_id", T.StringType(), "Fliggy's booking id; with the platform, the order's key"),
        _field(
            "traveller",
            T.StructType(
                [
                    _field("member_id", T.LongType(), f"who booked: {_MEMBER}"),
                    _field(
                        "traveller_count",
                        T.IntegerType(),
                        "travellers booked for, an integer count more than 0 (absent: 1)",
                    ),
                ]
            ),
            "who travels",
        ),
        _field(
            "product",
            T.StructType(
                [
                    _field("type", T.StringType(), "FLIGHT | HOTEL | TRAIN | PACKAGE"),
                    _field(
                        "cabin_class",
                        T.StringType(),
                        "ECONOMY | BUSINESS | FIRST, of a FLIGHT (ignored for the other types)",
                    ),
                    _field(
                        "hotel_star",
                        T.IntegerType(),
                        "the hotel's stars, an integer 1..5 (the generator sends it for a HOTEL or PACKAGE)",
                    ),
                    _field(
                        "destination",
                        T.StructType(
                            [
                                _field("city", T.StringType(), "the city's name, e.g. Tokyo; not read by conform"),
                                _field(
                                    "country",
                                    T.StringType(),
                                    "the country's ISO 3166-1 alpha-2 code, e.g. JP; any but CN makes it overseas",
                                ),
                            ]
                        ),
                        "where to",
                    ),
                ]
            ),
            "what was booked",
        ),
        _field(
            "price",
            T.StructType(
                [
                    _field(
                        "amount",
                        T.DoubleType(),
                        f"what the booking cost, in units of price.currency (yuan for CNY); {_AMOUNT_LIMITS}",
                    ),
                    _field("currency", T.StringType(), _CURRENCY.format(amount="price.amount")),
                ]
            ),
            "what the booking cost",
        ),
        _field(
            "supplier_id",
            T.StringType(),
            "the supplier's id on Fliggy (silver.orders.seller_id is 'fliggy:' and this id)",
        ),
        _field(
            "booked_at",
            T.TimestampType(),
            "when it was booked: a Parquet timestamp adjusted to UTC (an instant, not a wall clock)",
        ),
        _field("channel", T.StringType(), "app | web: where it was booked"),
    ]
)

# Taopiaopiao (cinema and show tickets): TSV with a header.
TAOPIAOPIAO_TICKETS = _strings(
    ("ticket_no", "Taopiaopiao's ticket order id; with the platform, the order's key"),
    ("user", f"who paid: {_MEMBER}"),
    ("venue_id", "the venue's id on Taopiaopiao (silver.orders.seller_id is 'taopiaopiao:' and this id)"),
    ("show_type", "CINEMA | CONCERT | DRAMA | SPORTS"),
    ("seats", "seats bought, an integer count more than 0"),
    (
        "price_yuan",
        f"what the buyer paid for all the seats, a decimal string in units of currency (yuan for CNY), e.g. 96.00; "
        f"{_AMOUNT_LIMITS}",
    ),
    ("currency", _CURRENCY.format(amount="price_yuan")),
    ("purchase_local", _wall_clock_time("when the tickets were bought", "yyyy/MM/dd HH:mm")),
    ("show_local", _wall_clock_time("when the show starts", "yyyy/MM/dd HH:mm") + "; not read by conform"),
    ("client", "app | pc: where the tickets were bought"),
)

# Ele.me (food delivery): JSON lines in camelCase; always CNY, so no currency field.
ELEME_ORDERS = _strings(
    ("orderId", "Ele.me's order id; with the platform, the order's key"),
    ("userId", f"who paid: {_MEMBER}"),
    ("shopId", "the restaurant or shop's id on Ele.me (silver.orders.seller_id is 'eleme:' and this id)"),
    ("bizType", "RESTAURANT | GROCERY | PHARMACY"),
    ("itemCount", "items ordered, an integer count more than 0"),
    ("totalPrice", f"what the buyer paid, a decimal string in yuan (CNY), e.g. 58.50; {_AMOUNT_LIMITS}"),
    ("createdAt", _wall_clock_time("when the order was placed", "yyyy-MM-dd HH:mm:ss")),
    ("orderFrom", "APP | ALIPAY | WEB: the Ele.me app, its Alipay mini program, the website"),
)

# Account registry: JSON lines, one record per account (at registration; the first batch
# holds every account registered before the world starts).
ACCOUNTS = _strings(
    ("uid", "the account's id, an integer: what every other source's member field names"),
    ("reg_date", "the day the account was registered: a date 'yyyy-MM-dd' (no time, no zone)"),
    ("gender", "M | F | U"),
    ("birth_year", "the year of birth as declared, an integer from 1900 to the year of updated_at"),
    ("city_tier", "the tier of the member's city, an integer 1 (Beijing, Shanghai...) .. 5"),
    ("id_verified", "true | false: real-name verified (absent: not verified)"),
    ("mobile_share", "device mix: the share of sessions on mobile, a number 0..1"),
    ("updated_at", _wall_clock_time("when the registry wrote this record", "yyyy-MM-dd HH:mm:ss")),
)

# Interaction feed of all platforms: JSON lines.
INTERACTIONS = _strings(
    ("event_id", "the event's id; with the platform, its key"),
    ("user_id", _MEMBER),
    ("platform", _PLATFORM),
    ("kind", "review | qa | like | live | content | seller_chat"),
    ("ts", _epoch_time("when it happened", "milliseconds")),
    ("rating", "a review's stars, an integer 1..5 (4 or 5: positive); required for a review, else optional"),
    (
        "target_id",
        "the seller it concerns, the platform's own seller id (silver writes the platform, ':' and this id; the "
        "generator sends one with a seller_chat, review or qa); required for a seller_chat, else optional",
    ),
    ("duration_s", "watch time of a live stream, an integer count of seconds, 0 or more"),
)

# After-sales system: CSV with a header.
SERVICE_EVENTS = _strings(
    ("ticket_id", "the after-sales ticket's id; with the platform, its key"),
    ("order_ref", "the order it is about: its order id on its platform"),
    ("platform", _PLATFORM),
    ("user_id", _MEMBER),
    ("type", "REFUND | RETURN | DISPUTE"),
    (
        "amount",
        "the money it moves, a decimal string in units of currency (yuan for CNY), e.g. 179.00; more than 0 (0 allowed "
        "for a DISPUTE) and, in CNY, at most conform.max_order_amount_cny",
    ),
    ("currency", _CURRENCY.format(amount="amount")),
    ("created_at", _wall_clock_time("when the ticket was created", "yyyy-MM-dd HH:mm:ss")),
    (
        "status",
        "the ticket's state as the after-sales system names it (the generator sends COMPLETED | OPEN | "
        "RESOLVED_BUYER | RESOLVED_SELLER); kept as sent, not checked",
    ),
)

# APASS program reviews: JSON lines, one per review of an account, a year after its invitation.
APASS_REVIEWS = _strings(
    ("review_id", "the review's id, its key"),
    ("member_id", f"who was reviewed: {_MEMBER}"),
    (
        "kind",
        "MEMBERSHIP (a member's yearly review) | ASSESSMENT (the review panel's verdict on an account it followed "
        "for a year; makes nobody a member), in any case",
    ),
    (
        "invited_month",
        "the month the reviewed year began, 12 months before the review: a month 'YYYY-MM' (no day, no zone)",
    ),
    ("reviewed_at", _offset_time("when the review decided")),
    ("outcome", "KEPT | REMOVED, in any case"),
    (
        "reason",
        "why the review removed the account: brushing | resale | serial_returns | one_off_purchase | low_activity "
        "(lower case); required when REMOVED, ignored when KEPT",
    ),
)

# Platform risk control: JSON lines, one flag per suspected brushed order.
RISK_FLAGS = _strings(
    ("flag_id", "the flag's id; with the platform, its key"),
    ("order_ref", "the flagged order: its order id on its platform"),
    ("platform", _PLATFORM),
    ("user_id", _MEMBER),
    (
        "rule",
        "the risk-control rule that fired (the generator sends BRUSH_RING | FAKE_LOGISTICS | ABNORMAL_REVIEW); "
        "kept as sent",
    ),
    ("risk_score", "the rule's confidence, a number, not NaN (the generator sends 0.6..1)"),
    ("flagged_at", _offset_time("when the order was flagged")),
)
