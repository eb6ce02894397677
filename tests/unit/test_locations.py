"""Table locations are URIs: no job code treats one as a local path.

Tables and the landing may live on s3a://, abfss://, dbfs:/ or hdfs://, so every
file operation on them goes through Hadoop's FileSystem (jobs/runtime/storage.py)
or Delta. Local file APIs are allowed only where the file is the driver's own
(the HTML report, Data Docs, config overlays, MLflow's SQLite beside a local root),
each module listed here with its reason. A new use elsewhere fails this test.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LOCAL_FILE_APIS = {
    "os.path",
    "os.listdir",
    "os.makedirs",
    "os.remove",
    "os.scandir",
    "os.walk",
    "pathlib",
    "Path",
    "glob",
    "shutil",
    "open",
}
DRIVER_FILES = {
    "jobs/report.py": "the HTML report and its run manifest are written on the driver",
    "jobs/run.py": "prints the path of the report the driver wrote",
    "jobs/runtime/quality.py": "Data Docs and the quality summary, beside the report on the driver",
    "jobs/runtime/config.py": "reads YAML overlays; derives the driver-local reports directory",
    "jobs/model_registry.py": "MLflow's SQLite store beside a local lakehouse root; artifacts it downloads",
    "jobs/train.py": "a temporary file for the holdout artifact MLflow uploads",
    "expectations/runner.py": "GE's Data Docs site directory on the driver",
    "jobs/runtime/lock.py": "the lock of a lakehouse on the driver's disk (an exclusive create, which Hadoop's local "
    "FileSystem lacks; other roots through storage.py) and the host's identity under /proc",
    "jobs/runtime/privacy.py": "the pseudonym key: a file of the driver's (file:PATH), or the demo's, created inside a "
    "lakehouse on the driver's disk only",
    "jobs/sql.py": "a file of queries the user gives (taoqi sql -f), on the driver",
    "jobs/runtime/notebook.py": "the notebook's own source, read on the driver to run its cells",
}


def _local_file_calls(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            dotted = f"{node.value.id}.{node.attr}"
            if dotted in LOCAL_FILE_APIS:
                found.add(dotted)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in LOCAL_FILE_APIS:
            found.add(node.func.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            found.update(n for n in names if n.split(".")[0] in {"pathlib", "glob", "shutil"})
    return found


def test_only_driver_side_files_use_local_file_apis():
    offenders = {}
    for package in ("jobs", "transforms", "expectations"):
        for module in sorted((REPO / package).rglob("*.py")):
            name = str(module.relative_to(REPO))
            used = _local_file_calls(module.read_text())
            if used and name not in DRIVER_FILES:
                offenders[name] = sorted(used)
    assert not offenders, f"local file APIs on what may be a URI (use jobs/runtime/storage.py): {offenders}"


def test_the_scan_sees_each_kind_of_local_file_use():
    assert _local_file_calls("import os\nos.path.join(a, b)") == {"os.path"}
    assert _local_file_calls("from pathlib import Path\nPath(x).glob('*')") == {"pathlib", "Path"}
    assert _local_file_calls("with open(p) as f: pass") == {"open"}
    assert _local_file_calls("import glob\nglob.glob(p)") == {"glob"}
    assert _local_file_calls("spark.read.format('delta').load(loc)") == set()


def test_every_allowed_module_still_needs_it():
    stale = [name for name in DRIVER_FILES if not _local_file_calls((REPO / name).read_text())]
    assert not stale, f"no longer use local files, drop them from DRIVER_FILES: {stale}"
