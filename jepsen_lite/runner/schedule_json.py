"""An explicit fault schedule (``TestSpec.schedule``) as JSON, for ``test.json``, the
``--schedule`` option of ``jepsen-lite run`` and ``replay.sh``.

A schedule is a JSON list of windows, each an object with exactly the keys
``start_s``, ``end_s`` (seconds into the main phase, ``0 <= start_s <= end_s <=
time_limit_s``), ``kind`` (one of :data:`~jepsen_lite.runner.api.FAULT_KINDS`), ``shape``
(one of that kind's shapes, see :mod:`jepsen_lite.runner.nemesis`), ``nodes`` (node ids
``1..n``, as the drawn schedule encodes them: ``[]`` for ``isolate-leader``, ``leader``
shapes and packet faults) and ``params`` (an object of numbers). :func:`windows_to_json`
writes what :func:`windows_from_json` reads back to an equal tuple of
:class:`~jepsen_lite.runner.api.FaultWindow`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .api import FAULT_KINDS, Fault, FaultWindow
from .partitions import PARTITION_SHAPES

SHAPES: dict[str, tuple[str, ...]] = {
    "partition": PARTITION_SHAPES,
    "kill": ("node", "leader"),
    "pause": ("node", "leader"),
    "clock": ("fast", "slow", "jump"),
    "packet": ("loss", "duplicate", "delay", "reorder"),
    "disk": ("lose-unsynced", "torn-write", "bit-flip"),
}
"""The shapes of each fault kind."""

WINDOW_KEYS = ("end_s", "kind", "nodes", "params", "shape", "start_s")


class ScheduleError(ValueError):
    """A schedule that does not describe fault windows; the message names what is wrong."""


def window_to_json(window: FaultWindow) -> dict[str, Any]:
    """One window as a JSON object (keys :data:`WINDOW_KEYS`)."""
    fault = window.fault
    return {
        "start_s": window.start_s,
        "end_s": window.end_s,
        "kind": fault.kind,
        "shape": fault.shape,
        "nodes": list(fault.nodes),
        "params": {k: fault.params[k] for k in sorted(fault.params)},
    }


def windows_to_json(windows: Sequence[FaultWindow]) -> list[dict[str, Any]]:
    """A schedule as a JSON list."""
    return [window_to_json(w) for w in windows]


def schedule_text(windows: Sequence[FaultWindow]) -> str:
    """A schedule as compact JSON text on one line (for a command line)."""
    return json.dumps(windows_to_json(windows), sort_keys=True, separators=(",", ":"))


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScheduleError(f"{what} must be a number, got {value!r}")
    return float(value)


def window_from_json(data: object, nodes: int, time_limit_s: float, where: str) -> FaultWindow:
    """The window ``data`` describes for a cluster of ``nodes`` nodes and a main phase of
    ``time_limit_s``; ``ScheduleError`` naming ``where`` and the bad key otherwise."""
    if not isinstance(data, dict):
        raise ScheduleError(f"{where}: a window must be a JSON object")
    missing = [k for k in WINDOW_KEYS if k not in data]
    if missing:
        raise ScheduleError(f"{where}: missing key {missing[0]!r}")
    extra = sorted(set(data) - set(WINDOW_KEYS))
    if extra:
        raise ScheduleError(f"{where}: unknown key {extra[0]!r}")
    start = _number(data["start_s"], f"{where}: 'start_s'")
    end = _number(data["end_s"], f"{where}: 'end_s'")
    if not 0 <= start <= end <= time_limit_s:
        raise ScheduleError(
            f"{where}: needs 0 <= start_s <= end_s <= the time limit ({time_limit_s:g}), "
            f"got {start:g}..{end:g}"
        )
    kind = data["kind"]
    if kind not in FAULT_KINDS:
        raise ScheduleError(
            f"{where}: unknown kind {kind!r} (choose from {', '.join(FAULT_KINDS)})"
        )
    shape = data["shape"]
    if shape not in SHAPES[kind]:
        raise ScheduleError(
            f"{where}: unknown {kind} shape {shape!r} (choose from {', '.join(SHAPES[kind])})"
        )
    targets = data["nodes"]
    if not isinstance(targets, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= nodes for n in targets
    ):
        raise ScheduleError(f"{where}: 'nodes' must be a list of node ids 1..{nodes}")
    params = data["params"]
    if not isinstance(params, dict):
        raise ScheduleError(f"{where}: 'params' must be a JSON object")
    numbers = {str(k): _number(v, f"{where}: param {k!r}") for k, v in params.items()}
    return FaultWindow(start, end, Fault(kind, shape, tuple(targets), numbers))


def windows_from_json(data: object, nodes: int, time_limit_s: float) -> tuple[FaultWindow, ...]:
    """The schedule ``data`` (a JSON list of windows) describes, sorted by start time as
    a drawn schedule is; ``ScheduleError`` naming the first bad window otherwise."""
    if not isinstance(data, list):
        raise ScheduleError("a schedule must be a JSON list of windows")
    windows = [
        window_from_json(item, nodes, time_limit_s, f"window {i}") for i, item in enumerate(data)
    ]
    windows.sort(key=lambda w: (w.start_s, FAULT_KINDS.index(w.fault.kind)))
    return tuple(windows)
