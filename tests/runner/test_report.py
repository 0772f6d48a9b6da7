"""``jepsen-lite report``: the page and plots of a small synthetic run folder, and one
line with exit status 3 for anything that is not a readable run folder."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import ClassVar

import markupsafe
import pytest

from jepsen_lite.cli import main
from jepsen_lite.report.cli import wants_report
from jepsen_lite.report.html import write_report
from jepsen_lite.report.load import read_results
from jepsen_lite.runner.envs import ENVIRONMENTS
from jepsen_lite.runner.run import error_results_json

from .fake_cluster import FakeCluster, FakeEnvironment
from .report_synthetic import NASTY_KEY, SPEC, write_run
from .runner_fixtures import register

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The synthetic run folder and its rendered page (written once for the module)."""
    run_dir = write_run(tmp_path_factory.mktemp("store") / "synthetic" / "20260101T000000.000Z")
    files = write_report(run_dir)
    assert files.html == run_dir / "report.html"
    return run_dir, files.html.read_text(encoding="utf-8")


def rows_of(page: str, role: str) -> list[str]:
    return re.findall(rf'<tr class="{role}">(.*?)</tr>', page, flags=re.S)


def event_of(row: str) -> int:
    match = re.search(r'<td class="num">(\d+)</td>', row)
    assert match is not None, row
    return int(match.group(1))


def test_the_page_names_the_test_and_every_checker_with_its_verdict(
    report: tuple[Path, str],
) -> None:
    _, page = report
    assert "<title>synthetic: invalid</title>" in page
    assert '<span class="verdict invalid">invalid</span>' in page
    for name, validity in [
        ("linearizable", "invalid"),
        ("lost-writes", "invalid"),
        ("availability", "valid"),
        ("convergence", "unknown"),
    ]:
        assert re.search(rf">{name}</a></td>\s*<td><span class=\"{validity}\">", page), name
    for fact in ("raft", "sim", "register", "42", "3 nodes, 2 clients"):
        assert f"<dd>{fact}" in page, fact
    assert "live after heal" in page and "node 2 could not be read" in page


def test_the_fault_timeline_lists_each_fault(report: tuple[Path, str]) -> None:
    _, page = report
    assert "<td>partition</td><td>isolate-leader</td><td>1</td>" in page
    assert "<td>kill</td><td>leader</td><td>2</td>" in page
    assert "1→2 2→1" in page  # the partition's blocked links
    assert "signal=&#34;&lt;KILL&gt;&#34;" in page  # a parameter, escaped


def test_the_anomaly_operations_are_highlighted(report: tuple[Path, str]) -> None:
    _, page = report
    focus = [event_of(row) for row in rows_of(page, "focus")]
    related = [event_of(row) for row in rows_of(page, "related")]
    # the stale read (linearizable) and the final read that lost write 8 (lost-writes)
    assert focus == [4, 12]
    # the last linearized writes; the write the read saw and the one that overwrote it
    assert related == [0, 2, 6, 10]
    assert "read → 1" in page and "last_linearized" in page
    assert "write 8 (process 1, event 10)" in page
    assert "the operation it could not place after them is read → 1 (process 0, red)" in page
    assert "write 8 (process 1, event 10) (amber) had certainly overwritten it" in page
    # the failed read of the nasty key is in its window, not highlighted
    assert re.search(r"<tr class=\"\">\s*<td class=\"num\">8</td>", page)


def test_everything_from_the_history_is_escaped(report: tuple[Path, str]) -> None:
    _, page = report
    assert NASTY_KEY not in page
    escaped = str(markupsafe.escape(json.dumps(NASTY_KEY)))
    assert escaped.startswith("&#34;&lt;b&gt;k&amp;1") and escaped in page


def test_the_plots_are_files_and_embedded(report: tuple[Path, str]) -> None:
    run_dir, page = report
    uris = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(uris) == 2
    for name, uri in zip(("latency.png", "throughput.png"), uris, strict=True):
        data = (run_dir / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000, name
        assert base64.b64decode(uri) == data
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing fetched from elsewhere


def test_the_replay_command_is_on_the_page(report: tuple[Path, str]) -> None:
    _, page = report
    assert "jepsen-lite run --env sim --protocol raft --workload register" in page
    assert "--seed 42" in page


def test_the_command_writes_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = write_run(tmp_path / "t" / "run")
    assert main(["report", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert f"report: {run_dir / 'report.html'}" in out
    assert (run_dir / "latency.png").exists() and (run_dir / "throughput.png").exists()


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert lines[0].startswith("jepsen-lite report: error: ")
    return lines[0]


def test_a_folder_that_is_not_a_run_is_one_line_and_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(tmp_path)]) == 3
    assert "is not a run folder (no results.json)" in _one_error_line(capsys)
    assert main(["report", str(tmp_path / "nowhere")]) == 3
    assert "not a directory" in _one_error_line(capsys)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("missing-history", "history.jsonl: no such file"),
        ("corrupt-history", "history.jsonl:3:"),
        ("corrupt-results", "results.json: invalid JSON"),
        ("wrong-results", "results.json: not a jepsen-lite results file: checkers[0].validity"),
        ("corrupt-test", "test.json: invalid JSON"),
    ],
)
def test_a_damaged_run_folder_is_one_line_and_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str, message: str
) -> None:
    run_dir = write_run(tmp_path / "t" / "run")
    if damage == "missing-history":
        (run_dir / "history.jsonl").unlink()
    elif damage == "corrupt-history":
        lines = (run_dir / "history.jsonl").read_text().splitlines(keepends=True)
        lines[2] = '{"process": 1, "type": "invoke", "f": "write"\n'
        (run_dir / "history.jsonl").write_text("".join(lines))
    elif damage == "corrupt-results":
        (run_dir / "results.json").write_text('{"verdict": ')
    elif damage == "wrong-results":
        data = json.loads((run_dir / "results.json").read_text())
        data["checkers"][0]["validity"] = "maybe"
        (run_dir / "results.json").write_text(json.dumps(data))
    else:
        (run_dir / "test.json").write_text("{")
    assert main(["report", str(run_dir)]) == 3
    assert message in _one_error_line(capsys)
    assert not (run_dir / "report.html").exists()


@pytest.mark.parametrize(
    ("policy", "campaign", "verdict", "wanted"),
    [
        ("auto", False, "valid", True),
        ("auto", True, "valid", False),
        ("auto", True, "invalid", True),
        ("auto", True, "unknown", True),
        ("auto", True, "error", True),
        ("always", True, "valid", True),
        ("not-valid", False, "valid", False),
        ("not-valid", False, "unknown", True),
        ("never", False, "invalid", False),
    ],
)
def test_report_policy(policy: str, campaign: bool, verdict: str, wanted: bool) -> None:
    assert wants_report(policy, campaign, verdict) is wanted


def test_an_unknown_policy_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown report policy 'sometimes'"):
        wants_report("sometimes", False, "valid")


# -- at the end of jepsen-lite run -----------------------------------------------------


class DivergentCluster(FakeCluster):
    diverge = frozenset({2})


class DivergentEnvironment(FakeEnvironment):
    name: ClassVar[str] = "fake-divergent-report"
    cluster_class = DivergentCluster


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch)
    name = DivergentEnvironment.name
    monkeypatch.setitem(ENVIRONMENTS, name, f"{__name__}:{DivergentEnvironment.__name__}")


def run_argv(out: Path, *extra: str, env: str = "fake") -> list[str]:
    return [
        "run", "--env", env, "--workload", "fake", "--nodes", "3", "--concurrency", "3",
        "--time-limit", "3", "--rate", "20", "--keys", "3", "--recovery", "3",
        "--nemesis", "partition", "--out", str(out), *extra,
    ]  # fmt: skip


def reports(out: Path) -> list[Path]:
    return sorted(out.glob("*/2*/report.html"))


def test_a_single_run_writes_its_report_by_default(
    tmp_path: Path, fakes: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(run_argv(tmp_path, "--seed", "1")) == 0
    (page,) = reports(tmp_path)
    out = capsys.readouterr().out
    assert f"report: {page}" in out and out.index("verdict: valid") < out.index("report:")
    text = page.read_text(encoding="utf-8")
    assert '<span class="verdict valid">valid</span>' in text
    results = json.loads((page.parent / "results.json").read_text())
    for checker in results["checkers"]:
        assert f">{checker['name']}</a></td>" in text
    for fault in results["faults"]:
        assert f"<td>{fault['kind']}</td><td>{fault['shape']}</td>" in text
    assert "No fault ran." not in text and results["faults"]


def test_a_campaign_reports_only_the_seeds_that_are_not_valid(
    tmp_path: Path, fakes: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(run_argv(tmp_path / "valid", "--seeds", "1-2")) == 0
    assert reports(tmp_path / "valid") == []
    bad = tmp_path / "bad"
    assert (
        main(run_argv(bad, "--seed", "1", "--report", "not-valid", env=DivergentEnvironment.name))
        == 1
    )
    (page,) = reports(bad)
    assert "convergence" in page.read_text(encoding="utf-8")
    assert main(run_argv(tmp_path / "never", "--seed", "1", "--report", "never")) == 0
    assert reports(tmp_path / "never") == []


def test_a_report_that_fails_is_a_warning_and_the_run_keeps_its_status(
    tmp_path: Path, fakes: None, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    def broken(run_dir: Path) -> None:
        raise RuntimeError("no fonts\nat all")

    monkeypatch.setattr("jepsen_lite.report.html.write_report", broken)
    assert main(run_argv(tmp_path, "--seed", "1")) == 0
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "jepsen-lite run: warning: no report: RuntimeError: no fonts at all"
    ]
    assert reports(tmp_path) == []


@pytest.mark.slow
def test_the_report_of_a_real_broken_run_highlights_the_counterexample(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The known-failing ``read-without-quorum`` run (test_finds_bugs.py): the stale read
    the linearizability checker names is the page's red row and is ringed on the plot; the
    operations it linearized last are the amber ones. About 5 s of sim and 1 s of report."""
    pytest.importorskip("jepsen_lite.runner.envs.sim")
    from .test_finds_bugs import READ_WITHOUT_QUORUM

    argv = ["run", "--env", "sim", *READ_WITHOUT_QUORUM, "--seed", "1", "--out", str(tmp_path)]
    assert main([*argv, "--broken", "read-without-quorum"]) == 1
    (page,) = reports(tmp_path)
    text = page.read_text(encoding="utf-8")
    results = json.loads((page.parent / "results.json").read_text())
    (lin,) = [c for c in results["checkers"] if c["name"] == "linearizable"]
    cx = lin["details"]["counterexample"]
    assert [event_of(row) for row in rows_of(text, "focus")] == [cx["call_event"]]
    related = {event_of(row) for row in rows_of(text, "related")}
    assert related == set(cx["last_linearized_events"]) and related
    assert (page.parent / "latency.png").stat().st_size > 20_000


def test_a_run_whose_environment_failed_gets_a_page_with_the_error(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "t" / "run")
    error = error_results_json(SPEC, "environment failed: OSError: <no ports>")
    (run_dir / "results.json").write_text(json.dumps(error))
    (run_dir / "history.jsonl").write_text('{"process": 0, "type": "invoke"\n')  # cut short
    page = write_report(run_dir).html.read_text(encoding="utf-8")
    assert '<span class="verdict error">error</span>' in page
    assert "environment failed: OSError: &lt;no ports&gt;" in page
    assert "The history could not be read:" in page and "No checker ran." in page


def test_a_results_json_from_before_schema_version_is_read(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "t" / "run")
    data = json.loads((run_dir / "results.json").read_text())
    del data["schema_version"]
    (run_dir / "results.json").write_text(json.dumps(data))
    assert read_results(run_dir)["schema_version"] == 1
