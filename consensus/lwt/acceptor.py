"""The acceptor of ``paxos-lwt``: one :class:`~consensus.messages.lwt.LwtRecord` per key.

Rules (single-decree Paxos, per key):

- promise ``b`` iff ``b >= promised``; the promise carries the accepted ballot and state
  (a repeated prepare of the promised ballot is answered again: it promises nothing new);
- accept ``(b, state)`` iff ``b >= promised``; then ``promised = accepted = b``;
- otherwise refuse with the promised ballot (``LwtNack``).

Every change is recorded in :attr:`changed` for the core's next ``Ready``; the core sends
the answer only after that batch is persisted and synced, so no promise or acceptance
leaves the node before the state it vouches for is durable.

Keys with no record behave as ``LwtRecord(key)``: nothing promised, nothing accepted,
value absent. Records are kept for every key ever touched (see ``docs/lwt.md``:
memory grows with the number of keys, one bounded record each).
"""

from __future__ import annotations

from collections.abc import Iterable

from ..messages.lwt import LwtRecord
from ..messages.paxos import Ballot


def order(ballot: Ballot) -> tuple[int, int]:
    """``ballot``'s sort key: comparing these tuples is much cheaper than comparing the
    attrs records, and this runs for every message."""
    return (ballot.round, ballot.node)


class LwtAcceptor:
    """Acceptor records by key, plus the records changed since :meth:`take_changed`."""

    def __init__(self, records: Iterable[LwtRecord] = ()) -> None:
        self._records: dict[bytes, LwtRecord] = {}
        for record in records:
            if record.accepted > record.promised:
                raise ValueError(
                    f"acceptor record for key {record.key!r} accepted {record.accepted} "
                    f"above its promise {record.promised}"
                )
            self._records[record.key] = record
        self.changed: dict[bytes, LwtRecord] = {}

    def record(self, key: bytes) -> LwtRecord:
        found = self._records.get(key)
        return found if found is not None else LwtRecord(key)

    def __len__(self) -> int:
        return len(self._records)

    def records(self) -> Iterable[LwtRecord]:
        return self._records.values()

    def highest_round(self) -> int:
        """The highest ballot round in any record (0 if none)."""
        return max((r.promised.round for r in self._records.values()), default=0)

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
        if b > p:
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
        if rec.accepted == ballot:
            return None  # a duplicate of an accept already taken: same ballot, same state
        self._store(LwtRecord(key, ballot, ballot, value, writer, base))
        return None

    def take_changed(self) -> tuple[LwtRecord, ...]:
        """The records changed since the last call, by key order, and forget them."""
        out = tuple(self.changed[k] for k in sorted(self.changed))
        self.changed.clear()
        return out
