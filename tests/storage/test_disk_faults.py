"""Disk faults on the simulated disk: lost unsynced writes, torn tails, flipped bits,
failed fsyncs."""

from __future__ import annotations

import errno
import logging
import re

import pytest

from consensus.storage import FileStorage, StorageError, WalOptions
from consensus.storage.base import describe_failure
from consensus.storage.fs import CrashMode, SimFileSystem
from consensus.storage.wal.raft_records import decode_record
from consensus.storage.wal.records import SEGMENT_MAGIC, Frame, read_frame
from consensus.types import Entry

from .harness import entries, hs, snap

DIR = "/data"
SEG0 = "/data/00000000000000000000.wal"
WRITE_THROUGH = WalOptions(segment_bytes_max=4096, buffer_bytes_max=1)


def open_storage(fs: SimFileSystem, options: WalOptions = WRITE_THROUGH) -> FileStorage:
    return FileStorage.open(DIR, cluster_id="c", node_id=1, fs=fs, options=options)


def frames(data: bytes, start: int = 0) -> list[Frame]:
    found, offset = [], len(SEGMENT_MAGIC)
    while offset < len(data):
        frame = read_frame(data, offset, start + offset, 2**20)
        assert isinstance(frame, Frame)
        found.append(frame)
        offset = frame.end
    return found


def test_unsynced_writes_are_lost_on_power_loss() -> None:
    fs = SimFileSystem(1)
    s = open_storage(fs)
    s.persist(hs(1, 1, 0), entries(1, 5, 1), None)
    s.sync()
    s.persist(hs(2, 2, 3), entries(6, 9, 2), None)  # written through, not synced
    assert len(fs.durable_bytes(SEG0)) < fs.size(SEG0)
    fs.crash(CrashMode.POWER_LOSS)
    got = open_storage(fs).recover()
    assert got.hard_state == hs(1, 1, 0)
    assert got.entries == tuple(entries(1, 5, 1))


def test_torn_last_record_is_truncated_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    fs = SimFileSystem(2)
    s = open_storage(fs)
    s.persist(None, entries(1, 6, 1), None)
    s.sync()
    last = frames(fs.read(SEG0))[-1]
    s.abandon()
    fs.truncate(SEG0, last.end - 7)  # the last record's final 7 bytes never landed
    fs.fsync(SEG0)
    with caplog.at_level(logging.WARNING, logger="consensus.storage.wal"):
        got = open_storage(fs).recover()
    assert got.entries == tuple(entries(1, 5, 1))
    assert fs.size(SEG0) == last.offset
    message = (
        f"WAL segment {SEG0}: truncating a torn tail of {last.end - 7 - last.offset} bytes at "
        f"byte offset {last.offset} (record of"
    )
    assert any(message in r.getMessage() for r in caplog.records)


def test_torn_power_loss_keeps_a_prefix_of_the_unsynced_batch(
    caplog: pytest.LogCaptureFixture,
) -> None:
    batch = entries(6, 30, 2, size=100)
    lengths = set()
    with caplog.at_level(logging.WARNING, logger="consensus.storage.wal"):
        for seed in range(40):
            fs = SimFileSystem(seed)
            s = open_storage(fs)
            s.persist(None, entries(1, 5, 1), None)
            s.sync()
            s.persist(None, batch, None)
            fs.crash(CrashMode.TORN if seed % 2 else CrashMode.SCRAMBLED)
            got = open_storage(fs).recover().entries
            assert got == (*entries(1, 5, 1), *batch[: len(got) - 5])
            lengths.add(len(got))
    assert len(lengths) > 5  # the tears fell in many places
    assert any("truncating a torn tail" in r.getMessage() for r in caplog.records)


def build_three_batches(fs: SimFileSystem) -> int:
    """Three synced batches in one segment; returns where the last batch starts."""
    s = open_storage(fs)
    s.persist(hs(1, 1, 0), entries(1, 3, 1, size=20), None)
    s.sync()
    s.persist(hs(1, 1, 2), entries(4, 5, 1, size=20), None)
    s.sync()
    tail_start = fs.size(SEG0)
    s.persist(None, entries(6, 8, 1, size=20), None)
    s.sync()
    s.abandon()
    return tail_start


def test_a_flipped_bit_anywhere_is_caught(caplog: pytest.LogCaptureFixture) -> None:
    """Every bit position of a segment (one bit per byte, rotating): in the last synced
    batch the damage reads as a torn tail and is cut; before it, the store refuses to
    start and names the file and the offset of the damaged record."""
    fs = SimFileSystem(0)
    tail_start = build_three_batches(fs)
    data = fs.read(SEG0)
    layout = frames(data)
    assert tail_start in [f.offset for f in layout]
    outcomes = {"magic": 0, "refused": 0, "truncated": 0}
    for offset in range(len(data)):
        fs = SimFileSystem(0)
        build_three_batches(fs)
        fs.flip_bit(SEG0, offset, offset % 8)
        record = next((f for f in layout if f.offset <= offset < f.end), None)
        if record is None:  # the magic
            with pytest.raises(StorageError, match=f"{SEG0} is corrupt at byte offset 0: bad"):
                open_storage(fs)
            outcomes["magic"] += 1
        elif record.offset < tail_start:
            expected = re.escape(f"{SEG0} is corrupt at byte offset {record.offset}: ")
            with pytest.raises(StorageError, match=expected + ".*not a torn tail"):
                open_storage(fs)
            outcomes["refused"] += 1
        else:
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="consensus.storage.wal"):
                got = open_storage(fs).recover()
            kept = [decode_record(f.payload) for f in layout if f.end <= record.offset]
            assert list(got.entries) == [r for r in kept if isinstance(r, Entry)]
            assert f"at byte offset {record.offset}" in caplog.text
            outcomes["truncated"] += 1
    assert outcomes["magic"] == 8 and outcomes["refused"] > 200 and outcomes["truncated"] > 100


def test_a_flipped_bit_in_a_sealed_segment_refuses_to_start() -> None:
    fs = SimFileSystem(3)
    s = open_storage(fs)
    for lo in range(1, 200, 20):
        s.persist(None, entries(lo, lo + 19, 1, size=100), None)
        s.sync()
    s.close()
    names = sorted(n for n in fs.list(DIR) if n.endswith(".wal"))
    assert len(names) > 2
    fs.flip_bit(f"{DIR}/{names[1]}", 100, 3)
    with pytest.raises(StorageError, match=f"{names[1]} is corrupt at byte offset .*not the last"):
        open_storage(fs)


@pytest.mark.parametrize("name", ["CHECKPOINT", "IDENTITY", "snapshot"])
def test_a_flipped_bit_in_a_small_file_refuses_to_start(name: str) -> None:
    fs = SimFileSystem(4)
    s = open_storage(fs)
    s.persist(hs(1, 1, 150), entries(1, 150, 1, size=100), None)
    s.compact(snap(150, 1))
    s.close()
    if name == "snapshot":
        name = next(n for n in fs.list(DIR) if n.endswith(".snap"))
    path = f"{DIR}/{name}"
    fs.flip_bit(path, fs.size(path) - 1, 0)
    with pytest.raises(StorageError, match=f"{path} is corrupt at byte offset 8: CRC mismatch"):
        open_storage(fs)


def fsync_ops(fs: SimFileSystem) -> int:
    return sum(1 for op in fs.op_log if " fsync" in op)


def test_a_failed_fsync_is_fatal_and_never_retried() -> None:
    fs = SimFileSystem(5)
    s = open_storage(fs)
    s.persist(hs(1, 1, 0), entries(1, 2, 1), None)
    s.sync()
    s.persist(hs(1, 1, 2), entries(3, 4, 1), None)
    fs.fail_next_fsync()
    with pytest.raises(
        StorageError, match=rf"fsync of {SEG0} failed: simulated fsync failure \(EIO\).*retried"
    ) as failed:
        s.sync()
    assert "OSError" not in str(failed.value)  # said for people, not as a Python repr
    tried = fsync_ops(fs)
    for call in (
        lambda: s.sync(),
        lambda: s.persist(None, entries(5, 5, 1), None),
        lambda: s.compact(snap(2, 1)),
    ):
        with pytest.raises(StorageError, match="unusable after an earlier failure: fsync of"):
            call()
    assert fsync_ops(fs) == tried  # no second attempt, ever
    # Restarted, the node finds the state of before the failed batch.
    fs.crash(CrashMode.POWER_LOSS)
    got = open_storage(fs).recover()
    assert got.entries == tuple(entries(1, 2, 1)) and got.hard_state == hs(1, 1, 0)


def test_a_failed_fsync_while_sealing_a_segment_is_fatal() -> None:
    fs = SimFileSystem(6)
    s = open_storage(fs)
    fs.fail_next_fsync()
    with pytest.raises(StorageError, match=f"fsync of {SEG0} failed"):
        for lo in range(1, 400, 10):  # until a record no longer fits the segment
            s.persist(None, entries(lo, lo + 9, 1, size=100), None)
    with pytest.raises(StorageError, match="unusable after an earlier failure"):
        s.sync()


def test_a_failed_fsync_writing_a_snapshot_is_fatal() -> None:
    fs = SimFileSystem(7)
    s = open_storage(fs)
    s.persist(hs(1, 1, 10), entries(1, 10, 1), None)
    s.sync()
    fs.fail_next_fsync()  # the WAL is synced already: this hits the snapshot file
    with pytest.raises(StorageError, match=r"compacting in /data failed: .*simulated fsync"):
        s.compact(snap(10, 1))
    with pytest.raises(StorageError, match="unusable after an earlier failure: compacting"):
        s.sync()
    fs.crash(CrashMode.POWER_LOSS)
    got = open_storage(fs).recover()
    assert got.snapshot is None and len(got.entries) == 10


def test_pages_dropped_by_a_failed_fsync_are_written_again_after_a_restart() -> None:
    """fsyncgate: after EIO the kernel keeps the unsynced bytes readable but will never
    write them. A restarted process (no reboot) reads them back as valid; recovery must
    write them again before new records vouch for them, or a later power cut would leave
    a hole before acknowledged records."""
    fs = SimFileSystem(8)
    s = open_storage(fs)
    s.persist(hs(1, 1, 0), entries(1, 3, 1), None)
    s.sync()
    s.persist(hs(1, 1, 2), entries(4, 6, 1), None)
    fs.fail_next_fsync()
    with pytest.raises(StorageError, match="fsync of"):
        s.sync()
    fs.crash(CrashMode.PROCESS)  # the process died; the page cache still has 4..6
    s = open_storage(fs)
    assert s.last_index() == 6
    s.persist(hs(2, 2, 6), entries(7, 7, 2), None)
    s.sync()  # acknowledged: 1..7 must survive anything now
    fs.crash(CrashMode.POWER_LOSS)
    got = open_storage(fs).recover()
    assert got.entries == (*entries(1, 6, 1), *entries(7, 7, 2))


def test_an_os_error_while_opening_is_a_storage_error() -> None:
    fs = SimFileSystem(9)
    open_storage(fs).close()
    fs.fail_next_fsync()
    with pytest.raises(StorageError, match=r"cannot recover the WAL in /data: .*simulated fsync"):
        open_storage(fs)
    open_storage(fs).close()  # the lock was released


def test_describe_failure_names_the_errno_not_the_repr() -> None:
    assert describe_failure(OSError(errno.EIO, "Input/output error")) == (
        "Input/output error (EIO)"
    )
    assert describe_failure(OSError(errno.ENOSPC, "No space left", "/d/f")) == (
        "No space left (ENOSPC): /d/f"
    )
    assert describe_failure(ValueError("bad")) == "bad"
