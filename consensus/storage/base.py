"""The storage interface: what a protocol core needs kept across crashes.

A driver hands each ``Ready`` batch to :meth:`CoreStorage.persist`, then calls
:meth:`CoreStorage.sync` when ``ready.must_sync``. Only synced state is promised to
survive a crash; :meth:`CoreStorage.recover` returns exactly the state a restarted node
starts from.

Semantics of ``persist(hard_state, entries, snapshot)`` for the Raft log:
- ``snapshot`` (if any) is applied first: it replaces every entry it covers, and if the
  log does not contain an entry matching (meta.index, meta.term) the whole log is dropped.
- ``entries`` are appended; the first one's index must be <= last index + 1, and it
  replaces the entry at that index and every later one (the Raft conflict rule).
- ``hard_state`` (if any) replaces the stored hard state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, Protocol, TypeVar

import attrs

from ..types import Entry, HardState, Snapshot

HS = TypeVar("HS")


class StorageError(Exception):
    """Storage cannot go on (fsync failed, corruption found). The node must stop."""


@attrs.frozen(slots=True)
class Recovered(Generic[HS]):
    """What a node restarts from: hard state, latest snapshot, entries after it."""

    hard_state: HS | None = None
    snapshot: Snapshot | None = None
    entries: tuple[Entry, ...] = ()


class CoreStorage(Protocol[HS]):
    def persist(
        self, hard_state: HS | None, entries: Sequence[Entry], snapshot: Snapshot | None
    ) -> None:
        """Record a batch (in order, not yet durable)."""

    def sync(self) -> None:
        """Make everything persisted so far durable; raises ``StorageError`` on failure."""

    def recover(self) -> Recovered[HS]:
        """The durable state, as a restarted node sees it."""
        ...

    def compact(self, snapshot: Snapshot) -> None:
        """Store ``snapshot`` (taken by the local state machine) and drop the entries it
        covers. Durable when it returns."""


RaftStorage = CoreStorage[HardState]
