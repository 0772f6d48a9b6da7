"""PaxosMemoryStorage (only synced state survives a crash; hard states are deltas) and
the wire encoding of Paxos records."""

from __future__ import annotations

import pytest

from consensus.codec import WIRE, WIRE_TABLE
from consensus.messages import (
    PAXOS_RECORDS,
    Accept,
    AcceptedRecord,
    Ballot,
    ChosenSnapshot,
    PaxosHardState,
    PaxosHeartbeat,
    Promise,
)
from consensus.storage.base import Recovered, StorageError
from consensus.storage.paxos_memory import PaxosMemoryStorage
from consensus.types import Entry, EntryKind, Snapshot, SnapshotMeta

B1, B2 = Ballot(1, 1), Ballot(2, 3)


def vote(ballot: Ballot, slot: int, data: bytes = b"v") -> AcceptedRecord:
    return AcceptedRecord(ballot, Entry(slot, ballot.as_term(), data))


def test_fresh_storage_recovers_nothing() -> None:
    assert PaxosMemoryStorage().recover() == Recovered()


def test_only_synced_batches_survive_a_crash() -> None:
    s = PaxosMemoryStorage()
    s.persist(PaxosHardState(B1, 0, (vote(B1, 1),)), [], None)
    s.sync()
    s.persist(PaxosHardState(B2, 0, (vote(B2, 2),)), [], None)
    s.crash()
    assert s.recover() == Recovered(PaxosHardState(B1, 0, (vote(B1, 1),)), None, ())


def test_hard_states_are_deltas_merged_by_slot() -> None:
    s = PaxosMemoryStorage()
    s.persist(PaxosHardState(B1, 0, (vote(B1, 1), vote(B1, 2))), [], None)
    s.persist(PaxosHardState(B2, 0, (vote(B2, 2, b"w"),)), [], None)
    s.sync()
    rec = s.recover()
    assert rec.hard_state == PaxosHardState(B2, 0, (vote(B1, 1), vote(B2, 2, b"w")))


def test_chosen_values_are_stored_by_slot_and_commit_is_their_prefix() -> None:
    s = PaxosMemoryStorage()
    e1, e2, e4 = Entry(1, 5, b"a"), Entry(2, 5, b"b"), Entry(4, 5, b"d")
    s.persist(None, [e4, e2], None)
    s.persist(PaxosHardState(B1, 0, ()), [e1, e2], None)  # e2 again: the same value
    s.sync()
    rec = s.recover()
    assert rec.entries == (e1, e2, e4)
    assert rec.hard_state is not None and rec.hard_state.commit == 2


def test_a_snapshot_drops_the_votes_and_values_it_covers() -> None:
    s = PaxosMemoryStorage()
    s.persist(PaxosHardState(B1, 2, (vote(B1, 3), vote(B1, 4))), [Entry(1, 5), Entry(2, 5)], None)
    snap = Snapshot(SnapshotMeta(3, 5, (1, 2, 3)), b"image")
    s.persist(None, [Entry(3, 5)], snap)
    s.sync()
    rec = s.recover()
    assert rec.snapshot == snap and rec.entries == ()
    assert rec.hard_state == PaxosHardState(B1, 3, (vote(B1, 4),))


def test_compaction_is_durable_at_once_and_an_older_one_is_ignored() -> None:
    s = PaxosMemoryStorage()
    s.persist(PaxosHardState(B1, 3, ()), [Entry(k, 5) for k in (1, 2, 3)], None)
    s.compact(Snapshot(SnapshotMeta(2, 5, (1,)), b"two"))
    s.compact(Snapshot(SnapshotMeta(1, 5, (1,)), b"one"))
    s.crash()
    rec = s.recover()
    assert rec.snapshot is not None and rec.snapshot.data == b"two"
    assert rec.entries == (Entry(3, 5),)


def test_a_promise_going_back_is_refused() -> None:
    s = PaxosMemoryStorage()
    s.persist(PaxosHardState(B2), [], None)
    s.persist(PaxosHardState(B1), [], None)
    with pytest.raises(StorageError, match=r"promised ballot went backwards: 2\.3 -> 1\.1"):
        s.sync()


def test_a_chosen_value_is_never_overwritten() -> None:
    s = PaxosMemoryStorage()
    s.persist(None, [Entry(1, 5, b"a")], None)
    s.persist(None, [Entry(1, 6, b"b")], None)
    with pytest.raises(StorageError, match=r"slot 1: chosen value .* overwritten"):
        s.sync()


# -- codec ------------------------------------------------------------------------------
def test_paxos_records_have_the_type_ids_64_onwards() -> None:
    assert [WIRE_TABLE[64 + i] for i in range(len(PAXOS_RECORDS))] == list(PAXOS_RECORDS)
    assert 64 + len(PAXOS_RECORDS) <= 96
    assert WIRE_TABLE[64] is Ballot and WIRE_TABLE[67].__name__ == "Prepare"


@pytest.mark.parametrize(
    "record",
    [
        PaxosHardState(B2, 7, (vote(B1, 8), vote(B2, 9, b"x"))),
        Promise(1, 2, B2, 3, 2, (vote(B1, 3),)),
        Accept(1, 2, B1, (Entry(5, B1.as_term(), b"", EntryKind.NOOP),), 4),
        PaxosHeartbeat(1, 3, B1, 9, b"ctx"),
        PaxosHeartbeat(1, 3, B1, 9, None),
        ChosenSnapshot(1, 2, Snapshot(SnapshotMeta(4, 9, (1, 2, 3)), b"img"), 6),
    ],
)
def test_paxos_records_round_trip(record: object) -> None:
    assert WIRE.decode(WIRE.encode(record)) == record
