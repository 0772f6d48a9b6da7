"""One seed, one history: the scripted sim run of ``sim_script.py`` gives byte-identical
output in two separate Python processes with different hash seeds."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("sim_script.py")
ROOT = SCRIPT.parents[2]


def scripted_run(seed: int, protocol: str, nemesis: str, hash_seed: str) -> bytes:
    env = dict(os.environ, PYTHONHASHSEED=hash_seed)
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(seed), protocol, nemesis],
        capture_output=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    return proc.stdout


@pytest.mark.parametrize(("protocol", "nemesis"), [("raft", "disk"), ("multipaxos", "kill")])
def test_the_same_seed_gives_byte_identical_output_in_two_processes(
    protocol: str, nemesis: str
) -> None:
    first = scripted_run(4, protocol, nemesis, "1")
    second = scripted_run(4, protocol, nemesis, "2")
    assert first == second
    lines = first.decode().splitlines()
    ops = [line for line in lines if re.match(r"^\S+ c\d ", line)]
    assert len(ops) == 75  # every operation of the 3 clients was recorded
    assert any("nemesis kill 2" in line for line in lines)
    assert lines[-1].split(" messages ")[0].endswith("violations ()")
