"""A scripted Raft storage workload and its model: the state after every prefix of it.

A step is a ``persist``, ``sync`` or ``compact`` call. Each persist or compact is cut into
*micro-operations* in the order the storage applies them (snapshot, each entry, hard
state). A correct store, crashed anywhere, recovers the state after some prefix of the
micro-operations that includes every acknowledged one (up to the last ``sync`` or
``compact`` that returned) and none that was never issued.
"""

from __future__ import annotations

from typing import Any

from consensus.storage import MemoryStorage, Recovered
from consensus.types import Entry, HardState

from .harness import entries, hs, snap

Step = tuple[Any, ...]

WORKLOAD: list[Step] = [
    ("persist", hs(1, 1, 0), entries(1, 3, 1), None),
    ("sync",),
    ("persist", None, entries(4, 40, 1, size=90), None),
    ("persist", hs(1, 1, 3), [], None),
    ("sync",),
    ("persist", hs(2, None, 3), entries(30, 35, 2), None),  # overwrite a suffix
    ("sync",),
    ("compact", snap(20, 1)),
    ("persist", hs(2, 2, 20), entries(36, 70, 2, size=90), None),
    ("sync",),
    ("compact", snap(60, 2)),
    ("persist", hs(3, None, 60), entries(81, 85, 3), snap(80, 3)),  # received: reset
    ("sync",),
    ("persist", hs(3, 1, 82), entries(86, 95, 3, size=200), None),
    ("sync",),
    ("persist", None, entries(96, 99, 3), None),
    ("persist", hs(3, 1, 97), [], snap(97, 3)),  # received, matches: 98, 99 stay
    ("sync",),
    ("persist", hs(3, 1, 99), entries(100, 103, 3), None),  # never synced
]


def micro_ops(step: Step) -> list[tuple[str, Any]]:
    if step[0] == "persist":
        _, hard_state, batch, snapshot = step
        ops: list[tuple[str, Any]] = []
        if snapshot is not None:
            ops.append(("snapshot", snapshot))
        ops += [("entry", e) for e in batch]
        if hard_state is not None:
            ops.append(("hard_state", hard_state))
        return ops
    if step[0] == "compact":
        return [("compact", step[1])]
    return []


def model_states(workload: list[Step]) -> list[Recovered[HardState]]:
    """``states[p]``: the durable state after the first ``p`` micro-operations."""
    model = MemoryStorage()
    states = [model.recover()]
    for step in workload:
        for kind, value in micro_ops(step):
            if kind == "snapshot":
                model.persist(None, [], value)
            elif kind == "entry":
                model.persist(None, [value], None)
            elif kind == "hard_state":
                model.persist(value, [], None)
            else:
                model.compact(value)
            model.sync()
            states.append(model.recover())
    return states


class Progress:
    """How far a run got: micro-operations ``issued`` to the store, and ``acked`` (made
    durable by a ``sync`` or ``compact`` that returned)."""

    def __init__(self) -> None:
        self.issued = 0
        self.acked = 0


def run_workload(storage: Any, workload: list[Step], progress: Progress) -> None:
    for step in workload:
        if step[0] == "persist":
            progress.issued += len(micro_ops(step))
            storage.persist(step[1], step[2], step[3])
        elif step[0] == "sync":
            storage.sync()
            progress.acked = progress.issued
        else:
            progress.issued += 1
            storage.compact(step[1])
            progress.acked = progress.issued


def describe(state: Recovered[HardState]) -> str:
    meta = state.snapshot.meta if state.snapshot else None
    log = [(e.index, e.term) for e in state.entries]
    return f"hard_state={state.hard_state} snapshot={meta} log={log}"


def entry_after(state: Recovered[HardState]) -> Entry:
    """A new entry that fits right after ``state``'s log."""
    if state.entries:
        last = state.entries[-1].index
    else:
        last = state.snapshot.meta.index if state.snapshot else 0
    return Entry(last + 1, 9, b"after recovery")
