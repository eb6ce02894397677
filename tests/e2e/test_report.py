"""Personas and the run report on the default 30 000-member world (tests/e2e/conftest.py `selected`).

The personas are recovered from behaviour alone and checked against the
generator's hidden truth here (never in a stage); the report is parsed back
and every section, chart and figure compared with the tables it summarises.
The report fixture adds what a `taoqi run` would have left beside the report
(a run of quality checks with their Data Docs, a run manifest).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import io
import json
import math
import re
import time
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from jobs.cli import main
from jobs.report import MANIFEST, PERSONA_TRAITS, QUALITY_TREND_RUNS, duration, run_trend, write_manifest
from jobs.runtime.config import load_config
from jobs.runtime.logs import TIMINGS
from tests.conftest import compiled
from tests.e2e.conftest import LATEST, SELECTOR, taoqi
from tests.e2e.test_pipeline import read
from tests.tiny_world import set_args
from transforms.personas.evaluation import adjusted_rand_index, contingency, purity
from transforms.personas.params import PERSONAS
from transforms.pseudonyms import pseudonym

pytestmark = pytest.mark.e2e

HOSTILE = "<script>alert('taoqi')</script> & co"  # an override reason is free text typed by a person


class Page(HTMLParser):
    """Sections, images, tables (and which of them are folded in a <details>), the text of every element
    with an id, every id in the order the page has them, and the persona traits (their data-* attributes)."""

    def __init__(self):
        super().__init__()
        self.sections, self.images, self.text, self.tables = set(), {}, {}, {}
        self.order: list[str] = []
        self.folded: set[str] = set()
        self.traits: list[dict[str, str]] = []
        self._open: list[tuple[str, str]] = []  # (tag, id) of the elements with an id not closed yet
        self._details = 0
        self._table: str | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.order.append(a["id"])
        if tag == "details":
            self._details += 1
        if tag == "section":
            self.sections.add(a.get("id"))
        if tag == "img":
            self.images[a.get("id")] = a.get("src", "")
        if tag == "table":
            self._table = a.get("id")
            self.tables[self._table] = []
            if self._details:
                self.folded.add(self._table)
        if tag == "span" and a.get("class") == "trait":
            self.traits.append({k.removeprefix("data-"): v for k, v in a.items() if k.startswith("data-")})
        if tag == "tr":
            self._row = []
        if tag in ("td", "th") and self._row is not None:
            self._row.append("")
        if "id" in a and tag not in ("img", "table", "section"):
            self._open.append((tag, a["id"]))
            self.text[a["id"]] = ""

    def handle_endtag(self, tag):
        if tag == "tr" and self._row is not None and self._table:
            self.tables[self._table].append(self._row)
            self._row = None
        if tag == "table":
            self._table = None
        if tag == "details":
            self._details -= 1
        if self._open and self._open[-1][0] == tag:
            self._open.pop()

    def handle_data(self, data):
        for _, key in self._open:
            self.text[key] += data
        if self._row is not None and self._row:
            self._row[-1] += data


def _number(text: str) -> int:
    return int(text.replace(",", "").strip())


@pytest.fixture(scope="module")
def report(selected, spark):
    """The report of LATEST after an audited invitation whose reason is hostile HTML (compiled, as the default
    world's fixtures: tests/tiny_world.py INTERPRETED)."""
    with compiled(spark):
        root = selected
        ordinary = (
            read(spark, root, "gold.scores")
            .filter((F.col("month") == LATEST) & (F.col("band") == 1))
            .orderBy("user_id")
            .first()["user_id"]
        )
        taoqi(
            root,
            "override",
            "add",
            "--user",
            str(ordinary),
            "--month",
            LATEST,
            "--action",
            "invite",
            "--reason",
            HOSTILE,
            "--author",
            "test",
        )
        try:
            taoqi(root, "select", "--month", LATEST)
            # What a `taoqi run` leaves beside its report, which this world's stages (run one by one, quality
            # gates off) did not: one run of quality checks with its Data Docs, and a run manifest, whose
            # steps are the select's just run.
            steps = list(TIMINGS)
            with contextlib.redirect_stdout(io.StringIO()):
                checked = main(
                    [
                        "quality",
                        "--month",
                        LATEST,
                        *set_args([f"lakehouse.root={root}", *SELECTOR, "quality.enabled=true"]),
                    ]
                )
            assert checked in (0, 3)  # 3: a critical check failed, which the report shows like any other
            write_manifest(
                load_config(sets=[f"lakehouse.root={root}"]),
                LATEST,
                run_id="test-report",
                timings=steps,
                started=time.time() - 75,
                conformed=[LATEST],
            )
            out = taoqi(root, "report", "--month", LATEST)
            selection = read(spark, root, "gold.apass_selection").filter(F.col("month") == LATEST)
            decisions = {r["decision"]: r["count"] for r in selection.groupBy("decision").count().collect()}
            invited = [r["user_id"] for r in selection.filter("invited").collect()]
            path = Path(re.search(r"report: (\S+)", out).group(1))
            html = path.read_text(encoding="utf-8")
            page = Page()
            page.feed(html)
            yield root, path, html, page, {"ordinary": ordinary, "decisions": decisions, "invited": invited}
        # once this module's tests are done: the selection as `selected` left it, for test_selector.py (the quality
        # checks stay on record: test_notebooks.py's 05_data_quality reads a world with or without them)
        finally:
            spark.sql(f"DELETE FROM delta.`{root}/ops/apass_overrides` WHERE author = 'test'")
            taoqi(root, "select", "--month", LATEST)
            (root / "reports" / LATEST / MANIFEST).unlink(missing_ok=True)


def test_personas_are_recovered_from_behaviour(selected, spark):
    found = read(spark, selected, "gold.personas").filter(F.col("month") == LATEST)
    truth = spark.read.parquet(str(selected / "truth" / "users"))
    cells = contingency(found, truth)
    scores = purity(cells)
    assert set(PERSONAS) <= set(scores), scores  # all four published personas are found
    assert all(scores[p] >= 0.8 for p in PERSONAS), scores
    assert adjusted_rand_index(cells) > 0.5
    population = read(spark, selected, "gold.scores").filter((F.col("month") == LATEST) & (F.col("score") >= 1000))
    assert found.count() == population.count()  # every super member has a segment, nobody else


def test_same_data_config_and_seed_give_the_same_segments_and_profiles(selected, spark):
    before = [
        read(spark, selected, t).filter(F.col("month") == LATEST).collect()
        for t in ("gold.personas", "gold.persona_profiles")
    ]
    taoqi(selected, "personas", "--month", LATEST)
    after = [
        read(spark, selected, t).filter(F.col("month") == LATEST) for t in ("gold.personas", "gold.persona_profiles")
    ]
    # a new registered version of the same model; the segments and profiles are the same rows
    assertDataFrameEqual(
        after[0].drop("model_version"), spark.createDataFrame(before[0], after[0].schema).drop("model_version")
    )
    assertDataFrameEqual(after[1], spark.createDataFrame(before[1], after[1].schema))


def test_profiles_test_every_attribute_against_the_rest(selected, spark):
    profile = read(spark, selected, "gold.persona_profiles").filter(F.col("month") == LATEST).cache()
    sizes = {r["persona"]: r["members"] for r in profile.filter(F.col("attribute") == "members").collect()}
    found = {
        r["persona"]: r["count"]
        for r in read(spark, selected, "gold.personas")
        .filter(F.col("month") == LATEST)
        .groupBy("persona")
        .count()
        .collect()
    }
    assert sizes == found
    # the shrewd pragmatists buy for the company: office supplies are among their top categories, far
    # above the rest of the population
    office = profile.filter(
        (F.col("persona") == "shrewd_pragmatist")
        & (F.col("attribute") == "top_category")
        & (F.col("level") == "office")
    ).first()
    assert office is not None and office["value"] > 3 * office["rest_value"] and office["significant"]
    gender = profile.filter(
        (F.col("persona") == "quality_lifestyle") & (F.col("attribute") == "gender") & (F.col("level") == "M")
    ).first()
    assert gender["value"] > gender["rest_value"] and gender["significant"] and gender["pearson_residual"] > 2
    assert gender["test"] == "chi_square" and 0 <= gender["p_value"] < 0.01
    spend = profile.filter((F.col("persona") == "elegant_leisure") & (F.col("attribute") == "overseas_share")).first()
    assert spend["test"] == "welch_t" and spend["value"] > spend["rest_value"] and spend["statistic"] > 0
    profile.unpersist()


def test_the_report_has_every_section_and_chart(report):
    _, path, html, page, _ = report
    assert path.name == "index.html" and path.parent.name == LATEST
    assert {"glance", "run", "score", "credit", "selector", "personas", "quality", "calibration"} <= page.sections
    charts = [
        "chart-score-histogram",
        "chart-components",
        "chart-credit",
        "chart-precision-recall",
        "chart-membership",
        "chart-persona-sizes",
        "chart-persona-profiles",
        "chart-persona-traits",
        "chart-stages",
        "chart-quality-trend",
    ]
    for chart in charts:
        prefix = "data:image/png;base64,"
        assert page.images.get(chart, "").startswith(prefix), chart
        assert base64.b64decode(page.images[chart][len(prefix) :])[:8] == b"\x89PNG\r\n\x1a\n", chart
    assert "http://" not in html and "https://" not in html  # opens offline: nothing to fetch


def test_the_report_figures_are_the_tables(report, spark):
    root, _, _, page, _ = report
    scores = read(spark, root, "gold.scores").filter(F.col("month") == LATEST)
    assert _number(page.text["members"]) == scores.count()
    grades = {r["grade"]: r["count"] for r in scores.groupBy("grade").count().collect()}
    shown = {row[0]: _number(row[1]) for row in page.tables["table-grades"][1:]}
    assert shown == {g: grades.get(g, 0) for g in ("ordinary", "super", "apass_eligible")}
    assert _number(page.text["growth-perks"]) == scores.filter("growth_perk").count()
    shown_decisions = {row[0]: _number(row[1]) for row in page.tables["table-decisions"][1:]}
    assert shown_decisions == report[4]["decisions"] and shown_decisions["invited_by_override"] == 1
    # the membership against its target, every month kept: the table's figures
    members = read(spark, root, "gold.apass_members")
    stock = {
        r["month"]: r["count"]
        for r in members.filter(F.col("status").isin("active", "warned")).groupBy("month").count().collect()
    }
    shown_stock = {row[0].strip(): (row[1].strip(), _number(row[2])) for row in page.tables["table-membership"][1:]}
    assert {m: n for m, (_, n) in shown_stock.items() if n} == stock
    target = read(spark, root, "gold.apass_selection").filter(F.col("month") == LATEST).first()["target_stock"]
    # at least the target: the ordinary member's invitation override is honoured even without a place left
    assert shown_stock[LATEST][0] == str(target) and shown_stock[LATEST][1] >= target
    sizes = {
        r["persona"]: r["count"]
        for r in read(spark, root, "gold.personas")
        .filter(F.col("month") == LATEST)
        .groupBy("persona")
        .count()
        .collect()
    }
    assert {row[0]: _number(row[1]) for row in page.tables["table-persona-sizes"][1:]} == sizes
    levels = {r["credit_level"]: r["count"] for r in scores.groupBy("credit_level").count().collect()}
    assert {row[0]: _number(row[1]) for row in page.tables["table-credit"][1:] if _number(row[1])} == levels


def test_the_report_escapes_data_and_shows_members_only_by_pseudonym(report, spark):
    root, _, html, page, selection = report
    assert "<script>" not in html and "&lt;script&gt;alert(&#39;taoqi&#39;)&lt;/script&gt; &amp; co" in html
    listed = [row[0].strip() for row in page.tables["table-invited"][1:]]
    assert listed and all(re.fullmatch(r"[0-9a-f]{16}", member) for member in listed)  # never an id in clear
    # the keyed hash under the lakehouse's own key (the local overlay's privacy.pseudonym_key=lakehouse)
    key = (root / "_keys" / "pseudonyms.key").read_text().strip().encode()
    assert selection["ordinary"] in selection["invited"]
    assert {pseudonym(key, user) for user in selection["invited"]} <= set(listed)
    # without the key, every member id hashed as an unkeyed or salted scheme would: no pseudonym is found
    last_id = read(spark, root, "silver.accounts").agg(F.max("user_id")).first()[0]
    for guess in (b"", b"taoqi-report"):
        for user in range(last_id + 1):
            text = str(user).encode()
            assert hashlib.sha256(guess + text).hexdigest()[: len(listed[0])] not in listed
            assert hmac.new(guess, text, hashlib.sha256).hexdigest()[: len(listed[0])] not in listed


def test_the_month_at_a_glance_comes_first_beside_the_published_and_last_months_figures(report, spark):
    root, _, _, page, selection = report
    assert page.order[0] == "glance"  # right after the title: before the run and every other section
    assert all(page.order.index("glance") < page.order.index(s) for s in page.sections - {"glance"})
    glance = {row[0].strip(): [cell.strip() for cell in row[1:]] for row in page.tables["table-glance"][1:]}
    scores = read(spark, root, "gold.scores")
    now, before = scores.filter(F.col("month") == LATEST), scores.filter(F.col("month") == "2025-12")
    members, previous = now.count(), before.count()
    assert _number(page.text["glance-members"]) == members
    assert glance["members scored"][3:] == [f"{previous:,}", f"{members - previous:+,}"]
    # the super share beside the calibration table's published range, and last month's
    supers = now.filter(F.col("score") >= 1000).count()
    previous_share = before.filter(F.col("score") >= 1000).count() / previous
    super_row = glance["super members (score >= the super floor)"]
    assert page.text["glance-super-share"] == f"{supers / members:.2%} ({supers:,})"
    assert super_row[1:4] == [
        "3%-5%",
        "yes" if 0.03 <= supers / members <= 0.05 else "NO",
        f"{previous_share:.2%}",
    ]
    # the APASS stock beside its target, the invitations beside the places free, the profile's figures within
    stock = {
        r["month"]: r["count"]
        for r in read(spark, root, "gold.apass_members")
        .filter(F.col("status").isin("active", "warned"))
        .groupBy("month")
        .count()
        .collect()
    }
    month_selection = read(spark, root, "gold.apass_selection").filter(F.col("month") == LATEST)
    first = month_selection.first()
    assert _number(page.text["glance-stock"]) == stock[LATEST]
    assert glance["APASS members (active and warned)"][1] == f"target {first['target_stock']:,}"
    kept = {row[0].strip() for row in page.tables["table-membership"][1:]}  # the months with a membership
    assert glance["APASS members (active and warned)"][3] == (
        f"{stock.get('2025-12', 0):,}" if "2025-12" in kept else ""
    )
    invited = month_selection.filter("invited").count()
    assert invited == len(selection["invited"])
    assert page.text["glance-invited"] == f"{invited:,} (1 by override)"
    assert glance["APASS invitations this month"][1] == f"{first['capacity']:,} places free"
    profile = read(spark, root, "gold.apass_profile").filter((F.col("month") == LATEST) & F.col("within").isNotNull())
    within = profile.filter("within").count()
    assert page.text["glance-profile"] == f"{within} of {profile.count()} published figures within"


def _effect_size(row, rest_members: float) -> float | None:
    """The report's effect size, computed again here: Cohen's d from Welch's t, Cohen's h for a level's share."""
    if not row["significant"]:
        return None
    if row["test"] == "welch_t" and rest_members > 0:
        return abs(row["statistic"]) * math.sqrt(1 / row["members"] + 1 / rest_members)
    if row["test"] == "chi_square" and row["value"] > row["rest_value"]:
        return 2 * math.asin(math.sqrt(row["value"])) - 2 * math.asin(math.sqrt(row["rest_value"]))
    return None


def test_each_persona_shows_what_sets_it_apart_from_its_profile(report, spark):
    root, _, _, page, _ = report
    profile = read(spark, root, "gold.persona_profiles").filter(F.col("month") == LATEST).collect()
    rest = {r["persona"]: r["rest_value"] for r in profile if r["attribute"] == "members"}
    expected: dict[str, list] = {}
    for persona in rest:
        ranked = [(_effect_size(r, rest[persona]), r) for r in profile if r["persona"] == persona]
        ranked = sorted(
            ((e, r) for e, r in ranked if e is not None),
            key=lambda er: (-er[0], er[1]["attribute"], er[1]["level"] or ""),
        )
        expected[persona] = [r for _, r in ranked[:PERSONA_TRAITS]]
    shown: dict[str, list] = {}
    for trait in page.traits:
        shown.setdefault(trait["persona"], []).append(trait)
    assert set(shown) == {p for p, rows in expected.items() if rows} and len(shown) >= len(PERSONAS)
    for persona, rows in expected.items():
        assert [(t["attribute"], t["level"] or None) for t in shown[persona]] == [
            (r["attribute"], r["level"]) for r in rows
        ], persona
        assert [float(t["value"]) for t in shown[persona]] == pytest.approx([r["value"] for r in rows])
        assert [float(t["rest"]) for t in shown[persona]] == pytest.approx([r["rest_value"] for r in rows])
    # the shrewd pragmatists' office supplies (test_profiles_test_every_attribute_against_the_rest) set them apart
    assert ("top_category", "office") in [(t["attribute"], t["level"]) for t in shown["shrewd_pragmatist"]]
    sizes = {row[0]: _number(row[1]) for row in page.tables["table-persona-traits"][1:]}
    assert sizes == {r["persona"]: r["members"] for r in profile if r["attribute"] == "members"}
    # every test is still there, folded away
    assert "table-persona-significance" in page.folded and "table-persona-traits" not in page.folded
    assert len(page.tables["table-persona-significance"]) - 1 == sum(1 for r in profile if r["attribute"] != "members")


def test_the_quality_trend_is_per_run_and_leaves_out_the_months_not_reached(spark):
    cols = "run_id string, stage string, month string, success boolean, validated_at timestamp"
    rows = [
        ("r0", "ingest", "2025-12", True, datetime(2026, 1, 1, 7, 0)),
        ("r1", "score", "2026-01", False, datetime(2026, 1, 2, 8, 0)),
        ("r1", "score", "2026-01", True, datetime(2026, 1, 2, 8, 5)),
        ("r2", "quality", "2025-12", True, datetime(2026, 1, 3, 9, 2)),
        ("r2", "quality", "2026-01", False, datetime(2026, 1, 3, 9, 1)),
        ("r2", "renew", "2026-12", True, datetime(2026, 1, 3, 9, 0)),  # a renewal, under its year's last month
        ("r3", "renew", "2026-12", False, datetime(2026, 1, 4, 9, 0)),  # nothing on a month that exists
    ]
    trend = run_trend(spark.createDataFrame(rows, cols), ["2025-12", "2026-01"])
    assert [(t["run_id"], t["checks"], t["failed"], t["first_month"], t["last_month"]) for t in trend] == [
        ("r0", 1, 0, "2025-12", "2025-12"),
        ("r1", 2, 1, "2026-01", "2026-01"),
        ("r2", 2, 1, "2025-12", "2026-01"),  # the renewal's check left out, its run's first check too
    ]
    assert [t["started"] for t in trend] == ["2026-01-01 07:00", "2026-01-02 08:00", "2026-01-03 09:01"]
    assert trend[1]["label"].splitlines() == ["01-02 08:00", "score", "2026-01"]
    assert run_trend(spark.createDataFrame(rows, cols), []) == []
    # only the latest runs
    many = [(f"r{i:03d}", "score", "2026-01", True, datetime(2026, 1, 1, 0, i)) for i in range(QUALITY_TREND_RUNS + 5)]
    assert [t["run_id"] for t in run_trend(spark.createDataFrame(many, cols), ["2026-01"])] == [
        f"r{i:03d}" for i in range(5, QUALITY_TREND_RUNS + 5)
    ]


def test_the_steps_are_folded_and_the_quality_trend_is_per_run_on_months_that_exist(report, spark):
    root, path, html, page, _ = report
    assert html.index('id="glance"') < html.index('id="table-steps"')
    checks = read(spark, root, "ops.quality_results").filter(F.col("month") == LATEST)  # one run: the fixture's
    assert page.text["glance-quality"] == (
        f"{checks.count():,} checks, {checks.filter(~F.col('success')).count():,} failed, "
        f"{checks.filter(~F.col('success') & (F.col('severity') == 'critical')).count():,} critical"
    )
    # the steps, every one, folded under a summary that says how many and how long
    manifest = json.loads((path.parent / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["steps"] and len(page.tables["table-steps"]) - 1 == len(manifest["steps"])
    assert "table-steps" in page.folded
    assert page.text["steps-summary"].endswith(f"{len(manifest['steps'])} steps, {duration(manifest['seconds'])}")
    # the trend: one bar per run, counting only the months the data has reached
    existing = {r["month"] for r in read(spark, root, "gold.scores").select("month").distinct().collect()} | {
        r["ingest_month"] for r in read(spark, root, "ops.ingest_manifest").select("ingest_month").distinct().collect()
    }
    runs = {
        r["run_id"]: (r["checks"], r["failed"])
        for r in read(spark, root, "ops.quality_results")
        .filter(F.col("month").isin(sorted(existing)))
        .groupBy("run_id")
        .agg(F.count("*").alias("checks"), F.sum((~F.col("success")).cast("int")).alias("failed"))
        .collect()
    }
    shown = page.tables["table-quality-runs"][1:]
    assert runs and {row[0].strip(): (_number(row[4]), _number(row[5])) for row in shown} == runs
    assert "table-quality-runs" in page.folded and [row[1] for row in shown] == sorted(row[1] for row in shown)
    assert all(m <= max(existing) for row in shown for m in row[3].split(" to "))
    assert page.images["chart-quality-trend"].startswith("data:image/png;base64,")


def test_the_data_docs_load_their_scripts_and_styles_from_the_report_folder(report):
    _, path, _, page, _ = report
    docs = path.parent / "data_docs"
    assert page.text["data-docs"].startswith("Great Expectations Data Docs")
    pages = sorted(docs.rglob("*.html"))
    assert len(pages) > 10  # the index, the suites and the validations
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert not re.search(r'<(script|link)\b[^>]*\b(src|href)="(https?:)?//', html), page
        # every script, stylesheet, image and icon of the page is a file of the site (the favicon too)
        assets = re.findall(r'<(?:script|link|img)\b[^>]*\b(?:src|href)="([^"#?]+\.(?:js|css|png|ico))"', html)
        assert assets, page
        for asset in assets:
            assert (page.parent / asset).resolve().is_file(), (page, asset)
    assert (docs / "static" / "vendor" / "font-awesome" / "webfonts" / "fa-solid-900.woff2").is_file()
    index = (docs / "index.html").read_text(encoding="utf-8")
    assert 'src="static/vendor/jquery/jquery.min.js"' in index
    # the index's tables are bootstrap-table's own, with its filter control: search, sort, filters
    assert 'src="static/vendor/bootstrap-table/bootstrap-table.min.js"' in index
    assert 'src="static/vendor/bootstrap-table/bootstrap-table-filter-control.min.js"' in index
