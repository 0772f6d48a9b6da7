"""jepsen-lite shrink refuses, in one line with exit status 3, what it cannot shrink."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest

from jepsen_lite.cli import main
from jepsen_lite.runner.api import TestSpec
from jepsen_lite.runner.store import write_test_json


def folder(tmp_path: Path, spec: TestSpec | None, results: object | None) -> Path:
    run_dir = tmp_path / "store" / "t" / "20260101T000000.000Z"
    run_dir.mkdir(parents=True)
    if spec is not None:
        write_test_json(run_dir, spec)
    if results is not None:
        (run_dir / "results.json").write_text(json.dumps(results))
    return run_dir


INVALID = {
    "verdict": "invalid",
    "checkers": [
        {"name": "linearizable", "validity": "invalid"},
        {"name": "availability", "validity": "valid"},
    ],
}


@pytest.mark.parametrize(
    ("spec", "results", "message"),
    [
        (None, None, "not a run folder (no test.json)"),
        (TestSpec(env="local"), INVALID, "environment 'local' cannot be shrunk"),
        (TestSpec(), None, "not a finished run (no results.json)"),
        (TestSpec(), {"verdict": "valid", "checkers": []}, "verdict valid, nothing to shrink"),
        (TestSpec(), {"verdict": "unknown", "checkers": []}, "verdict unknown, nothing to"),
        (TestSpec(), [1], "not a results file"),
    ],
)
def test_a_folder_that_cannot_be_shrunk_is_one_line_and_exit_3(
    tmp_path: Path,
    spec: TestSpec | None,
    results: object,
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_dir = folder(tmp_path, spec, results)
    assert main(["shrink", str(run_dir)]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert not list((tmp_path / "store").glob("*-shrunk"))  # nothing written


def test_missing_folders_bad_json_and_bad_options_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["shrink", str(tmp_path / "nowhere")]) == 3
    assert "no such directory" in capsys.readouterr().err
    run_dir = folder(tmp_path, TestSpec(), INVALID)
    (run_dir / "test.json").write_text("{")
    assert main(["shrink", str(run_dir)]) == 3
    assert "invalid JSON" in capsys.readouterr().err
    write_test_json(run_dir, attrs.evolve(TestSpec(), nodes=3))
    for argv, message in (
        (["--checker", "availability"], "checker 'availability' did not find this run invalid"),
        (["--passes", "faults,magic"], "--passes: unknown pass 'magic'"),
        (["--max-runs", "0"], "--max-runs must be at least 1"),
        (["--max-seconds", "-1"], "--max-seconds must be positive"),
    ):
        assert main(["shrink", str(run_dir), *argv]) == 3
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
