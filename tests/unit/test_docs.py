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
