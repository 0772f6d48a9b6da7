"""The acceptor of ``paxos-lwt``: one :class:`~consensus.messages.lwt.LwtRecord` per key.

Rules (single-decree Paxos, per key):

- promise ``b`` iff ``b >= promised``; the promise carries the accepted ballot and state
  (a repeated prepare of the promised ballot is answered again: it promises nothing new);
- accept ``(b, state)`` iff ``b >= promised``; then ``promised = accepted = b``;
- otherwise refuse with the promised ballot (``LwtNack``);
- forget a key (:meth:`LwtAcceptor.purge`) only when its record is a tombstone accepted
  and promised at exactly the ballot that every node accepted; the node-wide ``floor``
  is raised to that ballot first.

A key without a record behaves as ``LwtRecord(key, promised=floor)``: promised at the
floor, nothing accepted, value absent. Why forgetting a key this way is safe is in
``docs/lwt.md``.

Every change is recorded for the core's next ``Ready`` (:meth:`take_delta`); the core
sends the answer only after that batch is persisted and synced, so no promise or
acceptance leaves the node before the state it vouches for is durable.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..messages.lwt import LwtRecord
from ..messages.paxos import ZERO_BALLOT, Ballot


def order(ballot: Ballot) -> tuple[int, int]:
    """``ballot``'s sort key: comparing these tuples is much cheaper than comparing the
    attrs records, and this runs for every message."""
    return (ballot.round, ballot.node)


class LwtAcceptor:
    """Acceptor records by key, the floor, and the changes since :meth:`take_delta`."""

    def __init__(self, records: Iterable[LwtRecord] = (), floor: Ballot = ZERO_BALLOT) -> None:
        self._records: dict[bytes, LwtRecord] = {}
        for record in records:
            if order(record.accepted) > order(record.promised):
                raise ValueError(
                    f"acceptor record for key {record.key!r} accepted {record.accepted} "
                    f"above its promise {record.promised}"
                )
            self._records[record.key] = record
        self.floor = floor
        self.changed: dict[bytes, LwtRecord] = {}
        self.purged: dict[bytes, LwtRecord] = {}
        self.floor_changed = False

    def record(self, key: bytes) -> LwtRecord:
        found = self._records.get(key)
        return found if found is not None else LwtRecord(key, self.floor)

    def __len__(self) -> int:
        return len(self._records)

    def records(self) -> Iterable[LwtRecord]:
        return self._records.values()

    def highest_round(self) -> int:
        """The highest ballot round in any record or the floor (0 if none)."""
        top = max((r.promised.round for r in self._records.values()), default=0)
        return max(top, self.floor.round)

    @property
    def dirty(self) -> bool:
        return bool(self.changed) or bool(self.purged) or self.floor_changed

    def _store(self, record: LwtRecord) -> None:
        self._records[record.key] = record
        self.changed[record.key] = record

    def prepare(self, key: bytes, ballot: Ballot) -> LwtRecord | Ballot:
        """Phase 1b: the (possibly updated) record to promise from, or the higher
        promised ballot that refuses ``ballot``."""
        rec = self.record(key)
        b, p = order(ballot), order(rec.promised)
        if b < p:
            return rec.promised
        if b > p or key not in self._records:
            rec = LwtRecord(key, ballot, rec.accepted, rec.value, rec.writer, rec.base)
            self._store(rec)
        return rec

    def accept(
        self, key: bytes, ballot: Ballot, value: bytes | None, writer: Ballot, base: Ballot
    ) -> Ballot | None:
        """Phase 2b: None if accepted, else the higher promised ballot that refuses it."""
        rec = self.record(key)
        if order(ballot) < order(rec.promised):
            return rec.promised
        if rec.accepted == ballot and key in self._records:
            return None  # a duplicate of an accept already taken: same ballot, same state
        self._store(LwtRecord(key, ballot, ballot, value, writer, base))
        return None

    def purge(self, key: bytes, ballot: Ballot) -> bool:
        """Forget ``key`` if its record is the tombstone accepted (and promised) in
        ``ballot``, which every node accepted; True if it was forgotten."""
        rec = self._records.get(key)
        if rec is None or rec.value is not None:
            return False
        if rec.accepted != ballot or rec.promised != ballot:
            return False
        if order(ballot) > order(self.floor):
            self.floor = ballot
            self.floor_changed = True
        del self._records[key]
        self.changed.pop(key, None)
        self.purged[key] = rec
        return True

    def take_delta(self) -> tuple[tuple[LwtRecord, ...], tuple[LwtRecord, ...], Ballot | None]:
        """(changed records by key, forgotten records by key, the new floor or None) since
        the last call; forgets them."""
        changed = tuple(self.changed[k] for k in sorted(self.changed))
        purged = tuple(self.purged[k] for k in sorted(self.purged))
        floor = self.floor if self.floor_changed else None
        self.changed.clear()
        self.purged.clear()
        self.floor_changed = False
        return changed, purged, floor
