"""One StructType per published table (silver, gold and ops); pipelines end by projecting onto them."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

AMOUNT = T.DecimalType(18, 2)
AMOUNT_SUM = T.DecimalType(22, 2)  # sums of amounts: a member-month or 12 months, exact (no float drift)

_LINEAGE = [
    T.StructField("source", T.StringType(), False),
    T.StructField("ingest_month", T.StringType(), False),
    T.StructField("load_id", T.StringType(), False),
]

_EVENT_TIME = [
    T.StructField("event_time", T.TimestampType(), False),
    T.StructField("event_date", T.DateType(), False),  # Asia/Shanghai calendar day
    T.StructField("event_month", T.StringType(), False),  # YYYY-MM of event_date, the partition
]

SILVER_ORDERS = T.StructType([
    T.StructField("platform", T.StringType(), False),
    T.StructField("order_id", T.StringType(), False),
    T.StructField("user_id", T.LongType(), False),
    T.StructField("seller_id", T.StringType(), False),  # "<platform>:<source seller id>"
    T.StructField("category", T.StringType(), False),  # taxonomy code
    T.StructField("category_group", T.StringType(), False),
    T.StructField("item_kind", T.StringType(), False),  # physical | virtual
    T.StructField("quantity", T.IntegerType(), False),
    T.StructField("amount_cny", AMOUNT, False),
    T.StructField("currency", T.StringType(), False),  # as sent, before conversion
    *_EVENT_TIME,
    T.StructField("channel", T.StringType(), False),  # mobile | pc
    T.StructField("is_overseas", T.BooleanType(), False),
    T.StructField("is_group_buy", T.BooleanType(), False),
    T.StructField("company_invoice", T.BooleanType(), False),
    T.StructField("travel_class", T.StringType(), True),  # economy | business | first (flights)
    T.StructField("hotel_star", T.IntegerType(), True),
    T.StructField("risk_flagged", T.BooleanType(), False),
    T.StructField("risk_rule", T.StringType(), True),
    *_LINEAGE,
])

SILVER_INTERACTIONS = T.StructType([
    T.StructField("platform", T.StringType(), False),
    T.StructField("event_id", T.StringType(), False),
    T.StructField("user_id", T.LongType(), False),
    T.StructField("kind", T.StringType(), False),  # review | qa | like | live | content | seller_chat
    T.StructField("target_id", T.StringType(), True),  # seller for seller_chat
    T.StructField("rating", T.IntegerType(), True),  # 1..5 for reviews
    T.StructField("is_positive", T.BooleanType(), True),  # rating >= 4
    T.StructField("duration_s", T.IntegerType(), True),  # live-stream watch time
    *_EVENT_TIME,
    *_LINEAGE,
])

SILVER_ACCOUNTS = T.StructType([
    T.StructField("user_id", T.LongType(), False),
    T.StructField("registered_date", T.DateType(), False),
    T.StructField("gender", T.StringType(), False),  # M | F | U
    T.StructField("birth_year", T.IntegerType(), True),
    T.StructField("city_tier", T.IntegerType(), True),  # 1 (Beijing, Shanghai...) .. 5
    T.StructField("identity_verified", T.BooleanType(), False),
    T.StructField("mobile_share", T.DoubleType(), True),  # device mix: share of sessions on mobile
    T.StructField("updated_at", T.TimestampType(), False),
    *_LINEAGE,
])

SILVER_SERVICE_EVENTS = T.StructType([
    T.StructField("platform", T.StringType(), False),
    T.StructField("ticket_id", T.StringType(), False),
    T.StructField("order_id", T.StringType(), False),
    T.StructField("user_id", T.LongType(), False),
    T.StructField("kind", T.StringType(), False),  # refund | return | dispute
    T.StructField("amount_cny", AMOUNT, False),
    T.StructField("status", T.StringType(), False),
    *_EVENT_TIME,
    *_LINEAGE,
])

SILVER_RISK_FLAGS = T.StructType([
    T.StructField("platform", T.StringType(), False),
    T.StructField("flag_id", T.StringType(), False),
    T.StructField("order_id", T.StringType(), False),
    T.StructField("user_id", T.LongType(), False),
    T.StructField("rule", T.StringType(), False),
    T.StructField("risk_score", T.DoubleType(), True),
    *_EVENT_TIME,
    *_LINEAGE,
])

SILVER_APASS_REVIEWS = T.StructType([
    T.StructField("review_id", T.StringType(), False),
    T.StructField("user_id", T.LongType(), False),
    T.StructField("invited_month", T.StringType(), False),  # the membership year began here, 12 months before
    T.StructField("outcome", T.StringType(), False),  # kept | removed: the selector's label
    T.StructField("reason", T.StringType(), True),  # removals: brushing | resale | serial_returns | ...
    *_EVENT_TIME,  # when the review decided (the label is known from then on)
    *_LINEAGE,
])

SILVER_QUARANTINE = T.StructType([
    T.StructField("source", T.StringType(), False),
    T.StructField("ingest_month", T.StringType(), False),
    T.StructField("load_id", T.StringType(), False),
    T.StructField("reason", T.StringType(), False),  # transforms.silver.reasons
    T.StructField("raw", T.StringType(), False),  # the bronze row as JSON, or the raw line
    T.StructField("row_hash", T.StringType(), False),
    T.StructField("source_file", T.StringType(), True),
])

OPS_INGEST_MANIFEST = T.StructType([
    T.StructField("source", T.StringType(), False),
    T.StructField("ingest_month", T.StringType(), False),
    T.StructField("file_path", T.StringType(), False),
    T.StructField("file_name", T.StringType(), False),
    T.StructField("file_size", T.LongType(), False),
    T.StructField("content_sha256", T.StringType(), False),
    T.StructField("status", T.StringType(), False),  # loaded | replay
    T.StructField("replay_of", T.StringType(), True),  # path of the file first loaded with this content
    T.StructField("load_id", T.StringType(), False),
    T.StructField("ingested_at", T.TimestampType(), False),
])

OPS_RECONCILIATION = T.StructType([
    T.StructField("source", T.StringType(), False),
    T.StructField("ingest_month", T.StringType(), False),
    T.StructField("load_id", T.StringType(), False),
    T.StructField("target", T.StringType(), False),  # silver table the valid rows went to
    T.StructField("rows_in", T.LongType(), False),
    T.StructField("rows_valid", T.LongType(), False),
    T.StructField("rows_quarantined", T.LongType(), False),
    T.StructField("rows_duplicate", T.LongType(), False),
    T.StructField("rows_late", T.LongType(), False),  # valid rows whose event month is before the batch
    T.StructField("balanced", T.BooleanType(), False),  # rows_in = valid + quarantined + duplicate
    # months the valid rows fall in (event months; registration months for accounts): what gold must redo
    T.StructField("event_months", T.ArrayType(T.StringType(), False), False),
    T.StructField("conformed_at", T.TimestampType(), False),
])

# --------------------------------------------------------------------------- gold

_PLATFORMS = ("taobao", "tmall", "fliggy", "taopiaopiao")
_GROUPS = ("everyday", "luxury", "hobby", "family", "jewelry", "office", "topup", "travel", "tickets", "whale")


def _longs(*names: str) -> list[T.StructField]:
    return [T.StructField(n, T.LongType(), False) for n in names]


def _sums(*names: str) -> list[T.StructField]:
    return [T.StructField(n, AMOUNT_SUM, False) for n in names]


# Additive partials shared by gold.user_month (one month) and gold.user_features (12 months).
_ORDER_PARTIALS = [
    *_longs("orders"),  # genuine orders: risk-flagged ones excluded (a slice may take one back: -1)
    *_sums("spend_cny",  # genuine spend, before refunds and caps
           "capped_spend_cny"),  # what the shopping score credits: after the cap table
    *_longs("flagged_orders"), *_sums("flagged_spend_cny"),
    *_sums(*[f"spend_{p}_cny" for p in _PLATFORMS], *[f"spend_{g}_cny" for g in _GROUPS],
           "group_buy_spend_cny", "overseas_spend_cny"),
    *_longs("overseas_orders"), *_sums("company_invoice_spend_cny"),
    *_longs("mobile_orders", "pc_orders"),
    T.StructField("max_order_cny", AMOUNT_SUM, True),
    *_longs("big_orders",  # genuine orders of 1,000 CNY or more
            "night_orders",  # placed 00:00-05:59 Shanghai
            "premium_travel_orders",  # business or first class flights, 5-star hotels
            "first_class_orders",
            "order_hour_sum",  # sum of the Shanghai hour (0-23) each order was placed at
            "order_hour_sq_sum"),  # sum of its square: with orders, the spread of shopping times
]
_SERVICE_PARTIALS = [
    *_longs("refunds", "returns", "disputes"),
    *_sums("refund_cny",  # completed refunds and returns
           "capped_refund_cny"),  # each at most the per-order cap of its platform's kind
]
_INTERACTION_PARTIALS = _longs("reviews", "positive_reviews", "qa", "likes", "live", "content", "live_seconds",
                               "seller_chats")

GOLD_USER_MONTH = T.StructType([
    T.StructField("user_id", T.LongType(), False),
    T.StructField("month", T.StringType(), False),  # YYYY-MM of the events (Asia/Shanghai), the partition
    T.StructField("batch", T.StringType(), False),  # the landing batch the events arrived in
    *_ORDER_PARTIALS,
    T.StructField("active_days_mask", T.IntegerType(), False),  # bit d-1: a genuine order on day d
    T.StructField("platform_mask", T.IntegerType(), False),  # bits: taobao, tmall, fliggy, taopiaopiao
    T.StructField("category_mask", T.LongType(), False),  # bit id-1 of each taxonomy category bought
    T.StructField("sellers_sketch", T.ArrayType(T.LongType(), False), True),  # KMV sketch of the shops ordered from
    *_SERVICE_PARTIALS,
    *_INTERACTION_PARTIALS,
    T.StructField("chat_sellers_sketch", T.ArrayType(T.LongType(), False), True),  # KMV sketch of sellers chatted with
])

GOLD_USER_FEATURES = T.StructType([
    T.StructField("user_id", T.LongType(), False),
    T.StructField("as_of_month", T.StringType(), False),  # the window is the 12 months ending here; the partition
    # the account, as of the end of the month
    T.StructField("registered_date", T.DateType(), True),
    T.StructField("account_age_years", T.DoubleType(), False),
    T.StructField("identity_verified", T.BooleanType(), False),
    T.StructField("gender", T.StringType(), True),
    T.StructField("birth_year", T.IntegerType(), True),
    T.StructField("city_tier", T.IntegerType(), True),
    T.StructField("device_mobile_share", T.DoubleType(), True),
    # the 12-month roll-up of gold.user_month
    *_longs("months_active",  # months with a genuine order
            "active_days"),  # days with a genuine order
    *_ORDER_PARTIALS,
    *_SERVICE_PARTIALS,
    *_INTERACTION_PARTIALS,
    T.StructField("net_spend_cny", AMOUNT_SUM, False),  # capped spend - capped refunds, at least 0
    T.StructField("net_gross_spend_cny", AMOUNT_SUM, False),  # spend - refunds, at least 0 (no caps)
    T.StructField("platform_mask", T.IntegerType(), False),
    *_longs("platforms_used", "categories_used", "distinct_sellers", "chat_sellers"),
    T.StructField("category_mask", T.LongType(), False),
    # score inputs after the monthly caps, and the same without the window's oldest month
    # ("carry": what still counts next month if nothing new happens)
    *_longs("scored_orders"), T.StructField("interaction_units", T.DoubleType(), False),
    *_sums("carry_net_spend_cny"), *_longs("carry_scored_orders", "carry_active_days"),
    T.StructField("carry_interaction_units", T.DoubleType(), False),
])

GOLD_SCORES = T.StructType([
    T.StructField("user_id", T.LongType(), False),
    T.StructField("month", T.StringType(), False),  # the partition
    # the four published components and their sum
    *[T.StructField(f"{c}_points", T.IntegerType(), False)
      for c in ("purchase_amount", "purchase_frequency", "interaction", "credit")],
    T.StructField("score", T.IntegerType(), False),
    T.StructField("band", T.IntegerType(), False),  # 1: < 300, 2: 300-999, 3: >= 1000, 4: >= 2500
    T.StructField("grade", T.StringType(), False),  # ordinary | super | apass_eligible
    T.StructField("vip_fee_cny", T.IntegerType(), False),  # 88VIP yearly fee: 88 or 888
    T.StructField("credit_score", T.DoubleType(), False),  # 0-100, the weighted credit dimensions
    T.StructField("credit_level", T.StringType(), False),  # C0..C6
    T.StructField("previous_score", T.IntegerType(), True),  # last month's score (null: not a member then)
    T.StructField("score_change", T.IntegerType(), True),
    T.StructField("growth_perk", T.BooleanType(), False),  # rose by at least scoring.growth_perk_rise
    T.StructField("next_band_gap", T.IntegerType(), True),  # points to the next band (null at the top)
    T.StructField("carry_score", T.IntegerType(), False),  # next month's score if nothing new happens
    T.StructField("keep_band_points", T.IntegerType(), True),  # points to earn next month to stay (null: band 1)
    T.StructField("service_queue", T.StringType(), False),
])

GOLD_SERVICE_ROUTING = T.StructType([
    T.StructField("user_id", T.LongType(), False),
    T.StructField("month", T.StringType(), False),
    T.StructField("credit_level", T.StringType(), False),
    T.StructField("queue", T.StringType(), False),
    T.StructField("queue_rank", T.IntegerType(), False),  # 1 is answered first
])

def _apass_candidates() -> T.StructType:
    from transforms.apass.indicators import NAMES, PROFILE_COLUMNS  # the catalogue is the selector's

    profile_types = {"gender": T.StringType(), "birth_year": T.IntegerType(), "city_tier": T.IntegerType()}
    return T.StructType([
        T.StructField("user_id", T.LongType(), False),
        T.StructField("month", T.StringType(), False),  # the partition
        T.StructField("credit_level", T.StringType(), False),
        T.StructField("passes_gates", T.BooleanType(), False),  # score >= 2500 and credit >= apass.min_credit_level
        T.StructField("gate_failures", T.ArrayType(T.StringType(), True), False),
        *[T.StructField(c, profile_types[c], True) for c in PROFILE_COLUMNS],  # profile only, never model inputs
        *[T.StructField(n, T.DoubleType(), False) for n in NAMES],
    ])


GOLD_APASS_CANDIDATES = _apass_candidates()

GOLD_APASS_SELECTION = T.StructType([
    T.StructField("user_id", T.LongType(), False),
    T.StructField("month", T.StringType(), False),  # the partition
    T.StructField("model_version", T.IntegerType(), False),  # apass_selector version (the champion then)
    T.StructField("model_score", T.DoubleType(), True),  # P(kept at the yearly review); null: gated out
    T.StructField("rank", T.IntegerType(), True),  # among the members past the gates, 1 = best
    T.StructField("invited", T.BooleanType(), False),
    # invited | invited_by_override | waitlisted | gated_out | excluded_by_override
    T.StructField("decision", T.StringType(), False),
    T.StructField("override_reason", T.StringType(), True),
    T.StructField("reason_codes", T.ArrayType(T.StringType(), True), False),  # failed gates first, then features
    T.StructField("capacity", T.IntegerType(), False),  # invitations the month allows
])

GOLD_APASS_PROFILE = T.StructType([
    T.StructField("month", T.StringType(), False),  # the partition
    T.StructField("figure", T.StringType(), False),
    T.StructField("measured", T.StringType(), False),  # over the invited candidates of the month
    T.StructField("published", T.StringType(), False),  # the published APASS figure or range
    T.StructField("within", T.BooleanType(), True),  # within the published range; null: no range published
])

GOLD_APASS_RENEWALS = T.StructType([
    T.StructField("user_id", T.LongType(), False),
    T.StructField("expiry_year", T.IntegerType(), False),  # the partition: `taoqi renew --year`
    T.StructField("membership_start", T.StringType(), False),  # first month of the membership year
    T.StructField("expiry_month", T.StringType(), False),  # last month of it
    T.StructField("source", T.StringType(), False),  # review (kept at a yearly review) | invitation
    T.StructField("as_of_month", T.StringType(), False),  # data up to this month's batch
    T.StructField("qualifying_spend_cny", AMOUNT_SUM, False),  # genuine spend net of refunds, membership year
    T.StructField("a_energy_points", T.DoubleType(), False),
    T.StructField("passed", T.BooleanType(), True),  # null while the year runs
    T.StructField("warning_month", T.StringType(), False),
    T.StructField("points_at_warning", T.DoubleType(), True),  # null before the warning month
    T.StructField("warned", T.BooleanType(), True),  # below the pass mark at the warning month
    T.StructField("status", T.StringType(), False),  # passed | failed | in_progress
])

GOLD_PERSONAS = T.StructType([
    T.StructField("user_id", T.LongType(), False),
    T.StructField("month", T.StringType(), False),  # the partition
    T.StructField("segment", T.IntegerType(), False),  # the KMeans cluster of the month's model
    T.StructField("persona", T.StringType(), False),  # the segment's persona by the mapping rules, or other
    T.StructField("distance", T.DoubleType(), False),  # to the segment's centroid, in scaled feature units
    T.StructField("model_version", T.IntegerType(), True),  # the registered persona model (null: not logged)
])

GOLD_PERSONA_PROFILES = T.StructType([
    T.StructField("month", T.StringType(), False),  # the partition
    T.StructField("persona", T.StringType(), False),
    T.StructField("attribute", T.StringType(), False),  # members | a numeric attribute | top_category | gender ...
    T.StructField("level", T.StringType(), True),  # the category of a categorical attribute or top_category
    T.StructField("members", T.LongType(), False),  # the persona's size
    T.StructField("value", T.DoubleType(), True),  # the persona's mean, or its share of the level
    T.StructField("rest_value", T.DoubleType(), True),  # the same over the rest of the population
    T.StructField("test", T.StringType(), True),  # welch_t | chi_square
    T.StructField("statistic", T.DoubleType(), True),  # Welch's t
    T.StructField("p_value", T.DoubleType(), True),
    T.StructField("pearson_residual", T.DoubleType(), True),  # (observed - expected) / sqrt(expected)
    T.StructField("significant", T.BooleanType(), True),  # p_value < personas.alpha
])

GOLD_TABLES = {
    "user_month": (GOLD_USER_MONTH, "month"),
    "user_features": (GOLD_USER_FEATURES, "as_of_month"),
    "scores": (GOLD_SCORES, "month"),
    "service_routing": (GOLD_SERVICE_ROUTING, "month"),
    "apass_candidates": (GOLD_APASS_CANDIDATES, "month"),
    "apass_selection": (GOLD_APASS_SELECTION, "month"),
    "apass_profile": (GOLD_APASS_PROFILE, "month"),
    "apass_renewals": (GOLD_APASS_RENEWALS, "expiry_year"),
    "personas": (GOLD_PERSONAS, "month"),
    "persona_profiles": (GOLD_PERSONA_PROFILES, "month"),
}

OPS_GOLD_LOG = T.StructType([
    T.StructField("gold_table", T.StringType(), False),  # e.g. gold.scores
    T.StructField("month", T.StringType(), False),
    T.StructField("settings", T.StringType(), False),  # fingerprint of the settings the rows depend on
    T.StructField("rows", T.LongType(), False),
    T.StructField("computed_at", T.TimestampType(), False),
])

OPS_QUALITY_RESULTS = T.StructType([
    T.StructField("run_id", T.StringType(), False),  # one per CLI invocation
    T.StructField("stage", T.StringType(), False),
    T.StructField("month", T.StringType(), False),  # the newest month or batch of the validated slice
    T.StructField("table_name", T.StringType(), False),
    T.StructField("check_name", T.StringType(), False),  # the suite's name for it (quality.severity keys)
    T.StructField("expectation", T.StringType(), False),  # the GE expectation type
    T.StructField("column_name", T.StringType(), True),
    T.StructField("severity", T.StringType(), False),  # critical | warning
    T.StructField("success", T.BooleanType(), False),
    T.StructField("observed_value", T.StringType(), True),  # JSON of GE's observed value
    T.StructField("unexpected_count", T.LongType(), True),
    T.StructField("unexpected_percent", T.DoubleType(), True),
    T.StructField("element_count", T.LongType(), True),
    T.StructField("validated_at", T.TimestampType(), False),
])

OPS_APASS_OVERRIDES = T.StructType([
    T.StructField("user_id", T.LongType(), False),
    T.StructField("month", T.StringType(), False),  # the selection month it applies to
    T.StructField("action", T.StringType(), False),  # invite | exclude
    T.StructField("reason", T.StringType(), False),
    T.StructField("author", T.StringType(), False),
    T.StructField("created_at", T.TimestampType(), False),  # the latest override of a member and month wins
])

# `taoqi rollback`: every Delta RESTORE of a published table, who and why (append-only).
OPS_AUDIT = T.StructType([
    T.StructField("at", T.TimestampType(), False),
    T.StructField("action", T.StringType(), False),  # rollback
    T.StructField("table_name", T.StringType(), False),  # e.g. gold.scores
    T.StructField("from_version", T.LongType(), False),  # the version that was current
    T.StructField("to_version", T.LongType(), False),  # the version whose state was restored
    T.StructField("new_version", T.LongType(), False),  # the RESTORE commit
    T.StructField("author", T.StringType(), False),
    T.StructField("reason", T.StringType(), False),
])

OPS_STABILITY = T.StructType([
    T.StructField("month", T.StringType(), False),
    T.StructField("metric", T.StringType(), False),  # score, <component>_points, grade
    T.StructField("previous_month", T.StringType(), False),
    T.StructField("bins", T.IntegerType(), False),
    T.StructField("psi", T.DoubleType(), False),  # population stability index vs previous_month
    T.StructField("members", T.LongType(), False),
    T.StructField("previous_members", T.LongType(), False),
])

SILVER_TABLES = {
    "orders": SILVER_ORDERS,
    "interactions": SILVER_INTERACTIONS,
    "accounts": SILVER_ACCOUNTS,
    "service_events": SILVER_SERVICE_EVENTS,
    "risk_flags": SILVER_RISK_FLAGS,
    "apass_reviews": SILVER_APASS_REVIEWS,
}


def conform_to(df: DataFrame, schema: T.StructType) -> DataFrame:
    """Project and cast ``df`` onto ``schema`` in one select (column order and types of the table)."""
    return df.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])
