"""Run folders: test.json round trip and errors, timestamps, latest, replay.sh."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import attrs
import pytest

from jepsen_lite.history.ops import History
from jepsen_lite.runner.api import Fault, FaultWindow, RunFacts, TestSpec, Validity
from jepsen_lite.runner.checkers.convergence import ConvergenceChecker
from jepsen_lite.runner.store import (
    SpecError,
    new_run_dir,
    read_test_json,
    replay_command,
    spec_from_json,
    spec_to_json,
    timestamp,
    write_test_json,
)


def test_spec_round_trips_with_stable_keys(tmp_path: Path) -> None:
    spec = TestSpec(nemesis=frozenset({"kill", "clock"}), rate=None, options={"broken": "x"})
    write_test_json(tmp_path, spec)
    text = (tmp_path / "test.json").read_text()
    assert list(json.loads(text)) == sorted(json.loads(text))
    assert json.loads(text)["nemesis"] == ["clock", "kill"]
    assert read_test_json(tmp_path) == spec


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"nodes": 0}, "'nodes' must be an integer >= 1"),
        ({"rate": -1}, "'rate' must be a positive number"),
        ({"nemesis": ["meteor"]}, "unknown nemesis 'meteor'"),
        ({"extra": 1}, "unknown key 'extra'"),
        ({"seed": "1"}, "'seed' must be an integer"),
    ],
)
def test_bad_specs_are_named(change: dict[str, object], message: str) -> None:
    data = {**spec_to_json(TestSpec()), **change}
    with pytest.raises(SpecError, match=message):
        spec_from_json(data)
    data = spec_to_json(TestSpec())
    del data["workload"]
    with pytest.raises(SpecError, match="missing key 'workload'"):
        spec_from_json(data)


def test_read_test_json_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no such file"):
        read_test_json(tmp_path)
    (tmp_path / "test.json").write_text("{not json")
    with pytest.raises(SpecError, match=r"test\.json: invalid JSON"):
        read_test_json(tmp_path)


def test_run_dirs_are_timestamped_unique_and_latest_follows(tmp_path: Path) -> None:
    spec = TestSpec(name="a/b")
    moment = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC)
    assert timestamp(moment) == "20260102T030405.678Z"
    first = new_run_dir(tmp_path, spec, moment)
    second = new_run_dir(tmp_path, spec, moment)
    assert first.parent.name == "a_b" and first.name == "20260102T030405.678Z"
    assert second.name == "20260102T030405.678Z-2"
    assert (first.parent / "latest").resolve() == second.resolve()


def test_replay_command_names_every_option() -> None:
    spec = TestSpec(seed=9, rate=12.5, options={"broken": "b", "op_timeout_s": 3})
    argv = replay_command(spec, "/out")
    for flag in ("--env", "--protocol", "--workload", "--nemesis", "--nodes", "--concurrency",
                 "--time-limit", "--rate", "--keys", "--ops-per-key", "--recovery", "--seed",
                 "--out", "--broken", "--option"):  # fmt: skip
        assert flag in argv, flag
    assert argv[argv.index("--rate") + 1] == "12.5" and argv[argv.index("--seed") + 1] == "9"
    assert argv[argv.index("--option") + 1] == "op_timeout_s=3"
    assert "--closed" in replay_command(TestSpec(rate=None), "/out")
    assert "none" in replay_command(TestSpec(nemesis=frozenset()), "/out")


def test_convergence_names_unread_nodes_that_took_disk_faults() -> None:
    facts = RunFacts(
        faults=(FaultWindow(1.0, 2.0, Fault("disk", "bit-flip", (2,))),),
        snapshots={1: b"s", 2: None, 3: b"s"},
        phases={},
    )
    result = ConvergenceChecker().check(History(()), facts)
    assert result.validity is Validity.UNKNOWN
    assert "nodes [2] could not be read (disk faults hit [2]" in result.summary
    diverged = RunFacts(faults=(), snapshots={1: b"s", 2: b"t"}, phases={})
    assert ConvergenceChecker().check(History(()), diverged).validity is Validity.INVALID
    assert (
        ConvergenceChecker().check(History(()), RunFacts((), {}, {})).validity is Validity.UNKNOWN
    )


def test_convergence_leaves_out_a_node_that_refused_its_damaged_storage() -> None:
    facts = RunFacts(
        faults=(FaultWindow(1.0, 2.0, Fault("disk", "bit-flip", (2,))),),
        snapshots={1: b"s", 2: None, 3: b"s"},
        phases={},
        refused={2: "StorageError: bad CRC at offset 40"},
    )
    result = ConvergenceChecker().check(History(()), facts)
    assert result.validity is Validity.VALID
    assert result.summary == (
        "all 2 readable replicas identical after heal; node [2] stayed down, refusing "
        "storage the nemesis damaged (as it must)"
    )
    other_unread = attrs.evolve(facts, snapshots={1: b"s", 2: None, 3: None})
    assert ConvergenceChecker().check(History(()), other_unread).validity is Validity.UNKNOWN
    diverged = attrs.evolve(facts, snapshots={1: b"s", 2: None, 3: b"t"})
    assert ConvergenceChecker().check(History(()), diverged).validity is Validity.INVALID
