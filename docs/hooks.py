"""MkDocs hook: the table reference of docs/tables.md, rendered from the code at build time.

The table catalogue (transforms/catalog.py: name, description, producing stage, partitioning; the
columns' descriptions are their Delta column comments) and the quarantine reason codes
(transforms/silver/reasons.py) are written once, in the code; the page holds markers where they go.
"""

from __future__ import annotations

CATALOGUE_MARKER = "<!-- table catalogue -->"
REASONS_MARKER = "<!-- quarantine reasons -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def catalogue_markdown() -> str:
    from transforms.catalog import CATALOG

    parts = []
    for layer in ("silver", "gold", "ops"):
        for table in (t for t in CATALOG.values() if t.layer == layer):
            partitioning = ", ".join(f"`{c}`" for c in table.partitioned_by) or "none"
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
                        f"Published by `taoqi {table.producer}`; partitioned by {partitioning}.",
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


def on_page_markdown(markdown: str, page, config, files) -> str:
    if CATALOGUE_MARKER in markdown:
        markdown = markdown.replace(CATALOGUE_MARKER, catalogue_markdown())
    if REASONS_MARKER in markdown:
        markdown = markdown.replace(REASONS_MARKER, reasons_markdown())
    return markdown
