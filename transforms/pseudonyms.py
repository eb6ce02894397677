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
