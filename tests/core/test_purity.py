"""The protocol cores are pure: no I/O, no clock, no global randomness, no upper layer.

Every module under ``consensus/raft`` and ``consensus/paxos`` is parsed with ``ast``;
a forbidden import fails the test naming the module and the import. ``random`` may be
imported only under ``if TYPE_CHECKING:`` (for the ``random.Random`` annotation of the
generator a core is given); at run time a core uses only the instance passed in.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import consensus

ROOT = Path(consensus.__file__).parent
FORBIDDEN_MODULES = {"trio", "socket", "asyncio", "time", "os", "random", "threading"}
FORBIDDEN_LAYERS = {"storage", "transport", "runtime", "sim", "client", "cli", "bench"}
CORE_MODULES = sorted(
    p for pkg in ("raft", "paxos", "lwt", "unsafe") for p in (ROOT / pkg).rglob("*.py")
)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.Module) -> list[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement with whether it sits under ``if TYPE_CHECKING:``."""
    found: list[tuple[ast.Import | ast.ImportFrom, bool]] = []

    def visit(node: ast.AST, typing_only: bool) -> None:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append((node, typing_only))
            return
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for stmt in node.body:
                visit(stmt, True)
            for stmt in node.orelse:
                visit(stmt, typing_only)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, typing_only)

    visit(tree, False)
    return found


def _absolute(module: Path, node: ast.ImportFrom) -> str:
    """The absolute dotted name a (possibly relative) ``from`` import refers to."""
    package = module.relative_to(ROOT.parent).with_suffix("").parts[:-1]
    if node.level == 0:
        return node.module or ""
    base = package[: len(package) - node.level + 1]
    return ".".join((*base, node.module) if node.module else base)


def violations(module: Path, source: str | None = None) -> list[str]:
    """One line per forbidden import in ``module`` (its text, or ``source`` when given)."""
    text = module.read_text() if source is None else source
    tree = ast.parse(text, filename=str(module))
    name = module.relative_to(ROOT.parent)
    out: list[str] = []
    for node, typing_only in _imports(tree):
        targets = (
            [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else [_absolute(module, node)]
        )
        for target in targets:
            parts = target.split(".")
            top = parts[0]
            if top in FORBIDDEN_MODULES and not (top == "random" and typing_only):
                out.append(f"{name}:{node.lineno} imports {target}")
            elif top == "consensus" and len(parts) > 1 and parts[1] in FORBIDDEN_LAYERS:
                out.append(f"{name}:{node.lineno} imports {target} (a layer above the cores)")
    return out


def test_there_are_core_modules_to_check() -> None:
    names = {p.name for p in CORE_MODULES}
    assert {"core.py", "instance.py", "election.py"} <= names


@pytest.mark.parametrize("module", CORE_MODULES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_core_module_is_pure(module: Path) -> None:
    assert violations(module) == []


def test_checker_catches_forbidden_imports() -> None:
    source = (
        "from __future__ import annotations\n"
        "import time\n"
        "import random\n"
        "from ..storage.base import Recovered\n"
        "from consensus.runtime import driver\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    import random as r\n"
    )
    found = violations(ROOT / "raft" / "_probe.py", source)
    assert found == [
        "consensus/raft/_probe.py:2 imports time",
        "consensus/raft/_probe.py:3 imports random",
        "consensus/raft/_probe.py:4 imports consensus.storage.base (a layer above the cores)",
        "consensus/raft/_probe.py:5 imports consensus.runtime (a layer above the cores)",
    ]
