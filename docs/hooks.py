"""MkDocs hook: the table reference of docs/tables.md and the landing contract of docs/landing.md, rendered
from the code at build time.

The table catalogue (transforms/catalog.py: name, description, producing stage, partitioning, table
properties; the columns' descriptions are their Delta column comments), the quarantine reason codes
(transforms/silver/reasons.py) and each source's contract (its conformer module: the SourceSpec, the
fields it requires, its docstring; the fields' descriptions are their comments in
transforms/bronze/raw_schemas.py) are written once, in the code; the pages hold markers where they go.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import types as T

CATALOGUE_MARKER = "<!-- table catalogue -->"
REASONS_MARKER = "<!-- quarantine reasons -->"
LANDING_MARKER = "<!-- landing contract -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def catalogue_markdown() -> str:
    from transforms.catalog import CATALOG

    parts = []
    for layer in ("silver", "gold", "ops"):
        for table in (t for t in CATALOG.values() if t.layer == layer):
            partitioning = ", ".join(f"`{c}`" for c in table.partitioned_by) or "none"
            created_with = "".join(f"; created with `{key} = {value}`" for key, value in table.properties)
            rows = [
                f"| `{f.name}` | {f.dataType.simpleString()} | {'yes' if f.nullable else 'no'} "
                f"| {_cell(f.metadata.get('comment', ''))} |"
                for f in table.schema.fields
            ]
            parts.append(
                "\n".join(
                    [
                        f"### {table.name}",
                        "",
                        table.description,
                        "",
                        f"Published by `taoqi {table.producer}`; partitioned by {partitioning}{created_with}.",
                        "",
                        "| column | type | nullable | description |",
                        "|---|---|---|---|",
                        *rows,
                        "",
                    ]
                )
            )
    return "\n".join(parts)


def reasons_markdown() -> str:
    from transforms.silver.reasons import DESCRIPTIONS, PRECEDENCE

    rows = [f"| `{code}` | {_cell(DESCRIPTIONS[code])} |" for code in PRECEDENCE]
    return "\n".join(["| reason | meaning |", "|---|---|", *rows])


def _field_comment(schema: T.StructType, path: str) -> str:
    """The comment of the field at ``path`` of ``schema``: a top-level name, or a nested leaf's dotted path
    (``traveller.member_id``, as transforms.bronze.ingest.leaf_fields names it)."""
    field = None
    for name in path.split("."):
        field = (schema if field is None else field.dataType)[name]
    return field.metadata.get("comment", "")


def landing_markdown() -> str:
    """One section per configured source: its file format, fields and what conform requires of them."""
    import importlib

    from jobs.runtime.config import load_config
    from transforms.bronze.ingest import leaf_fields

    parts = []
    for name, source in load_config().sources.items():
        module = importlib.import_module(source.conformer)
        spec, required = module.SOURCE, set(getattr(module, "REQUIRED", ()))
        about = " ".join(module.__doc__.split("\n\n")[0].split())
        options = ", ".join(f"`{k}={v}`" for k, v in spec.reader_options.items()) or "none"
        checks = [
            c
            for c, on in (
                ("event month in the batch window", spec.event_time_checked),
                ("member in the accounts", spec.user_checked),
            )
            if on
        ]
        fields = (
            leaf_fields(spec.raw_schema)
            if spec.format == "parquet"
            else [(f.name, "string") for f in spec.raw_schema.fields]
        )
        rows = [
            f"| `{field}` | {kind} | {'yes' if field in required else 'no'} "
            f"| {_cell(_field_comment(spec.raw_schema, field))} |"
            for field, kind in fields
        ]
        parts.append(
            "\n".join(
                [
                    f"### {name}",
                    "",
                    about,
                    "",
                    f"- files: `landing/{name}/ingest_month=YYYY-MM/*{spec.file_suffix}`, read as {spec.format} "
                    f"(options: {options}){'' if source.enabled else '; off by default'}",
                    f"- rows go to `silver.{spec.target}`, one per `{', '.join(spec.natural_key)}`; the member is "
                    f"`{spec.member_field}`",
                    f"- conform also checks: {', '.join(checks) or 'nothing beyond the fields'}",
                    "",
                    "| field | type as read | required | description |",
                    "|---|---|---|---|",
                    *rows,
                    "",
                ]
            )
        )
    return "\n".join(parts)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if CATALOGUE_MARKER in markdown:
        markdown = markdown.replace(CATALOGUE_MARKER, catalogue_markdown())
    if LANDING_MARKER in markdown:
        markdown = markdown.replace(LANDING_MARKER, landing_markdown())
    if REASONS_MARKER in markdown:
        markdown = markdown.replace(REASONS_MARKER, reasons_markdown())
    return markdown
