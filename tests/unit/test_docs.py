"""The documentation: the site builds with ``mkdocs build --strict`` (every internal link and anchor
resolves), the README stays a few screens long, and no tracked file points at documents outside the
repository or at tracker numbers (dated lab notes under bench/results/ excepted)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MKDOCS = Path(sys.executable).with_name("mkdocs")
README_MAX_LINES = 260
# Pointers to the old specification outside the repository, and tracker numbers (the word issue, a space, a hash).
# Built from parts so that this file does not contain what it looks for.
FORBIDDEN = re.compile("|".join([re.escape("SPEC" + " §"), re.escape("SPEC" + ".md"), "(?i:issue" + " #)"]))


def test_the_site_builds_strict(tmp_path):
    assert MKDOCS.exists(), f"{MKDOCS} not found: install the docs extra (pip install -e '.[docs]')"
    built = subprocess.run(
        [
            str(MKDOCS),
            "build",
            "--strict",
            "--config-file",
            str(ROOT / "mkdocs.yml"),
            "--site-dir",
            str(tmp_path / "site"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    assert (tmp_path / "site" / "concepts" / "index.html").exists()


def test_the_readme_is_short():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): move text to docs/"
    )


def _tracked_files() -> list[str]:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    return [p for p in listed.stdout.decode("utf-8").split("\0") if p]


def test_no_tracked_file_points_outside_the_repository_or_at_tracker_numbers():
    found = []
    for rel in _tracked_files():
        if rel.startswith(("bench/results/", ".git/")):
            continue
        path = ROOT / rel
        if not path.is_file():  # deleted in the working tree, not yet committed
            continue
        text = path.read_bytes().decode("utf-8", errors="ignore")
        found += [
            f"{rel}:{n}: {line.strip()[:120]}" for n, line in enumerate(text.splitlines(), 1) if FORBIDDEN.search(line)
        ]
    assert found == [], "\n".join(found)


def _table(page: str, header: str) -> list[list[str]]:
    """The rows of the markdown table of ``page`` whose header row starts with ``header`` (cells stripped)."""
    lines = page.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def _number(text: str) -> float:
    """The first number of ``text``, its thin or plain spaces between thousands removed (1 400 -> 1400)."""
    found = re.search(r"\d[\d  ]*(?:\.\d+)?", text)
    assert found, text
    return float(found.group().replace(" ", "").replace("\u202f", ""))


def test_the_score_page_states_the_configured_numbers():
    """docs/score.md is what the job computes: every number of its tables is the one conf/scoring.yaml sets."""
    from jobs.runtime.config import load_config

    s = load_config().scoring
    page = (ROOT / "docs" / "score.md").read_text(encoding="utf-8")
    terms = {term: t for component in s.components.values() for term, t in component.items()}
    for row in _table(page, "| component |"):
        term = re.search(r"`(\w+)`", row[1])
        if term:  # the credit row has no curve term
            assert (_number(row[2]), _number(row[3])) == (terms[term[1]].max_points, terms[term[1]].half_at), row
    credit_row = next(r for r in _table(page, "| component |") if r[0] == "credit")
    assert [float(x) for x in re.findall(r"\d+", credit_row[1].split(":", 1)[1])] == s.credit_points_by_level
    for (kind, caps), row in zip(s.caps.by_kind.items(), _table(page, "| | per order |"), strict=True):
        assert row[0] == kind.replace("_", " ")
        assert [_number(c) for c in row[1:]] == [caps.order, caps.day, caps.category_month, caps.shop_month]
    assert f"and {s.caps.month:,.0f} per month in all".replace(",", " ") in page
    weights = re.search(r"Interactions: (.*?)\n\n", page, re.S)[1].replace("\n", " ")
    for kind, label in (
        ("review", "reviews"),
        ("qa", "Q&A"),
        ("like", "likes"),
        ("live", "live-stream"),
        ("content", "content"),
    ):
        said = re.search(rf"{re.escape(label)}\D*?(\d+\.\d+)\s*(?:\(at most )?\(?(\d+)", weights)
        assert said, (label, weights)
        assert (float(said[1]), int(said[2])) == (s.interaction_weights[kind], s.interaction_monthly_caps[kind])
    bands = _table(page, "| band | score |")
    assert [_number(r[1]) for r in bands[1:]] == [s.bands.lowest_band, s.bands.super, s.bands.apass_eligible]
    assert [_number(r[3]) for r in bands] == [s.vip_fee_cny.standard] * 2 + [s.vip_fee_cny.member] * 2
    assert f"at least {s.growth_perk_rise}" in page
    for row in _table(page, "| dimension |"):
        name = re.match(r"\w+", row[0])[0]
        dim = s.credit.dimensions[name]
        curve, at = row[1].split(",")
        assert (curve.strip(), _number(at), _number(row[2])) == (dim.curve, dim.at, dim.weight), row
    assert "bounds " + ", ".join(f"{b:g}" for b in s.credit.levels) + " the credit score" in page.replace("\n", " ")
    assert f"stays at C{s.credit.max_level_unverified} or below" in page.replace("\n", " ")
