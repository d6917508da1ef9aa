"""The package's shape: no file over 400 lines, and no package imports one that imports it back.

A cycle between two sub-packages (``a`` imports ``b`` and ``b``, directly or not, imports ``a``)
means one of them imports from a layer above it. (cli.py names the commands it dispatches to as
"module:function" strings, loaded when run, so `study`, which runs cli commands in its workers, sits
above cli.)
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "cl_robust"
MAX_LINES = 400


def _imports(path: Path) -> set[str]:
    """The cl_robust sub-packages (or top-level modules) ``path`` imports, at any depth of the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else \
            [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
        found |= {name.split(".")[1] for name in names if name.startswith("cl_robust.")}
    return found


def _graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        part = path.relative_to(PACKAGE).with_suffix("").parts[0]
        edges.setdefault(part, set()).update(_imports(path) - {part})
    return edges


def _reachable(edges: dict[str, set[str]], start: str) -> set[str]:
    seen, stack = set(), [start]
    while stack:
        for target in edges.get(stack.pop(), set()):
            if target not in seen:
                seen.add(target)
                stack.append(target)
    return seen


def test_no_file_is_over_400_lines() -> None:
    long = {str(path.relative_to(PACKAGE)): n for path in PACKAGE.rglob("*.py")
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_no_package_imports_one_that_imports_it_back() -> None:
    edges = _graph()
    assert {"cli", "commands", "study", "methods", "models"} <= set(edges)  # the walk saw the package
    cycles = sorted((a, b) for a, targets in edges.items() for b in targets if a in _reachable(edges, b))
    assert cycles == []


def test_a_cycle_would_be_found() -> None:
    edges = {"low": {"high"}, "high": {"low"}, "other": {"low"}}
    assert [(a, b) for a, targets in edges.items() for b in targets if a in _reachable(edges, b)] == \
        [("low", "high"), ("high", "low")]
