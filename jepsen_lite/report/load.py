"""Reading a run folder for a report: ``results.json``, ``test.json`` and
``history.jsonl``, each checked, each problem one :class:`ReportError` line.

A folder is a run folder when it holds ``results.json``; that file must match
``results.schema.json`` (:mod:`jepsen_lite.runner.results_schema`), except that a file
written before the schema had a ``schema_version`` (the only key added) is read as
version 1. ``test.json`` must describe a test
(:func:`jepsen_lite.runner.store.read_test_json`), and ``history.jsonl`` must be a valid
history (:func:`jepsen_lite.history.jsonl.load_jsonl`), except for a run whose
environment failed: its history may be missing or cut short, and the report then says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from ..history.errors import HistoryError
from ..history.jsonl import load_jsonl
from ..history.ops import History
from ..runner.api import TestSpec
from ..runner.results_schema import SCHEMA_VERSION, validate
from ..runner.store import SpecError, read_test_json


class ReportError(Exception):
    """A folder that cannot be reported on; the message is one line naming the file."""


@attrs.frozen(slots=True)
class RunData:
    """One run folder, read and checked."""

    run_dir: Path
    spec: TestSpec
    results: Mapping[str, Any]
    history: History
    history_problem: str | None = None
    """Why the history of a failed run could not be read (the history is then empty)."""

    @property
    def finished(self) -> bool:
        """False when the environment failed (``results.json`` in its error form)."""
        return self.results.get("verdict") != "error"


def read_results(run_dir: Path) -> dict[str, Any]:
    """``run_dir/results.json``, decoded and matching the schema; ``ReportError``
    otherwise."""
    if not run_dir.is_dir():
        raise ReportError(f"{run_dir}: not a directory")
    path = run_dir / "results.json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(f"{run_dir} is not a run folder (no results.json)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: cannot read: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}: invalid JSON: {exc.msg} (line {exc.lineno})") from None
    if isinstance(data, dict) and "schema_version" not in data:
        data = {"schema_version": SCHEMA_VERSION, **data}
    problems = validate(data)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ReportError(f"{path}: not a jepsen-lite results file: {problems[0]}{more}")
    assert isinstance(data, dict)
    return data


def load_run(run_dir: str | Path) -> RunData:
    """Read the run folder ``run_dir`` (see the module doc)."""
    folder = Path(run_dir)
    results = read_results(folder)
    try:
        spec = read_test_json(folder)
    except SpecError as exc:
        raise ReportError(str(exc)) from None
    path = folder / "history.jsonl"
    failed = results["verdict"] == "error"
    try:
        history = load_jsonl(path)
    except FileNotFoundError:
        if not failed:
            raise ReportError(f"{path}: no such file") from None
        return RunData(folder, spec, results, History(()), "no history.jsonl")
    except HistoryError as exc:
        if not failed:
            raise ReportError(str(exc)) from None
        return RunData(folder, spec, results, History(()), str(exc))
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: cannot read: {exc}") from None
    return RunData(folder, spec, results, history)
