"""A conformer that loses rows (test code, for tests/e2e/test_faults.py): service_events' own, less the
rows whose hash starts with 0, about one in sixteen."""

from __future__ import annotations

import dataclasses

from pyspark.sql import functions as F

from transforms.silver.service_events import SOURCE as SERVICE_EVENTS


def _losing_rows(bronze, *, params):
    return SERVICE_EVENTS.conform(bronze, params=params).filter(~F.col("_row_hash").startswith("0"))


SOURCE = dataclasses.replace(SERVICE_EVENTS, conform=_losing_rows)
