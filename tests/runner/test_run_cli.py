"""``jepsen-lite run`` / ``replay`` over the fake environment: exit statuses, usage
errors, run folders, replay.sh and replay."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import ClassVar

import pytest

from jepsen_lite.cli import build_parser, main
from jepsen_lite.run_cli import first_difference, spec_from_args
from jepsen_lite.runner.envs import ENVIRONMENTS
from jepsen_lite.runner.store import read_test_json

from .fake_cluster import FakeCluster, FakeEnvironment
from .runner_fixtures import register


class DivergentCluster(FakeCluster):
    diverge = frozenset({2})


class UnreadableCluster(FakeCluster):
    unreadable = frozenset({1})


class DivergentEnvironment(FakeEnvironment):
    name: ClassVar[str] = "fake-divergent"
    cluster_class = DivergentCluster


class UnreadableEnvironment(FakeEnvironment):
    name: ClassVar[str] = "fake-unreadable"
    cluster_class = UnreadableCluster


class PartitionOnlyEnvironment(FakeEnvironment):
    name: ClassVar[str] = "fake-partition"
    faults = frozenset({"partition"})


@pytest.fixture(autouse=True)
def fakes(monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch)
    for cls in (DivergentEnvironment, UnreadableEnvironment, PartitionOnlyEnvironment):
        monkeypatch.setitem(ENVIRONMENTS, cls.name, f"{__name__}:{cls.__name__}")


def argv(tmp_path: Path, *extra: str, env: str = "fake") -> list[str]:
    rate = () if "--closed" in extra or "--rate" in extra else ("--rate", "20")
    # no reports here (about 0.7 s of CPU each): they are tested in test_report.py
    return [
        "run", "--env", env, "--workload", "fake", "--nodes", "3", "--concurrency", "3",
        "--time-limit", "5", *rate, "--keys", "3", "--recovery", "3",
        "--out", str(tmp_path), "--report", "never", *extra,
    ]  # fmt: skip


def folders(tmp_path: Path) -> list[Path]:
    return sorted(p for test in tmp_path.iterdir() for p in test.iterdir() if p.name != "latest")


def test_a_valid_run_exits_0_and_prints_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(argv(tmp_path, "--nemesis", "partition,kill", "--seed", "7"))
    out = capsys.readouterr().out
    assert status == 0, out
    (folder,) = folders(tmp_path)
    assert folder.parent.name == "raft-fake-kill+partition"
    for text in ("linearizable", "availability", "convergence", "verdict: valid", str(folder)):
        assert text in out, text
    assert "replay: jepsen-lite run --env fake" in out
    results = json.loads((folder / "results.json").read_text())
    assert results["seed"] == 7 and results["fault_kinds"] == ["kill", "partition"]


def test_replay_sh_has_every_option_and_rebuilds_the_same_spec(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = ("--nemesis", "all", "--closed", "--seed", "11", "--option", "op_timeout_s=2.5")
    assert main(argv(tmp_path, *extra, "--broken", "vote-without-log-check")) in (0, 1, 2)
    (folder,) = folders(tmp_path)
    script = (folder / "replay.sh").read_text()
    assert (folder / "replay.sh").stat().st_mode & 0o111
    command = shlex.split(script.splitlines()[-1])
    assert command[:3] == ["exec", "jepsen-lite", "run"]
    args = build_parser().parse_args(command[2:])
    stored = read_test_json(folder)
    assert spec_from_args(args, args.seed) == stored
    assert stored.options == {"broken": "vote-without-log-check", "op_timeout_s": 2.5}
    assert stored.rate is None and stored.nemesis == {"all"} and stored.seed == 11


def test_several_seeds_give_one_folder_and_one_line_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv(tmp_path, "--seeds", "3-5", "--nemesis", "none")) == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("seed ")]
    assert [x.split(":")[0] for x in lines] == ["seed 3", "seed 4", "seed 5"]
    assert all("valid" in x for x in lines)
    assert len(folders(tmp_path)) == 3


@pytest.mark.parametrize(
    ("env", "status", "verdict"),
    [("fake-divergent", 1, "invalid"), ("fake-unreadable", 2, "unknown")],
)
def test_exit_status_follows_the_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], env: str, status: int, verdict: str
) -> None:
    assert main(argv(tmp_path, "--seed", "1", "--nemesis", "none", env=env)) == status
    assert f"verdict: {verdict}" in capsys.readouterr().out


def test_worst_status_over_seeds_wins(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv(tmp_path, "--seeds", "1-2", "--nemesis", "none", env="fake-divergent")) == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--nodes", "x"), "--nodes: invalid int value"),
        (("--nodes", "0"), "--nodes must be at least 1"),
        (("--time-limit", "-1"), "--time-limit must be a positive number"),
        (("--nemesis", "meteor"), "unknown fault kind 'meteor'"),
        (("--seeds", "5-2"), "--seeds: expected A-B"),
        (("--seeds", "1-2", "--seed", "1"), "not allowed with argument"),
        (("--closed", "--rate", "5"), "not allowed with argument"),
        (("--protocol", "zab"), "unknown protocol 'zab'"),
        (("--option", "novalue"), "expected KEY=JSON"),
        (("--env", "cloud"), "unknown environment 'cloud'"),
        (("--workload", "nope"), "unknown workload 'nope'"),
        (("--env", "fake-partition", "--nemesis", "kill"), "does not support fault kind kill"),
    ],
)
def test_bad_options_exit_3_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: tuple[str, ...], message: str
) -> None:
    seed = () if "--seeds" in extra else ("--seed", "1")
    args = argv(tmp_path, *seed, *extra)  # a second --env overrides the first
    assert main(args) == 3
    captured = capsys.readouterr()
    assert message in captured.err, captured.err
    assert "Traceback" not in captured.err
    assert [x for x in captured.err.splitlines() if x.startswith("jepsen-lite")] != []
    assert not tmp_path.exists() or not any(tmp_path.iterdir())  # nothing ran


def test_all_means_what_the_environment_supports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = ("--seed", "2", "--nemesis", "all", "--time-limit", "20")
    assert main(argv(tmp_path, *extra, env="fake-partition")) == 0
    (folder,) = folders(tmp_path)
    results = json.loads((folder / "results.json").read_text())
    assert results["fault_kinds"] == ["partition"] and results["faults"]


def test_replay_reproduces_the_history_byte_for_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv(tmp_path, "--seed", "5", "--nemesis", "all", "--concurrency", "4")) == 0
    (first,) = folders(tmp_path)
    capsys.readouterr()
    assert main(["replay", str(first), "--report", "never"]) == 0
    out = capsys.readouterr().out
    assert f"byte-identical to {first / 'history.jsonl'}" in out
    second = next(f for f in folders(tmp_path) if f != first)
    assert (first / "history.jsonl").read_bytes() == (second / "history.jsonl").read_bytes()
    # a stored history that does not match is reported, with the first differing line
    lines = (first / "history.jsonl").read_text().splitlines(keepends=True)
    lines[3] = lines[3].replace('"time": ', '"time": 1')
    (first / "history.jsonl").write_text("".join(lines))
    assert main(["replay", str(first), "--report", "never"]) == 0
    assert "DIFFERS" in (out := capsys.readouterr().out) and "(first at line 4)" in out


def test_replay_of_a_folder_without_test_json_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(tmp_path)]) == 3
    assert "no such file" in capsys.readouterr().err


def test_first_difference() -> None:
    assert first_difference(b"a\nb\n", b"a\nb\n") is None
    assert first_difference(b"a\nb\n", b"a\nc\n") == 2
    assert first_difference(b"a\n", b"a\nb\n") == 2


def test_progress_is_shown_on_a_terminal_only() -> None:
    import io

    from rich.console import Console

    from jepsen_lite.run_cli import _ProgressDisplay
    from jepsen_lite.runner.loop import Progress

    tick = Progress(
        "main", 12.5, 1.25, 60.0, {"invoke": 9, "ok": 7, "fail": 1, "info": 1},
        ("partition:halves",), 3,
    )  # fmt: skip
    screen = io.StringIO()
    with _ProgressDisplay(Console(file=screen, force_terminal=True, width=120)) as show:
        assert show is not None
        show(tick)
    text = screen.getvalue()
    for part in ("main", "12.5/60 s virtual", "ok 7", "fail 1", "info 1", "partition:halves"):
        assert part in text, part
    pipe = io.StringIO()
    with _ProgressDisplay(Console(file=pipe)) as show:
        assert show is None
    assert pipe.getvalue() == ""
