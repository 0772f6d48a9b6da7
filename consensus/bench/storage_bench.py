"""Storage benchmarks on the real disk: ``consensus bench storage`` (cells in the bench
report) or ``python -m consensus.bench.storage_bench`` (the Markdown table below).

Measures, in a temporary directory (``--dir`` to choose the disk), each figure the median
of ``--runs`` runs:

- CRC-32C (``crc32c`` package) against ``zlib.crc32`` on 1 KiB and 64 KiB buffers;
- the raw fsync rate: a loop of write(1 KiB) + fdatasync, the ceiling for one writer;
- appends per second with a sync after each append, for 1 and 64 writer threads (group
  commit), with 1 KiB and 64 KiB entries, on the bare WAL (``RecordLog``) and on the
  Raft store (``FileStorage``), with the records each fsync covered; within a run the 1-
  and 64-writer measurements alternate in short slices (the disk's fsync rate may drift),
  and the speed-up is the median of the per-run ratios;
- recovery: write a log of ``--recovery-mib`` MiB of 1 KiB entries once, then time
  ``FileStorage.open`` + ``recover()``, with the files evicted from the page cache
  (``posix_fadvise(DONTNEED)``, "cold") and again with them cached ("warm").

``main`` prints a Markdown table (the one in docs/storage.md); the ``storage`` suite
(:mod:`consensus.bench.suites.storage`) calls the same functions and records cells. Not a
test: nothing is asserted. Lives in ``consensus.bench``, not ``consensus.storage``: the
storage package keeps no benchmark code.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import threading
import time
import zlib
from collections.abc import Callable

from crc32c import crc32c

from ..storage.fs import OsFileSystem
from ..storage.wal import FileStorage, RecordLog
from ..types import Entry
from .latency import Latency

KIB = 1024
MIB = 1024 * KIB


def median_of(runs: int, measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(runs))


# -- CRC ------------------------------------------------------------------------------
def crc_mb_per_s(fn: Callable[[bytes], int], size: int, seconds: float = 0.3) -> float:
    buf = os.urandom(size)
    count = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(100):
            fn(buf)
        count += 100
    return count * size / elapsed / 1e6


# -- raw fsync ------------------------------------------------------------------------
def raw_fsync_per_s(directory: str, seconds: float) -> float:
    path = os.path.join(directory, "raw-fsync")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    block = b"f" * KIB
    sync = getattr(os, "fdatasync", os.fsync)
    count = 0
    start = time.perf_counter()
    try:
        while (elapsed := time.perf_counter() - start) < seconds:
            os.write(fd, block)
            sync(fd)
            count += 1
    finally:
        os.close(fd)
        os.unlink(path)
    return count / elapsed


# -- appends with fsync ---------------------------------------------------------------
class AppendResult:
    """Appends (each followed by a sync) over ``elapsed`` seconds; ``latency`` holds the
    time of each append + sync as one writer saw it."""

    def __init__(
        self,
        appends: int,
        fsyncs: int,
        elapsed: float,
        entry_bytes: int,
        latency: Latency | None = None,
    ) -> None:
        self.latency = latency if latency is not None else Latency()
        self.appends = appends
        self.fsyncs = fsyncs
        self.elapsed = elapsed
        self.entry_bytes = entry_bytes
        self.per_s = appends / elapsed
        self.mb_per_s = appends * entry_bytes / elapsed / 1e6
        self.per_fsync = appends / max(fsyncs, 1)

    def __add__(self, other: AppendResult) -> AppendResult:
        latency = Latency()
        latency.merge(self.latency)
        latency.merge(other.latency)
        return AppendResult(
            self.appends + other.appends,
            self.fsyncs + other.fsyncs,
            self.elapsed + other.elapsed,
            self.entry_bytes,
            latency,
        )


Bench = Callable[[str, int, int, float], AppendResult]


def paired(
    bench: Bench, directory: str, writers: int, entry_bytes: int, seconds: float, slices: int
) -> tuple[AppendResult, AppendResult]:
    """1 writer and ``writers`` writers, ``seconds`` each, in alternating slices, so that a
    disk whose fsync rate drifts (a rate-limited virtual disk) treats both alike."""
    one = many = None
    for _ in range(slices):
        a = bench(directory, 1, entry_bytes, seconds / slices)
        b = bench(directory, writers, entry_bytes, seconds / slices)
        one = a if one is None else one + a
        many = b if many is None else many + b
    assert one is not None and many is not None
    return one, many


def run_writers(
    writers: int, seconds: float, step: Callable[[], None]
) -> tuple[int, float, Latency]:
    """``writers`` threads call ``step`` until ``seconds`` pass; (calls, elapsed, the
    latency of each call)."""
    counts = [0] * writers
    latencies = [Latency() for _ in range(writers)]
    barrier = threading.Barrier(writers + 1)
    deadline = [0.0]

    def loop(k: int) -> None:
        barrier.wait()
        n = 0
        latency = latencies[k]
        now = time.perf_counter()
        while now < deadline[0]:
            step()
            done = time.perf_counter()
            latency.record(done - now)
            now = done
            n += 1
        counts[k] = n

    threads = [threading.Thread(target=loop, args=(k,)) for k in range(writers)]
    for t in threads:
        t.start()
    start = time.perf_counter()
    deadline[0] = start + seconds
    barrier.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    total = Latency()
    for latency in latencies:
        total.merge(latency)
    return sum(counts), elapsed, total


def appends_wal(directory: str, writers: int, entry_bytes: int, seconds: float) -> AppendResult:
    path = tempfile.mkdtemp(dir=directory)
    try:
        log = RecordLog.open(OsFileSystem(), path, lambda s, p, b: None)
        payload = b"w" * entry_bytes

        def step() -> None:
            log.sync_upto(log.append(payload))

        base = log.fsyncs
        appends, elapsed, latency = run_writers(writers, seconds, step)
        result = AppendResult(appends, log.fsyncs - base, elapsed, entry_bytes, latency)
        log.close()
        return result
    finally:
        shutil.rmtree(path)


def appends_raft(directory: str, writers: int, entry_bytes: int, seconds: float) -> AppendResult:
    path = tempfile.mkdtemp(dir=directory)
    try:
        storage = FileStorage.open(path, cluster_id="bench", node_id=1)
        payload = b"r" * entry_bytes
        lock = threading.Lock()
        next_index = [1]

        def step() -> None:
            with lock:  # the driver hands batches over in index order
                index = next_index[0]
                next_index[0] = index + 1
                storage.persist(None, [Entry(index, 1, payload)], None)
            storage.sync()

        base = storage.fsyncs
        appends, elapsed, latency = run_writers(writers, seconds, step)
        result = AppendResult(appends, storage.fsyncs - base, elapsed, entry_bytes, latency)
        storage.close()
        return result
    finally:
        shutil.rmtree(path)


# -- recovery -------------------------------------------------------------------------
def evict(path: str) -> None:
    """Drop ``path``'s files from the page cache (they are clean: all synced)."""
    for name in os.listdir(path):
        fd = os.open(os.path.join(path, name), os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def write_log(path: str, total_bytes: int, entry_bytes: int) -> tuple[int, float]:
    storage = FileStorage.open(path, cluster_id="bench", node_id=1)
    payload = b"e" * entry_bytes
    count = total_bytes // entry_bytes
    batch = max(1, 4 * MIB // entry_bytes)
    start = time.perf_counter()
    for lo in range(1, count + 1, batch):
        hi = min(count, lo + batch - 1)
        storage.persist(None, [Entry(i, 1, payload) for i in range(lo, hi + 1)], None)
        storage.sync()
    storage.close()
    return count, time.perf_counter() - start


def time_recovery(path: str, count: int, cold: bool) -> float:
    if cold:
        evict(path)
    start = time.perf_counter()
    storage = FileStorage.open(path, cluster_id="bench", node_id=1)
    recovered = storage.recover()
    elapsed = time.perf_counter() - start
    if len(recovered.entries) != count:
        raise AssertionError(f"recovered {len(recovered.entries)} entries, wrote {count}")
    del recovered
    storage.close()
    return elapsed


# -- main -----------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", default=None, help="directory on the disk to measure")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=2.0, help="per append measurement")
    parser.add_argument("--recovery-mib", type=int, default=1024)
    parser.add_argument("--writers", type=int, default=64, help="the concurrent case")
    parser.add_argument("--slices", type=int, default=6, help="1/N writer alternations")
    args = parser.parse_args(argv)
    base = tempfile.mkdtemp(prefix="bench-storage-", dir=args.dir)
    runs, seconds = args.runs, args.seconds
    print(f"# storage benchmark: {base}, median of {runs} runs\n")
    try:
        print("| CRC | 1 KiB buffers | 64 KiB buffers |\n|---|---|---|")
        for name, fn in (("crc32c", crc32c), ("zlib.crc32", zlib.crc32)):
            small = median_of(runs, lambda fn=fn: crc_mb_per_s(fn, KIB))  # type: ignore[misc]
            big = median_of(runs, lambda fn=fn: crc_mb_per_s(fn, 64 * KIB))  # type: ignore[misc]
            print(f"| {name} | {small:,.0f} MB/s | {big:,.0f} MB/s |")
        raw = median_of(runs, lambda: raw_fsync_per_s(base, seconds))
        print(f"\nraw write(1 KiB) + fdatasync loop: {raw:,.0f} fsyncs/s\n")
        many = args.writers
        print(
            f"| layer | entry | appends/s, 1 writer | appends/s, {many} writers | MB/s, {many} "
            f"writers | appends per fsync, {many} writers | {many} writers / 1 writer |"
        )
        print("|---|---|---|---|---|---|---|")
        for layer, bench in (("RecordLog", appends_wal), ("FileStorage", appends_raft)):
            for entry_bytes in (KIB, 64 * KIB):
                pairs = [
                    paired(bench, base, many, entry_bytes, seconds, args.slices)
                    for _ in range(runs)
                ]
                one = statistics.median(p[0].per_s for p in pairs)
                multi = statistics.median(p[1].per_s for p in pairs)
                mb = statistics.median(p[1].mb_per_s for p in pairs)
                per_fsync = statistics.median(p[1].per_fsync for p in pairs)
                ratio = statistics.median(p[1].per_s / p[0].per_s for p in pairs)
                print(
                    f"| {layer} | {entry_bytes // KIB} KiB | {one:,.0f} | {multi:,.0f} | "
                    f"{mb:,.1f} | {per_fsync:.1f} | {ratio:.1f}x |",
                    flush=True,
                )
        raw_after = median_of(runs, lambda: raw_fsync_per_s(base, seconds))
        print(f"\nraw fsync rate again, after the append runs: {raw_after:,.0f} fsyncs/s")
        path = os.path.join(base, "recovery")
        count, write_s = write_log(path, args.recovery_mib * MIB, KIB)
        size = sum(os.path.getsize(os.path.join(path, n)) for n in os.listdir(path))
        cold = median_of(runs, lambda: time_recovery(path, count, cold=True))
        warm = median_of(runs, lambda: time_recovery(path, count, cold=False))
        print(
            f"\nrecovery of {size / MIB:,.0f} MiB on disk ({count:,} entries of 1 KiB; "
            f"written in {write_s:.1f} s): open + recover {cold:.2f} s cold "
            f"(page cache evicted), {warm:.2f} s warm"
        )
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
