"""Shared helpers of the runner tests: register the fake workload and environment, and
build small specs for them."""

from __future__ import annotations

from typing import Any

import pytest

from jepsen_lite.runner.api import TestSpec
from jepsen_lite.runner.envs import ENVIRONMENTS
from jepsen_lite.runner.workloads import WORKLOADS

from . import fake_cluster, fake_workload


def register(monkeypatch: pytest.MonkeyPatch, **extra: str) -> None:
    """Register ``fake`` (workload and environment) plus ``extra`` workloads
    (name -> "module:Class")."""
    monkeypatch.setitem(WORKLOADS, "fake", f"{fake_workload.__name__}:FakeWorkload")
    monkeypatch.setitem(ENVIRONMENTS, "fake", f"{fake_cluster.__name__}:FakeEnvironment")
    for name, target in extra.items():
        monkeypatch.setitem(WORKLOADS, name, target)


def small_spec(**changes: Any) -> TestSpec:
    """A short test of the fake workload on the fake environment."""
    fields: dict[str, Any] = {
        "workload": "fake",
        "env": "fake",
        "nemesis": frozenset(),
        "nodes": 3,
        "concurrency": 3,
        "time_limit_s": 5.0,
        "rate": 20.0,
        "keys": 3,
        "ops_per_key": 1000,
        "recovery_s": 5.0,
        "seed": 1,
    }
    fields.update(changes)
    return TestSpec(**fields)
