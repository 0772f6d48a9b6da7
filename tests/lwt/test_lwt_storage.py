"""paxos-lwt storage: the same checks over the memory store and the WAL-backed file store,
then what only the file store has (images that bound the log, recovery, refusals)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any

import pytest

from consensus.messages.lwt import LwtHardState, LwtRecord
from consensus.messages.paxos import ZERO_BALLOT, Ballot
from consensus.storage import Recovered, StorageError, WalOptions
from consensus.storage.fs import CrashMode, SimFileSystem, SimulatedCrash
from consensus.storage.lwt_memory import LwtMemoryStorage
from consensus.storage.wal.lwt_file_storage import LwtFileStorage
from consensus.types import Entry

from .harness import Net, cas, get, put

OPTIONS = WalOptions(segment_bytes_max=4096, buffer_bytes_max=1024)


def rec(key: bytes, rnd: int, value: bytes | None = b"v", node: int = 1) -> LwtRecord:
    b = Ballot(rnd, node)
    return LwtRecord(key, b, b, value, b, ZERO_BALLOT)


class MemoryHarness:
    def __init__(self) -> None:
        self.storage: Any = LwtMemoryStorage()

    def restart(self) -> None:
        """A clean stop and start: the memory store keeps what was synced."""

    def crash(self, mode: CrashMode = CrashMode.POWER_LOSS) -> None:
        self.storage.crash()


class FileHarness:
    def __init__(self, seed: int = 0, compact_bytes: int = 1 << 20) -> None:
        self.fs = SimFileSystem(seed)
        self.compact_bytes = compact_bytes
        self.storage: Any = self.open()

    def open(self) -> LwtFileStorage:
        return LwtFileStorage.open(
            "/lwt",
            cluster_id="c",
            node_id=1,
            fs=self.fs,
            options=OPTIONS,
            compact_bytes=self.compact_bytes,
        )

    def restart(self) -> None:
        self.storage.close()
        self.storage = self.open()

    def crash(self, mode: CrashMode = CrashMode.POWER_LOSS) -> None:
        self.fs.crash(mode)
        self.storage = self.open()


HARNESSES: dict[str, Callable[[], Any]] = {"memory": MemoryHarness, "file": FileHarness}


@pytest.fixture(params=list(HARNESSES))
def h(request: pytest.FixtureRequest) -> Any:
    return HARNESSES[request.param]()


# -- shared behaviour ---------------------------------------------------------------------
def test_nothing_written_recovers_nothing(h: Any) -> None:
    assert h.storage.recover() == Recovered()
    h.restart()
    assert h.storage.recover() == Recovered()


def test_records_replace_by_key_and_survive_a_restart(h: Any) -> None:
    s = h.storage
    s.persist(LwtHardState((rec(b"a", 1), rec(b"b", 1)), reserved=1000), [], None)
    s.persist(LwtHardState((rec(b"a", 2, b"w"),)), [], None)
    s.sync()
    h.restart()
    want = LwtHardState((rec(b"a", 2, b"w"), rec(b"b", 1)), 1000, floor=ZERO_BALLOT)
    assert h.storage.recover() == Recovered(want)


def test_a_crash_loses_exactly_the_unsynced_batches(h: Any) -> None:
    h.storage.persist(LwtHardState((rec(b"a", 1),), reserved=10), [], None)
    h.storage.sync()
    h.storage.persist(LwtHardState((rec(b"a", 2, None), rec(b"c", 2)), reserved=20), [], None)
    h.crash()
    assert h.storage.recover() == Recovered(LwtHardState((rec(b"a", 1),), 10))


def test_purges_raise_the_floor_and_come_before_records(h: Any) -> None:
    s = h.storage
    s.persist(LwtHardState((rec(b"a", 1), rec(b"b", 1), rec(b"c", 1))), [], None)
    s.sync()
    gone_a, gone_b = rec(b"a", 3, None), rec(b"b", 4, None)
    s.persist(LwtHardState((rec(b"b", 5),), purged=(gone_a, gone_b), floor=Ballot(4, 1)), [], None)
    s.persist(LwtHardState(floor=Ballot(2, 1)), [], None)  # a lower floor changes nothing
    s.sync()
    h.restart()
    got = h.storage.recover().hard_state
    assert got == LwtHardState((rec(b"b", 5), rec(b"c", 1)), 0, floor=Ballot(4, 1))


def test_a_promise_or_reservation_going_backwards_is_refused(h: Any) -> None:
    s = h.storage
    s.persist(LwtHardState((rec(b"a", 5),), reserved=100), [], None)
    s.sync()
    with pytest.raises(StorageError, match=r"key b'a': promised ballot went backwards: 5\.1 -> 4"):
        s.persist(LwtHardState((rec(b"a", 4),)), [], None)
        s.sync()
    h.crash()
    with pytest.raises(StorageError, match="reserved ballot round went backwards: 100 -> 50"):
        h.storage.persist(LwtHardState(reserved=50), [], None)
        h.storage.sync()
    h.crash()
    with pytest.raises(StorageError, match="no log entries"):
        h.storage.persist(None, [Entry(1, 1, b"x")], None)
    assert h.storage.recover() == Recovered(LwtHardState((rec(b"a", 5),), 100))


# -- the file store -----------------------------------------------------------------------
def test_a_bad_batch_is_refused_before_anything_of_it_is_written() -> None:
    h = FileHarness()
    h.storage.persist(LwtHardState((rec(b"a", 5),), reserved=100), [], None)
    with pytest.raises(StorageError, match="promised ballot went backwards"):
        h.storage.persist(LwtHardState((rec(b"z", 9), rec(b"a", 4)), reserved=200), [], None)
    h.storage.sync()
    h.restart()
    assert h.storage.recover() == Recovered(LwtHardState((rec(b"a", 5),), 100))


# -- the file store -----------------------------------------------------------------------
def test_images_keep_the_log_bounded_over_many_keys() -> None:
    h = FileHarness(compact_bytes=8192)
    model: dict[bytes, LwtRecord] = {}
    for rnd in range(1, 25):
        batch = []
        for k in range(60):
            key = b"key-%03d" % k
            if (k + rnd) % 7 == 0 and key in model:
                continue
            batch.append(rec(key, rnd, b"x" * 20))
        gone = tuple(model.pop(k) for k in sorted(model) if (hash(k) + rnd) % 11 == 0)
        h.storage.persist(LwtHardState(tuple(batch), purged=gone, reserved=rnd), [], None)
        model.update({r.key: r for r in batch})
        h.storage.sync()
        assert len(h.storage.segments()) <= 4
    assert h.storage.images >= 3
    want = Recovered(LwtHardState(tuple(model[k] for k in sorted(model)), 24))
    h.restart()
    assert h.storage.recover() == want
    h.crash(CrashMode.POWER_LOSS)
    assert h.storage.recover() == want
    assert sum(1 for n in h.fs.list("/lwt") if n.endswith(".snap")) == 1


def test_a_torn_last_record_is_dropped() -> None:
    for seed in range(20):
        h = FileHarness(seed)
        h.storage.persist(LwtHardState((rec(b"a", 1),)), [], None)
        h.storage.sync()
        h.storage.persist(LwtHardState((rec(b"b", 2, b"y" * 300),)), [], None)
        h.storage.persist(LwtHardState((rec(b"c", 3),)), [], None)
        h.storage._wal._flush_locked()  # the bytes reach the file, unsynced
        h.fs.crash(CrashMode.TORN, garble=True)
        got = h.open().recover().hard_state
        assert got is not None
        keys = [r.key for r in got.records]
        assert keys in ([b"a"], [b"a", b"b"], [b"a", b"b", b"c"]), (seed, keys)


def test_a_crc_failure_in_durable_bytes_refuses_to_start() -> None:
    h = FileHarness()
    for rnd in range(1, 40):
        h.storage.persist(LwtHardState((rec(b"k%d" % rnd, rnd, b"z" * 200),)), [], None)
        h.storage.sync()
    h.storage.close()
    first = sorted(n for n in h.fs.list("/lwt") if n.endswith(".wal"))[0]
    h.fs.flip_bit(f"/lwt/{first}", 100)
    with pytest.raises(StorageError, match=f"WAL segment /lwt/{first} is corrupt at byte"):
        h.open()


def test_a_damaged_image_refuses_to_start() -> None:
    h = FileHarness(compact_bytes=2048)
    for rnd in range(1, 30):
        h.storage.persist(LwtHardState((rec(b"k", rnd, b"z" * 200),)), [], None)
        h.storage.sync()
    assert h.storage.images > 0
    h.storage.close()
    image = next(n for n in h.fs.list("/lwt") if n.endswith(".snap"))
    h.fs.flip_bit(f"/lwt/{image}", 40)
    with pytest.raises(StorageError, match="snapshot file is damaged"):
        h.open()


def test_another_protocols_data_dir_is_refused() -> None:
    h = FileHarness()
    h.storage.close()
    with pytest.raises(StorageError, match="holds paxos-lwt data, not multipaxos"):
        from consensus.storage import PaxosFileStorage

        PaxosFileStorage.open("/lwt", cluster_id="c", node_id=1, fs=h.fs)


# -- crash at every storage operation -----------------------------------------------------
WORKLOAD = [
    LwtHardState((rec(b"a", 1), rec(b"b", 1, b"w" * 900)), reserved=1000),
    LwtHardState((rec(b"a", 2, None),), floor=ZERO_BALLOT),
    LwtHardState((rec(b"c", 3, b"q" * 900),), purged=(rec(b"a", 2, None),), floor=Ballot(2, 1)),
    LwtHardState((rec(b"b", 4, b"r" * 900), rec(b"d", 4)), reserved=2000),
    LwtHardState((rec(b"c", 5, None), rec(b"e", 5, b"s" * 900))),
]


def _micro_states() -> list[Recovered[LwtHardState]]:
    """The state after every prefix of the workload's WAL records, in write order."""
    model = LwtMemoryStorage()
    states = [model.recover()]
    for batch in WORKLOAD:
        steps = []
        if batch.floor != ZERO_BALLOT:
            steps.append(LwtHardState(floor=batch.floor))
        steps += [LwtHardState(purged=(p,)) for p in batch.purged]
        steps += [LwtHardState((r,)) for r in batch.records]
        if batch.reserved:
            steps.append(LwtHardState(reserved=batch.reserved))
        for step in steps:
            model.persist(step, [], None)
            model.sync()
            states.append(model.recover())
    return states


def _run_workload(h: FileHarness, acked: list[int]) -> None:
    for batch in WORKLOAD:
        h.storage.persist(batch, [], None)
        h.storage.sync()
        acked.append(1)


@pytest.mark.parametrize("mode", [CrashMode.POWER_LOSS, CrashMode.TORN], ids=lambda m: m.value)
def test_crash_at_every_file_operation(mode: CrashMode) -> None:
    states = _micro_states()
    batch_ends = [0]
    for batch in WORKLOAD:
        size = len(batch.records) + len(batch.purged)
        size += (batch.floor != ZERO_BALLOT) + (batch.reserved > 0)
        batch_ends.append(batch_ends[-1] + size)
    probe = FileHarness(compact_bytes=1500)
    start = probe.fs.ops
    _run_workload(probe, [])
    assert probe.storage.images >= 1
    total = probe.fs.ops - start
    for k in range(1, total + 1):
        h = FileHarness(seed=k, compact_bytes=1500)
        h.fs.crash_at_op = h.fs.ops + k
        acked: list[int] = []
        with contextlib.suppress(SimulatedCrash):
            _run_workload(h, acked)
        h.crash(mode)
        got = h.storage.recover()
        allowed = states[batch_ends[len(acked)] :]
        assert got in allowed, f"crash at op {k}: {got} after {len(acked)} synced batches"
        # and it goes on working
        h.storage.persist(LwtHardState((rec(b"z", 9),), reserved=5000), [], None)
        h.storage.sync()
        h.crash(CrashMode.POWER_LOSS)
        final = h.storage.recover().hard_state
        assert final is not None and rec(b"z", 9) in final.records


class _CrashingFileStore:
    """A node's file store in a :class:`Net`; ``crash`` cuts the power and reopens."""

    def __init__(self, node: int, fs: SimFileSystem) -> None:
        self.node, self.fs = node, fs
        self.store = self._open()

    def _open(self) -> LwtFileStorage:
        return LwtFileStorage.open("/n", cluster_id="c", node_id=self.node, fs=self.fs)

    def persist(self, *args: Any) -> None:
        self.store.persist(*args)

    def sync(self) -> None:
        self.store.sync()

    def recover(self) -> Recovered[LwtHardState]:
        return self.store.recover()

    def crash(self) -> None:
        self.fs.crash(CrashMode.TORN)
        self.store = self._open()


def _store_on(fss: dict[int, SimFileSystem], node: int) -> _CrashingFileStore:
    return _CrashingFileStore(node, fss[node])


K = b"key"


def test_crash_at_every_storage_operation_of_a_round() -> None:
    """A cas round from node 1; each node in turn crashes at each file operation it does
    during the round. After restarts, the key holds the old or the new value, and keeps
    it."""
    for victim in (1, 2):
        k = 0
        while True:
            k += 1
            fss = {n: SimFileSystem(k * 10 + n) for n in (1, 2, 3)}
            net = Net(3, seed=k, storage=functools.partial(_store_on, fss))
            net.run(2, put(K, b"a"))
            fs = fss[victim]
            fs.crash_at_op = fs.ops + k
            net.propose(1, cas(K, b"a", b"b"))
            net.deliver_all()
            reached = fs.crash_at_op is None or fs.is_down
            if not reached:
                break
            for node in (1, 2, 3):
                if net.cores[node] is None:
                    net.restart(node)
            net.settle()
            value = net.run(3, get(K)).value
            assert value in {b"a", b"b"}, (victim, k, value)
            assert net.run(2, get(K)).value == value, (victim, k)
            assert net.run(1, get(K)).value == value, (victim, k)
        assert k - 1 >= 4, f"node {victim} did only {k - 1} file operations in a round"
