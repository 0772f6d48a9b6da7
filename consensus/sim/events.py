"""The simulator's agenda: a heap of events keyed by (virtual time, sequence number).

The sequence number breaks ties in push order, so two runs that push the same events in
the same order pop them in the same order: no comparison ever reaches the payload, and
nothing depends on object identity or hashing.

An event is a plain tuple ``(time_us, seq, kind, payload)`` (tuples are the cheapest thing
``heapq`` can order). ``kind`` is one of the small integers below.
"""

from __future__ import annotations

import heapq
from typing import Any

TICK = 0
"""payload: node id. The node's logical clock advances one tick."""
DELIVER = 1
"""payload: a Message. The network hands it to its destination (if still reachable)."""
CLIENT = 2
"""payload: (client id, operation number). A client starts or times out an operation."""
NEMESIS = 3
"""payload: a nemesis action (partition start/end, crash, restart)."""
HEAL = 4
"""payload: None. The fault phase ends: heal everything, start the liveness probes."""
CHECK = 5
"""payload: None. Periodic convergence check during the heal phase."""
DEADLINE = 6
"""payload: None. The heal phase's time limit: not converged by now is a liveness failure."""

PROGRESS = 7
"""payload: None. Every ``progress_window_us``: the budgets and the no-progress check."""
SYNC = 8
"""payload: (node id, sync number). A node's deferred fsync completes."""

KIND_NAMES: tuple[str, ...] = (
    "tick",
    "deliver",
    "client",
    "nemesis",
    "heal",
    "check",
    "deadline",
    "progress",
    "sync",
)

Event = tuple[int, int, int, Any]


class Clock:
    """Virtual time, shared by the parts of one simulation."""

    __slots__ = ("now_us",)

    def __init__(self) -> None:
        self.now_us = 0


class EventQueue:
    """A min-heap of events. ``heap`` is public so the run loop can pop it directly."""

    __slots__ = ("heap", "seq")

    def __init__(self) -> None:
        self.heap: list[Event] = []
        self.seq = 0

    def push(self, time_us: int, kind: int, payload: Any) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (time_us, self.seq, kind, payload))

    def pop(self) -> Event:
        return heapq.heappop(self.heap)

    def __len__(self) -> int:
        return len(self.heap)
