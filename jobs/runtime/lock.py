"""One writer per lakehouse: the lock a writing stage holds from start to end.

Two runs writing the same lakehouse at once would both ingest the same new files
(Delta lets blind appends through side by side) and race each other's
replaceWhere slices. Every stage that writes therefore holds ``<root>/_taoqi.lock``,
created with ``overwrite=false`` through the Hadoop FileSystem (atomic on HDFS and
ABFS; on a local disk and S3 it is check-then-create, so the lock is read back to
confirm who won). A second writer fails at once with one line naming the holder,
before it has written anything.

A run killed without releasing it leaves the file behind. A lock whose process
is gone from this host is taken over with a warning; a lock from another host
is stale only when its holder is known dead, which only the operator knows:
the message says which file to delete.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import uuid
from datetime import UTC, datetime

import psutil
from pyspark.sql import SparkSession

from jobs.runtime import storage
from jobs.runtime.config import Config
from jobs.runtime.errors import UserError

log = logging.getLogger(__name__)

LOCK_FILE = "_taoqi.lock"


class LakehouseBusyError(UserError):
    """Another run holds the lakehouse's write lock."""

    exit_code = 4


def lock_path(config: Config) -> str:
    return f"{config.lakehouse.root.rstrip('/')}/{LOCK_FILE}"


def _holder(spark: SparkSession, path: str) -> dict | None:
    try:
        return json.loads(storage.read_text(spark, path))
    except (FileNotFoundError, ValueError):
        return None


def _dead_here(holder: dict) -> bool:
    """The holder ran on this host and its process is gone (killed, crashed)."""
    return holder.get("host") == socket.gethostname() and not psutil.pid_exists(int(holder.get("pid", -1)))


@contextlib.contextmanager
def lakehouse_lock(spark: SparkSession, config: Config, stage: str):
    """Hold the lakehouse's write lock while the block runs; LakehouseBusyError if another run holds it."""
    path = lock_path(config)
    me = {
        "run_id": uuid.uuid4().hex,
        "stage": stage,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    for _ in range(2):  # a second try only after taking over a dead holder's lock
        if (
            storage.create_new(spark, path, json.dumps(me))
            and (_holder(spark, path) or {}).get("run_id") == me["run_id"]
        ):
            break
        holder = _holder(spark, path) or {}
        if holder and _dead_here(holder):
            log.warning(
                "lock: `taoqi %s` (pid %s, started %s) died holding %s; taking it over",
                holder.get("stage"),
                holder.get("pid"),
                holder.get("started_at"),
                path,
            )
            storage.delete(spark, path)
            continue
        raise LakehouseBusyError(
            f"the lakehouse is busy: `taoqi {holder.get('stage', '?')}` (pid {holder.get('pid', '?')} on "
            f"{holder.get('host', '?')}, started {holder.get('started_at', '?')}) is writing it; nothing was "
            f"written. Wait for it to finish, or if it died on another machine delete {path}"
        )
    else:
        raise LakehouseBusyError(f"the lakehouse is busy: could not take {path}; nothing was written")
    try:
        yield
    finally:
        if (_holder(spark, path) or {}).get("run_id") == me["run_id"]:
            storage.delete(spark, path)
