"""The example programs run and print what their docstrings promise."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import trio

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


async def test_counter_cluster_example(
    autojump_clock: trio.testing.MockClock, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = importlib.util.spec_from_file_location(
        "counter_cluster", EXAMPLES / "counter_cluster.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert await module.main(rounds=5) == 15
    out = capsys.readouterr().out
    assert out.count("reads 5 (linearizable read)") == 3


def test_tcp_processes_example() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "tcp_processes.py")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "counter is 5" in result.stdout
    assert result.stdout.count("reads 5") == 3
