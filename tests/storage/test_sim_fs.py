"""The simulated disk: what survives each kind of crash, and the injected faults."""

from __future__ import annotations

import errno

import pytest

from consensus.storage.fs import SECTOR_BYTES, CrashMode, SimFileSystem, SimulatedCrash


def fresh() -> SimFileSystem:
    fs = SimFileSystem(0)
    fs.mkdir("/d")
    fs.fsync_dir("/d")
    return fs


def test_power_loss_keeps_synced_bytes_and_names_only() -> None:
    fs = fresh()
    f = fs.open("/d/a")
    f.append(b"durable")
    f.fsync()
    fs.fsync_dir("/d")
    f.append(b" lost")
    fs.write("/d/b", b"never named durably")
    fs.fsync("/d/b")
    fs.crash(CrashMode.POWER_LOSS)
    assert fs.read("/d/a") == b"durable"
    assert not fs.exists("/d/b")  # its directory entry was never fsynced
    assert fs.list("/d") == ["a"]


def test_process_crash_keeps_everything_written() -> None:
    fs = fresh()
    f = fs.open("/d/a")
    f.append(b"in the page cache")
    fs.crash(CrashMode.PROCESS)
    assert fs.read("/d/a") == b"in the page cache"
    fs.crash(CrashMode.POWER_LOSS)  # still not durable
    assert not fs.exists("/d/a")


def test_rename_is_durable_only_after_fsync_dir() -> None:
    fs = fresh()
    for content in (b"old", b"new"):
        fs.write("/d/f.tmp", content)
        fs.fsync("/d/f.tmp")
        fs.rename("/d/f.tmp", "/d/f")
        if content == b"old":
            fs.fsync_dir("/d")
    fs.crash(CrashMode.POWER_LOSS)
    assert fs.read("/d/f") == b"old" and fs.list("/d") == ["f"]


def test_torn_crash_keeps_a_prefix_of_the_unsynced_tail() -> None:
    kept = set()
    for seed in range(30):
        fs = SimFileSystem(seed)
        fs.mkdir("/d")
        f = fs.open("/d/a")
        fs.fsync_dir("/d")
        f.append(b"A" * 10)
        f.fsync()
        f.append(b"B" * 100)
        fs.crash(CrashMode.TORN)
        data = fs.read("/d/a")
        assert data == b"A" * 10 + b"B" * (len(data) - 10)
        kept.add(len(data))
    assert len(kept) > 10


def test_scrambled_crash_zeroes_whole_sectors() -> None:
    zeroed = 0
    for seed in range(20):
        fs = SimFileSystem(seed)
        fs.mkdir("/d")
        f = fs.open("/d/a")
        fs.fsync_dir("/d")
        f.append(b"A" * 100)
        f.fsync()
        f.append(b"B" * 4000)
        fs.crash(CrashMode.SCRAMBLED)
        data = fs.read("/d/a")
        assert data[:100] == b"A" * 100
        for start in range(0, len(data), SECTOR_BYTES):
            sector = data[max(start, 100) : start + SECTOR_BYTES]
            assert sector in (b"B" * len(sector), bytes(len(sector)))
            zeroed += sector == bytes(len(sector)) and len(sector) > 0
    assert zeroed > 5


def test_operations_are_counted_and_a_crash_is_armed_by_count() -> None:
    fs = fresh()
    assert fs.ops == 2
    fs.crash_at_op = 5
    f = fs.open("/d/a")  # op 3
    f.append(b"one")  # op 4
    with pytest.raises(SimulatedCrash, match="simulated crash at op 5 \\(append /d/a\\)"):
        f.append(b"two" * 100)
    with pytest.raises(SimulatedCrash, match="call crash\\(\\)"):
        fs.read("/d/a")
    fs.crash(CrashMode.PROCESS)
    data = fs.read("/d/a")
    assert data.startswith(b"one") and len(data) < 303  # the crashing write was torn
    with pytest.raises(OSError, match="file handle opened before a crash"):
        f.append(b"stale handle")


def test_a_failed_fsync_drops_the_dirty_bytes_for_good() -> None:
    """As on Linux: after EIO, a later fsync "succeeds" without writing them."""
    fs = fresh()
    f = fs.open("/d/a")
    fs.fsync_dir("/d")
    f.append(b"synced|")
    f.fsync()
    f.append(b"dropped")
    fs.fail_next_fsync()
    with pytest.raises(OSError) as info:
        f.fsync()
    assert info.value.errno == errno.EIO
    f.fsync()  # a retry: returns, but the bytes are gone
    fs.crash(CrashMode.POWER_LOSS)
    assert fs.read("/d/a") == b"synced|" + bytes(7)


def test_fsync_failure_by_operation_count() -> None:
    fs = fresh()
    fs.write("/d/a", b"x")
    fs.fsync_fail_at_op = fs.ops + 1
    with pytest.raises(OSError, match="simulated fsync failure"):
        fs.fsync("/d/a")


def test_flip_bit_damages_both_copies() -> None:
    fs = fresh()
    fs.write("/d/a", b"\x00\x00")
    fs.fsync("/d/a")
    fs.fsync_dir("/d")
    fs.flip_bit("/d/a", 1, 7)
    assert fs.read("/d/a") == b"\x00\x80"
    fs.crash(CrashMode.POWER_LOSS)
    assert fs.read("/d/a") == b"\x00\x80"
    with pytest.raises(ValueError, match="no bit 0 at byte 2 of /d/a \\(2 B\\)"):
        fs.flip_bit("/d/a", 2)


def test_truncate_is_undone_by_a_power_loss_unless_synced() -> None:
    fs = fresh()
    fs.write("/d/a", b"0123456789")
    fs.fsync("/d/a")
    fs.fsync_dir("/d")
    fs.truncate("/d/a", 4)
    fs.crash(CrashMode.TORN)
    assert fs.read("/d/a") == b"0123456789"
    fs.truncate("/d/a", 4)
    fs.fsync("/d/a")
    fs.crash(CrashMode.POWER_LOSS)
    assert fs.read("/d/a") == b"0123"


def test_locks_are_exclusive_until_released_or_a_crash() -> None:
    fs = fresh()
    lock = fs.lock("/d/LOCK")
    with pytest.raises(BlockingIOError):
        fs.lock("/d/LOCK")
    lock.release()
    fs.lock("/d/LOCK")
    fs.crash(CrashMode.PROCESS)
    fs.lock("/d/LOCK")


def test_missing_files_and_directories() -> None:
    fs = fresh()
    with pytest.raises(FileNotFoundError):
        fs.read("/d/nope")
    with pytest.raises(FileNotFoundError):
        fs.open("/nodir/a")
    with pytest.raises(FileNotFoundError):
        fs.list("/nodir")
    fs.mkdir("/x/y/z")
    assert fs.list("/x") == ["y"] and fs.exists("/x/y/z")


def test_rewriting_dropped_pages_makes_them_durable_again() -> None:
    fs = fresh()
    f = fs.open("/d/a")
    fs.fsync_dir("/d")
    f.append(b"synced|")
    f.fsync()
    f.append(b"dropped")
    fs.fail_next_fsync()
    with pytest.raises(OSError):
        f.fsync()
    fs.write_at("/d/a", 7, fs.read("/d/a", 7, 4))  # rewrite the first 4 dropped bytes
    f.fsync()
    fs.crash(CrashMode.POWER_LOSS)
    assert fs.read("/d/a") == b"synced|drop" + bytes(3)
