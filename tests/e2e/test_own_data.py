"""docs/landing.md's walkthrough: files written by hand (examples/landing), not by the generator, from an empty
lakehouse through check-landing and a run to the report."""

from __future__ import annotations

import contextlib
import io
import runpy
import shutil
from pathlib import Path

import pytest

from tests.tiny_world import at

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def taoqi(*args: str) -> tuple[int, str]:
    from jobs.cli import main

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(list(args))
    return code, printed.getvalue()


def test_hand_made_files_go_through_check_landing_and_a_run_to_the_report(spark, tmp_path):
    from pyspark.sql import functions as F

    root = tmp_path / "mylake"
    # the walkthrough's steps: copy the files, write Fliggy's Parquet, check, run
    shutil.copytree(REPO / "examples" / "landing", root / "landing")
    runpy.run_path(str(REPO / "examples" / "write_fliggy_parquet.py"), run_name="walkthrough")["main"](
        str(root / "landing")
    )
    code, out = taoqi("check-landing", str(root / "landing"), *at(root))
    assert code == 0, out
    assert (
        "taobao_orders/ingest_month=2025-01/orders-week1.json: 1 of 4 rows would be quarantined: BAD_CURRENCY 1" in out
    )
    assert "apass_reviews: no files in batch(es) 2025-01" in out  # no labels yet: a warning
    assert out.strip().splitlines()[-1].startswith("checked 8 file(s), 22 row(s): 0 critical, ")

    code, out = taoqi("run", *at(root))
    assert code == 0, out[-4000:]
    last = out.strip().splitlines()[-1]
    assert last.startswith("report: "), out[-2000:]
    assert Path(last.removeprefix("report: ")).is_file()

    def table(name: str):
        layer, table = name.split(".")
        return spark.read.format("delta").load(str(root / layer / table))

    orders = table("silver.orders")
    assert {r["platform"]: r["count"] for r in orders.groupBy("platform").count().collect()} == {
        "taobao": 3,
        "tmall": 3,
        "fliggy": 2,
        "taopiaopiao": 2,
    }
    quarantined = table("silver.quarantine").collect()
    assert [(r["source"], r["reason"]) for r in quarantined] == [("taobao_orders", "BAD_CURRENCY")]
    assert orders.filter("risk_flagged").select("order_id").collect()[0]["order_id"] == "TB9000004"
    scores = table("gold.scores").filter(F.col("month") == "2025-01")
    assert sorted(r["user_id"] for r in scores.collect()) == [101, 102, 103, 104]
