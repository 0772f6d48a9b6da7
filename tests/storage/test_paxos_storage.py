"""PaxosFileStorage: the Multi-Paxos store on the WAL, against PaxosMemoryStorage."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from consensus.messages import AcceptedRecord, Ballot, PaxosHardState
from consensus.storage import (
    FileStorage,
    PaxosFileStorage,
    PaxosSimDiskStorage,
    Recovered,
    StorageError,
    WalOptions,
)
from consensus.storage.fs import CrashMode, SimFileSystem
from consensus.storage.paxos_memory import PaxosMemoryStorage
from consensus.types import Entry, Snapshot, SnapshotMeta

OPTIONS = WalOptions(segment_bytes_max=4096, buffer_bytes_max=1024)


def open_paxos(fs: SimFileSystem) -> PaxosFileStorage:
    return PaxosFileStorage.open("/p", cluster_id="c", node_id=1, fs=fs, options=OPTIONS)


def vote(ballot: Ballot, slot: int, data: bytes = b"v") -> AcceptedRecord:
    return AcceptedRecord(ballot, Entry(slot, ballot.as_term(), data))


def test_round_trip_and_compaction() -> None:
    fs = SimFileSystem(0)
    s = open_paxos(fs)
    b1, b2 = Ballot(1, 1), Ballot(2, 3)
    s.persist(PaxosHardState(b1, 0, tuple(vote(b1, k, b"x" * 80) for k in range(1, 60))), [], None)
    s.persist(
        PaxosHardState(b2, 40, (vote(b2, 3),)), [Entry(k, 65537, b"c") for k in range(1, 41)], None
    )
    s.sync()
    before = s.recover()
    assert before.hard_state is not None and before.hard_state.commit == 40
    assert before.hard_state.accepted[2] == vote(b2, 3)
    s.close()
    s = open_paxos(fs)
    assert s.recover() == before
    s.compact(Snapshot(SnapshotMeta(50, 65537, (1, 2, 3)), b"image"))
    fs.crash(CrashMode.POWER_LOSS)
    got = open_paxos(fs).recover()
    assert got.snapshot is not None and got.snapshot.meta.index == 50
    assert got.hard_state == PaxosHardState(
        b2, 50, tuple(vote(b1, k, b"x" * 80) for k in range(51, 60))
    )
    assert got.entries == ()
    assert "CHECKPOINT" in fs.list("/p")  # segments were deleted, the promise kept


def test_bad_batches_are_refused_before_anything_is_written() -> None:
    s = open_paxos(SimFileSystem(0))
    s.persist(PaxosHardState(Ballot(2, 1), 0, ()), [Entry(1, 5, b"a")], None)
    with pytest.raises(StorageError, match=r"slot 1: chosen value .* overwritten with"):
        s.persist(None, [Entry(2, 5, b"b"), Entry(1, 5, b"other")], None)
    with pytest.raises(StorageError, match=r"promised ballot went backwards: 2\.1 -> 1\.1"):
        s.persist(PaxosHardState(Ballot(1, 1), 0, ()), [], None)
    assert s.recover().entries == (Entry(1, 5, b"a"),)
    s.sync()  # still usable


def test_a_raft_data_dir_is_not_a_paxos_one() -> None:
    fs = SimFileSystem(0)
    FileStorage.open("/p", cluster_id="c", node_id=1, fs=fs).close()
    with pytest.raises(StorageError, match="data dir /p holds raft data, not multipaxos"):
        open_paxos(fs)


def test_sim_disk_crash_keeps_exactly_the_synced_state() -> None:
    disk = PaxosSimDiskStorage(3)
    disk.persist(PaxosHardState(Ballot(1, 1), 0, (vote(Ballot(1, 1), 1),)), [], None)
    disk.sync()
    synced = disk.recover()
    disk.persist(PaxosHardState(Ballot(4, 1), 1, ()), [Entry(1, 65537, b"v")], None)
    disk.crash()
    assert disk.recover() == synced


def memory_from(got: Recovered[PaxosHardState]) -> PaxosMemoryStorage:
    model = PaxosMemoryStorage()
    if got.hard_state is not None or got.snapshot is not None:
        model.persist(got.hard_state, got.entries, got.snapshot)
        model.sync()
    return model


class PaxosFileAgainstMemory(RuleBasedStateMachine):
    """Like test_stateful's machine: reads agree; a crash recovers a prefix state."""

    def __init__(self) -> None:
        super().__init__()
        self.fs = SimFileSystem(1)
        self.real = open_paxos(self.fs)
        self.shadow = PaxosMemoryStorage()  # synced after every micro-operation
        self.candidates = [self.shadow.recover()]
        self.ballot = Ballot(1, 1)
        self.values: dict[int, Entry] = {}
        self.commit = 0
        self.serial = 0

    def _base(self) -> int:
        snapshot = self.shadow.recover().snapshot
        return snapshot.meta.index if snapshot else 0

    def _persist(
        self, hard: PaxosHardState | None, chosen: Sequence[Entry], snapshot: Snapshot | None
    ) -> None:
        self.real.persist(hard, chosen, snapshot)
        steps: list[tuple[PaxosHardState | None, Sequence[Entry], Snapshot | None]] = []
        if snapshot is not None:
            steps.append((None, [], snapshot))
        steps += [(None, [e], None) for e in chosen]
        if hard is not None:
            steps.append((PaxosHardState(hard.promised, 0, ()), [], None))
            steps.append((PaxosHardState(hard.promised, hard.commit, ()), [], None))
            steps += [
                (PaxosHardState(hard.promised, hard.commit, (v,)), [], None) for v in hard.accepted
            ]
        for step in steps:
            self.shadow.persist(*step)
            self.shadow.sync()
            self.candidates.append(self.shadow.recover())

    def _restarted(self) -> None:
        got = self.real.recover()
        assert got in self.candidates
        self.shadow = memory_from(got)
        self.candidates = [self.shadow.recover()]

    @rule(
        first=st.integers(1, 8),
        count=st.integers(1, 6),
        new_ballot=st.booleans(),
        size=st.integers(1, 300),
    )
    def accept(self, first: int, count: int, new_ballot: bool, size: int) -> None:
        if new_ballot:
            self.ballot = Ballot(self.ballot.round + 1, 1 + self.ballot.round % 3)
        base = self._base()
        self.serial += 1
        votes = []
        for slot in range(base + first, base + first + count):
            entry = self.values.get(slot) or Entry(
                slot, self.ballot.as_term(), f"{self.serial}".encode().ljust(size, b".")
            )
            votes.append(AcceptedRecord(self.ballot, entry))
        self._persist(PaxosHardState(self.ballot, self.commit, tuple(votes)), [], None)

    @rule(first=st.integers(1, 8), count=st.integers(1, 6))
    def choose(self, first: int, count: int) -> None:
        base = self._base()
        chosen = []
        for slot in range(base + first, base + first + count):
            entry = self.values.setdefault(slot, Entry(slot, self.ballot.as_term(), b"chosen"))
            chosen.append(entry)
        self.commit = max(self.commit, base + first - 1)
        self._persist(PaxosHardState(self.ballot, self.commit, ()), chosen, None)

    @rule()
    def sync(self) -> None:
        self.real.sync()
        self.candidates = [self.shadow.recover()]

    @rule(mode=st.sampled_from(list(CrashMode)))
    def crash(self, mode: CrashMode) -> None:
        self.fs.crash(mode)
        self.real = open_paxos(self.fs)
        self._restarted()

    @rule()
    def restart(self) -> None:
        self.real.close()
        self.real = open_paxos(self.fs)
        self._restarted()

    @rule(ahead=st.integers(1, 10), local=st.booleans())
    def snapshot(self, ahead: int, local: bool) -> None:
        index = self._base() + ahead
        snapshot = Snapshot(SnapshotMeta(index, self.ballot.as_term(), (1, 2, 3)), b"img")
        if local:
            self.real.compact(snapshot)
            self.shadow.compact(snapshot)
            self.candidates = [self.shadow.recover()]
        else:
            self._persist(PaxosHardState(self.ballot, self.commit, ()), [], snapshot)

    @invariant()
    def states_agree(self) -> None:
        assert self.real.recover() == self.shadow.recover()


PaxosFileAgainstMemory.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestPaxosFileAgainstMemory = PaxosFileAgainstMemory.TestCase
