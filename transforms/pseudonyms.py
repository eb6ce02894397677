"""Member pseudonyms: HMAC-SHA256 (RFC 2104) of the member id under a secret key.

Wherever a member has to be named outside the tables (the run report, the sample rows of a failed
check), the job shows a pseudonym instead of the id. Ids are sequential, so an unkeyed or salted
hash whose salt is known is reversed by hashing every id; a keyed hash cannot be recomputed without
the key (docs/operations.md#member-pseudonyms says where the key comes from).

The Spark form joins the key as a one-row relation instead of writing it into the plan as a literal:
a plan's text (``explain``, the Spark UI, event logs) shows a relation's columns, never its rows.
"""

from __future__ import annotations

import hashlib
import hmac

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

# Shown: 64 bits. Two of 500 M members share one with a chance of about 0.7 %; a pseudonym names a member
# on a page (a few rows), it is never a key to join on.
DIGITS = 16
_BLOCK = 64  # SHA-256's block size in bytes (RFC 2104's B)


def digest(key: bytes, user_id: int | str) -> str:
    """HMAC-SHA256 of the id's decimal text, all 64 hex digits."""
    return hmac.new(key, str(user_id).encode(), hashlib.sha256).hexdigest()


def pseudonym(key: bytes, user_id: int | str) -> str:
    """The member as the job names them outside its tables: the digest's first 16 hex digits."""
    return digest(key, user_id)[:DIGITS]


def _pads(key: bytes) -> tuple[bytes, bytes]:
    """RFC 2104's inner and outer padded keys."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def with_digest(df: DataFrame, key: bytes, column: str = "user_id", alias: str = "member", digits: int = DIGITS):
    """``df`` with ``alias``: the HMAC-SHA256 of ``column``'s text (its first ``digits`` hex digits), computed by
    Spark's own SHA-256 (two per row, no Python per row)."""
    inner_pad, outer_pad = _pads(key)
    pads = df.sparkSession.createDataFrame([(bytearray(inner_pad), bytearray(outer_pad))], "_ipad binary, _opad binary")
    message = F.col(column).cast("string").cast("binary")
    inner: Column = F.unhex(F.sha2(F.concat(F.col("_ipad"), message), 256))
    outer = F.sha2(F.concat(F.col("_opad"), inner), 256)
    return df.crossJoin(F.broadcast(pads)).withColumn(alias, F.substring(outer, 1, digits)).drop("_ipad", "_opad")


def member_ids(member: Column, raw: Column) -> Column:
    """The member ids a row may name, as decimal text: its member field, and when ``raw`` is set (a line that
    could not be parsed), every run of digits in it. Leading zeros and spaces are dropped, as the conformers'
    parsing drops them (``0042`` names member 42)."""
    texts = F.array(member.cast("string"))
    texts = F.when(raw.isNull(), texts).otherwise(F.array_union(texts, F.regexp_extract_all(raw, F.lit(r"(\d+)"), 1)))
    return F.transform(texts, lambda t: F.trim(t).try_cast("bigint").cast("string"))


def without_members(rows: DataFrame, ids: Column, key: bytes, digests: DataFrame) -> DataFrame:
    """``rows`` less every row one of whose ``ids`` (:func:`member_ids`) has its keyed hash in ``digests``
    (column ``digest``: whole HMAC-SHA256 hex digests). Rows are told apart by ``_row_hash``."""
    named = rows.select("_row_hash", F.explode(ids).alias("_member_id"))
    hashed = with_digest(named, key, column="_member_id", alias="_member_digest", digits=64)
    hits = hashed.join(digests, hashed["_member_digest"] == digests["digest"], "left_semi").select("_row_hash")
    return rows.join(hits, "_row_hash", "left_anti")
