"""The chosen values a node knows: a contiguous prefix up to ``commit``, and values learned
out of order above it. Cursors: ``base <= applied <= commit``.

``base`` is the snapshot boundary: slots up to it are covered by a state-machine snapshot
and not held here. Learning is idempotent; a second, different value at a slot is the one
thing Paxos exists to prevent, so it raises ``InvariantViolation``. Newly learned entries
wait in ``unstable`` until a ``Ready`` hands them to storage.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import InvariantViolation
from ..types import Entry, Index


class ChosenLog:
    __slots__ = ("_entries", "_last", "applied", "base", "commit", "unstable")

    def __init__(self, base: Index = 0, entries: Iterable[Entry] = ()) -> None:
        self.base = base
        self._entries: dict[Index, Entry] = {e.index: e for e in entries if e.index > base}
        self.commit = base
        self._last = max(self._entries, default=base)
        self._advance()
        self.applied = base
        self.unstable: list[Entry] = []

    def knows(self, slot: Index) -> bool:
        """Whether ``slot`` is known chosen (or covered by the snapshot)."""
        return slot <= self.base or slot in self._entries

    def get(self, slot: Index) -> Entry | None:
        """The chosen entry at ``slot``, if held (None when unknown or compacted)."""
        return self._entries.get(slot)

    def learn(self, entry: Entry) -> bool:
        """Record ``entry`` as chosen; True iff it is news."""
        slot = entry.index
        if slot <= self.base:
            return False
        old = self._entries.get(slot)
        if old is not None:
            if old != entry:
                raise InvariantViolation(f"slot {slot}: two values chosen, {old!r} and {entry!r}")
            return False
        self._entries[slot] = entry
        self._last = max(self._last, slot)
        self.unstable.append(entry)
        self._advance()
        return True

    def _advance(self) -> None:
        while self.commit + 1 in self._entries:
            self.commit += 1

    def run(self, first_slot: Index, limit: int) -> list[Entry]:
        """Up to ``limit`` chosen entries from ``first_slot`` on, stopping at a gap."""
        out: list[Entry] = []
        slot = first_slot
        while len(out) < limit:
            entry = self._entries.get(slot)
            if entry is None:
                break
            out.append(entry)
            slot += 1
        return out

    def next_committed(self, limit: int) -> list[Entry]:
        """The next entries to apply: ``applied + 1`` up to ``commit``, at most ``limit``."""
        hi = min(self.commit, self.applied + limit)
        return [self._entries[s] for s in range(self.applied + 1, hi + 1)]

    def applied_to(self, index: Index) -> None:
        if not self.applied <= index <= self.commit:
            raise InvariantViolation(
                f"applied index {index} outside [{self.applied}, {self.commit}]"
            )
        self.applied = index

    def compact(self, index: Index) -> None:
        """Forget the values up to ``index``: a local snapshot taken at an applied index
        stands for them."""
        if index <= self.base:
            return
        if index > self.applied:
            raise InvariantViolation(
                f"snapshot at index {index} is beyond the applied index {self.applied}"
            )
        self._drop_through(index)

    def install(self, index: Index) -> None:
        """A snapshot received from a peer stands for every slot up to ``index`` (which
        is above the commit index); ``applied`` follows once the driver installed it."""
        if index <= self.commit:
            raise InvariantViolation(
                f"installing a snapshot at {index}, not above the commit index {self.commit}"
            )
        self._drop_through(index)
        self.commit = index
        self._last = max(self._last, index)
        self._advance()

    def _drop_through(self, index: Index) -> None:
        if index - self.base > len(self._entries):
            for slot in [s for s in self._entries if s <= index]:
                del self._entries[slot]
        else:
            for slot in range(self.base + 1, index + 1):
                self._entries.pop(slot, None)
        self.base = index

    def last_slot(self) -> Index:
        return max(self.commit, self._last)
