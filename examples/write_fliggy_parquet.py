"""Write the hand-made Fliggy bookings (examples/fliggy_bookings.json) as the Parquet file Fliggy sends.

    python examples/write_fliggy_parquet.py LANDING

writes LANDING/fliggy_bookings/ingest_month=2025-01/bookings.parquet, with the nested fields and types of
Fliggy's contract (docs/landing.md#fliggy_bookings): what an export from your own systems would produce.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

BOOKINGS = Path(__file__).with_name("fliggy_bookings.json")
SCHEMA = pa.schema(
    [
        ("booking_id", pa.string()),
        ("traveller", pa.struct([("member_id", pa.int64()), ("traveller_count", pa.int32())])),
        (
            "product",
            pa.struct(
                [
                    ("type", pa.string()),
                    ("cabin_class", pa.string()),
                    ("hotel_star", pa.int32()),
                    ("destination", pa.struct([("city", pa.string()), ("country", pa.string())])),
                ]
            ),
        ),
        ("price", pa.struct([("amount", pa.float64()), ("currency", pa.string())])),
        ("supplier_id", pa.string()),
        ("booked_at", pa.timestamp("us", tz="UTC")),  # an instant
        ("channel", pa.string()),
    ]
)


def main(landing: str) -> Path:
    rows = json.loads(BOOKINGS.read_text())
    for row in rows:
        row["booked_at"] = datetime.fromisoformat(row["booked_at"])
    out = Path(landing) / "fliggy_bookings" / "ingest_month=2025-01" / "bookings.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), out)
    return out


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python examples/write_fliggy_parquet.py LANDING")
    print(main(sys.argv[1]))
