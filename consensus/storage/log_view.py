"""The Raft log as storage holds it in memory: entries after a snapshot point.

Both :class:`~consensus.storage.memory.MemoryStorage` and the file-backed storage keep
their current log in a :class:`LogView` and answer reads from it (like etcd's
``MemoryStorage``; the WAL is only written, and read back on recovery).

Invariants: ``entries[k].index == offset + 1 + k``; ``offset_term`` is the term of the
entry at ``offset`` (the snapshot's last included entry; 0 for the empty log's sentinel).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..types import Entry, Index, Term
from .base import LogCompacted, LogUnavailable


def check_append(entries: Sequence[Entry], offset: Index, last: Index) -> None:
    """Raise ``ValueError`` unless ``entries`` may be appended with the Raft rule to a log
    holding ``offset + 1 .. last``: consecutive indexes starting at most at ``last + 1``
    and after ``offset``."""
    if not entries:
        return
    first = entries[0].index
    if first > last + 1:
        raise ValueError(f"entries start at {first}, leaving a gap after the last index {last}")
    if first <= offset:
        raise ValueError(f"entries start at {first}, inside the snapshot ending at {offset}")
    for k, entry in enumerate(entries):
        if entry.index != first + k:
            raise ValueError(
                f"entries are not consecutive: index {entry.index} follows {first + k - 1}"
            )


class LogView:
    """Entries ``offset + 1 .. last_index()`` in memory, plus the snapshot point."""

    __slots__ = ("entries", "offset", "offset_term")

    def __init__(self, offset: Index = 0, offset_term: Term = 0) -> None:
        self.entries: list[Entry] = []
        self.offset = offset
        self.offset_term = offset_term

    def copy(self) -> LogView:
        view = LogView(self.offset, self.offset_term)
        view.entries = list(self.entries)
        return view

    # -- reads ----------------------------------------------------------------------
    def first_index(self) -> Index:
        return self.offset + 1

    def last_index(self) -> Index:
        return self.offset + len(self.entries)

    def term(self, index: Index) -> Term:
        """The term of the entry at ``index`` (the snapshot's term at ``offset``)."""
        if index == self.offset:
            return self.offset_term
        if index < self.offset:
            raise LogCompacted(f"index {index} is compacted (the log starts after {self.offset})")
        last = self.last_index()
        if index > last:
            raise LogUnavailable(f"index {index} is past the last index {last}")
        return self.entries[index - self.offset - 1].term

    def slice(self, lo: Index, hi: Index, bytes_max: int | None = None) -> list[Entry]:
        """Entries ``lo .. hi - 1``; with ``bytes_max``, stop before the entry that would
        take the total data size past it (but always return at least one entry)."""
        if lo > hi:
            raise ValueError(f"empty range: lo {lo} > hi {hi}")
        if lo <= self.offset:
            raise LogCompacted(f"index {lo} is compacted (the log starts after {self.offset})")
        last = self.last_index()
        if hi > last + 1:
            raise LogUnavailable(f"index {hi - 1} is past the last index {last}")
        found = self.entries[lo - self.offset - 1 : hi - self.offset - 1]
        if bytes_max is not None:
            total = 0
            for k, entry in enumerate(found):
                total += len(entry.data)
                if total > bytes_max and k > 0:
                    return found[:k]
        return found

    def matches(self, index: Index, term: Term) -> bool:
        """Whether the log holds an entry at ``index`` (after ``offset``) with ``term``."""
        pos = index - self.offset - 1
        return 0 <= pos < len(self.entries) and self.entries[pos].term == term

    # -- writes ---------------------------------------------------------------------
    def append(self, entries: Sequence[Entry]) -> None:
        """Append with the Raft rule: the first new entry replaces its index and every
        later one. ``ValueError`` (and no change) for entries that do not fit."""
        if not entries:
            return
        check_append(entries, self.offset, self.last_index())
        del self.entries[entries[0].index - self.offset - 1 :]
        self.entries.extend(entries)

    def install(self, index: Index, term: Term) -> bool:
        """Make ``(index, term)`` the snapshot point. Entries after it are kept if the log
        holds ``(index, term)``; otherwise the whole log is dropped. Returns True if the
        log was dropped (a reset)."""
        keep = self.matches(index, term)
        self.entries = self.entries[index - self.offset :] if keep else []
        self.offset = index
        self.offset_term = term
        return not keep
