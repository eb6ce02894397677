"""Personas and the run report on the default 30 000-member world (tests/e2e/conftest.py `selected`).

The personas are recovered from behaviour alone and checked against the
generator's hidden truth here (never in a stage); the report is parsed back
and every section, chart and figure compared with the tables it summarises.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from tests.e2e.conftest import LATEST, taoqi
from tests.e2e.test_pipeline import read
from transforms.personas.evaluation import adjusted_rand_index, contingency, purity
from transforms.personas.params import PERSONAS
from transforms.pseudonyms import pseudonym

pytestmark = pytest.mark.e2e

HOSTILE = "<script>alert('taoqi')</script> & co"  # an override reason is free text typed by a person


class Page(HTMLParser):
    """Sections, images and the text of every element with an id."""

    def __init__(self):
        super().__init__()
        self.sections, self.images, self.text, self.tables = set(), {}, {}, {}
        self._open: list[str] = []
        self._table: str | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.sections.add(a.get("id"))
        if tag == "img":
            self.images[a.get("id")] = a.get("src", "")
        if tag == "table":
            self._table = a.get("id")
            self.tables[self._table] = []
        if tag == "tr":
            self._row = []
        if tag in ("td", "th") and self._row is not None:
            self._row.append("")
        if "id" in a and tag not in ("img", "table", "section"):
            self._open.append(a["id"])
            self.text[a["id"]] = ""

    def handle_endtag(self, tag):
        if tag == "tr" and self._row is not None and self._table:
            self.tables[self._table].append(self._row)
            self._row = None
        if tag == "table":
            self._table = None
        if tag in ("span", "p", "a") and self._open:
            self._open.pop()

    def handle_data(self, data):
        for key in self._open:
            self.text[key] += data
        if self._row is not None and self._row:
            self._row[-1] += data


def _number(text: str) -> int:
    return int(text.replace(",", "").strip())


@pytest.fixture(scope="module")
def report(selected, spark):
    """The report of LATEST after an audited invitation whose reason is hostile HTML."""
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
        out = taoqi(root, "report", "--month", LATEST)
        selection = read(spark, root, "gold.apass_selection").filter(F.col("month") == LATEST)
        decisions = {r["decision"]: r["count"] for r in selection.groupBy("decision").count().collect()}
        invited = [r["user_id"] for r in selection.filter("invited").collect()]
        path = Path(re.search(r"report: (\S+)", out).group(1))
        html = path.read_text(encoding="utf-8")
        page = Page()
        page.feed(html)
        yield root, path, html, page, {"ordinary": ordinary, "decisions": decisions, "invited": invited}
    finally:  # once this module's tests are done: the world as `selected` left it, for test_selector.py
        spark.sql(f"DELETE FROM delta.`{root}/ops/apass_overrides` WHERE author = 'test'")
        taoqi(root, "select", "--month", LATEST)


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
    assert {"run", "score", "credit", "selector", "personas", "quality", "calibration"} <= page.sections
    charts = [
        "chart-score-histogram",
        "chart-components",
        "chart-credit",
        "chart-precision-recall",
        "chart-membership",
        "chart-persona-sizes",
        "chart-persona-profiles",
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
