"""A short soak of the local environment (slow): clients on registers while a seeded
nemesis kills, pauses, partitions, skews clocks and disturbs packets; the history must
be linearizable and the replicas must converge."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from jepsen_lite.runner.envs.local_drive import soak


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["raft", "multipaxos"])
async def test_soak_is_linearizable_and_converges(tmp_path: Path, protocol: str) -> None:
    args = argparse.Namespace(
        soak=20.0,
        seed=11,
        protocol=protocol,
        nodes=3,
        clients=4,
        faults="kill,pause,partition,clock,packet",
        check_time_limit=120.0,
    )
    lines: list[str] = []
    status = await soak(args, tmp_path, lines.append)
    assert status == 0, "\n".join(lines)
    assert any(line.startswith("faults: ") and not line.startswith("faults: 0") for line in lines)
    assert (tmp_path / "history.jsonl").stat().st_size > 0
