"""Every workload's history survives the JSON Lines format unchanged in meaning (its
checkers answer the same after a write and a load), and register histories are checked
by ``jepsen-lite check`` with the plain models."""

from __future__ import annotations

from pathlib import Path

import pytest

from jepsen_lite.cli import main
from jepsen_lite.history import load_jsonl, write_jsonl
from jepsen_lite.history.ops import Event
from jepsen_lite.runner.api import TestSpec
from jepsen_lite.runner.workloads import WORKLOADS, workload_class

from .drive import NO_FACTS, drive


@pytest.mark.parametrize("name", sorted(WORKLOADS))
async def test_round_trip_through_jsonl(name: str, tmp_path: Path) -> None:
    workload = workload_class(name)()
    events: list[Event] = []
    history = await drive(workload, TestSpec(keys=3, ops_per_key=30), 120, record=events)
    path = tmp_path / "history.jsonl"
    write_jsonl(
        path, [Event(e.process, e.type, e.f, e.value, e.key, time=i) for i, e in enumerate(events)]
    )
    loaded = load_jsonl(path)
    for checker in workload.checkers():
        before, after = checker.check(history, NO_FACTS), checker.check(loaded, NO_FACTS)
        assert (before.validity, before.summary) == (after.validity, after.summary)


@pytest.mark.parametrize("name", ["register", "cas-register"])
async def test_jepsen_lite_check_reads_register_histories(name: str, tmp_path: Path) -> None:
    events: list[Event] = []
    await drive(workload_class(name)(), TestSpec(keys=3, ops_per_key=30), 120, record=events)
    path = tmp_path / "history.jsonl"
    write_jsonl(
        path, [Event(e.process, e.type, e.f, e.value, e.key, time=i) for i, e in enumerate(events)]
    )
    assert main(["check", "--json", "--model", name, str(path)]) == 0
