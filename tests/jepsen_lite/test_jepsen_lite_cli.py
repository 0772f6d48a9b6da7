"""The ``jepsen-lite`` command: exit codes, output shapes, directories, HTML pages."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from jepsen_lite.cli import main
from jepsen_lite.history import write_jsonl
from jepsen_lite.history.simulate import SimConfig, simulate

GOOD = """\
{"process": 0, "type": "invoke", "f": "write", "value": 1, "time": 1}
{"process": 0, "type": "ok", "f": "write", "value": 1, "time": 2}
{"process": 1, "type": "invoke", "f": "read", "value": null, "time": 3}
{"process": 1, "type": "ok", "f": "read", "value": 1, "time": 4}
"""
STALE = """\
{"process": 0, "type": "invoke", "f": "write", "key": "k1", "value": 1, "time": 1}
{"process": 0, "type": "ok", "f": "write", "key": "k1", "value": 1, "time": 2}
{"process": 1, "type": "invoke", "f": "read", "key": "k1", "value": null, "time": 3}
{"process": 1, "type": "ok", "f": "read", "key": "k1", "value": 0, "time": 4}
"""
BAD_LINE = GOOD + '{"process": 2, "type": "invoke", "f": "read", "time": "soon"}\n'
EDN = """\
{:type :invoke, :f :write, :value 1, :process 0}
{:type :info, :f :start, :value nil, :process :nemesis}
{:type :ok, :f :write, :value 1, :process 0}
"""


def put(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def hard(directory: Path) -> Path:
    path = directory / "hard.jsonl"
    config = SimConfig(operations=3000, processes=50, keys=1, info_rate=0.02, fail_rate=0.02)
    write_jsonl(path, simulate(config, random.Random(7)))
    return path


def test_linearizable_exits_0_with_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = put(tmp_path, "good.jsonl", GOOD)
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert re.fullmatch(
        re.escape(str(path)) + r": linearizable \(2 operations, 1 key, \d+\.\d{3} s\)\n", out
    )


def test_not_linearizable_exits_1_and_names_the_failing_op(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = put(tmp_path, "stale.jsonl", STALE)
    assert main(["check", str(path), "--init", "0"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{path}: not-linearizable (2 operations, 1 key, ")
    assert lines[1] == (
        '  key "k1": cannot linearize read → 0 (process 1, line 3) after 1 operations; '
        "model state 1"
    )


def test_unknown_exits_2_and_is_not_reported_as_success(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = hard(tmp_path)
    assert main(["check", str(path), "--time-limit", "0.001"]) == 2
    out = capsys.readouterr().out
    assert ": unknown (" in out
    assert "unknown, NOT a success: time limit reached" in out


def test_bad_input_exits_3_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = put(tmp_path, "bad.jsonl", BAD_LINE)
    good = put(tmp_path, "good.jsonl", GOOD)
    assert main(["check", str(bad), str(good)]) == 3
    captured = capsys.readouterr()
    assert captured.err == f"{bad}:5: 'time' must be a non-negative integer (nanoseconds)\n"
    assert f"{good}: linearizable" in captured.out  # the other files are still checked


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["check", "missing.jsonl"], "missing.jsonl: no such file or directory"),
        (["check", "{good}", "--init", "{nope"], "--init is not valid JSON"),
        (["check", "{good}", "--model", "queue"], "argument --model: invalid choice: 'queue'"),
        (["check", "{good}", "--time-limit", "0"], "--time-limit must be positive"),
        (["check"], "the following arguments are required: HISTORY"),
        ([], "usage: jepsen-lite"),
        (["check", "{good}", "--bogus"], "unrecognized arguments: --bogus"),
        (["check", "{good}", "--time-limit", "soon"], "invalid float value: 'soon'"),
        (["chekc", "{good}"], "invalid choice: 'chekc'"),
    ],
)
def test_bad_command_lines_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    good = put(tmp_path, "good.jsonl", GOOD)
    assert main([a.replace("{good}", str(good)) for a in argv]) == 3
    assert message in capsys.readouterr().err


def test_json_output_one_object_per_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    put(tmp_path, "a.jsonl", GOOD)
    put(tmp_path, "b.jsonl", STALE)
    put(tmp_path, "c.edn", EDN)
    put(tmp_path, "notes.txt", "not a history")
    assert main(["check", str(tmp_path), "--json", "--init", "0"]) == 1
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(Path(r["file"]).name, r["verdict"], r["operations"]) for r in records] == [
        ("a.jsonl", "linearizable", 2),
        ("b.jsonl", "not-linearizable", 2),
        ("c.edn", "linearizable", 1),
    ]
    for record in records:
        assert set(record) == {"file", "verdict", "operations", "time_s", "warnings"}
        assert record["warnings"] == []
        assert isinstance(record["time_s"], float) and record["time_s"] >= 0


def test_format_flag_overrides_the_extension(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = put(tmp_path, "history.txt", EDN)
    assert main(["check", str(path), "--format", "edn"]) == 0
    assert main(["check", str(path)]) == 3  # read as JSON Lines by default
    assert f"{path}:1: invalid JSON" in capsys.readouterr().err


def test_html_page_for_one_file(tmp_path: Path) -> None:
    path = put(tmp_path, "stale.jsonl", STALE)
    page = tmp_path / "report.html"
    assert main(["check", str(path), "--init", "0", "--html", str(page)]) == 1
    text = page.read_text(encoding="utf-8")
    assert "not-linearizable" in text
    assert "read → 0" in text and "line 3" in text  # the failing operation
    assert "<svg" in text and "<script" not in text


def test_html_directory_for_several_files(tmp_path: Path) -> None:
    histories = tmp_path / "histories"
    histories.mkdir()
    put(histories, "a.jsonl", GOOD)
    put(histories, "b.jsonl", STALE)
    out = tmp_path / "pages"
    assert main(["check", str(histories), "--html", str(out)]) == 1
    assert sorted(p.name for p in out.iterdir()) == ["a.html", "b.html"]
    assert "cannot be linearized" in (out / "b.html").read_text(encoding="utf-8")


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 3
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


def test_console_script_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "jepsen_lite.cli", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    assert "check" in done.stdout and "linearizability" in done.stdout


def test_benchmark_script_prints_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    from consensus.bench.checker.bench_checker import main as bench

    assert bench(["--lengths", "200", "--keys", "1", "2", "--processes", "3"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 200")]
    assert len(rows) == 2 and all("| linearizable |" in row for row in rows)


@pytest.mark.parametrize(
    "argv",
    [["check", "--bogus", "x.jsonl"], ["check"], ["check", "--json"]],
)
def test_usage_errors_of_the_real_command_exit_3_not_2(argv: list[str]) -> None:
    """argparse would exit 2, which the docs give to the verdict ``unknown``."""
    done = subprocess.run(
        [sys.executable, "-m", "jepsen_lite.cli", *argv],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 3
    assert "usage: jepsen-lite" in done.stderr and "error:" in done.stderr
    assert done.stdout == ""


def test_an_empty_history_is_reported_loudly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = put(tmp_path, "empty.jsonl", "")
    assert main(["check", str(path), "--json"]) == 0  # vacuously linearizable, see docs
    captured = capsys.readouterr()
    warning = (
        f"{path}: warning: the history has no operations; its 'linearizable' verdict is vacuous"
    )
    assert captured.err == warning + "\n"
    record = json.loads(captured.out)
    assert (record["verdict"], record["operations"], record["warnings"]) == (
        "linearizable", 0, [warning],
    )  # fmt: skip
    assert main(["check", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.err == warning + "\n"
    assert captured.out.startswith(f"{path}: linearizable (0 operations, 0 keys, ")


def test_a_history_with_only_failed_operations_is_reported_loudly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = GOOD.splitlines()[0] + "\n" + GOOD.splitlines()[1].replace('"ok"', '"fail"') + "\n"
    path = put(tmp_path, "failed.jsonl", text)
    assert main(["check", str(path)]) == 0
    assert capsys.readouterr().err == (
        f"{path}: warning: no operation is left to check; 'linearizable' is vacuous "
        "(all 1 are fail operations or open reads)\n"
    )


def test_backward_times_are_warnings_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = GOOD.replace('"time": 3', '"time": 1')  # the read's invoke is stamped early
    path = put(tmp_path, "skew.jsonl", text)
    assert main(["check", str(path), "--json"]) == 0
    captured = capsys.readouterr()
    warning = (
        f"{path}:3: warning: time 1 is before an earlier event's time 2; checking uses file order"
    )
    assert captured.err == warning + "\n"
    assert json.loads(captured.out)["warnings"] == [warning]
