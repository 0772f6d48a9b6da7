"""The sim environment's disk: what a crash keeps, per armed disk fault (the real file
WAL on the simulated file system)."""

from __future__ import annotations

import random

import pytest

from consensus.types import Entry, HardState
from jepsen_lite.runner.api import Fault
from jepsen_lite.runner.envs.sim_disk import FileDisk

SYNCED = 10


def crash_and_recover(shape: str | None, seed: int = 5) -> tuple[int, str]:
    """Entries recovered after 10 synced entries, ~190 KB of unsynced ones (most of it
    written to the file, the rest in the WAL's buffer), and a crash."""
    disk = FileDisk("raft", 1, random.Random(seed))
    store = disk.open()
    store.persist(HardState(1, 1, 0), [Entry(i, 1, b"s" * 1000) for i in range(1, 11)], None)
    store.sync()
    store.persist(None, [Entry(i, 1, b"u" * 1000) for i in range(11, 201)], None)
    if shape is not None:
        disk.arm(Fault("disk", shape))
    what = disk.crash()
    return len(disk.open().recover().entries), what


def test_a_plain_crash_keeps_what_was_written_lose_unsynced_keeps_only_the_synced() -> None:
    kept, what = crash_and_recover(None)
    assert kept > 100 and "process crash" in what
    assert crash_and_recover("lose-unsynced") == (SYNCED, "power loss (unsynced writes lost)")


def test_a_torn_write_keeps_a_prefix_of_the_unsynced_tail_and_recovery_repairs_it() -> None:
    kept = []
    for seed in range(6):
        n, what = crash_and_recover("torn-write", seed)
        assert "torn" in what
        kept.append(n)
    assert all(SYNCED <= n < 200 for n in kept)
    assert len(set(kept)) > 1


def test_a_bit_flip_in_a_durable_record_is_refused_by_recovery() -> None:
    from consensus.storage.base import StorageError

    disk = FileDisk("raft", 1, random.Random(2))
    store = disk.open()
    for i in range(1, 21):
        store.persist(HardState(1, 1, i - 1), [Entry(i, 1, b"d" * 100)], None)
        store.sync()
    disk.arm(Fault("disk", "bit-flip"))
    assert "flipped" in disk.crash()
    with pytest.raises(StorageError):
        disk.open()


def test_unknown_disk_shape_is_refused() -> None:
    disk = FileDisk("multipaxos", 1, random.Random(1))
    with pytest.raises(ValueError, match="unknown disk fault shape 'melt': choose one of"):
        disk.arm(Fault("disk", "melt"))
