"""Member pseudonyms: the keyed hash, where its key comes from, and a failed check's sample rows."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import stat

import pytest

from jobs.runtime import privacy
from jobs.runtime.config import load_config
from jobs.runtime.errors import UserError
from transforms.pseudonyms import DIGITS, digest, pseudonym, with_digest


@pytest.mark.parametrize("key", [b"k" * 32, bytes(range(100))])  # 100 bytes: longer than a block, hashed first
def test_the_spark_pseudonym_is_rfc_2104_hmac_and_the_plan_never_shows_the_key(spark, key):
    ids = [0, 7, 123_456_789_012]
    frame = with_digest(spark.createDataFrame([(i,) for i in ids], "user_id long"), key)
    got = {r["user_id"]: r["member"] for r in frame.collect()}
    assert got == {i: hmac.new(key, str(i).encode(), hashlib.sha256).hexdigest()[:DIGITS] for i in ids}
    assert got[7] == pseudonym(key, 7) and digest(key, 7).startswith(got[7])
    plan = io.StringIO()
    with contextlib.redirect_stdout(plan):
        frame.explain(mode="extended")
    padded = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
    secrets = [key, padded] + [bytes(b ^ pad for b in padded) for pad in (0x36, 0x5C)]
    text = plan.getvalue().lower()
    assert "user_id" in text  # the plan was printed
    assert not [s for s in secrets if s.hex() in text or s.decode("latin-1").lower() in text]


@pytest.fixture
def fresh_keys(monkeypatch):
    monkeypatch.setattr(privacy, "_loaded", {})


def config_with(source: str, root):
    return load_config(sets=[f"privacy.pseudonym_key={source}", f"lakehouse.root={root}"])


def test_the_demo_key_is_created_once_in_the_lakehouse_readable_by_its_owner_only(tmp_path, fresh_keys):
    config = config_with("lakehouse", tmp_path)
    first = privacy.key(config)
    path = tmp_path / "_keys" / "pseudonyms.key"
    assert len(first) == 64 and path.read_text().strip().encode() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["pseudonyms.key"]  # no draft left behind
    privacy._loaded.clear()
    assert privacy.key(config) == first  # read again, not drawn again
    assert privacy.key(config_with("lakehouse", tmp_path / "other")) != first


@pytest.mark.parametrize(
    "value, message",
    [
        (None, "the environment variable TAOQI_TEST_KEY holds the pseudonym key"),
        ("", "has 0 bytes, fewer than 32"),
        ("taoqi-report", "has 12 bytes, fewer than 32"),
        ("  " + "a" * 31 + "\n", "has 31 bytes, fewer than 32"),
    ],
)
def test_a_missing_empty_or_short_key_is_refused(tmp_path, fresh_keys, monkeypatch, value, message):
    if value is None:
        monkeypatch.delenv("TAOQI_TEST_KEY", raising=False)
    else:
        monkeypatch.setenv("TAOQI_TEST_KEY", value)
    with pytest.raises(UserError, match=message):
        privacy.key(config_with("env:TAOQI_TEST_KEY", tmp_path))


def test_a_key_from_a_file_or_the_environment_is_used_as_given(tmp_path, fresh_keys, monkeypatch):
    secret = "f" * 40
    (tmp_path / "key").write_text(secret + "\n")
    assert privacy.key(config_with(f"file:{tmp_path / 'key'}", tmp_path)) == secret.encode()
    monkeypatch.setenv("TAOQI_TEST_KEY", secret)
    assert privacy.key(config_with("env:TAOQI_TEST_KEY", tmp_path)) == secret.encode()
    with pytest.raises(UserError, match="cannot read the pseudonym key file"):
        privacy.key(config_with(f"file:{tmp_path / 'missing'}", tmp_path))
    with pytest.raises(UserError, match="readable on Databricks only"):
        privacy.key(config_with("secret:taoqi/pseudonym_key", tmp_path))
    with pytest.raises(UserError, match="for a lakehouse on this machine only: for s3a://bucket/lake give env:NAME"):
        privacy.key(config_with("lakehouse", "s3a://bucket/lake"))


def test_a_failed_checks_sample_names_members_by_pseudonym_only(spark):
    from expectations.runner import run_suite
    from expectations.suites import Check, unexpected_rows

    batch = spark.createDataFrame([(424242, -5)], "user_id long, score int").localCheckpoint()

    def check() -> Check:  # an expectation belongs to one suite: a new one per run
        return Check("no negative score", unexpected_rows("no negative score", "SELECT * FROM {batch} WHERE score < 0"))

    key = b"s" * 32
    severity = {"no negative score": "critical"}
    (named,) = run_suite(batch, "test.members", [check()], severity, name_member=lambda u: pseudonym(key, u))
    assert named.sample == f"member={pseudonym(key, 424242)}, score=-5"
    (unnamed,) = run_suite(batch, "test.members", [check()], severity)
    assert unnamed.sample == "score=-5" and "424242" not in unnamed.sample
