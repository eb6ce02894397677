"""What a notebook under notebooks/ starts from: ``spark``, widgets and ``display``, in Databricks or locally.

In Databricks the notebook's globals already hold ``spark``, ``dbutils`` and
``display``: the widgets are created there. Run as a plain script
(``python notebooks/01_scores_and_grades.py root=/tmp/lh month=2026-01``),
each widget is its default overridden by a ``name=value`` argument, any
``set=KEY=VALUE`` argument is a config setting (``--set``) and ``conf=FILE``
an overlay (``--conf``); the session is the project's own
(:func:`jobs.runtime.session.build_spark`), or the one already active.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from jobs.runtime.config import Config, load_config
from jobs.runtime.errors import UserError
from jobs.runtime.session import build_spark

DATABRICKS_OVERLAY = "databricks"
# Config overlays and settings of this run: the databricks overlay there, the command line's locally.
_overlays: list[str] = []
_sets: list[str] = []


def context(namespace: dict, **defaults: str) -> tuple[SparkSession, Callable[[str], str], Callable[..., None]]:
    """``(spark, widget, display)`` for a notebook whose globals are ``namespace``; ``defaults`` name its widgets."""
    if all(name in namespace for name in ("spark", "dbutils", "display")):
        widgets = namespace["dbutils"].widgets
        for name, default in defaults.items():
            widgets.text(name, default)
        _overlays[:] = [DATABRICKS_OVERLAY]
        _sets.clear()
        return namespace["spark"], widgets.get, namespace["display"]
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

    return build_spark(config(widget), app_name="taoqi-notebook"), widget, show


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
