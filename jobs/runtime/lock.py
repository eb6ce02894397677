"""One writer per lakehouse: the lock a writing stage holds from start to end.

Two runs writing the same lakehouse at once would both ingest the same new files
(Delta lets blind appends through side by side) and race each other's
replaceWhere slices. Every stage that writes (the lakehouse's tables, its quality
results, the model registry's aliases) therefore holds ``<root>/_taoqi.lock``,
created only if no file is there, in one atomic step: on a local disk an
exclusive create (``O_CREAT | O_EXCL``), on HDFS and ABFS the Hadoop FileSystem's
``create(overwrite=false)``, which their servers make atomic. A second writer fails
at once (exit 4) with one line naming the holder, before it has written anything.

A run killed without releasing it (SIGKILL, a lost driver) leaves the file behind;
SIGTERM releases it (the CLI turns the signal into an exit). The lock is taken over
only from a holder known to be dead: one on this machine (same host name, boot
and process namespace, so two containers never judge each other's processes)
whose process is gone or is another process now (the pid reused). Taking over
first claims ``<lock>.takeover-<run id of the dead holder>`` with the same
exclusive create, so of two runs that find one dead holder one takes over and
the other fails like any second writer. A holder on another machine is dead only
when its operator says so: the message says which file to delete.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import uuid
from datetime import UTC, datetime
from urllib.parse import urlparse

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


def is_local(config: Config) -> bool:
    """The lakehouse root names this machine's file system (no scheme, or ``file:``): a stage without a Spark
    session can lock it. A lakehouse on HDFS names its scheme (``hdfs://``) in ``lakehouse.root``."""
    return config.local_root() is not None


class _LocalFiles:
    """The lock's three file operations on a local disk, with the OS's exclusive create."""

    @staticmethod
    def _os_path(uri: str) -> str:
        return urlparse(uri).path if uri.startswith("file:") else uri

    def create_new(self, uri: str, text: str) -> bool:
        path = self._os_path(uri)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        return True

    def read(self, uri: str) -> str | None:
        try:
            with open(self._os_path(uri), encoding="utf-8") as held:
                return held.read()
        except FileNotFoundError:
            return None

    def delete(self, uri: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.remove(self._os_path(uri))


class _HadoopFiles:
    """The same on the lakehouse's Hadoop FileSystem (HDFS, ABFS: ``create(overwrite=false)`` is atomic there)."""

    def __init__(self, spark: SparkSession):
        self.spark = spark

    def create_new(self, uri: str, text: str) -> bool:
        return storage.create_new(self.spark, uri, text)

    def read(self, uri: str) -> str | None:
        try:
            return storage.read_text(self.spark, uri)
        except FileNotFoundError:
            return None

    def delete(self, uri: str) -> None:
        storage.delete(self.spark, uri)


def _files(spark: SparkSession | None, config: Config) -> tuple[_LocalFiles | _HadoopFiles, str]:
    """How to lock the lakehouse, and its lock file: with a session, where Hadoop resolves the root (a root
    without a scheme is on the cluster's default file system); without one, on this machine's disk."""
    if spark is None:
        if not is_local(config):
            raise ValueError(f"locking {config.lakehouse.root} needs a Spark session (its Hadoop FileSystem)")
        return _LocalFiles(), lock_path(config)
    path = storage.qualify(spark, lock_path(config))  # an unknown scheme: UnknownFileSystemError
    return (_LocalFiles() if urlparse(path).scheme == "file" else _HadoopFiles(spark)), path


def _create(files: _LocalFiles | _HadoopFiles, path: str, text: str, config: Config) -> bool:
    """The first create of the lock: the first write of a stage, so where a root that cannot be written shows."""
    try:
        return files.create_new(path, text)
    except OSError as err:  # a root under a file, or without permission
        raise UserError(
            f"cannot write the lakehouse at {config.lakehouse.root} ({err.strerror or err}): set lakehouse.root "
            "to a directory this user can write"
        ) from None


def _read_holder(files: _LocalFiles | _HadoopFiles, path: str) -> dict | None:
    text = files.read(path)
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:  # a file half written by a holder killed mid-write: nobody can say whose it is
        return {"run_id": "unreadable"}


def _first_line(path: str) -> str:
    try:
        with open(path, encoding="ascii") as f:
            return f.readline().strip()
    except OSError:
        return ""


def _machine() -> dict:
    """Where this process runs, as precisely as a holder must be placed to be judged dead: the host name,
    the boot (a reboot ends every holder) and the process namespace (a container's pids are its own)."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return {
        "host": socket.gethostname(),
        "boot": _first_line("/proc/sys/kernel/random/boot_id"),
        "pid_namespace": namespace,
    }


def _is_dead(holder: dict) -> bool:
    """The holder ran on this machine (host, boot and process namespace all known and the same) and its
    process is gone, or its pid now belongs to a process started at another time."""
    here = _machine()
    if not all(here.values()) or any(holder.get(key) != value for key, value in here.items()):
        return False
    try:
        process = psutil.Process(int(holder.get("pid", -1)))
        return abs(process.create_time() - float(holder.get("pid_started", 0))) > 1.0
    except (psutil.NoSuchProcess, ValueError):
        return True


def _busy(holder: dict, path: str) -> LakehouseBusyError:
    return LakehouseBusyError(
        f"the lakehouse is busy: `taoqi {holder.get('stage', '?')}` (pid {holder.get('pid', '?')} on "
        f"{holder.get('host', '?')}, started {holder.get('started_at', '?')}) is writing it; nothing was "
        f"written. Wait for it to finish, or if it died on another machine delete {path}"
    )


@contextlib.contextmanager
def lakehouse_lock(spark: SparkSession | None, config: Config, stage: str):
    """Hold the lakehouse's write lock while the block runs; LakehouseBusyError if another run holds it.

    ``spark`` may be None for a local lakehouse (stages that only talk to MLflow start no session)."""
    files, path = _files(spark, config)
    me = {
        "run_id": uuid.uuid4().hex,
        "stage": stage,
        **_machine(),
        "pid": os.getpid(),
        "pid_started": psutil.Process().create_time(),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    for attempt in range(3):  # again after a holder released meanwhile, or after taking over a dead one
        if _create(files, path, json.dumps(me), config) if attempt == 0 else files.create_new(path, json.dumps(me)):
            break
        holder = _read_holder(files, path)
        if holder is None:  # released between our create and our read
            continue
        if not _is_dead(holder):
            raise _busy(holder, path)
        # Only the run that claims this dead holder's take-over may delete its lock: of two runs that
        # found it dead, the second fails here like any second writer.
        claim = f"{path}.takeover-{holder['run_id']}"
        if not files.create_new(claim, json.dumps(me)):
            raise _busy(_read_holder(files, path) or holder, path)
        try:
            log.warning(
                "lock: `taoqi %s` (pid %s, started %s) died holding %s; taking it over",
                holder.get("stage"),
                holder.get("pid"),
                holder.get("started_at"),
                path,
            )
            if (_read_holder(files, path) or {}).get("run_id") == holder["run_id"]:
                files.delete(path)
            if files.create_new(path, json.dumps(me)):
                break
        finally:
            files.delete(claim)
        raise _busy(_read_holder(files, path) or {}, path)
    else:
        raise LakehouseBusyError(f"the lakehouse is busy: could not take {path}; nothing was written")
    try:
        yield
    finally:
        if (_read_holder(files, path) or {}).get("run_id") == me["run_id"]:
            files.delete(path)
