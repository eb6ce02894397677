"""The checkpoint runner: a suite of checks on a Spark DataFrame through a GE checkpoint.

GE's Spark datasource validates the DataFrame where it is (nothing is
converted to pandas); results come back in the SUMMARY format with no
failing values collected (``partial_unexpected_count`` 0), so what reaches
the driver is one small record per check. One ephemeral GE context per Data
Docs directory and process: no ``gx/`` folder in the repository, the HTML
goes where the caller says.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import count
from typing import Any

from pyspark.sql import DataFrame

from expectations.suites import UNEXPECTED_ROWS, Check

log = logging.getLogger(__name__)

RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 0, "return_unexpected_index_query": False}
SITE = "local_site"  # the site every ephemeral context has; re-pointed at the caller's directory
_GE_VIEW = "tmp_view"  # GE registers {batch} of an unexpected-rows check under this name and leaves it
_SAMPLE_VIEW = "taoqi_failed_batch"  # the batch again, for the rows of a failed SQL check

_contexts: dict[str | None, Any] = {}
_names = count(1)
# Data Docs directory -> (validation result, suite) identifiers whose pages build_data_docs() has not built
_undocumented: dict[str, list] = {}


@dataclass(frozen=True)
class Outcome:
    """One check's result, as stored in ops.quality_results."""

    check: str
    expectation: str
    column: str | None
    severity: str
    success: bool
    observed_value: str | None  # JSON
    unexpected_count: int | None
    unexpected_percent: float | None
    element_count: int | None
    error: str | None = None  # GE could not evaluate the check (counts as a failure)
    sample: str | None = None  # a few of the rows a failed SQL check returned, for the error message


def context(docs_dir: str | None) -> Any:
    """The ephemeral GE context of this process writing Data Docs to ``docs_dir`` (None: no docs)."""
    if docs_dir in _contexts:
        return _contexts[docs_dir]
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    if docs_dir is not None:
        ctx.update_data_docs_site(
            SITE,
            {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                # An ephemeral context has no root directory: the store needs an absolute path.
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": os.path.abspath(docs_dir),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
    ctx.data_sources.add_spark(name="taoqi", persist=False)  # the caller persists what it validates
    _contexts[docs_dir] = ctx
    return ctx


def run_suite(
    df: DataFrame,
    suite_name: str,
    checks: list[Check],
    severities: dict[str, str],
    *,
    docs_dir: str | None = None,
    references: dict[str, DataFrame] | None = None,
    name_member: Callable[[Any], str] | None = None,
) -> list[Outcome]:
    """Validate ``df`` against ``checks``; return one outcome per check, in suite order.

    ``severities`` maps each check name to critical or warning (GE's own
    severity field carries it into Data Docs). ``references`` are registered
    as temporary views for the checks' SQL and dropped afterwards. A failed check's
    sample rows name a member by ``name_member(user_id)`` (a pseudonym), never by id.
    """
    import great_expectations as gx
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    ctx = context(docs_dir)
    for check in checks:
        expectation = check.expectation  # built for this call: setting its meta and severity is safe
        expectation.meta = {**(expectation.meta or {}), "check": check.name}
        expectation.severity = severities[check.name]
    # Given whole to the constructor: adding expectations one by one to a suite the context
    # holds serialises the suite once per expectation.
    suite = gx.ExpectationSuite(name=suite_name, expectations=[c.expectation for c in checks])
    if suite_name in {s.name for s in ctx.suites.all()}:
        ctx.suites.delete(suite_name)
    suite = ctx.suites.add(suite)
    n = next(_names)
    asset = ctx.data_sources.get("taoqi").add_dataframe_asset(name=f"{suite_name}#{n}")
    batch = asset.add_batch_definition_whole_dataframe("slice")
    definition = ctx.validation_definitions.add(
        gx.ValidationDefinition(name=f"{suite_name}#{n}", data=batch, suite=suite)
    )
    # no UpdateDataDocsAction: it rebuilds the site's index after every validation (build_data_docs)
    checkpoint = ctx.checkpoints.add(
        gx.Checkpoint(name=f"{suite_name}#{n}", validation_definitions=[definition], result_format=RESULT_FORMAT)
    )
    spark = df.sparkSession
    for name, ref in (references or {}).items():
        ref.createOrReplaceTempView(name)
    try:
        result = checkpoint.run(batch_parameters={"dataframe": df})
        ((result_id, suite_result),) = result.run_results.items()
        if docs_dir is not None:
            _undocumented.setdefault(docs_dir, []).extend([result_id, ExpectationSuiteIdentifier(name=suite_name)])
        by_check = {r.expectation_config.meta["check"]: r for r in suite_result.results}
        outcomes = [_outcome(check.name, by_check[check.name], severities[check.name]) for check in checks]
        # SUMMARY results carry no rows; a failed SQL check's first rows say what to fix
        # (which file, which member), so they are fetched again, only on failure, a few.
        df.createOrReplaceTempView(_SAMPLE_VIEW)
        outcomes = [
            o
            if o.success or o.expectation != UNEXPECTED_ROWS
            else replace(o, sample=_sample(spark, by_check[o.check].expectation_config.kwargs, name_member))
            for o in outcomes
        ]
    finally:
        for name in [*(references or {}), _GE_VIEW, _SAMPLE_VIEW]:
            spark.catalog.dropTempView(name)
    return outcomes


def build_data_docs() -> None:
    """Build the Data Docs pages of the validations run since the last call, and each site's index once.

    What GE's UpdateDataDocsAction does after every checkpoint, once for many: the index, which lists
    every validation of the site, is rebuilt per directory, not per validation.
    """
    for docs_dir, identifiers in list(_undocumented.items()):
        unique = list(dict.fromkeys(identifiers))  # a suite validated N times is one page, rendered once
        _contexts[docs_dir].build_data_docs(site_names=[SITE], resource_identifiers=unique, build_index=True)
        del _undocumented[docs_dir]


def _sample(spark: Any, kwargs: dict, name_member: Callable[[Any], str] | None, rows: int = 3) -> str | None:
    """The first ``rows`` rows of an unexpected-rows query, as ``col=value`` text; a member id column (``user_id``,
    ``referrer_user_id``) as ``member=<name_member(id)>``, or left out without ``name_member``."""
    try:
        query = kwargs["unexpected_rows_query"].replace("{batch}", _SAMPLE_VIEW)
        found = spark.sql(f"SELECT * FROM ({query}) LIMIT {rows}").collect()
    except Exception as err:  # the sample only decorates the message; the outcome stands without it
        log.debug("no sample of a failed check: %s", err)
        return None

    def shown(column: str, value: Any) -> str | None:
        if not column.endswith("user_id"):
            return f"{column}={value}"
        return f"member={name_member(value)}" if name_member is not None and value is not None else None

    return "; ".join(", ".join(filter(None, (shown(k, v) for k, v in r.asDict().items()))) for r in found) or None


def _outcome(name: str, r: Any, severity: str) -> Outcome:
    config, res = r.expectation_config, r.result or {}
    kwargs = config.kwargs
    column = kwargs.get("column") or (", ".join(kwargs["column_list"]) if kwargs.get("column_list") else None)
    error = None
    if r.exception_info and r.exception_info.get("raised_exception"):
        error = str(r.exception_info.get("exception_message"))[:500]
    observed = res.get("observed_value")
    unexpected = res.get("unexpected_count")
    if config.type == UNEXPECTED_ROWS and isinstance(observed, int):
        unexpected = observed  # its observed value is the number of rows the query returned
    return Outcome(
        check=name,
        expectation=config.type,
        column=column,
        severity=severity,
        success=bool(r.success),
        observed_value=None if observed is None else json.dumps(observed, default=str)[:2000],
        unexpected_count=unexpected,
        unexpected_percent=res.get("unexpected_percent"),
        element_count=res.get("element_count"),
        error=error,
    )
