"""Every notebook under notebooks/ runs locally on the selected default world and shows its figures, its SQL cells
over the tables' names included."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from jobs.runtime import notebook
from tests.e2e.conftest import LATEST, WORLD

pytestmark = pytest.mark.e2e

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.py"))
CELL = "\n# COMMAND ----------\n"


def run_notebook(path: Path, root: Path, *widgets: str) -> str:
    """Run the notebook's cells with its widgets as arguments, as `python <notebook> ...` does; returns what it
    printed."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        notebook.run(path, [f"root={root}", f"month={LATEST}", *widgets, *(f"set={s}" for s in WORLD)])
    return printed.getvalue()


def table(spark, root: Path, name: str):
    layer, _, rest = name.partition(".")
    return spark.read.format("delta").load(str(root / layer / rest))


def month_scores(spark, root: Path):
    return table(spark, root, "gold.scores").filter(F.col("month") == LATEST)


def check_scores(spark, root: Path, out: str) -> None:
    scores = month_scores(spark, root)
    members = scores.count()
    assert f"{LATEST}: {members:,} members scored" in out
    super_members = scores.filter(F.col("score") >= 1000).count()
    assert re.search(rf"super members \(score >= 1000\)\s+{super_members:,} = ", out), out[-3000:]
    for level, n in ((r["credit_level"], r["count"]) for r in scores.groupBy("credit_level").count().collect()):
        assert re.search(rf"\|{level}\s*\|{n}\s*\|", out), (level, n)
    routed = table(spark, root, "gold.service_routing").filter(F.col("month") == LATEST)
    queue = routed.groupBy("queue").count().orderBy(F.desc("count")).first()
    assert re.search(rf"\|{queue['queue']}\s*\|{queue['count']}\s*\|", out)


def check_member(spark, root: Path, out: str) -> None:
    top = month_scores(spark, root).orderBy(F.desc("score"), "user_id").first()
    assert f"member {top['user_id']}, {LATEST}: score {top['score']:,} (band {top['band']}" in out
    assert f"credit level {top['credit_level']}" in out
    assert f"APASS {LATEST}: " in out or "APASS: not a candidate" in out
    months = (
        table(spark, root, "gold.scores")
        .filter((F.col("user_id") == top["user_id"]) & (F.col("month") <= LATEST))
        .count()
    )
    assert len(re.findall(r"^\|\d{4}-\d{2}\s*\|", out, re.MULTILINE)) == months


def check_selector(spark, root: Path, out: str) -> None:
    from jobs import model_registry
    from jobs.runtime.config import load_config

    config = load_config(sets=[f"lakehouse.root={root}", *WORLD])
    name = config.apass.selector.registered_model
    client = model_registry.connect(config)
    for alias in (model_registry.CHAMPION, model_registry.CHALLENGER):
        found = model_registry.version_by_alias(client, name, alias)
        assert found is None or f"{alias} v{found.version}" in out, alias
    selection = table(spark, root, "gold.apass_selection").filter(F.col("month") == LATEST)
    row = selection.agg(
        F.count(F.when(F.col("invited"), 1)).alias("invited"),
        F.max("capacity").alias("capacity"),
        F.max("target_stock").alias("target"),
        F.max("model_version").alias("version"),
    ).first()
    stock = (
        table(spark, root, "gold.apass_members")
        .filter((F.col("month") == LATEST) & F.col("status").isin("active", "warned"))
        .count()
    )
    assert stock == row["target"]
    assert (
        f"APASS {LATEST}: {stock} members of a target of {row['target']}; invited {row['invited']} "
        f"of capacity {row['capacity']}, selected by champion v{row['version']}" in out
    )
    assert "holdout_auc" in out
    near = [
        r["user_id"] for r in selection.filter(F.col("decision") == "waitlisted").orderBy("rank").limit(10).collect()
    ]
    shown = re.search(r"\|user_id\s*\|rank\s*\|model_score\s*\|reason_codes\s*\|\n(.*?)\n\+", out, re.DOTALL)
    assert shown is not None, out[-3000:]
    assert [int(line.split("|")[1]) for line in shown.group(1).splitlines() if line.startswith("|")] == near


def check_personas(spark, root: Path, out: str) -> None:
    personas = table(spark, root, "gold.personas").filter(F.col("month") == LATEST)
    assert f"{LATEST}: {personas.count():,} members segmented" in out
    for r in personas.groupBy("persona", "segment").count().collect():
        assert re.search(rf"\|{re.escape(r['persona'])}\s*\|{r['segment']}\s*\|{r['count']}\s*\|", out), r
    assert re.search(r"adjusted Rand index -?\d\.\d{4}", out)  # the world holds the generator's truth
    profiles = table(spark, root, "gold.persona_profiles").filter((F.col("month") == LATEST) & F.col("significant"))
    top = profiles.orderBy("p_value", "persona", "attribute", "level").first()  # the SQL cell's first row
    assert top is None or re.search(rf"\|{re.escape(top['persona'])}\s*\|{re.escape(top['attribute'])}\s*\|", out)


def check_quality(spark, root: Path, out: str) -> None:
    if (root / "ops" / "quality_results").exists():
        results = table(spark, root, "ops.quality_results").filter(F.col("month") == LATEST)
        failed = results.filter(~F.col("success")).count()
        assert f"{LATEST}: {failed:,} failed check result(s) of {results.count():,}" in out
    else:
        assert "quality was disabled" in out  # WORLD runs with quality.enabled=false
    quarantined = table(spark, root, "silver.quarantine").filter(F.col("ingest_month") == LATEST)
    assert f"batch {LATEST}: {quarantined.count():,} rows quarantined" in out
    top = quarantined.groupBy("source", "reason").count().orderBy(F.desc("count"), "source", "reason").first()
    assert re.search(rf"\|{top['source']}\s*\|{top['reason']}\s*\|{top['count']}\s*\|", out)


def check_what_if(spark, root: Path, out: str) -> None:
    scores = month_scores(spark, root)
    assert f"{scores.count():,} members scored" in out
    assert f"{LATEST}: super floor 1,000 -> 900, APASS-eligible floor 2,500 -> 2,400" in out
    for grade, n in ((r["grade"], r["count"]) for r in scores.groupBy("grade").count().collect()):
        assert re.search(rf"^\s*{grade}\s+{n}\s+\d+", out, re.MULTILINE), (grade, n)
    now_super = scores.filter((F.col("score") >= 900) & (F.col("score") < 2400)).count()
    assert re.search(rf"^\s*super\s+\d+\s+{now_super}\s", out, re.MULTILINE), now_super
    target = table(spark, root, "gold.apass_selection").filter(F.col("month") == LATEST).first()["target_stock"]
    assert f"target {target}: kept " in out


CHECKS = {
    "01_scores_and_grades.py": check_scores,
    "02_member_explained.py": check_member,
    "03_selector_review.py": check_selector,
    "04_personas.py": check_personas,
    "05_data_quality.py": check_quality,
    "06_policy_what_if.py": check_what_if,
}


def test_every_notebook_is_checked():
    assert {p.name for p in NOTEBOOKS} == set(CHECKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_databricks_source_format(path):
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == "# Databricks notebook source"
    cells = text.split(CELL)
    assert len(cells) >= 3
    assert cells[0].splitlines()[1].startswith("# MAGIC %md"), "the first cell says what the notebook shows"
    # whitespace aside: the formatter may break the call over lines
    assert "notebook.context(globals()" in "".join(cells[1].split()), "the second cell gets spark, widget and display"


# The notebooks whose figures are computations of the project's Python, not queries (the policy what-if).
WITHOUT_SQL = {"06_policy_what_if.py"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_explore_with_sql_cells_over_the_tables_names(path):
    cells = path.read_text(encoding="utf-8").split(CELL)
    queries = [c for c in cells if c.lstrip().startswith("# MAGIC %sql")]
    assert bool(queries) == (path.name not in WITHOUT_SQL)
    for query in queries:
        assert re.search(r"\btaoqi_(silver|gold|ops)\.\w+", query), "SQL cells read the tables by name"
        assert "lakehouse" not in query and "delta.`" not in query, "never by path"


def test_a_notebook_started_as_a_plain_script_runs_under_the_runner(tmp_path):
    script = tmp_path / "probe.py"
    script.write_text(
        "# Databricks notebook source\n"
        "from jobs.runtime import notebook\n"
        "print('runner' if notebook._widgets is not None else 'script', flush=True)\n"
        "notebook.context(globals(), root='./lakehouse')\n",
        encoding="utf-8",
    )
    ran = subprocess.run([sys.executable, str(script), "size=1"], capture_output=True, text=True, timeout=120)
    # started as a script, handed to the runner before any session: the argument's mistake ends it, one line
    assert ran.stdout.split() == ["script", "runner"]
    assert ran.returncode == 2
    assert ran.stderr.strip().splitlines() == [
        "notebook: error: unknown argument 'size=1': give name=value for the widgets root, set=KEY=VALUE for a "
        "setting or conf=FILE for an overlay"
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(spark, selected, path):
    out = run_notebook(path, selected)
    CHECKS[path.name](spark, selected, out)
