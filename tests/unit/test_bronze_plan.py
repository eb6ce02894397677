"""Which landed files bronze loads: exactly once per file, replays recognised by content."""

from __future__ import annotations

import pytest

from transforms.bronze.ingest import LandedFile, plan_files


def landed(month: str, name: str, sha: str) -> LandedFile:
    return LandedFile(f"file:/lh/landing/s/ingest_month={month}/{name}", name, 100, sha, month)


def test_new_files_load_and_a_resent_file_is_a_replay_of_the_first_copy():
    files = [
        landed("2025-02", "s-2025-02-00000.json", "b"),
        landed("2025-01", "s-2025-01-00001.json", "a2"),
        landed("2025-01", "s-2025-01-00000.json", "a"),
        landed("2025-02", "s-2025-01-00000.json", "a"),
    ]  # re-sent a month later under its old name
    plan = plan_files(files, loaded=set(), known_content={})
    assert [(f.ingest_month, f.name) for f in plan.to_load] == [
        ("2025-01", "s-2025-01-00000.json"),
        ("2025-01", "s-2025-01-00001.json"),
        ("2025-02", "s-2025-02-00000.json"),
    ]
    assert [(f.ingest_month, first) for f, first in plan.replays] == [
        ("2025-02", "file:/lh/landing/s/ingest_month=2025-01/s-2025-01-00000.json")
    ]
    assert plan.already_loaded == []


def test_files_loaded_before_are_skipped_and_known_content_is_a_replay():
    files = [landed("2025-01", "x.json", "a"), landed("2025-03", "y.json", "old")]
    plan = plan_files(files, loaded={("2025-01", "x.json")}, known_content={"old": "file:/first/y.json"})
    assert plan.to_load == []
    assert [f.name for f in plan.already_loaded] == ["x.json"]
    assert [(f.name, first) for f, first in plan.replays] == [("y.json", "file:/first/y.json")]


def test_same_name_in_two_batches_with_new_content_loads_both():
    files = [landed("2025-01", "daily.json", "a"), landed("2025-02", "daily.json", "b")]
    plan = plan_files(files, loaded=set(), known_content={})
    assert len(plan.to_load) == 2 and plan.replays == []


@pytest.mark.parametrize("stray", ["ingest_month=tmp", "ingest_month=2025-06_resend", "ingest_month=2025-13"])
def test_a_landing_directory_that_is_not_a_batch_is_named_in_one_line(spark, tmp_path, stray):
    from jobs.ingest import landed_months
    from jobs.runtime.config import load_config
    from jobs.runtime.errors import UserError

    config = load_config(sets=[f"lakehouse.root={tmp_path}"])
    (tmp_path / "landing" / "taobao_orders" / "ingest_month=2025-06").mkdir(parents=True)
    assert landed_months(spark, config) == ["2025-06"]
    (tmp_path / "landing" / "tmall_orders" / stray).mkdir(parents=True)
    with pytest.raises(UserError, match=f"not a landing batch \\(ingest_month=YYYY-MM\\): tmall_orders/{stray} under"):
        landed_months(spark, config)
