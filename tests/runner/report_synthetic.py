"""A small synthetic run folder, written by hand: a register history with a stale read
(the linearizability counterexample) and a lost write, a partition and a kill, and a
``results.json`` in the documented layout. Used by the report tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jepsen_lite.runner.api import TestSpec
from jepsen_lite.runner.results_schema import SCHEMA_VERSION
from jepsen_lite.runner.store import replay_command, spec_to_json

NASTY_KEY = "<b>k&1</b>"
"""A key that must come out escaped on the page."""

SPEC = TestSpec(
    workload="register",
    nemesis=frozenset({"partition", "kill"}),
    env="sim",
    protocol="raft",
    nodes=3,
    concurrency=2,
    time_limit_s=4.0,
    seed=42,
    rate=10.0,
    keys=2,
    ops_per_key=10,
    recovery_s=2.0,
    name="synthetic",
)

S = 1_000_000_000


def _op(
    lines: list[dict[str, Any]],
    process: int,
    f: str,
    key: str,
    value: Any,
    out: Any,
    start: float,
    end: float,
    kind: str = "ok",
) -> None:
    lines.append(
        {
            "process": process,
            "type": "invoke",
            "f": f,
            "key": key,
            "value": value,
            "time": int(start * S),
        }
    )
    lines.append(
        {"process": process, "type": kind, "f": f, "key": key, "value": out, "time": int(end * S)}
    )


def history_lines() -> list[dict[str, Any]]:
    """The events, in time order (a nemesis start and end for each fault). Client event
    indexes (what checkers name): the k0 ops are events 0-1 (write 1), 2-3 (write 2),
    4-5 (the stale read of 1); the nasty key's are 6-7 (write 7), 8-9 (a failed read),
    10-11 (write 8, acknowledged during the kill) and 12-13 (its final read, of 7: the
    lost write of 8)."""
    lines: list[dict[str, Any]] = []
    _op(lines, 0, "write", "k0", 1, 1, 0.10, 0.12)
    lines.append(
        {
            "process": "nemesis",
            "type": "info",
            "f": "start",
            "time": int(0.5 * S),
            "value": {
                "window": 0,
                "kind": "partition",
                "shape": "isolate-leader",
                "nodes": [1],
                "params": {},
                "blocked": [[1, 2], [2, 1]],
            },
        }
    )
    _op(lines, 1, "write", "k0", 2, 2, 0.60, 0.70)
    _op(lines, 0, "read", "k0", None, 1, 0.80, 0.81)
    _op(lines, 1, "write", NASTY_KEY, 7, 7, 1.0, 1.1)
    lines.append(
        {
            "process": "nemesis",
            "type": "info",
            "f": "end",
            "time": int(1.5 * S),
            "value": {
                "window": 0,
                "kind": "partition",
                "shape": "isolate-leader",
                "nodes": [1],
                "params": {},
                "blocked": [[1, 2], [2, 1]],
            },
        }
    )
    _op(lines, 0, "read", NASTY_KEY, None, None, 2.0, 2.2, kind="fail")
    lines.append(
        {
            "process": "nemesis",
            "type": "info",
            "f": "start",
            "time": int(2.5 * S),
            "value": {"window": 1, "kind": "kill", "shape": "leader", "nodes": [2], "params": {}},
        }
    )
    _op(lines, 1, "write", NASTY_KEY, 8, 8, 2.6, 3.6)
    lines.append(
        {
            "process": "nemesis",
            "type": "info",
            "f": "end",
            "time": int(3.5 * S),
            "value": {"window": 1, "kind": "kill", "shape": "leader", "nodes": [2], "params": {}},
        }
    )
    _op(lines, 2, "read", NASTY_KEY, None, 7, 4.1, 4.2)
    return lines


def results(run_dir: Path) -> dict[str, Any]:
    """The ``results.json`` of the synthetic run."""
    return {
        "schema_version": SCHEMA_VERSION,
        "verdict": "invalid",
        "exit_status": 1,
        "test": "synthetic",
        "seed": 42,
        "checkers": [
            {
                "name": "linearizable",
                "validity": "invalid",
                "summary": 'not linearizable: key "k0": cannot linearize read → 1',
                "details": {
                    "failing_key": "k0",
                    "counterexample": {
                        "key": '"k0"',
                        "operation": "read → 1",
                        "process": "0",
                        "call_event": 4,
                        "return_event": 5,
                        "linearized": 2,
                        "last_linearized": ["write 1 (process 0)", "write 2 (process 1)"],
                        "last_linearized_events": [0, 2],
                        "state": "2",
                    },
                },
            },
            {
                "name": "lost-writes",
                "validity": "invalid",
                "summary": f"1 final reads saw a lost state: key {NASTY_KEY}",
                "details": {
                    "lost": [
                        {
                            "key": NASTY_KEY,
                            "read_event": 12,
                            "value": 7,
                            "allowed": [8],
                            "superseded_by": "write 8 (process 1, event 10)",
                            "superseded_by_event": 10,
                        }
                    ]
                },
            },
            {
                "name": "availability",
                "validity": "valid",
                "summary": "live after heal",
                "details": {"ok_share": {"main": 0.8}},
            },
            {
                "name": "convergence",
                "validity": "unknown",
                "summary": "node 2 could not be read",
                "details": {"unread": [2]},
            },
        ],
        "ops": {"invoke": 7, "ok": 6, "fail": 1, "info": 0, "pending": 0},
        "ops_by_f": {
            "read": {"ok": 2, "fail": 1, "info": 0, "pending": 0},
            "write": {"ok": 4, "fail": 0, "info": 0, "pending": 0},
        },
        "skipped": 0,
        "processes": 3,
        "faults": [
            {
                "index": 0,
                "kind": "partition",
                "shape": "isolate-leader",
                "planned": [0.5, 1.5],
                "start_s": 0.5,
                "end_s": 1.5,
                "nodes": [1],
                "params": {},
                "blocked": [[1, 2], [2, 1]],
            },
            {
                "index": 1,
                "kind": "kill",
                "shape": "leader",
                "planned": [2.5, 3.5],
                "start_s": 2.5,
                "end_s": 3.5,
                "nodes": [2],
                "params": {"signal": "<KILL>"},
                "blocked": [],
            },
        ],
        "fault_kinds": ["kill", "partition"],
        "heal": ["heal-network"],
        "phases": [
            {"name": "main", "start_s": 0.0, "end_s": 4.0},
            {"name": "heal", "start_s": 4.0, "end_s": 4.0},
            {"name": "recovery", "start_s": 4.0, "end_s": 4.05},
            {"name": "final", "start_s": 4.05, "end_s": 4.2},
        ],
        "timings": {"run_wall_s": 1.0, "check_wall_s": 0.1, "env_s": 4.2, "speed": 4.2},
        "snapshot_error": None,
        "session_close_errors": 0,
        "replay": replay_command(SPEC, run_dir.parent.parent),
    }


def write_run(run_dir: Path) -> Path:
    """Write the synthetic run folder at ``run_dir`` (created); returns it."""
    run_dir.mkdir(parents=True)
    (run_dir / "test.json").write_text(json.dumps(spec_to_json(SPEC)), encoding="utf-8")
    (run_dir / "history.jsonl").write_text(
        "".join(json.dumps(line) + "\n" for line in history_lines()), encoding="utf-8"
    )
    (run_dir / "results.json").write_text(json.dumps(results(run_dir)), encoding="utf-8")
    return run_dir
