"""The Raft log as a core holds it: a snapshot boundary, entries after it, and cursors.

Indexes: ``snapshot_index`` < ``first_index()`` <= ... <= ``last_index()``. Cursors:
``applied <= committed <= last_index()``, and ``stable`` is the last index handed to the
driver for persisting (entries after it go out in the next ``Ready``).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import InvariantViolation
from ..types import Entry, Index, SnapshotMeta, Term


class RaftLog:
    __slots__ = ("applied", "committed", "entries", "snapshot_index", "snapshot_term", "stable")

    def __init__(
        self,
        snapshot: SnapshotMeta | None = None,
        entries: Sequence[Entry] = (),
        committed: Index = 0,
    ) -> None:
        self.snapshot_index: Index = snapshot.index if snapshot else 0
        self.snapshot_term: Term = snapshot.term if snapshot else 0
        self.entries: list[Entry] = list(entries)
        for pos, e in enumerate(self.entries):
            if e.index != self.snapshot_index + 1 + pos:
                raise InvariantViolation(
                    f"recovered log is not contiguous at position {pos}: index {e.index}"
                )
        self.stable: Index = self.last_index()
        self.committed: Index = max(self.snapshot_index, min(committed, self.last_index()))
        self.applied: Index = self.snapshot_index

    # -- reading ----------------------------------------------------------------------
    def last_index(self) -> Index:
        return self.snapshot_index + len(self.entries)

    def first_index(self) -> Index:
        return self.snapshot_index + 1

    def last_term(self) -> Term:
        return self.entries[-1].term if self.entries else self.snapshot_term

    def term(self, index: Index) -> Term | None:
        """The term of the entry at ``index``, or None when compacted away or absent."""
        pos = index - self.snapshot_index - 1
        if pos >= 0:
            return self.entries[pos].term if pos < len(self.entries) else None
        return self.snapshot_term if pos == -1 else None

    def entry(self, index: Index) -> Entry:
        return self.entries[index - self.snapshot_index - 1]

    def slice(self, lo: Index, hi: Index) -> list[Entry]:
        """Entries with ``lo <= index < hi``; ``lo`` must be >= first_index()."""
        base = self.snapshot_index + 1
        return self.entries[lo - base : hi - base]

    def is_up_to_date(self, last_index: Index, last_term: Term) -> bool:
        """Raft's election restriction: is a log ending at (index, term) at least as
        up to date as this one?"""
        mine = self.last_term()
        return last_term > mine or (last_term == mine and last_index >= self.last_index())

    def conflict_hint(self, index: Index, term: Term) -> Index:
        """The largest index <= ``index`` whose term is <= ``term`` (fast back-off).

        Every entry after it has a larger term than ``term``, so none can match an entry
        of the asking log at ``term`` or below: the asker may skip straight past them.
        """
        index = min(index, self.last_index())
        while index > self.snapshot_index:
            t = self.term(index)
            if t is not None and t <= term:
                return index
            index -= 1
        return index

    def unstable(self) -> list[Entry]:
        return self.entries[self.stable - self.snapshot_index :]

    def next_committed(self, max_count: int) -> list[Entry]:
        """Committed entries not yet applied, at most ``max_count`` of them."""
        hi = min(self.committed, self.applied + max_count)
        return self.slice(self.applied + 1, hi + 1)

    # -- writing ----------------------------------------------------------------------
    def append(self, entry: Entry) -> None:
        if entry.index != self.last_index() + 1:
            raise InvariantViolation(f"append at {entry.index} after last {self.last_index()}")
        self.entries.append(entry)

    def try_append(
        self, prev_index: Index, prev_term: Term, entries: Sequence[Entry]
    ) -> Index | None:
        """The follower's consistency check and conflict rule (Figure 2, rules 2-4).

        Returns the last index now known to match the leader, or None when the log has
        no entry (prev_index, prev_term). Never truncates a committed entry.
        """
        if self.term(prev_index) != prev_term:
            return None
        last_new = prev_index + len(entries)
        for pos, e in enumerate(entries):
            mine = self.term(e.index)
            if mine == e.term:
                continue
            if mine is not None:
                if e.index <= self.committed:
                    raise InvariantViolation(
                        f"conflict at committed index {e.index} (committed {self.committed})"
                    )
                del self.entries[e.index - self.snapshot_index - 1 :]
                self.stable = min(self.stable, e.index - 1)
            self.entries.extend(entries[pos:])
            break
        return last_new

    def commit_to(self, index: Index) -> bool:
        """Raise the commit index (never lowers it). Returns whether it moved."""
        if index <= self.committed:
            return False
        if index > self.last_index():
            raise InvariantViolation(f"commit {index} beyond last index {self.last_index()}")
        self.committed = index
        return True

    def stable_to(self, index: Index, term: Term) -> None:
        """Entries up to (index, term) are persisted, if that entry is still ours."""
        if index > self.stable and self.term(index) == term:
            self.stable = index

    def applied_to(self, index: Index) -> None:
        if index > self.committed or index < self.applied:
            raise InvariantViolation(
                f"applied {index} outside [{self.applied}, committed {self.committed}]"
            )
        self.applied = index

    def restore(self, meta: SnapshotMeta) -> None:
        """Replace the whole log with a snapshot's boundary (InstallSnapshot)."""
        self.entries = []
        self.snapshot_index = meta.index
        self.snapshot_term = meta.term
        self.committed = meta.index
        self.stable = meta.index
        # applied moves when the driver acknowledges the Ready that carries the snapshot

    def compact(self, index: Index, term: Term) -> None:
        """Forget entries up to ``index`` (a local snapshot covers them)."""
        if index <= self.snapshot_index:
            return
        if index > self.applied:
            raise InvariantViolation(f"compact to {index} beyond applied {self.applied}")
        if self.term(index) != term:
            raise InvariantViolation(f"compact to ({index}, {term}) which is not in the log")
        del self.entries[: index - self.snapshot_index]
        self.snapshot_index = index
        self.snapshot_term = term
