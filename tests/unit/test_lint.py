"""Habits that keep the code as it is: ruff's lint and format are clean (pyproject.toml's [tool.ruff]), and
transforms/ stays pure (no jobs/, no MLflow, no Delta IO: DataFrame in, DataFrame out)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUFF = Path(sys.executable).with_name("ruff")
# What transforms/ may not import: the jobs' IO and plumbing, the model registry, Delta's table API.
NOT_IN_TRANSFORMS = ("jobs", "mlflow", "delta")


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff_is_clean(command):
    assert RUFF.exists(), f"{RUFF} not found: install the test extra (pip install -e '.[test]')"
    ran = subprocess.run([str(RUFF), *command, "."], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, f"ruff {' '.join(command)} (fix with `ruff check --fix .` / `ruff format .`):\n" + (
        ran.stdout[-4000:] + ran.stderr[-2000:]
    )


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = set()
    for node in ast.walk(tree):  # imports inside functions count too
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_transforms_import_nothing_from_jobs_mlflow_or_delta():
    offending = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in sorted((ROOT / "transforms").rglob("*.py"))
        for module in sorted(_imported_modules(path))
        if module.split(".")[0] in NOT_IN_TRANSFORMS
    ]
    assert offending == []
