"""In-memory Multi-Paxos storage that models a disk honestly: unsynced writes die in a crash.

What it keeps (the Paxos meaning of ``persist(hard_state, entries, snapshot)``):

- ``hard_state`` is a :class:`PaxosHardState` *delta*: its ``promised`` ballot and
  ``commit`` index replace the stored ones; its ``accepted`` votes are written by slot (a
  later vote for a slot replaces the earlier one).
- ``entries`` are chosen values, written by slot; a slot's chosen value never changes, so
  a second write of a slot must be the same entry.
- ``snapshot`` (or :meth:`compact`) drops every vote and chosen value at or below its
  index.

``sync`` applies the batches queued since the last sync, so its cost is proportional to
them, not to what is stored. ``recover`` returns the whole durable state: the hard state
with every stored vote by slot, the snapshot, and the chosen entries by slot.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..messages import AcceptedRecord, PaxosHardState
from ..types import Entry, Index, Snapshot
from .base import Recovered, StorageError

_Batch = tuple[PaxosHardState | None, Sequence[Entry], Snapshot | None]


class PaxosMemoryStorage:
    """Paxos storage in memory; implements the simulator's ``SimStorage``."""

    def __init__(self) -> None:
        self._promised = PaxosHardState().promised
        self._commit: Index = 0
        self._votes: dict[Index, AcceptedRecord] = {}
        self._chosen: dict[Index, Entry] = {}
        self._snapshot: Snapshot | None = None
        self._pending: list[_Batch] = []
        self._written = False
        self.syncs = 0

    def persist(
        self,
        hard_state: PaxosHardState | None,
        entries: Sequence[Entry],
        snapshot: Snapshot | None,
    ) -> None:
        """Queue a batch (not durable until :meth:`sync`)."""
        self._pending.append((hard_state, entries, snapshot))

    def sync(self) -> None:
        """Make every queued batch durable, in order."""
        self.syncs += 1
        for hard_state, entries, snapshot in self._pending:
            if snapshot is not None:
                self._install(snapshot)
            base = self._base()
            for entry in entries:
                if entry.index <= base:
                    continue
                old = self._chosen.get(entry.index)
                if old is not None and old != entry:
                    raise StorageError(
                        f"slot {entry.index}: chosen value {old!r} overwritten with {entry!r}"
                    )
                self._chosen[entry.index] = entry
            if hard_state is not None:
                if hard_state.promised < self._promised:
                    raise StorageError(
                        f"promised ballot went backwards: {self._promised} -> {hard_state.promised}"
                    )
                self._promised = hard_state.promised
                self._commit = max(self._commit, hard_state.commit)
                for vote in hard_state.accepted:
                    if vote.slot > base:
                        self._votes[vote.slot] = vote
            self._written = True
        self._pending.clear()

    def _base(self) -> Index:
        return self._snapshot.meta.index if self._snapshot is not None else 0

    def _install(self, snapshot: Snapshot) -> None:
        index = snapshot.meta.index
        if index <= self._base():
            return
        self._snapshot = snapshot
        for slot in [s for s in self._votes if s <= index]:
            del self._votes[slot]
        for slot in [s for s in self._chosen if s <= index]:
            del self._chosen[slot]
        self._commit = max(self._commit, index)

    def compact(self, snapshot: Snapshot) -> None:
        """Store ``snapshot`` and drop what it covers; durable when it returns."""
        self.sync()
        self._install(snapshot)
        self._written = True

    def recover(self) -> Recovered[PaxosHardState]:
        """The durable state: what a node restarted now would start from."""
        if not self._written:
            return Recovered()
        votes = tuple(self._votes[s] for s in sorted(self._votes))
        commit = self._commit
        while commit + 1 in self._chosen:  # chosen values may have been synced after
            commit += 1
        return Recovered(
            PaxosHardState(self._promised, commit, votes),
            self._snapshot,
            tuple(self._chosen[s] for s in sorted(self._chosen)),
        )

    def crash(self) -> None:
        """Forget every batch persisted since the last ``sync``."""
        self._pending.clear()
