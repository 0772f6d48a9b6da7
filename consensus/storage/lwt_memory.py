"""In-memory ``paxos-lwt`` storage that models a disk honestly: unsynced writes die in a
crash.

``persist(hard_state, entries, snapshot)`` takes an :class:`LwtHardState` *delta*: its
``purged`` keys are removed first, then each record replaces the stored record of its
key; a non-zero ``reserved`` and a higher ``floor`` replace the stored ones (neither ever
decreases). ``entries`` and ``snapshot`` must be empty: the protocol
has no log. ``sync`` applies the batches queued since the last sync; ``crash`` forgets
them. ``recover`` returns every durable record, by key, and the reserved ballot round.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..messages.lwt import LwtHardState, LwtRecord
from ..messages.paxos import ZERO_BALLOT
from ..types import Entry, Snapshot
from .base import Recovered, StorageError


class LwtMemoryStorage:
    """``paxos-lwt`` storage in memory; implements the simulator's ``SimStorage``."""

    def __init__(self) -> None:
        self._records: dict[bytes, LwtRecord] = {}
        self._reserved = 0
        self._floor = ZERO_BALLOT
        self._pending: list[LwtHardState] = []
        self._written = False
        self.syncs = 0
        self.writes = 0

    def persist(
        self,
        hard_state: LwtHardState | None,
        entries: Sequence[Entry],
        snapshot: Snapshot | None,
    ) -> None:
        """Queue a batch (not durable until :meth:`sync`)."""
        if entries or snapshot is not None:
            raise StorageError("paxos-lwt storage keeps no log entries and no snapshots")
        if hard_state is not None:
            self.writes += 1
            self._pending.append(hard_state)

    def sync(self) -> None:
        """Make every queued batch durable, in order."""
        self.syncs += 1
        for delta in self._pending:
            for gone in delta.purged:
                self._records.pop(gone.key, None)
            if delta.floor.as_term() > self._floor.as_term():
                self._floor = delta.floor
            for record in delta.records:
                old = self._records.get(record.key)
                if old is not None and record.promised.as_term() < old.promised.as_term():
                    raise StorageError(
                        f"key {record.key!r}: promised ballot went backwards: "
                        f"{old.promised} -> {record.promised}"
                    )
                self._records[record.key] = record
            if delta.reserved:
                if delta.reserved < self._reserved:
                    raise StorageError(
                        f"reserved ballot round went backwards: {self._reserved} -> "
                        f"{delta.reserved}"
                    )
                self._reserved = delta.reserved
            self._written = True
        self._pending.clear()

    def compact(self, snapshot: Snapshot) -> None:
        raise StorageError("paxos-lwt storage has no log to compact")

    def recover(self) -> Recovered[LwtHardState]:
        """The durable state: what a node restarted now would start from."""
        if not self._written:
            return Recovered()
        records = tuple(self._records[k] for k in sorted(self._records))
        return Recovered(LwtHardState(records, self._reserved, floor=self._floor))

    def crash(self) -> None:
        """Forget every batch persisted since the last ``sync``."""
        self._pending.clear()

    @property
    def keys(self) -> int:
        """Keys with a durable record."""
        return len(self._records)
