"""The generic record log: appends, replay, segments, group commit, failures."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from consensus.storage import RecordLog, StorageError, WalOptions
from consensus.storage.fs import OsFileSystem, SimFileSystem
from consensus.storage.wal.records import HEADER_BYTES
from consensus.storage.wal.segments import list_segments

DIR = "/wal"


def open_log(
    fs: Any, options: WalOptions | None = None, start: int = 0
) -> tuple[RecordLog, list[bytes]]:
    seen: list[bytes] = []
    fs.mkdir(DIR)
    log = RecordLog.open(
        fs,
        DIR,
        lambda seg, pos, payload: seen.append(bytes(payload)),
        options=options,
        start_position=start,
    )
    return log, seen


def test_records_replay_in_order_and_positions_grow() -> None:
    fs = SimFileSystem(0)
    log, seen = open_log(fs)
    assert seen == [] and log.position == 8  # the segment magic
    ends = [log.append(f"record {i}".encode()) for i in range(10)]
    assert ends == sorted(ends) and ends[0] == 8 + HEADER_BYTES + 8
    log.sync()
    assert log.synced_position == ends[-1]
    log.close()
    _, seen = open_log(fs)
    assert seen == [f"record {i}".encode() for i in range(10)]


def test_segments_stay_under_their_size_bound() -> None:
    fs = SimFileSystem(0)
    options = WalOptions(segment_bytes_max=4096)
    log, _ = open_log(fs, options)
    for i in range(300):
        log.append(bytes([i % 256]) * 100)
    log.append(b"big" * 3000)  # larger than a segment: gets one of its own
    log.append(b"after")
    log.close()
    starts = list_segments(fs, DIR)
    sizes = [fs.size(f"{DIR}/{s:020d}.wal") for s in starts]
    assert len(starts) > 8
    assert sum(size > 4096 for size in sizes) == 1  # only the oversized record's
    assert starts == [0] + [starts[k - 1] + sizes[k - 1] for k in range(1, len(starts))]
    _, seen = open_log(fs, options)
    assert len(seen) == 302 and seen[-2] == b"big" * 3000


def test_append_many_is_append_one_by_one_across_segment_rolls() -> None:
    options = WalOptions(segment_bytes_max=4096)
    payloads = [bytes([i % 256]) * (50 + i % 90) for i in range(200)]
    one_fs, many_fs = SimFileSystem(0), SimFileSystem(0)
    one, _ = open_log(one_fs, options)
    expected = []
    for payload in payloads:
        expected.append((one.append(payload), one.active_segment))
    many, _ = open_log(many_fs, options)
    got = many.append_many(payloads[:70]) + many.append_many(payloads[70:])
    assert got == expected
    assert len({segment for _, segment in got}) > 3  # it rolled mid-batch
    for log in (one, many):
        log.close()
    assert open_log(many_fs, options)[1] == payloads


def test_append_many_checks_every_size_before_appending() -> None:
    log, _ = open_log(SimFileSystem(0), WalOptions(record_bytes_max=10))
    before = log.position
    with pytest.raises(ValueError, match="a WAL record holds 1 to 10 bytes, got 11"):
        log.append_many([b"ok", b"x" * 11])
    assert log.position == before


def test_record_size_limits() -> None:
    log, _ = open_log(SimFileSystem(0), WalOptions(record_bytes_max=10))
    with pytest.raises(ValueError, match="a WAL record holds 1 to 10 bytes, got 11"):
        log.append(b"x" * 11)
    with pytest.raises(ValueError, match="a WAL record holds 1 to 10 bytes, got 0"):
        log.append(b"")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"segment_bytes_max": 100}, "segment_bytes_max must be >= 4096, got 100"),
        ({"record_bytes_max": 0}, "record_bytes_max must be in 1 .. 4294967295, got 0"),
        ({"buffer_bytes_max": 0}, "buffer_bytes_max must be >= 1, got 0"),
    ],
)
def test_options_are_checked(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WalOptions(**kwargs)


def test_dropping_segments_keeps_the_active_one_and_the_rest_replays() -> None:
    fs = SimFileSystem(0)
    options = WalOptions(segment_bytes_max=4096)
    log, _ = open_log(fs, options)
    for i in range(200):
        log.append(i.to_bytes(2, "big") * 50)
    segments = log.segments()
    assert log.drop_segments_before(segments[2]) == segments[:2]
    assert log.drop_segments_before(10**9) == segments[2:-1]  # never the active one
    assert log.segments() == [log.active_segment]
    log.close()
    with pytest.raises(StorageError, match=f"segment {DIR}/{segments[0]:020d}.wal is missing"):
        open_log(fs, options, start=segments[0])
    _, seen = open_log(fs, options, start=segments[-1])
    assert seen and seen[-1] == (199).to_bytes(2, "big") * 50


def test_a_missing_middle_segment_is_refused() -> None:
    fs = SimFileSystem(0)
    log, _ = open_log(fs, WalOptions(segment_bytes_max=4096))
    for _ in range(200):
        log.append(b"r" * 100)
    log.close()
    starts = list_segments(fs, DIR)
    fs.remove(f"{DIR}/{starts[2]:020d}.wal")
    with pytest.raises(StorageError, match=f"not contiguous: {starts[1]:020d}.wal ends at"):
        open_log(fs)


def test_a_malformed_segment_name_is_refused() -> None:
    fs = SimFileSystem(0)
    fs.mkdir(DIR)
    fs.write(f"{DIR}/7.wal", b"")
    with pytest.raises(StorageError, match=r"unexpected file /wal/7\.wal in the WAL directory"):
        open_log(fs)


class GatedFileSystem(SimFileSystem):
    """Segment fsyncs block until the test opens the gate: makes group commit visible."""

    def __init__(self) -> None:
        super().__init__(0)
        self.gate = threading.Event()
        self.entered = threading.Semaphore(0)

    def open(self, path: str) -> Any:
        inner = super().open(path)
        fs = self

        class Gated:
            path = inner.path

            def append(self, data: bytes) -> None:
                inner.append(data)

            def fsync(self) -> None:
                fs.entered.release()
                fs.gate.wait(10)
                inner.fsync()

            def close(self) -> None:
                inner.close()

        return Gated()


def test_one_fsync_covers_every_sync_waiting_behind_it() -> None:
    fs = GatedFileSystem()
    fs.gate.set()
    log, _ = open_log(fs)
    fs.gate.clear()
    base = log.fsyncs
    log.append(b"first")
    leader = threading.Thread(target=log.sync)
    leader.start()
    assert fs.entered.acquire(timeout=10)  # the leader is inside fsync now
    followers = []
    for i in range(8):
        log.append(f"follower {i}".encode())
        t = threading.Thread(target=log.sync)
        t.start()
        followers.append(t)
    fs.gate.set()
    for t in [leader, *followers]:
        t.join(10)
        assert not t.is_alive()
    assert log.fsyncs - base == 2  # the leader's, and one for all eight followers
    assert log.synced_position == log.position


def test_a_failed_fsync_fails_every_waiter() -> None:
    fs = GatedFileSystem()
    fs.gate.set()
    log, _ = open_log(fs)
    fs.gate.clear()
    log.append(b"a")
    fs.fail_next_fsync()
    errors: list[BaseException] = []

    def sync() -> None:
        try:
            log.sync()
        except StorageError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=sync) for _ in range(4)]
    threads[0].start()
    assert fs.entered.acquire(timeout=10)
    log.append(b"b")
    for t in threads[1:]:
        t.start()
    fs.gate.set()
    for t in threads:
        t.join(10)
    assert len(errors) == 4
    assert "fsync of /wal/00000000000000000000.wal failed" in str(errors[0])
    with pytest.raises(StorageError, match="unusable after an earlier failure"):
        log.append(b"c")


def test_concurrent_writers_on_the_real_disk_share_fsyncs(tmp_path: Path) -> None:
    fs = OsFileSystem()
    seen: list[bytes] = []
    options = WalOptions(segment_bytes_max=4096)
    log = RecordLog.open(fs, str(tmp_path), lambda s, p, b: None, options=options)
    written = []
    lock = threading.Lock()

    def writer(n: int) -> None:
        for i in range(25):
            record = f"{n}:{i}".encode().ljust(100, b".")
            end = log.append(record)
            log.sync_upto(end)
            assert log.synced_position >= end
            with lock:
                written.append(record)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert log.fsyncs < 400  # 400 syncs; group commit merged some
    log.close()
    RecordLog.open(fs, str(tmp_path), lambda s, p, b: seen.append(bytes(b))).close()
    assert sorted(seen) == sorted(written)
    sizes = [p.stat().st_size for p in sorted(tmp_path.glob("*.wal"))]
    assert len(sizes) > 5 and all(size > 4096 - 116 for size in sizes[:-1])  # full segments


def test_a_closed_log_refuses_use() -> None:
    log, _ = open_log(SimFileSystem(0))
    log.close()
    log.close()  # idempotent
    with pytest.raises(StorageError, match="the WAL is closed"):
        log.append(b"x")
