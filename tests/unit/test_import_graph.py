"""No import cycles among the first-party modules (read with ``ast``, nothing is imported).

Every import statement counts, also one inside a function (a cycle through a deferred import is
still a cycle, only a hidden one), except under ``if TYPE_CHECKING:`` (never run). An edge goes
to the module named (``from a.b import c``: ``a.b.c`` if that is a module, else ``a.b``), not to
the parent packages that importing it also runs.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: The first-party code: top-level modules and packages (with or without ``__init__.py``).
FIRST_PARTY = (
    "service.py",
    "settings.py",
    "cli.py",
    "serving",
    "imaging",
    "storage",
    "training",
    "evaluation",
    "benchmarks",
    "loadtests",
    "devtools",
)


def modules() -> dict[str, Path]:
    """Dotted module name -> source file, for every first-party module."""
    found = {}
    for entry in FIRST_PARTY:
        path = ROOT / entry
        files = [path] if path.is_file() else sorted(path.rglob("*.py"))
        for file in files:
            parts = file.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = file
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported_names(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Every dotted name an import statement of ``module`` may load, outside TYPE_CHECKING."""
    names: set[str] = set()
    pending = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            pending.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")[: len(module.split(".")) - node.level + is_package]
                base = ".".join([*package, *([base] if base else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
        pending.extend(ast.iter_child_nodes(node))
    return names


def import_graph() -> dict[str, set[str]]:
    """First-party module -> the first-party modules importing it runs."""
    known = modules()
    graph: dict[str, set[str]] = {}
    for module, file in known.items():
        tree = ast.parse(file.read_text(), filename=str(file))
        names = _imported_names(tree, module, file.name == "__init__.py")
        graph[module] = (names & known.keys()) - {module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle found by breaking one edge of each cycle until none is left."""
    remaining = {module: set(targets) for module, targets in graph.items()}
    found = []
    while True:
        try:
            graphlib.TopologicalSorter(remaining).prepare()
        except graphlib.CycleError as error:
            cycle = error.args[1][::-1]  # importer first
            found.append(cycle)
            remaining[cycle[0]].discard(cycle[1])
        else:
            return found


def test_the_graph_covers_every_first_party_package() -> None:
    graph = import_graph()
    assert {name.split(".")[0] for name in graph} == {e.removesuffix(".py") for e in FIRST_PARTY}
    assert "devtools.cassandra.node" in graph["benchmarks.run"]  # imported inside a function
    assert "settings" in graph["service"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_no_import_cycles() -> None:
    assert [" -> ".join(cycle) for cycle in cycles(import_graph())] == []
