"""File operations on storage URIs through Hadoop's FileSystem (file:, s3a:, abfss:, dbfs:, hdfs:).

No code treats a location as a local path: listings, renames and copies go
through the JVM FileSystem of the session, so they work the same on a laptop
and on object storage. Only per-file metadata reaches the driver, never rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from py4j.protocol import Py4JJavaError
from pyspark.sql import SparkSession

from jobs.runtime.errors import UserError


@dataclass(frozen=True)
class FileInfo:
    path: str
    name: str
    size: int
    is_dir: bool
    modified_ms: int  # the file system's modification time, milliseconds since the epoch


class UnknownFileSystemError(UserError):
    """A location whose scheme no Hadoop FileSystem on the classpath serves (a typo, a missing connector)."""


def file_system(spark: SparkSession, uri: str):
    """(Hadoop FileSystem, Path) of a location; UnknownFileSystemError when no file system serves its scheme."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    try:
        return path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), path
    except Py4JJavaError as err:
        if "UnsupportedFileSystemException" not in str(err.java_exception.getClass().getName()):
            raise
        raise UnknownFileSystemError(
            f"{uri}: no file system for its scheme ({err.java_exception.getMessage()}): check lakehouse.root; the "
            "job reads and writes a local path, file:, hdfs://, s3a://, abfss:// or dbfs:/ (with the scheme's "
            "Hadoop connector on the classpath)"
        ) from None


def qualify(spark: SparkSession, uri: str) -> str:
    """The fully qualified form of a location (``./lakehouse`` -> ``file:/abs/lakehouse``)."""
    fs, path = file_system(spark, uri)
    return str(fs.makeQualified(path).toString())


def exists(spark: SparkSession, uri: str) -> bool:
    fs, path = file_system(spark, uri)
    return bool(fs.exists(path))


def list_dir(spark: SparkSession, uri: str) -> list[FileInfo]:
    """Entries of a directory sorted by name, hidden files (``_``/``.``) left out; [] if absent."""
    fs, path = file_system(spark, uri)
    if not fs.exists(path):
        return []
    out = []
    for status in fs.listStatus(path):
        name = status.getPath().getName()
        if name.startswith(("_", ".")):
            continue
        out.append(
            FileInfo(
                str(status.getPath().toString()),
                name,
                int(status.getLen()),
                bool(status.isDirectory()),
                int(status.getModificationTime()),
            )
        )
    return sorted(out, key=lambda f: f.name)


def rename(spark: SparkSession, src: str, dst: str) -> None:
    fs, src_path = file_system(spark, src)
    jvm = spark.sparkContext._jvm
    if not fs.rename(src_path, jvm.org.apache.hadoop.fs.Path(dst)):
        raise OSError(f"could not rename {src} to {dst}")


def copy(spark: SparkSession, src: str, dst: str) -> None:
    """Copy a file byte for byte (a replayed file of a feed), or a directory tree."""
    jvm = spark.sparkContext._jvm
    src_fs, src_path = file_system(spark, src)
    dst_fs, dst_path = file_system(spark, dst)
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    if not jvm.org.apache.hadoop.fs.FileUtil.copy(src_fs, src_path, dst_fs, dst_path, False, True, conf):
        raise OSError(f"could not copy {src} to {dst}")


def replace_tree(spark: SparkSession, src: str, dst: str) -> None:
    """Make ``dst`` a copy of the directory ``src``; a failed copy leaves the old ``dst`` as it was.

    The copy goes beside ``dst`` first, then replaces it: Hadoop's FileUtil.copy
    and rename both put a directory *inside* a destination directory that
    already exists, so the old one is deleted just before the rename.
    """
    incoming = dst.rstrip("/") + "._incoming"
    delete(spark, incoming)
    copy(spark, src, incoming)
    delete(spark, dst)
    rename(spark, incoming, dst)


def delete(spark: SparkSession, uri: str) -> None:
    """Remove a file or a directory tree if it exists."""
    fs, path = file_system(spark, uri)
    if fs.exists(path):
        fs.delete(path, True)


def create_new(spark: SparkSession, uri: str, text: str) -> bool:
    """Create a small file only if nothing is there; False when something is (the write lock's primitive)."""
    from py4j.protocol import Py4JJavaError

    fs, path = file_system(spark, uri)
    try:
        stream = fs.create(path, False)
    except Py4JJavaError as err:
        if err.java_exception.getClass().getName().endswith("FileAlreadyExistsException"):
            return False
        raise
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()
    return True


def read_text(spark: SparkSession, uri: str) -> str:
    """The content of a small text file; FileNotFoundError if there is none."""
    fs, path = file_system(spark, uri)
    if not fs.exists(path):
        raise FileNotFoundError(uri)
    jvm = spark.sparkContext._jvm
    stream = fs.open(path)
    try:
        return jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()


def write_text(spark: SparkSession, uri: str, text: str) -> None:
    """Write a small text file (a manifest or a note), replacing it."""
    fs, path = file_system(spark, uri)
    stream = fs.create(path, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()
