"""Habits that keep the code as it is: ruff's lint and format are clean (pyproject.toml's [tool.ruff]),
transforms/ stays pure (no jobs/, no MLflow, no Delta IO: DataFrame in, DataFrame out), and every name the
code imports from the project's own packages exists."""

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUFF = Path(sys.executable).with_name("ruff")
# What transforms/ may not import: the jobs' IO and plumbing, the model registry, Delta's table API.
NOT_IN_TRANSFORMS = ("jobs", "mlflow", "delta")
# The project's packages, and the folders whose code imports from them (bench/ runs only under `make bench`,
# notebooks/ only as notebooks: an import that no longer resolves there shows nowhere else in the suite).
OWN_PACKAGES = ("jobs", "transforms", "expectations", "bench", "tests")
CODE = ("jobs", "transforms", "expectations", "bench", "tests", "notebooks")


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff_is_clean(command):
    assert RUFF.exists(), f"{RUFF} not found: install the test extra (pip install -e '.[test]')"
    ran = subprocess.run([str(RUFF), *command, "."], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, f"ruff {' '.join(command)} (fix with `ruff check --fix .` / `ruff format .`):\n" + (
        ran.stdout[-4000:] + ran.stderr[-2000:]
    )


def _own_imports(path: Path) -> list[tuple[int, str, str]]:
    """(line, module, name) of each ``from <own package>... import name`` in ``path``, inside functions too."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        (node.lineno, node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
        if node.module.split(".")[0] in OWN_PACKAGES
        for alias in node.names
    ]


def test_every_name_imported_from_the_project_exists():
    # Ruff resolves no first-party names, and an import inside a function fails only when the function runs:
    # a name renamed in transforms/ once broke `make bench` at its roll-up measurement, and no test ran it.
    missing = []
    for path in sorted(p for folder in CODE for p in (ROOT / folder).rglob("*.py")):
        for line, module, name in _own_imports(path):
            imported = importlib.import_module(module)
            submodule = hasattr(imported, "__path__") and importlib.util.find_spec(f"{module}.{name}") is not None
            if not hasattr(imported, name) and not submodule:
                missing.append(f"{path.relative_to(ROOT)}:{line} imports {name} from {module}, which has none")
    assert missing == []


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
