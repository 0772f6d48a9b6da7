"""In-memory Raft storage that models a disk honestly: unsynced writes die in a crash."""

from __future__ import annotations

from collections.abc import Sequence

from ..types import Entry, HardState, Index, Snapshot, Term
from .base import Recovered
from .log_view import LogView, check_append


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
    the queued batches away, as a power cut would.

    Reads (``first_index``, ``last_index``, ``term``, ``entries``, ``snapshot``,
    ``hard_state``) see everything persisted, synced or not, as a process reading its
    own writes does; ``recover`` returns only the durable state. ``persist`` checks its
    entries at once (``ValueError``, nothing queued) instead of failing in ``sync``.
    """

    def __init__(self) -> None:
        self._hard_state: HardState | None = None
        self._snapshot: Snapshot | None = None
        self._durable = LogView()
        self._pending: list[_Batch] = []
        self._view = LogView()  # everything persisted, synced or not
        self._view_hard_state: HardState | None = None
        self._view_snapshot: Snapshot | None = None
        self.syncs = 0

    def persist(
        self,
        hard_state: HardState | None,
        entries: Sequence[Entry],
        snapshot: Snapshot | None,
    ) -> None:
        view = self._view
        if entries:
            offset, last = view.offset, view.last_index()
            if snapshot is not None:
                offset = snapshot.meta.index
                last = last if view.matches(offset, snapshot.meta.term) else offset
            check_append(entries, offset, last)
        if snapshot is not None:
            view.install(snapshot.meta.index, snapshot.meta.term)
            self._view_snapshot = snapshot
        view.append(entries)
        if hard_state is not None:
            self._view_hard_state = hard_state
        self._pending.append((hard_state, entries, snapshot))

    def sync(self) -> None:
        self.syncs += 1
        for hard_state, entries, snapshot in self._pending:
            if snapshot is not None:
                self._install(snapshot)
            self._durable.append(entries)
            if hard_state is not None:
                self._hard_state = hard_state
        self._pending.clear()

    def _install(self, snapshot: Snapshot) -> None:
        self._durable.install(snapshot.meta.index, snapshot.meta.term)
        self._snapshot = snapshot

    def compact(self, snapshot: Snapshot) -> None:
        self.sync()
        if self._snapshot is not None and snapshot.meta.index <= self._snapshot.meta.index:
            return
        self._install(snapshot)
        self._view.install(snapshot.meta.index, snapshot.meta.term)
        self._view_snapshot = snapshot

    def recover(self) -> Recovered[HardState]:
        """The durable state (what survives a crash now)."""
        return Recovered(self._hard_state, self._snapshot, tuple(self._durable.entries))

    def crash(self) -> None:
        """Forget every batch persisted since the last ``sync``."""
        self._pending.clear()
        self._view = self._durable.copy()
        self._view_hard_state = self._hard_state
        self._view_snapshot = self._snapshot

    # -- reads (everything persisted) -----------------------------------------------
    def first_index(self) -> Index:
        return self._view.first_index()

    def last_index(self) -> Index:
        return self._view.last_index()

    def term(self, index: Index) -> Term:
        return self._view.term(index)

    def entries(self, lo: Index, hi: Index, bytes_max: int | None = None) -> list[Entry]:
        return self._view.slice(lo, hi, bytes_max)

    def snapshot(self) -> Snapshot | None:
        return self._view_snapshot

    def hard_state(self) -> HardState | None:
        return self._view_hard_state
