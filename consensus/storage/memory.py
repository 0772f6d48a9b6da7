"""In-memory Raft storage that models a disk honestly: unsynced writes die in a crash."""

from __future__ import annotations

from collections.abc import Sequence

from ..types import Entry, HardState, Snapshot
from .base import Recovered


def apply_entries(log: list[Entry], offset: int, entries: Sequence[Entry]) -> None:
    """Append ``entries`` to ``log`` (whose first element has index ``offset + 1``) with
    the Raft rule: the first new entry replaces its index and everything after it."""
    if not entries:
        return
    first = entries[0].index
    last = offset + len(log)
    if first > last + 1:
        raise ValueError(f"entries start at {first}, leaving a gap after the last index {last}")
    if first <= offset:
        raise ValueError(f"entries start at {first}, inside the snapshot ending at {offset}")
    del log[first - offset - 1 :]
    log.extend(entries)


_Batch = tuple[HardState | None, Sequence[Entry], Snapshot | None]


class MemoryStorage:
    """Raft storage in memory. ``persist`` queues a batch, ``sync`` makes every queued
    batch durable (cost proportional to the batches, not the log), and ``crash`` throws
    the queued batches away, as a power cut would."""

    def __init__(self) -> None:
        self._hard_state: HardState | None = None
        self._snapshot: Snapshot | None = None
        self._entries: list[Entry] = []
        self._offset = 0  # index of the last entry covered by the snapshot
        self._pending: list[_Batch] = []
        self.syncs = 0

    def persist(
        self,
        hard_state: HardState | None,
        entries: Sequence[Entry],
        snapshot: Snapshot | None,
    ) -> None:
        self._pending.append((hard_state, entries, snapshot))

    def sync(self) -> None:
        self.syncs += 1
        for hard_state, entries, snapshot in self._pending:
            if snapshot is not None:
                self._install(snapshot)
            apply_entries(self._entries, self._offset, entries)
            if hard_state is not None:
                self._hard_state = hard_state
        self._pending.clear()

    def _install(self, snapshot: Snapshot) -> None:
        meta = snapshot.meta
        keep: list[Entry] = []
        pos = meta.index - self._offset - 1
        if 0 <= pos < len(self._entries) and self._entries[pos].term == meta.term:
            keep = self._entries[pos + 1 :]
        self._snapshot = snapshot
        self._offset = meta.index
        self._entries = keep

    def compact(self, snapshot: Snapshot) -> None:
        self.sync()
        if self._snapshot is not None and snapshot.meta.index <= self._snapshot.meta.index:
            return
        self._install(snapshot)

    def recover(self) -> Recovered[HardState]:
        """The durable state (what survives a crash now)."""
        return Recovered(self._hard_state, self._snapshot, tuple(self._entries))

    def crash(self) -> None:
        """Forget every batch persisted since the last ``sync``."""
        self._pending.clear()
