"""One writer per lakehouse: the lock a writing stage holds from start to end.

Two runs writing the same lakehouse at once would both ingest the same new files
(Delta lets blind appends through side by side) and race each other's
replaceWhere slices. Every stage that writes (the lakehouse's tables, its quality
results, the model registry's aliases) therefore holds ``<root>/_taoqi.lock``,
created only if no file is there, in one atomic step: on a local disk an
exclusive create (``O_CREAT | O_EXCL``), on HDFS and ABFS the Hadoop FileSystem's
``create(overwrite=false)``, which their servers make atomic, on S3 (``s3a://``,
``s3://``) a conditional write (PutObject with ``If-None-Match: *``, which S3
refuses with 412 when the key exists: Hadoop 3.4's S3A create checks, then
writes, so two runs could both win through it). A second writer fails
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
from jobs.runtime.session import starts_in_local_mode

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


def lockable_before_session(config: Config) -> bool:
    """The lakehouse is on this machine's disk whatever the session will say: a local root, and a session this
    process starts in local mode. Under spark-submit, or with a cluster's master, a root without a scheme is
    on the cluster's default file system, which only the session knows."""
    return is_local(config) and starts_in_local_mode(config)


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


S3_SCHEMES = ("s3a", "s3")
# Hadoop's S3A settings the lock's S3 client follows, as boto3 names them; a bucket's own
# (fs.s3a.bucket.<bucket>.<key>) before the general one (fs.s3a.<key>), as S3A reads them.
S3A_SETTINGS = {
    "endpoint": "endpoint_url",
    "endpoint.region": "region_name",
    "access.key": "aws_access_key_id",
    "secret.key": "aws_secret_access_key",
    "session.token": "aws_session_token",
}
S3_CREATE_LOST = ("PreconditionFailed", "ConditionalRequestConflict")  # 412: the key exists; 409: a racing write


def s3a_settings(spark: SparkSession | None, config: Config, bucket: str) -> dict[str, str]:
    """The S3A settings of ``bucket`` that are set: from the session's Hadoop configuration, or without one
    (or on Spark Connect) from the config's ``spark.extra`` (``spark.hadoop.fs.s3a.*``)."""
    try:
        hadoop = spark.sparkContext._jsc.hadoopConfiguration() if spark is not None else None
    except AttributeError:  # Spark Connect: no JVM handle
        hadoop = None

    def get(key: str) -> str | None:
        return hadoop.get(key) if hadoop is not None else config.spark.extra.get(f"spark.hadoop.{key}")

    keys = (*S3A_SETTINGS, "path.style.access", "connection.ssl.enabled")
    found = {key: get(f"fs.s3a.bucket.{bucket}.{key}") or get(f"fs.s3a.{key}") for key in keys}
    return {key: str(value) for key, value in found.items() if value}


class _S3Files:
    """The same on S3, with its conditional write: one PutObject with ``If-None-Match: *`` creates the key
    only if none is there, atomically, so of two runs released together one wins."""

    def __init__(self, settings: dict[str, str]):
        try:
            import boto3
            from botocore.config import Config as ClientConfig
        except ImportError:
            raise UserError(
                "a lakehouse on S3 needs boto3 for its write lock (S3's conditional write): pip install 'taoqi[s3]'"
            ) from None
        client = {arg: settings[key] for key, arg in S3A_SETTINGS.items() if key in settings}
        endpoint = client.get("endpoint_url")
        if endpoint and "://" not in endpoint:  # S3A takes a host name; its scheme follows the SSL setting
            scheme = "http" if settings.get("connection.ssl.enabled") == "false" else "https"
            client["endpoint_url"] = f"{scheme}://{endpoint}"
        addressing = "path" if settings.get("path.style.access") == "true" else "auto"
        self.client = boto3.client("s3", config=ClientConfig(s3={"addressing_style": addressing}), **client)

    @staticmethod
    def _key(uri: str) -> tuple[str, str]:
        parts = urlparse(uri)
        return parts.netloc, parts.path.lstrip("/")

    def _failed(self, uri: str, err: Exception) -> OSError:
        """An S3 error other than a lost race, as the OSError a local disk would raise (a missing bucket,
        no permission, no endpoint): the caller turns it into one line."""
        response = getattr(err, "response", {}).get("Error", {})
        return OSError(f"{uri}: {response.get('Code', type(err).__name__)} {response.get('Message', err)}".strip())

    def create_new(self, uri: str, text: str) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, key = self._key(uri)
        try:
            self.client.put_object(Bucket=bucket, Key=key, Body=text.encode("utf-8"), IfNoneMatch="*")
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in S3_CREATE_LOST:
                return False
            raise self._failed(uri, err) from None
        except BotoCoreError as err:
            raise self._failed(uri, err) from None
        return True

    def read(self, uri: str) -> str | None:
        bucket, key = self._key(uri)
        try:
            return self.client.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
        except self.client.exceptions.NoSuchKey:
            return None

    def delete(self, uri: str) -> None:
        bucket, key = self._key(uri)
        self.client.delete_object(Bucket=bucket, Key=key)


Files = _LocalFiles | _HadoopFiles | _S3Files


def _files(spark: SparkSession | None, config: Config) -> tuple[Files, str]:
    """How to lock the lakehouse, and its lock file: on S3 with S3's own API; with a session, where Hadoop
    resolves the root (a root without a scheme is on the cluster's default file system); without one, on this
    machine's disk."""
    path = lock_path(config)
    if urlparse(path).scheme in S3_SCHEMES:
        return _S3Files(s3a_settings(spark, config, urlparse(path).netloc)), path
    if spark is None:
        if not is_local(config):
            raise ValueError(f"locking {config.lakehouse.root} needs a Spark session (its Hadoop FileSystem)")
        return _LocalFiles(), path
    path = storage.qualify(spark, path)  # an unknown scheme: UnknownFileSystemError
    return (_LocalFiles() if urlparse(path).scheme == "file" else _HadoopFiles(spark)), path


def _create(files: Files, path: str, text: str, config: Config) -> bool:
    """The first create of the lock: the first write of a stage, so where a root that cannot be written shows."""
    try:
        return files.create_new(path, text)
    except OSError as err:  # a root under a file, or without permission
        raise UserError(
            f"cannot write the lakehouse at {config.lakehouse.root} ({err.strerror or err}): set lakehouse.root "
            "to a directory this user can write"
        ) from None


def _read_holder(files: Files, path: str) -> dict | None:
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
