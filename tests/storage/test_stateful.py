"""Hypothesis: FileStorage on the simulated disk against MemoryStorage as the model,
under random appends, overwrites, syncs, crashes, restarts, snapshots and compaction.

Reads must agree at every step. After a crash, the file store must recover the state
after some prefix of the micro-operations (snapshot, each entry, hard state) issued since
the last sync, at least the synced state. It may keep more than was synced: sealing a
full segment and storing a snapshot both sync what came before. The model then restarts
from what the file store recovered, and the comparison goes on.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from consensus.storage import FileStorage, MemoryStorage, Recovered, StorageError, WalOptions
from consensus.storage.fs import CrashMode, SimFileSystem
from consensus.types import Entry, HardState, Snapshot, SnapshotMeta

from .workload import describe

OPTIONS = WalOptions(segment_bytes_max=4096, buffer_bytes_max=2048)


def memory_from(state: Recovered[HardState]) -> MemoryStorage:
    model = MemoryStorage()
    model.persist(state.hard_state, state.entries, state.snapshot)
    model.sync()
    return model


class FileAgainstMemory(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.model = MemoryStorage()  # everything persisted; durable = synced
        self.shadow = MemoryStorage()  # synced after every micro-operation
        self.candidates: list[Recovered[HardState]] = [self.shadow.recover()]
        self.fs = SimFileSystem(0)
        self.real = self._open()
        self.term = 1
        self.serial = 0

    def _open(self) -> FileStorage:
        return FileStorage.open("/d", cluster_id="h", node_id=1, fs=self.fs, options=OPTIONS)

    def _persist(
        self, hard: HardState | None, batch: Sequence[Entry], snapshot: Snapshot | None
    ) -> None:
        self.model.persist(hard, batch, snapshot)
        self.real.persist(hard, batch, snapshot)
        steps: list[tuple[HardState | None, Sequence[Entry], Snapshot | None]] = []
        if snapshot is not None:
            steps.append((None, [], snapshot))
        steps += [(None, [e], None) for e in batch]
        if hard is not None:
            steps.append((hard, [], None))
        for step in steps:
            self.shadow.persist(*step)
            self.shadow.sync()
            self.candidates.append(self.shadow.recover())

    def _synced(self) -> None:
        self.candidates = [self.shadow.recover()]

    def _restarted(self) -> None:
        got = self.real.recover()
        assert got in self.candidates, (
            f"recovered {describe(got)}\nnot a prefix state; the synced state was "
            f"{describe(self.candidates[0])}"
        )
        self.model = memory_from(got)
        self.shadow = memory_from(got)
        self._synced()

    @rule(
        count=st.integers(1, 12),
        back=st.integers(0, 6),
        size=st.integers(0, 400),
        new_term=st.booleans(),
        with_hard_state=st.booleans(),
    )
    def append(
        self, count: int, back: int, size: int, new_term: bool, with_hard_state: bool
    ) -> None:
        if new_term:
            self.term += 1
        first = max(self.model.first_index(), self.model.last_index() + 1 - back)
        self.serial += 1
        batch = [
            Entry(i, self.term, f"{self.serial}/{i}".encode().ljust(size, b"~"))
            for i in range(first, first + count)
        ]
        hard = HardState(self.term, 1 + self.serial % 3, first - 1) if with_hard_state else None
        self._persist(hard, batch, None)

    @rule()
    def sync(self) -> None:
        self.model.sync()
        self.real.sync()
        self._synced()

    @rule(mode=st.sampled_from(list(CrashMode)))
    def crash(self, mode: CrashMode) -> None:
        self.fs.crash(mode)
        self.real = self._open()
        self._restarted()

    @rule(mode=st.sampled_from(list(CrashMode)))
    def failed_fsync_then_crash(self, mode: CrashMode) -> None:
        """An fsync fails (EIO, dirty pages dropped): the store refuses to go on; the node
        restarts after a crash of any kind and must find a prefix state, durable."""
        nxt = self.model.last_index() + 1
        self._persist(HardState(self.term, None, 0), [Entry(nxt, self.term, b"doomed")], None)
        self.fs.fail_next_fsync()
        with pytest.raises(StorageError, match=r"fsync of .* failed"):
            self.real.sync()
        with pytest.raises(StorageError, match="unusable after an earlier failure"):
            self.real.persist(None, [], None)
        self.fs.crash(mode)
        self.real = self._open()
        self._restarted()

    @rule()
    def restart(self) -> None:
        self.real.close()
        self.real = self._open()
        assert self.real.recover() == self.candidates[-1]
        self._restarted()

    @precondition(lambda self: self.model.last_index() >= self.model.first_index())
    @rule(data=st.data())
    def compact(self, data: st.DataObject) -> None:
        index = data.draw(st.integers(self.model.first_index(), self.model.last_index()))
        snapshot = Snapshot(SnapshotMeta(index, self.model.term(index), (1, 2, 3)), b"s")
        self.model.compact(snapshot)
        self.real.compact(snapshot)
        self.shadow.compact(snapshot)
        self._synced()

    @rule(ahead=st.integers(-3, 4), matching=st.booleans())
    def receive_snapshot(self, ahead: int, matching: bool) -> None:
        index = max(self.model.first_index(), self.model.last_index() + ahead)
        if matching and index <= self.model.last_index():
            term = self.model.term(index)
        else:
            self.term += 1
            term = self.term
        snapshot = Snapshot(SnapshotMeta(index, term, (1, 2, 3)), f"leader@{index}".encode())
        self._persist(HardState(self.term, None, index), [], snapshot)

    @invariant()
    def reads_agree(self) -> None:
        model, real = self.model, self.real
        assert (real.first_index(), real.last_index()) == (model.first_index(), model.last_index())
        lo, hi = model.first_index(), model.last_index() + 1
        assert real.entries(lo, hi) == model.entries(lo, hi)
        assert real.term(lo - 1) == model.term(lo - 1)
        assert real.hard_state() == model.hard_state()
        assert real.snapshot() == model.snapshot()


FileAgainstMemory.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestFileAgainstMemory = FileAgainstMemory.TestCase


class FileAgainstMemoryLong(FileAgainstMemory):
    pass


FileAgainstMemoryLong.TestCase.settings = settings(
    FileAgainstMemory.TestCase.settings, max_examples=2000, stateful_step_count=100
)
TestFileAgainstMemoryLong = pytest.mark.slow(FileAgainstMemoryLong.TestCase)
