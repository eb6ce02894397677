"""Reason codes of silver.quarantine: why a bronze row did not become a silver row.

A row gets exactly one reason, the first that applies in ``PRECEDENCE`` order
(a truncated line is reported as malformed, not as missing every field).
Duplicates are not a reason: they are valid rows counted apart (ops.reconciliation).
"""

from __future__ import annotations

MALFORMED_LINE = "MALFORMED_LINE"
MISSING_REQUIRED = "MISSING_REQUIRED"
BAD_TIMESTAMP = "BAD_TIMESTAMP"
BAD_CURRENCY = "BAD_CURRENCY"
BAD_AMOUNT = "BAD_AMOUNT"
BAD_VALUE = "BAD_VALUE"
OUT_OF_WINDOW = "OUT_OF_WINDOW"
UNKNOWN_USER = "UNKNOWN_USER"
ACCOUNT_CHANGE = "ACCOUNT_CHANGE"

DESCRIPTIONS: dict[str, str] = {
    MALFORMED_LINE: "the line could not be parsed at all (bronze _malformed is true); raw holds the line",
    MISSING_REQUIRED: "a required field is null or empty",
    BAD_TIMESTAMP: "a time field is present but cannot be parsed (or is outside the years 1..9999)",
    BAD_CURRENCY: "the currency code is not one of conform.fx_to_cny",
    BAD_AMOUNT: "the amount is not a number, is <= 0 (refunds, returns) or < 0 (disputes), "
    "or is above conform.max_order_amount_cny",
    BAD_VALUE: "an enum or number field is outside its domain (unknown category, kind, platform, channel, "
    "gender, flag; quantity <= 0; rating not 1..5; an id that is not a number ...)",
    OUT_OF_WINDOW: "the event month is after the batch month, or older than conform.late_tolerance_months",
    UNKNOWN_USER: "the user id is not in silver.accounts",
    ACCOUNT_CHANGE: "an account record, in a later batch, for an account an earlier batch registered, written at "
    "another time (updated_at): the registry is loaded once per account, its first batch's record stands "
    "(a feed of account changes is not supported)",
}

# The order in which the checks are applied: the first that matches is the row's reason.
# The row-level checks run in the conformers; the window and user checks run after them.
PRECEDENCE: tuple[str, ...] = (
    MALFORMED_LINE,
    MISSING_REQUIRED,
    BAD_TIMESTAMP,
    BAD_CURRENCY,
    BAD_AMOUNT,
    BAD_VALUE,
    OUT_OF_WINDOW,
    UNKNOWN_USER,
    ACCOUNT_CHANGE,
)
