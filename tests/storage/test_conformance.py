"""The conformance suite against every storage implementation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conformance import CHECKS, Check, check_storage
from .harness import MemoryHarness, os_harness, sim_harness

MAKERS = ["memory", "file-os", "file-sim"]


def make(kind: str, tmp_path: Path) -> Any:
    if kind == "memory":
        return MemoryHarness()
    if kind == "file-os":
        return os_harness(tmp_path)
    return sim_harness(seed=7)


@pytest.mark.parametrize("kind", MAKERS)
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_conformance(kind: str, check: Check, tmp_path: Path) -> None:
    h = make(kind, tmp_path)
    try:
        check(h)
    finally:
        h.close()


def test_check_storage_runs_every_check_on_fresh_harnesses(tmp_path: Path) -> None:
    made: list[Any] = []

    def counting() -> Any:
        made.append(sim_harness(seed=len(made)))
        return made[-1]

    check_storage(counting)
    assert len(made) == len(CHECKS)
