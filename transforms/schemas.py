"""One StructType per published table (silver and ops); pipelines end by projecting onto them."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

AMOUNT = T.DecimalType(18, 2)

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
    T.StructField("conformed_at", T.TimestampType(), False),
])

SILVER_TABLES = {
    "orders": SILVER_ORDERS,
    "interactions": SILVER_INTERACTIONS,
    "accounts": SILVER_ACCOUNTS,
    "service_events": SILVER_SERVICE_EVENTS,
    "risk_flags": SILVER_RISK_FLAGS,
}


def conform_to(df: DataFrame, schema: T.StructType) -> DataFrame:
    """Project and cast ``df`` onto ``schema`` in one select (column order and types of the table)."""
    return df.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])
