"""The landing contract: each source's file format and fields exactly as the source sends them.

The generator writes these shapes and the bronze reader reads them. Text
formats (JSON lines, CSV, TSV) are read with every field as a string so a
type change in a feed cannot lose a row: parsing and typing happen in the
conformers, where a bad value is quarantined with a reason.
"""

from __future__ import annotations

from pyspark.sql import types as T

# The ISO 8601 form with a UTC offset that Tmall (PaidAt) and risk control (flagged_at) send,
# e.g. 2025-03-14T19:30:05+08:00 (the pattern letters that print and read the offset are XXX).
ISO_OFFSET_TIME = "yyyy-MM-dd'T'HH:mm:ssXXX"


def _strings(*names: str) -> T.StructType:
    return T.StructType([T.StructField(n, T.StringType(), True) for n in names])


# Taobao (C2C marketplace): JSON lines, amounts in fen (1/100 CNY), pay_time in epoch seconds.
TAOBAO_ORDERS = _strings(
    "order_id",
    "buyer_id",
    "seller_id",
    "cat_id",
    "quantity",
    "total_fee",
    "currency",
    "pay_time",
    "terminal",
    "group_buy",
    "global_buy",
)

# Tmall (B2C brand stores): CSV with a header, its own column names, amounts as yuan strings,
# PaidAt as ISO 8601 with offset, Channel APP|PC, CrossBorder Y|N, InvoiceType PERSONAL|COMPANY|NONE,
# Juhuasuan Y|N (bought in a Juhuasuan group-buy deal).
TMALL_ORDERS = _strings(
    "TradeNo",
    "MemberId",
    "ShopId",
    "CategoryCode",
    "Qty",
    "PayAmount",
    "Currency",
    "PaidAt",
    "Channel",
    "CrossBorder",
    "InvoiceType",
    "Juhuasuan",
)

# Fliggy (travel): Parquet with nested fields; booked_at is a UTC instant.
FLIGGY_BOOKINGS = T.StructType(
    [
        T.StructField("booking_id", T.StringType(), True),
        T.StructField(
            "traveller",
            T.StructType(
                [
                    T.StructField("member_id", T.LongType(), True),
                    T.StructField("traveller_count", T.IntegerType(), True),
                ]
            ),
            True,
        ),
        T.StructField(
            "product",
            T.StructType(
                [
                    T.StructField("type", T.StringType(), True),  # FLIGHT | HOTEL | TRAIN | PACKAGE
                    T.StructField("cabin_class", T.StringType(), True),  # ECONOMY | BUSINESS | FIRST (flights)
                    T.StructField("hotel_star", T.IntegerType(), True),  # 1..5 (hotels, packages)
                    T.StructField(
                        "destination",
                        T.StructType(
                            [
                                T.StructField("city", T.StringType(), True),
                                T.StructField("country", T.StringType(), True),  # ISO 3166 alpha-2
                            ]
                        ),
                        True,
                    ),
                ]
            ),
            True,
        ),
        T.StructField(
            "price",
            T.StructType(
                [
                    T.StructField("amount", T.DoubleType(), True),
                    T.StructField("currency", T.StringType(), True),
                ]
            ),
            True,
        ),
        T.StructField("supplier_id", T.StringType(), True),
        T.StructField("booked_at", T.TimestampType(), True),
        T.StructField("channel", T.StringType(), True),  # app | web
    ]
)

# Taopiaopiao (cinema and show tickets): TSV with a header; times are Asia/Shanghai
# wall-clock strings "yyyy/MM/dd HH:mm" with no zone; show_type CINEMA|CONCERT|DRAMA|SPORTS.
TAOPIAOPIAO_TICKETS = _strings(
    "ticket_no",
    "user",
    "venue_id",
    "show_type",
    "seats",
    "price_yuan",
    "currency",
    "purchase_local",
    "show_local",
    "client",
)

# Ele.me (food delivery): JSON lines in camelCase; totalPrice in yuan (always CNY: no currency field),
# createdAt "yyyy-MM-dd HH:mm:ss" Asia/Shanghai wall clock, bizType RESTAURANT|GROCERY|PHARMACY,
# orderFrom APP|ALIPAY|WEB (the Ele.me app, its Alipay mini program, the website).
ELEME_ORDERS = _strings(
    "orderId",
    "userId",
    "shopId",
    "bizType",
    "itemCount",
    "totalPrice",
    "createdAt",
    "orderFrom",
)

# Account registry: JSON lines, one record per account (at registration; the first batch
# holds every account registered before the world starts). reg_date yyyy-MM-dd.
ACCOUNTS = _strings(
    "uid",
    "reg_date",
    "gender",
    "birth_year",
    "city_tier",
    "id_verified",
    "mobile_share",
    "updated_at",
)

# Interaction feed of all platforms: JSON lines, ts in epoch milliseconds.
# kind review|qa|like|live|content|seller_chat; rating 1..5 for reviews; target_id a seller for chats.
INTERACTIONS = _strings(
    "event_id",
    "user_id",
    "platform",
    "kind",
    "ts",
    "rating",
    "target_id",
    "duration_s",
)

# After-sales system: CSV with a header; created_at "yyyy-MM-dd HH:mm:ss" Asia/Shanghai;
# type REFUND|RETURN|DISPUTE; amount in yuan.
SERVICE_EVENTS = _strings(
    "ticket_id",
    "order_ref",
    "platform",
    "user_id",
    "type",
    "amount",
    "currency",
    "created_at",
    "status",
)

# APASS program reviews: JSON lines, one per member reviewed a year after an invitation;
# reviewed_at ISO 8601 with offset, invited_month YYYY-MM, outcome KEPT|REMOVED, reason (removals only).
APASS_REVIEWS = _strings(
    "review_id",
    "member_id",
    "kind",
    "invited_month",
    "reviewed_at",
    "outcome",
    "reason",
)

# Platform risk control: JSON lines, one flag per suspected brushed order; flagged_at ISO 8601 with offset.
RISK_FLAGS = _strings(
    "flag_id",
    "order_ref",
    "platform",
    "user_id",
    "rule",
    "risk_score",
    "flagged_at",
)
