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

Raft stores also answer reads (:class:`LogReader`): the log as persisted so far, synced
or not (a process reads its own writes; a crash takes unsynced ones away again).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from typing import Protocol, TypeVar

from ..core import Recovered as Recovered
from ..types import Entry, HardState, Index, Snapshot, Term

HS = TypeVar("HS")


class StorageError(Exception):
    """Storage cannot go on (fsync failed, corruption found). The node must stop."""


def describe_failure(exc: BaseException) -> str:
    """A failed I/O call for people: ``Input/output error (EIO)`` for an ``OSError`` with
    an errno, its message otherwise (never a Python repr)."""
    if isinstance(exc, OSError) and exc.errno is not None:
        name = errno.errorcode.get(exc.errno, str(exc.errno))
        text = exc.strerror or os.strerror(exc.errno)
        return f"{text} ({name})" + (f": {exc.filename}" if exc.filename else "")
    return str(exc) or type(exc).__name__


class LogCompacted(LookupError):
    """The requested index is covered by the snapshot: its entry is gone."""


class LogUnavailable(LookupError):
    """The requested index is past the last stored entry."""


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


class LogReader(Protocol):
    """Reads of a Raft log store. Indexes: the snapshot covers ``.. first_index() - 1``;
    entries ``first_index() .. last_index()`` are stored (none if first > last)."""

    def first_index(self) -> Index: ...

    def last_index(self) -> Index: ...

    def term(self, index: Index) -> Term:
        """Term at ``index``, for ``first_index() - 1 .. last_index()`` (the snapshot's
        term at ``first_index() - 1``; 0 at index 0). ``LogCompacted`` below that range,
        ``LogUnavailable`` above it."""
        ...

    def entries(self, lo: Index, hi: Index, bytes_max: int | None = None) -> list[Entry]:
        """Entries ``lo .. hi - 1``. With ``bytes_max``, the longest prefix whose data
        fits (at least one entry). ``LogCompacted`` if ``lo < first_index()``,
        ``LogUnavailable`` if ``hi > last_index() + 1``."""
        ...

    def snapshot(self) -> Snapshot | None:
        """The latest snapshot (state-machine image and its meta), if any."""
        ...

    def hard_state(self) -> HardState | None: ...


class RaftLogStorage(CoreStorage[HardState], LogReader, Protocol):
    """A Raft store: persist/sync/recover/compact plus reads."""


RaftStorage = CoreStorage[HardState]
