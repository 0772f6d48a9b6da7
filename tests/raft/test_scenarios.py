"""Scripted interaction scenarios (``testdata/*.txt``), run through :mod:`.scenario`.

``REWRITE_SCENARIOS=1 pytest tests/raft/test_scenarios.py`` writes the actual output back
into the files; read the diff before keeping it.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from .scenario import ScenarioError, parse, run_file

TESTDATA = Path(__file__).parent / "testdata"
FILES = sorted(TESTDATA.glob("*.txt"))


def test_there_are_scenarios() -> None:
    assert len(FILES) >= 8


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_scenario(path: Path) -> None:
    text = path.read_text()
    rewritten, results = run_file(text)
    if os.environ.get("REWRITE_SCENARIOS") == "1":
        if rewritten != text:
            path.write_text(rewritten)
        return
    for block, actual in results:
        if list(block.expected) != actual:
            diff = "\n".join(
                difflib.unified_diff(
                    list(block.expected), actual, "expected", "actual", lineterm=""
                )
            )
            pytest.fail(f"{path.name}:{block.line}: {' / '.join(block.commands)}\n{diff}")
    assert rewritten == text  # comments and layout survive a rewrite unchanged


def test_parse_rejects_commands_without_separator() -> None:
    with pytest.raises(ScenarioError, match=r"line 1: commands without `----`"):
        parse("status\n")


def test_unknown_command_is_reported_with_its_line() -> None:
    with pytest.raises(ScenarioError, match=r"line 5: frobnicate 1: unknown command 'frobnicate'"):
        run_file("cluster voters=1\n----\nok\n\nfrobnicate 1\n----\nok\n")
