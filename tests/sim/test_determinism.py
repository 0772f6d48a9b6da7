"""One seed, two processes, one trace: byte-identical event traces across processes (with
different hash seeds), and different traces for different seeds."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path


def trace_digest(tmp_path: Path, seed: int, hash_seed: str) -> tuple[str, int]:
    path = tmp_path / f"trace-{seed}-{hash_seed}.txt"
    env = dict(os.environ, PYTHONHASHSEED=hash_seed)
    cmd = [
        sys.executable,
        "-c",
        "import sys; from consensus.cli import main; sys.exit(main())",
        "sim",
        "--protocol",
        "raft",
        "--nodes",
        "5",
        "--seeds",
        str(seed),
        "--faults",
        "all",
        "--time",
        "3",
        "--trace",
        str(path),
        "--quiet",
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    data = path.read_bytes()
    return hashlib.sha256(data).hexdigest(), data.count(b"\n")


def test_same_seed_same_trace_in_two_processes(tmp_path: Path) -> None:
    first, lines = trace_digest(tmp_path, 7, "1")
    second, _ = trace_digest(tmp_path, 7, "987654")
    assert lines > 1000
    assert first == second


def test_different_seeds_give_different_traces(tmp_path: Path) -> None:
    assert trace_digest(tmp_path, 7, "1")[0] != trace_digest(tmp_path, 8, "1")[0]
