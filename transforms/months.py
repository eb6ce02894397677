"""Month arithmetic on ``YYYY-MM`` strings (the batches', event months' and as-of months' format), written once."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F


def add_months(month: str, delta: int) -> str:
    """``YYYY-MM`` shifted by ``delta`` months."""
    year, mon = (int(part) for part in month.split("-"))
    y, m = divmod(year * 12 + mon - 1 + delta, 12)
    return f"{y:04d}-{m + 1:02d}"


def month_range(start: str, count: int) -> list[str]:
    """``count`` consecutive months from ``start``."""
    return [add_months(start, offset) for offset in range(count)]


def shift_months(month: Column, delta: int) -> Column:
    """A ``YYYY-MM`` column shifted by ``delta`` months (:func:`add_months` for a column)."""
    return F.date_format(F.add_months(F.to_date(F.concat(month, F.lit("-01"))), delta), "yyyy-MM")


def month_number(month: Column | str) -> Column:
    """Months since year 0 of a ``YYYY-MM`` column: consecutive months are consecutive numbers (a window's
    range over months)."""
    month = F.col(month) if isinstance(month, str) else month
    return F.substring(month, 1, 4).cast("int") * 12 + F.substring(month, 6, 2).cast("int")
