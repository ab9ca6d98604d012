"""The Bento (and so the service image) holds the service's code and nothing else."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
#: What the image runs: the service, and the schema job's bootstrap (`python -m storage.bootstrap`).
ENTRY_POINTS = ("service.py", "storage/bootstrap.py")
FIRST_PARTY = ("service", "settings", "cli", "serving", "imaging", "storage")


def _included_python_files() -> set[str]:
    config = yaml.safe_load((ROOT / "bentofile.yaml").read_text())
    found = set()
    for pattern in config["include"]:
        found |= {str(p.relative_to(ROOT)) for p in ROOT.glob(pattern) if p.suffix == ".py"}
    return {name for name in found if "__pycache__" not in name}


def _module_file(module: str) -> str | None:
    path = ROOT.joinpath(*module.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.exists():
            return str(candidate.relative_to(ROOT))
    return None


def _imports(path: str) -> set[str]:
    """First-party modules a file imports (at any level, lazily or not), with their packages."""
    tree = ast.parse((ROOT / path).read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    modules = set()
    for name in names:
        if name.split(".")[0] in FIRST_PARTY:
            parts = name.split(".")
            modules |= {".".join(parts[: i + 1]) for i in range(len(parts))}
    return modules


def _closure() -> set[str]:
    """Every first-party file the entry points import, transitively."""
    seen: set[str] = set()
    todo = list(ENTRY_POINTS)
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo += [f for m in _imports(path) if (f := _module_file(m)) is not None]
    return seen


def test_the_bento_includes_every_file_the_service_imports() -> None:
    assert _closure() - _included_python_files() == set()


def test_the_bento_includes_nothing_the_service_does_not_run() -> None:
    extra = _included_python_files() - _closure()
    assert extra == set(), f"not imported by {ENTRY_POINTS}: move dev tooling out of the Bento"


def test_dev_tooling_lives_outside_the_packages_the_bento_ships() -> None:
    included = _included_python_files()
    assert not any(name.startswith(("devtools/", "tests/", "benchmarks/")) for name in included)
    assert "storage/migrate.py" in included  # the bootstrap's migration ships with it
