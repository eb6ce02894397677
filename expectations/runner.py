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
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from itertools import count
from typing import Any

from pyspark.sql import DataFrame

from expectations.suites import UNEXPECTED_ROWS, Check

log = logging.getLogger(__name__)

RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 0, "return_unexpected_index_query": False}
SITE = "local_site"  # the site every ephemeral context has; re-pointed at the caller's directory
_GE_VIEW = "tmp_view"  # GE registers {batch} of an unexpected-rows check under this name and leaves it
_SAMPLE_VIEW = "taoqi_failed_batch"  # the batch again, for the rows of a failed SQL check

# GE's page templates load their scripts and stylesheets from CDNs, so the Data Docs render
# unstyled offline. Each page is pointed at copies under <docs>/static/vendor/ instead, taken
# from pinned packages (pyproject.toml) or, for what no Python package ships, from
# expectations/vendor/ (its README says where each file comes from):
# CDN URL -> (package, file in the package, copy).
_TABLE = "vendor/bootstrap-table"
LOCAL_COPIES = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": (
        "xstatic.pkg.bootstrap",
        "data/css/bootstrap.min.css",
        "bootstrap/bootstrap.min.css",
    ),
    # Bootstrap 4's bundle carries Popper, which GE loads on its own from a CDN (that tag is dropped)
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": (
        "xstatic.pkg.bootstrap",
        "data/js/bootstrap.bundle.min.js",
        "bootstrap/bootstrap.bundle.min.js",
    ),
    "https://code.jquery.com/jquery-3.7.1.min.js": ("xstatic.pkg.jquery", "data/jquery.min.js", "jquery/jquery.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": (
        "xstatic.pkg.font_awesome",
        "data/css/all.min.css",
        "font-awesome/css/all.min.css",
    ),
    # the index's tables: search, sort, a filter per column (dates through the date picker)
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": (
        "expectations",
        f"{_TABLE}/bootstrap-table.min.js",
        "bootstrap-table/bootstrap-table.min.js",
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": (
        "expectations",
        f"{_TABLE}/bootstrap-table.min.css",
        "bootstrap-table/bootstrap-table.min.css",
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js": (
        "expectations",
        f"{_TABLE}/extensions/filter-control/bootstrap-table-filter-control.min.js",
        "bootstrap-table/bootstrap-table-filter-control.min.js",
    ),
    # GE asks for the filter control's stylesheet of 1.19.0 twice (plain and minified): one copy of 1.19.1's
    **{
        f"https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/{name}": (
            "expectations",
            f"{_TABLE}/extensions/filter-control/bootstrap-table-filter-control.min.css",
            "bootstrap-table/bootstrap-table-filter-control.min.css",
        )
        for name in ("bootstrap-table-filter-control.css", "bootstrap-table-filter-control.min.css")
    },
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": (
        "expectations",
        "vendor/bootstrap-datepicker/bootstrap-datepicker.min.js",
        "bootstrap-datepicker/bootstrap-datepicker.min.js",
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": (
        "expectations",
        "vendor/bootstrap-datepicker/bootstrap-datepicker.min.css",
        "bootstrap-datepicker/bootstrap-datepicker.min.css",
    ),
    # the dark theme, where the reader's system prefers it
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": (
        "expectations",
        "vendor/bootstrap-dark/bootstrap-prefers-dark.min.css",
        "bootstrap-dark/bootstrap-prefers-dark.min.css",
    ),
}
LOCAL_DIRECTORIES = {"font-awesome/webfonts": ("xstatic.pkg.font_awesome", "data/webfonts")}  # all.min.css loads them
# Dropped, having no copy: Popper (in Bootstrap's bundle) and Vega (no taoqi page has a chart).
# the logo at the top of every page, which GE's own static/images/ holds too
_LOGO = re.compile(r"https://great-expectations-web-assets\.s3\.us-east-2\.amazonaws\.com/logo-long\.png(\?[^\"']*)?")
# GE writes a validation page's favicon link one folder short (its depth counted without the run's folder).
_FAVICON = re.compile(r'href="(?:\.{1,2}/)*static/images/favicon\.ico"')
_CDN_TAG = re.compile(
    r'<script\b[^>]*\bsrc="(https?://[^"]+)"[^>]*>\s*</script>|<link\b[^>]*\bhref="(https?://[^"]+)"[^>]*>'
)

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
        serve_assets_locally(docs_dir)
        del _undocumented[docs_dir]


def serve_assets_locally(docs_dir: str) -> None:
    """Copy the Data Docs' scripts and stylesheets under ``docs_dir``/static/vendor and point every page
    at the copies, dropping the CDN tags that have none (LOCAL_COPIES): the pages open styled offline.
    Safe to run again: a page already pointed at its copies is left as it is."""
    from importlib.resources import as_file, files

    vendor = os.path.join(docs_dir, "static", "vendor")
    wanted = [*LOCAL_COPIES.values(), *((package, path, copy) for copy, (package, path) in LOCAL_DIRECTORIES.items())]
    for package, path, copy in wanted:
        target = os.path.join(vendor, copy)
        if os.path.exists(target):
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with as_file(files(package) / path) as source:
            if source.is_dir():
                shutil.copytree(source, target)
            else:
                shutil.copyfile(source, target)
    for folder, _, names in os.walk(docs_dir):
        local = partial(_local_tag, vendor=os.path.relpath(vendor, folder).replace(os.sep, "/"))
        images = os.path.relpath(os.path.join(docs_dir, "static", "images"), folder).replace(os.sep, "/")
        for name in names:
            if not name.endswith(".html"):
                continue
            page = os.path.join(folder, name)
            with open(page, encoding="utf-8") as source:
                html = source.read()
            rewritten = _LOGO.sub(f"{images}/logo-long.png", _CDN_TAG.sub(local, html))
            rewritten = _FAVICON.sub(f'href="{images}/favicon.ico"', rewritten)
            if rewritten != html:
                with open(page, "w", encoding="utf-8") as out:
                    out.write(rewritten)


def _local_tag(tag: re.Match, *, vendor: str) -> str:
    """A CDN script or stylesheet tag of a page, pointed at its copy under ``vendor`` (the page's relative
    path to static/vendor); "" for one without a copy. The copy's tag has no integrity hash: it was the CDN file's."""
    script, url = tag.group(1) is not None, tag.group(1) or tag.group(2)
    if url in LOCAL_COPIES:
        copy = f"{vendor}/{LOCAL_COPIES[url][2]}"
        return f'<script src="{copy}"></script>' if script else f'<link rel="stylesheet" href="{copy}">'
    return ""


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
