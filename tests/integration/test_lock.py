"""One writer per lakehouse: the write lock (jobs/runtime/lock.py) under races, dead holders and SIGTERM.

The races run real processes released together on one lakehouse (no Spark: a local lakehouse is locked
with the OS's exclusive create, one on S3 with S3's conditional write, here against an S3 server on
127.0.0.1).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from jobs.cli import main
from jobs.runtime import storage
from jobs.runtime.config import load_config
from jobs.runtime.lock import LakehouseBusyError, _machine, lakehouse_lock, lock_path

REPO = Path(__file__).resolve().parents[2]
# A process that waits for the release time, then tries to hold the lock of the lakehouse at argv[1]
# for a second: exit 0 if it held it, the CLI's busy code (4) if not.
CONTENDER = textwrap.dedent(
    """
    import sys, time
    from jobs.runtime.config import load_config
    from jobs.runtime.lock import LakehouseBusyError, lakehouse_lock
    root, release_at, name = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    config = load_config(sets=[f"lakehouse.root={root}"])
    time.sleep(max(0.0, release_at - time.time()))
    try:
        with lakehouse_lock(None, config, name):
            print("held", flush=True)
            time.sleep(1.0)
    except LakehouseBusyError as err:
        print(err, file=sys.stderr)
        sys.exit(err.exit_code)
    """
)


def _contend(root: Path | str, n: int, env: dict[str, str] | None = None) -> list[subprocess.CompletedProcess]:
    release_at = time.time() + 5  # every interpreter started and waiting by then
    started = [
        subprocess.Popen(
            [sys.executable, "-c", CONTENDER, str(root), str(release_at), f"p{i}"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        for i in range(n)
    ]
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=120), *p.communicate()) for p in started]


def _dead_holder() -> dict:
    """A lock as a run of this machine left it when it was killed: its pid is free now."""
    pid = 2**22 + 1
    while psutil.pid_exists(pid):
        pid += 1
    return {"run_id": "dead", "stage": "run", **_machine(), "pid": pid, "pid_started": 1.0, "started_at": "t"}


def test_processes_released_together_on_one_lakehouse_exactly_one_writes(tmp_path):
    done = _contend(tmp_path, 6)
    assert sorted(d.returncode for d in done) == [0, 4, 4, 4, 4, 4], [d.stderr[-500:] for d in done]
    assert all("the lakehouse is busy" in d.stderr for d in done if d.returncode == 4)
    assert not (tmp_path / "_taoqi.lock").exists()  # released by the one that held it


def test_of_the_runs_that_find_one_dead_holder_one_takes_over_and_the_others_exit_4(tmp_path):
    (tmp_path / "_taoqi.lock").write_text(json.dumps(_dead_holder()))
    done = _contend(tmp_path, 4)
    assert sorted(d.returncode for d in done) == [0, 4, 4, 4], [d.stderr[-500:] for d in done]
    # the run that took the dead holder's lock over says so; a run that came after the dead lock was
    # deleted may win the new one instead (the taker then exits 4 like any second writer)
    assert any("died holding" in d.stderr for d in done)
    assert not list(tmp_path.iterdir())  # the lock and the take-over claim are gone


def test_a_holder_elsewhere_or_in_another_namespace_is_never_taken_over(tmp_path):
    config = load_config(sets=[f"lakehouse.root={tmp_path}"])
    for other in ({"host": "elsewhere"}, {"pid_namespace": "pid:[1]"}, {"boot": "another-boot"}):
        (tmp_path / "_taoqi.lock").write_text(json.dumps({**_dead_holder(), **other}))
        with (
            pytest.raises(LakehouseBusyError, match="if it died on another machine delete"),
            lakehouse_lock(None, config, "score"),
        ):
            pass
    # the pid of a live process that started after the holder: the holder is dead, its pid reused
    (tmp_path / "_taoqi.lock").write_text(json.dumps({**_dead_holder(), "pid": os.getpid(), "pid_started": 1.0}))
    with lakehouse_lock(None, config, "score"):
        assert json.loads((tmp_path / "_taoqi.lock").read_text())["stage"] == "score"


def test_sigterm_ends_the_stage_and_releases_the_lock(tmp_path):
    # `taoqi promote` (no Spark on a local lakehouse) with a body that holds the lock until it is stopped
    stage = textwrap.dedent(
        """
        import sys, time
        import jobs.promote
        jobs.promote.execute = lambda spark, config, args: (print("held", flush=True), time.sleep(120))
        from jobs.cli import main
        sys.exit(main(["promote", "--set", f"lakehouse.root={sys.argv[1]}"]))
        """
    )
    command = [sys.executable, "-c", stage, str(tmp_path)]
    run = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert run.stdout.readline().strip() == "held"
    assert (tmp_path / "_taoqi.lock").exists()
    run.send_signal(signal.SIGTERM)
    assert run.wait(timeout=60) == 128 + signal.SIGTERM
    assert not (tmp_path / "_taoqi.lock").exists()


def test_a_second_writer_fails_at_once_and_writes_nothing(spark, tmp_path, capsys):
    config = load_config(sets=[f"lakehouse.root={tmp_path}"])
    with lakehouse_lock(spark, config, "run"):
        held = storage.read_text(spark, lock_path(config))
        code = main(["score", "--month", "2025-01", "--set", f"lakehouse.root={tmp_path}"])
        assert storage.read_text(spark, lock_path(config)) == held  # the holder keeps it
    assert code == LakehouseBusyError.exit_code == 4
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("taoqi score: error: the lakehouse is busy: `taoqi run` (pid ")
    assert not (tmp_path / "gold").exists() and not (tmp_path / "_taoqi.lock").exists()


@pytest.mark.parametrize(
    ("root", "master", "submitted", "before"),
    [
        ("/data/lake", "local[2]", False, True),  # the demo, the suite: locked before the JVM starts
        ("file:/data/lake", "local[*]", False, True),
        ("/data/lake", None, False, False),  # the cluster overlay: the root is on the cluster's file system
        ("/data/lake", "yarn", False, False),
        ("/data/lake", "local[2]", True, False),  # under spark-submit: its session knows the file system
        ("hdfs://nn/lake", "local[2]", False, False),
    ],
)
def test_only_a_lakehouse_surely_on_this_disk_is_locked_before_the_session(
    root, master, submitted, before, monkeypatch
):
    from jobs.runtime.lock import lockable_before_session

    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    if submitted:
        monkeypatch.setenv("PYSPARK_GATEWAY_PORT", "40000")
    config = load_config(sets=[f"lakehouse.root={root}", f"spark.master={master}" if master else "spark.master="])
    assert lockable_before_session(config) is before


@pytest.mark.parametrize("stage", [["quality", "--month", "2025-01"], ["promote"]])
def test_quality_and_promote_take_the_lock(tmp_path, capsys, stage):
    config = load_config(sets=[f"lakehouse.root={tmp_path}"])
    with lakehouse_lock(None, config, "run"):
        assert main([*stage, "--set", f"lakehouse.root={tmp_path}"]) == 4
    assert "the lakehouse is busy: `taoqi run`" in capsys.readouterr().err


@pytest.fixture(scope="module")
def s3():
    """An S3 server on 127.0.0.1 with the bucket ``lake``: (a client of it, the environment that points the
    AWS SDK at it). It serves one request at a time, so each conditional write is atomic, as S3 makes it."""
    import threading

    import boto3
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    app = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", 0, app, threaded=False, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{server.server_port}",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    client = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket="lake")
    yield client, env
    server.shutdown()


def _keys(client, prefix: str) -> list[str]:
    return [o["Key"] for o in client.list_objects_v2(Bucket="lake", Prefix=prefix).get("Contents", [])]


def test_on_s3_processes_released_together_exactly_one_writes(s3):
    client, env = s3
    done = _contend("s3a://lake/race", 6, env)
    assert sorted(d.returncode for d in done) == [0, 4, 4, 4, 4, 4], [d.stderr[-500:] for d in done]
    assert all("the lakehouse is busy" in d.stderr for d in done if d.returncode == 4)
    assert _keys(client, "race/") == []  # released by the one that held it


def test_on_s3_of_the_runs_that_find_one_dead_holder_one_takes_over(s3):
    client, env = s3
    client.put_object(Bucket="lake", Key="dead/_taoqi.lock", Body=json.dumps(_dead_holder()).encode())
    done = _contend("s3a://lake/dead", 4, env)
    assert sorted(d.returncode for d in done) == [0, 4, 4, 4], [d.stderr[-500:] for d in done]
    # the run that took the dead holder's lock over says so; a run that came after the dead lock was
    # deleted may win the new one instead (the taker then exits 4 like any second writer)
    assert any("died holding" in d.stderr for d in done)
    assert _keys(client, "dead/") == []  # the lock and the take-over claim are gone


def test_the_s3_lock_follows_the_s3a_settings_and_a_missing_bucket_is_one_line(s3, monkeypatch):
    import dataclasses

    from jobs.runtime.errors import UserError
    from jobs.runtime.lock import s3a_settings

    client, env = s3
    for name in env:
        monkeypatch.delenv(name, raising=False)  # from the settings alone, not the SDK's environment
    config = load_config(sets=["lakehouse.root=s3a://lake/settings"])
    s3a = {
        "spark.hadoop.fs.s3a.endpoint": "127.0.0.1:1",  # the general endpoint: nothing listens there
        "spark.hadoop.fs.s3a.bucket.lake.endpoint": env["AWS_ENDPOINT_URL"].removeprefix("http://"),
        "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.access.key": "test",
        "spark.hadoop.fs.s3a.secret.key": "test",
        "spark.hadoop.fs.s3a.endpoint.region": "us-east-1",
    }
    config = dataclasses.replace(config, spark=dataclasses.replace(config.spark, extra=s3a))
    assert s3a_settings(None, config, "lake")["endpoint"] == env["AWS_ENDPOINT_URL"].removeprefix("http://")
    assert s3a_settings(None, config, "other")["endpoint"] == "127.0.0.1:1"
    with lakehouse_lock(None, config, "run"):  # the bucket's own endpoint: the test server
        assert json.loads(client.get_object(Bucket="lake", Key="settings/_taoqi.lock")["Body"].read())["stage"] == "run"
    assert _keys(client, "settings/") == []
    missing = dataclasses.replace(
        config,
        lakehouse=dataclasses.replace(config.lakehouse, root="s3a://missing/x"),
        spark=dataclasses.replace(
            config.spark, extra={**s3a, "spark.hadoop.fs.s3a.endpoint": s3a["spark.hadoop.fs.s3a.bucket.lake.endpoint"]}
        ),
    )
    with (
        pytest.raises(UserError, match=r"cannot write the lakehouse at s3a://missing/x \(.*NoSuchBucket"),
        lakehouse_lock(None, missing, "run"),
    ):
        pass
