"""What a notebook under notebooks/ starts from: ``spark``, widgets and ``display``, in Databricks or locally;
and the local runner of a notebook's cells, SQL cells included.

In Databricks the notebook's globals already hold ``spark``, ``dbutils`` and
``display``: the widgets are created there, and the session's current catalog
becomes lakehouse.catalog, where the tables have their names. Run locally
(``python notebooks/01_scores_and_grades.py root=/tmp/lh month=2026-01``),
each widget is its default overridden by a ``name=value`` argument, any
``set=KEY=VALUE`` argument is a config setting (``--set``) and ``conf=FILE``
an overlay (``--conf``); the session is the project's own
(:func:`jobs.runtime.session.build_spark`), or the one already active, and it
names the lakehouse's tables (:func:`jobs.runtime.tables.register`).

Locally the cells run one by one (:func:`run`): Python cells as Python,
``%sql`` cells through ``spark.sql`` with the widgets as their named
parameters (``WHERE month = :month``, as in Databricks), ``%md`` cells not at
all. A notebook started as a plain script hands itself to the runner first.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from jobs.runtime import tables
from jobs.runtime.config import Config, load_config
from jobs.runtime.errors import UserError
from jobs.runtime.session import build_spark

DATABRICKS_OVERLAY = "databricks"
# Config overlays and settings of this run: the databricks overlay there, the command line's locally.
_overlays: list[str] = []
_sets: list[str] = []
# The widgets' values of the notebook the runner runs (its %sql cells' parameters); None: no runner.
_widgets: dict[str, str] | None = None

SOURCE_HEADER = "# Databricks notebook source"
CELL = "\n# COMMAND ----------\n"
MAGIC = re.compile(r"^# MAGIC ?", re.MULTILINE)
# A named parameter marker (:month), not a cast (x::int) nor a time literal's minutes ('10:30').
PARAMETER = re.compile(r"(?<![:\w'])\:([A-Za-z_]\w*)")


def context(namespace: dict, **defaults: str) -> tuple[SparkSession, Callable[[str], str], Callable[..., None]]:
    """``(spark, widget, display)`` for a notebook whose globals are ``namespace``; ``defaults`` name its widgets."""
    if all(name in namespace for name in ("spark", "dbutils", "display")):
        widgets = namespace["dbutils"].widgets
        for name, default in defaults.items():
            widgets.text(name, default)
        _overlays[:] = [DATABRICKS_OVERLAY]
        _sets.clear()
        spark = namespace["spark"]
        spark.catalog.setCurrentCatalog(config(widgets.get).lakehouse.catalog)  # taoqi_gold.scores in %sql cells
        return spark, widgets.get, namespace["display"]
    if _widgets is None and namespace.get("__name__") == "__main__" and namespace.get("__file__"):
        # Started as a plain script: Python would skip its %sql cells (comments to it), so the runner runs
        # the notebook instead, in this process's place, before any session exists.
        script = os.path.abspath(namespace["__file__"])
        os.execv(sys.executable, [sys.executable, "-m", "jobs.runtime.notebook", script, *sys.argv[1:]])
    sys.excepthook = _one_line_for_user_errors
    values = dict(defaults)
    _overlays.clear()
    _sets.clear()
    for arg in sys.argv[1:]:
        name, sep, value = arg.partition("=")
        if not sep or name not in (*defaults, "set", "conf"):
            raise UserError(
                f"unknown argument {arg!r}: give name=value for the widgets "
                f"{', '.join(defaults)}, set=KEY=VALUE for a setting or conf=FILE for an overlay"
            )
        if name == "set":
            _sets.append(value)
        elif name == "conf":
            _overlays.append(value)
        else:
            values[name] = value

    def widget(name: str) -> str:
        """The widget's value (its default unless given on the command line)."""
        return values[name]

    if _widgets is not None:
        _widgets.update(values)
    settings = config(widget)
    spark = build_spark(settings, app_name="taoqi-notebook")
    tables.register(spark, settings)  # Spark's own catalog forgets names with the session: name them for this one
    return spark, widget, show


def config(widget: Callable[[str], str], *sets: str) -> Config:
    """The project config at the ``root`` widget's lakehouse, then ``sets`` (``key=value``, as ``--set``)."""
    return load_config(_overlays or None, [*_sets, f"lakehouse.root={widget('root')}", *sets])


def show(obj: Any, rows: int = 50) -> None:
    """Local ``display``: a Spark DataFrame's first ``rows`` rows untruncated, a pandas frame whole, else ``print``."""
    if isinstance(obj, DataFrame):
        obj.show(rows, truncate=False)
    elif hasattr(obj, "to_string"):  # pandas; without the index, as Databricks shows a frame
        print(obj.to_string(index=False))
    else:
        print(obj)


def _one_line_for_user_errors(kind, error, trace) -> None:
    """A user mistake (a missing table, a bad month) ends a notebook script with one line and exit 2, as the CLI."""
    if isinstance(error, UserError):
        print(f"notebook: error: {error}", file=sys.stderr)
        sys.exit(error.exit_code)
    else:
        sys.__excepthook__(kind, error, trace)


def run(path: Path, argv: list[str]) -> None:
    """Run a notebook of Databricks source format locally, cell by cell, with ``argv`` as its arguments
    (``name=value`` widgets, ``set=``, ``conf=``): Python cells in one namespace, ``%sql`` cells through
    ``spark.sql`` (one statement each) with the widgets as named parameters, their rows shown; ``%md`` cells
    are the notebook's text."""
    global _widgets
    text = path.read_text(encoding="utf-8")
    if not text.startswith(SOURCE_HEADER):
        raise UserError(f"{path} is not a notebook in Databricks source format (its first line: {SOURCE_HEADER!r})")
    namespace: dict[str, Any] = {"__name__": "__main__", "__file__": str(path)}
    saved_argv, _widgets = sys.argv, {}
    sys.argv = [str(path), *argv]
    try:
        line = 0
        for cell in text.split(CELL):
            body = cell.removeprefix(SOURCE_HEADER)
            if body.lstrip().startswith("# MAGIC %sql"):
                sql_cell(MAGIC.sub("", body).strip().removeprefix("%sql"))
            elif not body.lstrip().startswith("# MAGIC %md"):
                # the notebook is the code; the padding keeps the cell's own line numbers in a traceback
                exec(compile("\n" * line + cell, str(path), "exec"), namespace)
            line += cell.count("\n") + CELL.count("\n")
    finally:
        sys.argv, _widgets = saved_argv, None


def sql_cell(query: str) -> None:
    """A ``%sql`` cell: its query with the widgets it names (``:month``) as parameters, its rows shown."""
    spark = SparkSession.getActiveSession()
    if spark is None:
        raise UserError("a %sql cell before the notebook's session: its first Python cell calls notebook.context")
    named = {name: (_widgets or {})[name] for name in PARAMETER.findall(query) if name in (_widgets or {})}
    show(spark.sql(query, args=named) if named else spark.sql(query))


def main(argv: list[str] | None = None) -> int:
    """``python -m jobs.runtime.notebook NOTEBOOK [name=value ...]``: run a notebook locally (:func:`run`)."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        print("usage: python -m jobs.runtime.notebook NOTEBOOK [name=value ...] [set=KEY=VALUE ...] [conf=FILE ...]")
        return 0 if args else 2
    path = Path(args[0])
    if not path.is_file():
        print(f"notebook: error: no notebook at {path}", file=sys.stderr)
        return 2
    sys.excepthook = _one_line_for_user_errors
    run(path, args[1:])
    return 0


if __name__ == "__main__":
    # `python -m` runs this file as __main__, a module apart from the jobs.runtime.notebook the notebook's
    # cells import: the runner's state must be that module's, so its main runs
    from jobs.runtime.notebook import main as runner_main

    sys.exit(runner_main())
