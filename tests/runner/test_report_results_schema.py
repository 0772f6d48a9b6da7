"""``results.json`` is stable and documented: a run's file matches the JSON Schema, the
schema's keys are the runner's, and the reference tables in docs/jepsen-run.md are the
ones generated from the schema (so code, schema and docs cannot drift apart)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from jepsen_lite.cli import main
from jepsen_lite.runner.results_schema import (
    SCHEMA_VERSION,
    errors,
    markdown_table,
    rows,
    schema,
    validate,
)
from jepsen_lite.runner.run import error_results_json
from jepsen_lite.runner.store import RESULTS_KEYS

from .report_synthetic import results
from .runner_fixtures import register, small_spec

DOCS = Path(__file__).resolve().parents[2] / "docs" / "jepsen-run.md"


def forms() -> dict[str, dict[str, object]]:
    return {branch["title"]: branch for branch in schema()["anyOf"]}


def test_the_docs_tables_are_the_ones_the_schema_gives() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for form in ("finished", "error"):
        table = markdown_table(form)
        assert table in text, f"docs/jepsen-run.md: regenerate the {form} table"
    documented = re.findall(r"^\| `([a-z_.*\[\]]+)` \|", text, flags=re.M)
    for path, _, description in rows(forms()["finished"]):
        assert path in documented and description, path


def test_the_schema_has_the_keys_the_runner_writes() -> None:
    finished = forms()["finished"]
    optional = ("shrunk_from",)  # added by jepsen-lite shrink to the run it writes
    assert tuple(finished["properties"]) == (*RESULTS_KEYS, *optional)  # type: ignore[arg-type]
    assert finished["required"] == list(RESULTS_KEYS)


def test_a_run_writes_a_results_json_that_matches_the_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    register(monkeypatch)
    spec = small_spec(nemesis=frozenset({"partition", "kill"}))
    argv = ["run", "--env", spec.env, "--workload", spec.workload, "--nodes", "3",
            "--concurrency", "3", "--time-limit", "5", "--rate", "20", "--keys", "3",
            "--recovery", "3", "--nemesis", "partition,kill", "--seed", "3",
            "--out", str(tmp_path), "--report", "never"]  # fmt: skip
    assert main(argv) == 0
    (path,) = tmp_path.glob("*/2*/results.json")
    data = json.loads(path.read_text())
    assert validate(data) == []
    assert data["schema_version"] == SCHEMA_VERSION and data["faults"]
    assert list(data) == sorted(data)  # written with sorted keys
    assert not (path.parent / "report.html").exists()  # --report never


def test_the_error_form_matches_the_schema() -> None:
    data = error_results_json(small_spec(), "environment failed: OSError: no ports")
    assert validate(data) == []
    assert data["exit_status"] == 3 and data["verdict"] == "error"


def test_the_synthetic_run_of_the_report_tests_matches_the_schema(tmp_path: Path) -> None:
    assert validate(results(tmp_path / "t" / "run")) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("seed"), "(top): missing key 'seed'"),
        (lambda d: d.update(surprise=1), "(top): unknown key 'surprise'"),
        (lambda d: d.update(seed=True), "seed: expected integer, got true"),
        (lambda d: d.update(schema_version=2), "schema_version: expected 1, got 2"),
        (lambda d: d["checkers"][1].update(validity="fine"), 'checkers[1].validity: "fine"'),
        (lambda d: d["faults"][0].update(planned=[1]), "faults[0].planned: fewer than 2"),
        (lambda d: d["ops_by_f"]["read"].pop("ok"), "ops_by_f.read: missing key 'ok'"),
        (lambda d: d["ops"].update(ok=-1), "ops.ok: -1 is below the minimum 0"),
    ],
)
def test_the_validator_names_what_is_wrong(tmp_path: Path, change: object, message: str) -> None:
    data = results(tmp_path / "t" / "run")
    assert callable(change)
    change(data)
    found = validate(data)
    assert found and any(message in problem for problem in found), found


def test_a_keyword_the_validator_does_not_know_is_an_error() -> None:
    with pytest.raises(ValueError, match="unsupported keyword 'pattern'"):
        errors("x", {"type": "string", "pattern": "^x$"})
