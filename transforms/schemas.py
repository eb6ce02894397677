"""One StructType per published table (silver, gold and ops); pipelines end by projecting onto them.

Every column carries its description as the Delta column comment (``DESCRIBE TABLE`` shows it); the
table catalogue (transforms/catalog.py) names each table's schema, partitioning, producing stage and
description, and the docs' table reference is generated from both.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from transforms.domain import CATEGORY_GROUPS, GOODS_KINDS

AMOUNT = T.DecimalType(18, 2)
AMOUNT_SUM = T.DecimalType(22, 2)  # sums of amounts: a member-month or 12 months, exact (no float drift)


# Columns that mean the same in every table they are in, described once.
_COMMON = {
    "user_id": "the member (one account across the platforms)",
    "platform": "a platform of the configured order sources: taobao | tmall | fliggy | taopiaopiao (| eleme)",
    "source": "the source (feed) the row came from",
    "ingest_month": "the landing batch (YYYY-MM) that brought the row",
    "load_id": "the ingest run that loaded it into bronze",
    "month": "YYYY-MM: the month the row is about, the partition",
    "credit_level": "C0..C6, from the credit score",
}


def column(name: str, data_type: T.DataType, nullable: bool, doc: str | None = None) -> T.StructField:
    """A column of a published table; ``doc`` (default: the shared meaning of its name) becomes its Delta
    column comment."""
    doc = doc or _COMMON.get(name)
    if doc is None:
        raise ValueError(f"column {name} has no description")
    return T.StructField(name, data_type, nullable, {"comment": doc})


_LINEAGE = [
    column("source", T.StringType(), False),
    column("ingest_month", T.StringType(), False),
    column("load_id", T.StringType(), False),
]

_EVENT_TIME = [
    column("event_time", T.TimestampType(), False, "when it happened (an instant)"),
    column("event_date", T.DateType(), False, "the Asia/Shanghai calendar day of event_time"),
    column("event_month", T.StringType(), False, "YYYY-MM of event_date, the partition"),
]

_REVIEW_TIME = [  # silver.apass_reviews: the review's decision, from which its label is known
    column("event_time", T.TimestampType(), False, "when the review decided (the label is known from then on)"),
    column("event_date", T.DateType(), False, "the Asia/Shanghai calendar day of event_time"),
    column("event_month", T.StringType(), False, "YYYY-MM of event_date, the partition"),
]

SILVER_ORDERS = T.StructType(
    [
        column(
            "platform",
            T.StringType(),
            False,
            "the platform of the order's source: taobao | tmall | fliggy | taopiaopiao (| eleme)",
        ),
        column("order_id", T.StringType(), False, "the platform's order id; with platform, the natural key"),
        column("user_id", T.LongType(), False, "the member"),
        column("seller_id", T.StringType(), False, "'<platform>:<source seller id>'"),
        column("category", T.StringType(), False, "taxonomy code"),
        column(
            "category_group",
            T.StringType(),
            False,
            " | ".join(CATEGORY_GROUPS),
        ),
        column(
            "item_kind",
            T.StringType(),
            False,
            "the kind of goods (its row of the cap table): " + " | ".join(GOODS_KINDS),
        ),
        column("quantity", T.IntegerType(), False, "items in the order"),
        column("amount_cny", AMOUNT, False, "the order's amount in CNY, converted at conform.fx_to_cny"),
        column("currency", T.StringType(), False, "as sent, before conversion"),
        *_EVENT_TIME,
        column("channel", T.StringType(), False, "mobile | pc"),
        column("is_overseas", T.BooleanType(), False, "a cross-border (global buy) order"),
        column("is_group_buy", T.BooleanType(), False, "a group-buy deal (Juhuasuan)"),
        column("company_invoice", T.BooleanType(), False, "invoiced to a company"),
        column("travel_class", T.StringType(), True, "economy | business | first (flights)"),
        column("hotel_star", T.IntegerType(), True, "1-5 (hotel bookings)"),
        column("risk_flagged", T.BooleanType(), False, "named by a risk-control flag: never scored"),
        column("risk_rule", T.StringType(), True, "the rule of the first flag that named it"),
        *_LINEAGE,
    ]
)

SILVER_INTERACTIONS = T.StructType(
    [
        column("platform", T.StringType(), False),
        column("event_id", T.StringType(), False, "the platform's event id; with platform, the natural key"),
        column("user_id", T.LongType(), False),
        column("kind", T.StringType(), False, "review | qa | like | live | content | seller_chat"),
        column("target_id", T.StringType(), True, "seller for seller_chat"),
        column("rating", T.IntegerType(), True, "1..5 for reviews"),
        column("is_positive", T.BooleanType(), True, "rating >= 4"),
        column("duration_s", T.IntegerType(), True, "live-stream watch time"),
        *_EVENT_TIME,
        *_LINEAGE,
    ]
)

SILVER_ACCOUNTS = T.StructType(
    [
        column("user_id", T.LongType(), False, "the member, one account across the platforms"),
        column("registered_date", T.DateType(), False, "the day the account was opened"),
        column("gender", T.StringType(), False, "M | F | U"),
        column("birth_year", T.IntegerType(), True, "as declared"),
        column("city_tier", T.IntegerType(), True, "1 (Beijing, Shanghai...) .. 5"),
        column("identity_verified", T.BooleanType(), False, "real-name verified"),
        column("mobile_share", T.DoubleType(), True, "device mix: share of sessions on mobile"),
        column(
            "updated_at", T.TimestampType(), False, "when the account record was last changed; the latest record wins"
        ),
        *_LINEAGE,
    ]
)

SILVER_SERVICE_EVENTS = T.StructType(
    [
        column("platform", T.StringType(), False),
        column("ticket_id", T.StringType(), False, "the after-sales ticket; with platform, the natural key"),
        column("order_id", T.StringType(), False, "the order it is about"),
        column("user_id", T.LongType(), False),
        column("kind", T.StringType(), False, "refund | return | dispute"),
        column("amount_cny", AMOUNT, False, "the amount refunded or disputed, in CNY"),
        column(
            "status", T.StringType(), False, "the ticket's status as sent (OPEN, RESOLVED_BUYER, RESOLVED_SELLER, ...)"
        ),
        *_EVENT_TIME,
        *_LINEAGE,
    ]
)

SILVER_RISK_FLAGS = T.StructType(
    [
        column("platform", T.StringType(), False),
        column("flag_id", T.StringType(), False, "the flag; with platform, the natural key"),
        column("order_id", T.StringType(), False, "the order it names (marked in silver.orders)"),
        column("user_id", T.LongType(), False),
        column(
            "rule", T.StringType(), False, "the risk-control rule that fired, as sent (BRUSH_RING, FAKE_LOGISTICS, ...)"
        ),
        column("risk_score", T.DoubleType(), True, "the rule's confidence, 0-1"),
        *_EVENT_TIME,
        *_LINEAGE,
    ]
)

SILVER_APASS_REVIEWS = T.StructType(
    [
        column("review_id", T.StringType(), False, "the yearly review, the natural key"),
        column("user_id", T.LongType(), False),
        column(
            "kind",
            T.StringType(),
            False,
            "membership (a member's yearly review: it keeps or ends the membership) | assessment (a label only)",
        ),
        column("invited_month", T.StringType(), False, "the membership year began here, 12 months before"),
        column("outcome", T.StringType(), False, "kept | removed: the selector's label"),
        column("reason", T.StringType(), True, "removals: brushing | resale | serial_returns | ..."),
        *_REVIEW_TIME,
        *_LINEAGE,
    ]
)

SILVER_QUARANTINE = T.StructType(
    [
        column("source", T.StringType(), False),
        column("ingest_month", T.StringType(), False),
        column("load_id", T.StringType(), False),
        column("reason", T.StringType(), False, "why it was rejected: a reason code of transforms/silver/reasons.py"),
        column("raw", T.StringType(), False, "the bronze row as JSON, or the raw line"),
        column("row_hash", T.StringType(), False, "sha256 of the row as sent"),
        column("source_file", T.StringType(), True, "the landed file it came from"),
    ]
)

OPS_INGEST_MANIFEST = T.StructType(
    [
        column("source", T.StringType(), False),
        column("ingest_month", T.StringType(), False),
        column("file_path", T.StringType(), False, "the landed file"),
        column("file_name", T.StringType(), False, "its name"),
        column("file_size", T.LongType(), False, "bytes"),
        column("content_sha256", T.StringType(), False, "sha256 of its content: a file landed twice is loaded once"),
        column("status", T.StringType(), False, "loaded | replay | rolled back (its rows left bronze: load it again)"),
        column("replay_of", T.StringType(), True, "path of the file first loaded with this content"),
        column("load_id", T.StringType(), False, "the ingest run"),
        column("ingested_at", T.TimestampType(), False, "when"),
    ]
)

OPS_RECONCILIATION = T.StructType(
    [
        column("source", T.StringType(), False),
        column("ingest_month", T.StringType(), False),
        column("load_id", T.StringType(), False),
        column("target", T.StringType(), False, "silver table the valid rows went to"),
        column("rows_in", T.LongType(), False, "rows of the batch in bronze"),
        column("rows_valid", T.LongType(), False, "rows published to silver"),
        column("rows_quarantined", T.LongType(), False, "rows sent to silver.quarantine"),
        column("rows_duplicate", T.LongType(), False, "rows dropped as duplicates of a row of their natural key"),
        column("rows_late", T.LongType(), False, "valid rows whose event month is before the batch"),
        column("balanced", T.BooleanType(), False, "rows_in = valid + quarantined + duplicate"),
        column(
            "event_months",
            T.ArrayType(T.StringType(), False),
            False,
            "months the valid rows fall in (registration months for accounts): what gold must redo",
        ),
        column("conformed_at", T.TimestampType(), False, "when"),
    ]
)

# --------------------------------------------------------------------------- gold


def _longs(**docs: str) -> list[T.StructField]:
    return [column(n, T.LongType(), False, d) for n, d in docs.items()]


def _sums(**docs: str) -> list[T.StructField]:
    return [column(n, AMOUNT_SUM, False, d) for n, d in docs.items()]


PLATFORMS_DOC = "the platforms with a genuine order, in the configured sources' order"
# One bit per taxonomy category in words of 63 bits (transforms.gold.user_month.category_mask).
CATEGORY_MASK = T.ArrayType(T.LongType(), False)
CATEGORY_MASK_DOC = "the taxonomy categories bought from: category id i is bit (i-1) % 63 of word (i-1) // 63"

# Additive partials shared by gold.user_month (one month) and gold.user_features (12 months). Genuine:
# not risk-flagged by the slice's batch; a flag of a later batch takes its order back in that batch (-1).
_ORDER_PARTIALS = [
    *_longs(orders="genuine orders"),
    *_sums(
        spend_cny="genuine spend, before refunds and caps",
        capped_spend_cny="what the shopping score credits: genuine spend after the cap table",
    ),
    *_longs(flagged_orders="risk-flagged orders (never scored)"),
    *_sums(flagged_spend_cny="their amount"),
    column(
        "spend_by_platform_cny",
        T.MapType(T.StringType(), AMOUNT_SUM, False),
        False,
        "genuine spend per platform (a platform without any is absent)",
    ),
    *_sums(
        **{f"spend_{g}_cny": f"genuine spend in the {g} category group" for g in CATEGORY_GROUPS},
        group_buy_spend_cny="genuine spend on group-buy deals (Juhuasuan)",
        overseas_spend_cny="genuine spend on cross-border (global buy) orders",
    ),
    *_longs(overseas_orders="genuine cross-border orders"),
    *_sums(company_invoice_spend_cny="genuine spend invoiced to a company"),
    *_longs(mobile_orders="genuine orders placed on mobile", pc_orders="genuine orders placed on a PC"),
    column("max_order_cny", AMOUNT_SUM, True, "the largest genuine order"),
    *_longs(
        big_orders="genuine orders of 1,000 CNY or more",
        night_orders="genuine orders placed 00:00-05:59 Shanghai time",
        premium_travel_orders="business or first class flights, 5-star hotels",
        first_class_orders="first class flights",
        order_hour_sum="sum of the Shanghai hour (0-23) each genuine order was placed at",
        order_hour_sq_sum="sum of its square: with orders, the spread of shopping times",
    ),
]
_SERVICE_PARTIALS = [
    *_longs(refunds="refund tickets opened", returns="return tickets opened", disputes="disputes opened"),
    *_sums(
        refund_cny="completed refunds and returns",
        capped_refund_cny="the same, each at most the per-order cap of its order's kind",
    ),
]
_INTERACTION_PARTIALS = _longs(
    reviews="reviews written",
    positive_reviews="reviews rated 4 or 5",
    qa="questions and answers posted",
    likes="likes given",
    live="live streams watched",
    content="content posts",
    live_seconds="seconds of live streams watched",
    seller_chats="chats with sellers",
)

GOLD_USER_MONTH = T.StructType(
    [
        column("user_id", T.LongType(), False),
        column("month", T.StringType(), False, "YYYY-MM of the events (Asia/Shanghai), the partition"),
        column("batch", T.StringType(), False, "the landing batch the events arrived in"),
        *_ORDER_PARTIALS,
        column("active_days_mask", T.IntegerType(), False, "bit d-1 set: a genuine order on day d"),
        column("platforms", T.ArrayType(T.StringType(), False), False, PLATFORMS_DOC),
        column("category_mask", CATEGORY_MASK, False, CATEGORY_MASK_DOC),
        column(
            "sellers_sketch",
            T.ArrayType(T.LongType(), False),
            True,
            "KMV sketch (the 256 smallest hashes) of the shops ordered from",
        ),
        *_SERVICE_PARTIALS,
        *_INTERACTION_PARTIALS,
        column("chat_sellers_sketch", T.ArrayType(T.LongType(), False), True, "KMV sketch of the sellers chatted with"),
    ]
)

GOLD_USER_FEATURES = T.StructType(
    [
        column("user_id", T.LongType(), False),
        column("as_of_month", T.StringType(), False, "the window is the 12 months ending here; the partition"),
        # the account, as of the end of the month
        column("registered_date", T.DateType(), True, "the day the account was opened"),
        column("account_age_years", T.DoubleType(), False, "years from registration to the month's end"),
        column("identity_verified", T.BooleanType(), False, "real-name verified"),
        column("gender", T.StringType(), True, "M | F | U"),
        column("birth_year", T.IntegerType(), True, "as declared"),
        column("city_tier", T.IntegerType(), True, "1 (Beijing, Shanghai...) .. 5"),
        column("device_mobile_share", T.DoubleType(), True, "share of sessions on mobile"),
        # the 12-month roll-up of gold.user_month
        *_longs(months_active="months with a genuine order", active_days="days with a genuine order"),
        *_ORDER_PARTIALS,
        *_SERVICE_PARTIALS,
        *_INTERACTION_PARTIALS,
        column("net_spend_cny", AMOUNT_SUM, False, "capped spend - capped refunds, at least 0"),
        column("net_gross_spend_cny", AMOUNT_SUM, False, "spend - refunds, at least 0 (no caps)"),
        column("platforms", T.ArrayType(T.StringType(), False), False, PLATFORMS_DOC),
        *_longs(
            platforms_used="platforms ordered from",
            categories_used="taxonomy categories bought from",
            distinct_sellers="distinct shops ordered from (estimated from the sketches)",
            chat_sellers="distinct sellers chatted with (estimated)",
        ),
        column("category_mask", CATEGORY_MASK, False, CATEGORY_MASK_DOC),
        # score inputs after the monthly caps, and the same without the window's oldest month
        # ("carry": what still counts next month if nothing new happens)
        *_longs(scored_orders="orders the frequency score counts, after the monthly cap"),
        column("interaction_units", T.DoubleType(), False, "weighted interactions after their monthly caps"),
        *_sums(carry_net_spend_cny="net_spend_cny without the window's oldest month"),
        *_longs(
            carry_scored_orders="scored_orders without the window's oldest month",
            carry_active_days="active_days without the window's oldest month",
        ),
        column("carry_interaction_units", T.DoubleType(), False, "interaction_units without the window's oldest month"),
    ]
)

GOLD_SCORES = T.StructType(
    [
        column("user_id", T.LongType(), False),
        column("month", T.StringType(), False),
        # the four published components and their sum
        *[
            column(f"{c}_points", T.IntegerType(), False, f"the {c.replace('_', ' ')} component")
            for c in ("purchase_amount", "purchase_frequency", "interaction", "credit")
        ],
        column("score", T.IntegerType(), False, "the Taoqi score: the sum of the four components"),
        column("band", T.IntegerType(), False, "1: < 300, 2: 300-999, 3: >= 1000, 4: >= 2500"),
        column("grade", T.StringType(), False, "ordinary | super | apass_eligible"),
        column("vip_fee_cny", T.IntegerType(), False, "88VIP yearly fee: 88 or 888"),
        column("credit_score", T.DoubleType(), False, "0-100, the weighted credit dimensions"),
        column("credit_level", T.StringType(), False, "C0..C6"),
        column("previous_score", T.IntegerType(), True, "last month's score (null: not a member then)"),
        column("score_change", T.IntegerType(), True, "score - previous_score"),
        column("growth_perk", T.BooleanType(), False, "rose by at least scoring.growth_perk_rise"),
        column("next_band_gap", T.IntegerType(), True, "points to the next band (null at the top)"),
        column("carry_score", T.IntegerType(), False, "next month's score if nothing new happens"),
        column("keep_band_points", T.IntegerType(), True, "points to earn next month to stay (null: band 1)"),
        column("service_queue", T.StringType(), False, "the customer-service queue of the credit level"),
    ]
)

GOLD_SERVICE_ROUTING = T.StructType(
    [
        column("user_id", T.LongType(), False),
        column("month", T.StringType(), False),
        column("credit_level", T.StringType(), False),
        column("queue", T.StringType(), False, "priority | standard | delayed"),
        column("queue_rank", T.IntegerType(), False, "1 is answered first"),
    ]
)


def _apass_candidates() -> T.StructType:
    from transforms.apass.indicators import INDICATORS  # the catalogue is the selector's

    profile = [
        column("gender", T.StringType(), True, "M | F | U (profile only, never a model input)"),
        column("birth_year", T.IntegerType(), True, "as declared (profile only)"),
        column("city_tier", T.IntegerType(), True, "1 .. 5 (profile only)"),
    ]
    return T.StructType(
        [
            column("user_id", T.LongType(), False),
            column("month", T.StringType(), False),
            column("credit_level", T.StringType(), False),
            column("passes_gates", T.BooleanType(), False, "score >= 2500 and credit >= apass.min_credit_level"),
            column(
                "gate_failures",
                T.ArrayType(T.StringType(), True),
                False,
                "the APASS gates the member fails (empty: passes)",
            ),
            *profile,
            *[
                column(i.name, T.DoubleType(), False, f"{i.family} indicator ({i.window}): {i.definition}")
                for i in INDICATORS
            ],
        ]
    )


GOLD_APASS_CANDIDATES = _apass_candidates()

GOLD_APASS_SELECTION = T.StructType(
    [
        column("user_id", T.LongType(), False),
        column("month", T.StringType(), False),
        column("model_version", T.IntegerType(), False, "apass_selector version (the champion then)"),
        column("model_score", T.DoubleType(), True, "P(kept at the yearly review); null: gated out"),
        column("rank", T.IntegerType(), True, "among the members past the gates, 1 = best"),
        column("invited", T.BooleanType(), False, "invited to APASS this month"),
        column(
            "decision",
            T.StringType(),
            False,
            "invited | invited_by_override | member (already) | waitlisted | gated_out | excluded_by_override",
        ),
        column("override_reason", T.StringType(), True, "the reason of the override that decided, if any"),
        column("reason_codes", T.ArrayType(T.StringType(), True), False, "failed gates first, then features"),
        column("capacity", T.IntegerType(), False, "invitations the month allows: the target less the stock"),
        column("target_stock", T.IntegerType(), False, "members the program holds: ceil(members x member_share)"),
    ]
)

GOLD_APASS_PROFILE = T.StructType(
    [
        column("month", T.StringType(), False),
        column("figure", T.StringType(), False, "the published figure compared"),
        column("measured", T.StringType(), False, "over the invited candidates of the month"),
        column("published", T.StringType(), False, "the published APASS figure or range"),
        column("within", T.BooleanType(), True, "within the published range; null: no range published"),
    ]
)

GOLD_APASS_RENEWALS = T.StructType(
    [
        column("user_id", T.LongType(), False),
        column("expiry_year", T.IntegerType(), False, "the partition: `taoqi renew --year`"),
        column("membership_start", T.StringType(), False, "first month of the membership year"),
        column("expiry_month", T.StringType(), False, "last month of it"),
        column("source", T.StringType(), False, "how the membership began: invitation | override | review"),
        column("as_of_month", T.StringType(), False, "data up to this month's batch"),
        column("qualifying_spend_cny", AMOUNT_SUM, False, "genuine spend net of refunds, membership year"),
        column(
            "a_energy_points",
            T.DoubleType(),
            False,
            "A-energy points of the membership year so far: 60 per 100,000 CNY of qualifying spend",
        ),
        column("passed", T.BooleanType(), True, "null while the year runs"),
        column(
            "warning_month",
            T.StringType(),
            False,
            "one month before expiry: members still below the pass mark are warned",
        ),
        column("points_at_warning", T.DoubleType(), True, "null before the warning month"),
        column("warned", T.BooleanType(), True, "below the pass mark at the warning month"),
        column("status", T.StringType(), False, "passed | failed | in_progress"),
    ]
)

GOLD_APASS_MEMBERS = T.StructType(
    [
        column("user_id", T.LongType(), False),
        column("month", T.StringType(), False, "the partition"),
        column("member_since", T.StringType(), False, "first month of the membership"),
        column("joined_by", T.StringType(), False, "invitation | override | review (the program's member before)"),
        column("membership_year", T.IntegerType(), False, "1 in the first year, one more each year renewed"),
        column("year_start", T.StringType(), False, "first month of the current membership year"),
        column("expiry_month", T.StringType(), False, "last month of it: the A-energy points decide then"),
        column("status", T.StringType(), False, "active | warned (both in the stock) | lapsed | removed (ended now)"),
        column("ended_by", T.StringType(), True, "renewal | review | override; null while the membership runs"),
        column(
            "a_energy_points",
            T.DoubleType(),
            True,
            "the year's points as the month's batch knows them, in its warning and its last month",
        ),
        column("renewal", T.StringType(), True, "passed | failed, in the year's last month"),
        column("override_author", T.StringType(), True, "who decided the override that invited or removed"),
        column("override_reason", T.StringType(), True, "why, as the override says"),
    ]
)

GOLD_PERSONAS = T.StructType(
    [
        column("user_id", T.LongType(), False),
        column("month", T.StringType(), False),
        column("segment", T.IntegerType(), False, "the KMeans cluster of the month's model"),
        column("persona", T.StringType(), False, "the segment's persona by the mapping rules, or other"),
        column("distance", T.DoubleType(), False, "to the segment's centroid, in scaled feature units"),
        column("model_version", T.IntegerType(), True, "the registered persona model (null: not logged)"),
    ]
)

GOLD_PERSONA_PROFILES = T.StructType(
    [
        column("month", T.StringType(), False),
        column(
            "persona",
            T.StringType(),
            False,
            "quality_lifestyle | paycheck_shopaholic | shrewd_pragmatist | elegant_leisure | other",
        ),
        column("attribute", T.StringType(), False, "members | a numeric attribute | top_category | gender ..."),
        column("level", T.StringType(), True, "the category of a categorical attribute or top_category"),
        column("members", T.LongType(), False, "the persona's size"),
        column("value", T.DoubleType(), True, "the persona's mean, or its share of the level"),
        column("rest_value", T.DoubleType(), True, "the same over the rest of the population"),
        column("test", T.StringType(), True, "welch_t | chi_square"),
        column("statistic", T.DoubleType(), True, "Welch's t"),
        column("p_value", T.DoubleType(), True, "of the test"),
        column("pearson_residual", T.DoubleType(), True, "(observed - expected) / sqrt(expected)"),
        column("significant", T.BooleanType(), True, "p_value < personas.alpha"),
    ]
)

OPS_GOLD_LOG = T.StructType(
    [
        column("gold_table", T.StringType(), False, "e.g. gold.scores"),
        column("month", T.StringType(), False),
        column("settings", T.StringType(), False, "fingerprint of the settings the rows depend on"),
        column("rows", T.LongType(), False, "rows written"),
        column("computed_at", T.TimestampType(), False, "when"),
    ]
)

OPS_QUALITY_RESULTS = T.StructType(
    [
        column("run_id", T.StringType(), False, "one per CLI invocation"),
        column("stage", T.StringType(), False, "the taoqi stage that validated"),
        column("month", T.StringType(), False, "the newest month or batch of the validated slice"),
        column("table_name", T.StringType(), False, "the table validated, e.g. silver.orders"),
        column("check_name", T.StringType(), False, "the suite's name for it (quality.severity keys)"),
        column("expectation", T.StringType(), False, "the GE expectation type"),
        column("column_name", T.StringType(), True, "the column checked, if one"),
        column("severity", T.StringType(), False, "critical | warning"),
        column("success", T.BooleanType(), False, "the check passed"),
        column("observed_value", T.StringType(), True, "JSON of GE's observed value"),
        column("unexpected_count", T.LongType(), True, "rows that failed the check"),
        column("unexpected_percent", T.DoubleType(), True, "their share of element_count, in percent"),
        column("element_count", T.LongType(), True, "rows checked"),
        column("validated_at", T.TimestampType(), False, "when"),
    ]
)

OPS_APASS_OVERRIDES = T.StructType(
    [
        column("user_id", T.LongType(), False),
        column("month", T.StringType(), False, "the selection month it applies to"),
        column("action", T.StringType(), False, "invite | exclude"),
        column("reason", T.StringType(), False, "why, in the author's words"),
        column("author", T.StringType(), False, "who made the override"),
        column("created_at", T.TimestampType(), False, "the latest override of a member and month wins"),
    ]
)

# `taoqi rollback`: every Delta RESTORE of a published table, who and why (append-only).
OPS_AUDIT = T.StructType(
    [
        column("at", T.TimestampType(), False, "when"),
        column("action", T.StringType(), False, "rollback"),
        column("table_name", T.StringType(), False, "e.g. gold.scores"),
        column("from_version", T.LongType(), False, "the version that was current"),
        column("to_version", T.LongType(), False, "the version whose state was restored"),
        column("new_version", T.LongType(), False, "the RESTORE commit"),
        column("author", T.StringType(), False, "who restored"),
        column("reason", T.StringType(), False, "why, in the author's words"),
    ]
)

OPS_FORGOTTEN = T.StructType(
    [
        column(
            "member_digest", T.StringType(), False, "HMAC-SHA256 of the member id under the pseudonym key, never the id"
        ),
        column("table_name", T.StringType(), False, "a table the member's rows were deleted from"),
        column("rows_deleted", T.LongType(), False, "rows deleted from it, of every member of the same call"),
        column(
            "version",
            T.LongType(),
            False,
            "its Delta version after the deletion: rollback never restores an earlier one",
        ),
        column("requested_at", T.TimestampType(), False, "when the deletion ran"),
        column("author", T.StringType(), False, "who carried it out"),
        column("reason", T.StringType(), False, "the request, in the author's words"),
    ]
)

OPS_STABILITY = T.StructType(
    [
        column("month", T.StringType(), False),
        column("metric", T.StringType(), False, "score, <component>_points, grade"),
        column("previous_month", T.StringType(), False, "the month compared against"),
        column("bins", T.IntegerType(), False, "fixed bins of the metric"),
        column("psi", T.DoubleType(), False, "population stability index vs previous_month"),
        column("members", T.LongType(), False, "members this month"),
        column("previous_members", T.LongType(), False, "members in previous_month"),
    ]
)


def conform_to(df: DataFrame, schema: T.StructType) -> DataFrame:
    """Project and cast ``df`` onto ``schema`` in one select (column order and types of the table)."""
    return df.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])
