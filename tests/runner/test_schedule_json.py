"""Explicit fault schedules: JSON round trip, errors, test.json, --schedule, replay.sh."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest

from jepsen_lite.cli import build_parser
from jepsen_lite.run_cli import BadOption, spec_from_args
from jepsen_lite.runner.api import Fault, FaultWindow, TestSpec, derive_rng
from jepsen_lite.runner.nemesis import NemesisError, planned_schedule, schedule
from jepsen_lite.runner.schedule_json import (
    ScheduleError,
    schedule_text,
    windows_from_json,
    windows_to_json,
)
from jepsen_lite.runner.store import (
    SpecError,
    read_test_json,
    replay_command,
    spec_from_json,
    spec_to_json,
    write_test_json,
)

ALL = frozenset({"partition", "kill", "pause", "clock", "packet", "disk"})


def drawn(seed: int = 3, **fields: object) -> tuple[TestSpec, tuple[FaultWindow, ...]]:
    spec = attrs.evolve(TestSpec(time_limit_s=40.0, seed=seed), **fields)  # type: ignore[arg-type]
    return spec, schedule(spec, derive_rng(seed, "nemesis"), ALL)


def test_a_drawn_schedule_round_trips_through_json_and_test_json(tmp_path: Path) -> None:
    spec, windows = drawn()
    assert {w.fault.kind for w in windows} == ALL  # every kind, every encoding of nodes
    text = json.loads(json.dumps(windows_to_json(windows)))
    assert windows_from_json(text, spec.nodes, spec.time_limit_s) == windows
    explicit = attrs.evolve(spec, schedule=windows[:3])
    write_test_json(tmp_path, explicit)
    assert read_test_json(tmp_path) == explicit
    assert json.loads((tmp_path / "test.json").read_text())["schedule"][0]["kind"]


def test_a_test_json_without_the_schedule_key_reads_as_drawn() -> None:
    data = spec_to_json(TestSpec())
    assert data["schedule"] is None
    del data["schedule"]
    assert spec_from_json(data).schedule is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "meteor"}, "window 0: unknown kind 'meteor'"),
        ({"shape": "sideways"}, "window 0: unknown kill shape 'sideways'"),
        ({"end_s": 99}, r"window 0: needs 0 <= start_s <= end_s <= the time limit \(10\)"),
        ({"nodes": [4]}, r"window 0: 'nodes' must be a list of node ids 1\.\.3"),
        ({"params": {"p": "x"}}, "window 0: param 'p' must be a number"),
        ({"extra": 1}, "window 0: unknown key 'extra'"),
    ],
)
def test_bad_windows_are_named(change: dict[str, object], message: str) -> None:
    window = {"start_s": 1, "end_s": 2, "kind": "kill", "shape": "node", "nodes": [1], "params": {}}
    with pytest.raises(ScheduleError, match=message):
        windows_from_json([{**window, **change}], 3, 10.0)
    data = {
        **spec_to_json(TestSpec(nodes=3, time_limit_s=10.0)),
        "schedule": [{**window, **change}],
    }
    with pytest.raises(SpecError, match="'schedule': window 0"):
        spec_from_json(data)


def test_the_nemesis_runs_an_explicit_schedule_and_refuses_kinds_it_lacks() -> None:
    spec, windows = drawn()
    assert planned_schedule(spec, ALL) == windows
    subset = (windows[1], windows[4])
    assert planned_schedule(attrs.evolve(spec, schedule=subset), ALL) == subset
    kill = FaultWindow(1.0, 2.0, Fault("kill", "leader"))
    with pytest.raises(NemesisError, match="the schedule has kill faults"):
        planned_schedule(attrs.evolve(spec, schedule=(kill,)), frozenset({"partition"}))


def test_replay_sh_carries_the_schedule_and_run_reads_it_back(tmp_path: Path) -> None:
    spec, windows = drawn(nodes=5)
    explicit = attrs.evolve(spec, schedule=windows[:4], nemesis=ALL)
    argv = replay_command(explicit, tmp_path)
    assert argv[argv.index("--schedule") + 1] == schedule_text(windows[:4])
    args = build_parser().parse_args(argv[1:])
    assert spec_from_args(args, seed=explicit.seed) == explicit
    (tmp_path / "s.json").write_text(schedule_text(windows[:2]))
    args = build_parser().parse_args(
        ["run", "--time-limit", "40", "--schedule", f"@{tmp_path / 's.json'}"]
    )
    assert spec_from_args(args).schedule == windows[:2]
    for bad, message in (
        ("[{", "invalid JSON"),
        ("{}", "a JSON list"),
        ("@/nonexistent", "cannot read"),
    ):
        args = build_parser().parse_args(["run", "--schedule", bad])
        with pytest.raises(BadOption, match=f"--schedule.*{message}"):
            spec_from_args(args)
