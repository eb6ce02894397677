"""`taoqi check-landing`: files written by hand (not by the generator) against the landing contract."""

from __future__ import annotations

from pathlib import Path

ACCOUNTS = [
    '{"uid":1,"reg_date":"2018-12-07","gender":"F","birth_year":1980,"city_tier":2,"id_verified":true,'
    '"mobile_share":0.91,"updated_at":"2025-03-01 11:55:22"}',
    '{"uid":2,"reg_date":"2021-06-30","gender":"M","birth_year":1995,"city_tier":1,"id_verified":false,'
    '"mobile_share":0.5,"updated_at":"2025-03-02 08:00:00"}',
]
TMALL_HEADER = (
    "TradeNo,MemberId,ShopId,CategoryCode,Qty,PayAmount,Currency,PaidAt,Channel,CrossBorder,InvoiceType,Juhuasuan"
)
TMALL_ROWS = [
    "TM1,1,S1,APPAREL_WOMEN,2,199.00,CNY,2025-03-13T09:31:31+08:00,APP,N,NONE,N",  # valid
    "TM2,2,S1,APPAREL_WOMEN,1,-5.00,CNY,2025-03-14T10:00:00+08:00,PC,N,PERSONAL,N",  # a negative amount
    "TM3,99,S2,APPAREL_WOMEN,1,88.00,CNY,2025-03-15T20:15:00+08:00,APP,Y,NONE,Y",  # member 99 has no account
]


# A group with two feeds of its own (and the program's reviews, still to come): the other sources are off.
OFF = ["taobao_orders", "fliggy_bookings", "taopiaopiao_tickets", "interactions", "service_events", "risk_flags"]


def landing(base: Path, header: str = TMALL_HEADER) -> Path:
    root = base / "landing"
    accounts = root / "accounts" / "ingest_month=2025-03"
    orders = root / "tmall_orders" / "ingest_month=2025-03"
    accounts.mkdir(parents=True)
    orders.mkdir(parents=True)
    (accounts / "accounts.json").write_text("\n".join(ACCOUNTS) + "\n")
    (orders / "orders.csv").write_text("\n".join([header, *TMALL_ROWS]) + "\n")
    return root


def check(spark, path: Path, lake: Path, capsys) -> tuple[int, str, str]:
    from jobs.cli import main

    capsys.readouterr()
    sets = [f"lakehouse.root={lake}", *[f"sources.{name}.enabled=false" for name in OFF]]
    code = main(["check-landing", str(path), *[arg for s in sets for arg in ("--set", s)]])
    out, err = capsys.readouterr()
    return code, out, err


def test_hand_made_files_pass_with_the_rows_conform_would_quarantine_and_nothing_is_written(spark, tmp_path, capsys):
    lake = tmp_path / "lake"
    code, out, err = check(spark, landing(tmp_path), lake, capsys)
    assert code == 0, err[-3000:]
    assert (
        "warning  tmall_orders/ingest_month=2025-03/orders.csv: 2 of 3 rows would be quarantined: "
        "BAD_AMOUNT 1, UNKNOWN_USER 1" in out
    )
    # no review yet: ingest's 'batch not empty' check of apass_reviews is a warning (jobs/conf/base.yaml)
    assert "warning  apass_reviews: no files in batch(es) 2025-03: ingest's check 'batch not empty' warns" in out
    assert "accounts.json" not in out  # both accounts valid
    assert out.strip().splitlines()[-1] == "checked 2 file(s), 5 row(s): 0 critical, 2 warning(s)"
    assert not lake.exists()  # loaded nowhere


def test_a_file_ingest_would_stop_on_is_critical_and_exits_3(spark, tmp_path, capsys):
    # the feed swapped two columns of its CSV, and a batch folder is misnamed
    swapped = TMALL_HEADER.replace("Qty,PayAmount", "PayAmount,Qty")
    root = landing(tmp_path, header=swapped)
    (root / "tmall_orders" / "ingest_month=2025-3").mkdir()  # not YYYY-MM: ingest refuses the landing
    (root / "tmall_orders" / "ingest_month=2025-03" / "orders.xlsx").write_text("x")  # never read
    code, out, err = check(spark, root, tmp_path / "lake", capsys)
    assert code == 3, err[-3000:]
    lines = out.splitlines()
    assert (
        "critical tmall_orders/ingest_month=2025-3: not a batch folder (ingest_month=YYYY-MM): ingest stops on it"
        in lines
    )
    order = [line for line in lines if "CSV is read by position" in line]
    assert len(order) == 2 and all(
        line.startswith("critical tmall_orders/ingest_month=2025-03/orders.csv: ") for line in order
    )
    assert any("orders.xlsx: not a .csv file" in line and line.startswith("warning") for line in lines)
    last = err.strip().splitlines()[-1]
    assert last.startswith("taoqi check-landing: error: 3 critical problem(s) in ") and "Traceback" not in err


def test_a_missing_folder_is_a_user_mistake(spark, tmp_path, capsys):
    code, _, err = check(spark, tmp_path / "nowhere", tmp_path / "lake", capsys)
    assert code == 2
    assert err.strip().splitlines()[-1].startswith("taoqi check-landing: error: no folder at ")


def test_a_feed_of_account_changes_is_refused_by_check_landing_and_quarantined_by_conform(spark, tmp_path, capsys):
    from jobs.cli import main

    lake = tmp_path / "lake"
    root = landing(lake)  # the lakehouse's own landing
    april = root / "accounts" / "ingest_month=2025-04"
    april.mkdir(parents=True)
    # member 1 moved to a tier-3 city: the registry sends the account again; member 2's record is resent as is
    moved = ACCOUNTS[0].replace('"city_tier":2', '"city_tier":3').replace("2025-03-01 11:55:22", "2025-04-02 09:00:00")
    (april / "accounts.json").write_text("\n".join([moved, ACCOUNTS[1]]) + "\n")
    april_orders = root / "tmall_orders" / "ingest_month=2025-04"
    april_orders.mkdir()
    (april_orders / "orders.csv").write_text(
        "\n".join([TMALL_HEADER, "TM4,1,S1,APPAREL_WOMEN,1,59.00,CNY,2025-04-03T10:00:00+08:00,APP,N,NONE,N"]) + "\n"
    )
    code, out, err = check(spark, root, lake, capsys)
    assert code == 3, err[-3000:]
    assert (
        "critical accounts/ingest_month=2025-04/accounts.json: 1 record(s) change accounts an earlier batch "
        "registered: a feed of account changes is not supported" in out
    )
    assert "accounts/ingest_month=2025-04/accounts.json: 1 of 2 rows would be quarantined: ACCOUNT_CHANGE 1" in out

    sets = [f"lakehouse.root={lake}"]
    sets += [f"sources.{name}.enabled=false" for name in [*OFF, "apass_reviews"]]
    args = [arg for s in sets for arg in ("--set", s)]
    assert main(["ingest", *args]) == 0
    assert main(["conform", *args]) == 0

    def table(name: str):
        layer, table = name.split(".")
        return spark.read.format("delta").load(str(lake / layer / table))

    # the first record stands; the change is quarantined with its reason, the replay counted as a duplicate
    accounts = {r["user_id"]: r for r in table("silver.accounts").collect()}
    assert sorted(accounts) == [1, 2] and accounts[1]["city_tier"] == 2 and accounts[1]["ingest_month"] == "2025-03"
    quarantined = table("silver.quarantine").filter("source = 'accounts'").collect()
    assert [(r["ingest_month"], r["reason"]) for r in quarantined] == [("2025-04", "ACCOUNT_CHANGE")]
    april_counts = table("ops.reconciliation").filter("source = 'accounts' AND ingest_month = '2025-04'").collect()
    assert [(r["rows_in"], r["rows_valid"], r["rows_quarantined"], r["rows_duplicate"]) for r in april_counts] == [
        (2, 0, 1, 1)
    ]
    warned = "a feed of account changes is not supported, they are quarantined (ACCOUNT_CHANGE)"
    assert warned in capsys.readouterr().err
