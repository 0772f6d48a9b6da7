"""The ``storage`` suite: the write-ahead log and the Raft store on the real disk.

Runs the measurements of :mod:`consensus.bench.storage_bench` in a temporary directory
(``--storage-dir`` chooses the disk) and records one cell per measurement, every cell with
params ``{"env": "local", "what": ...}``:

- ``what="crc"`` (``impl``, ``buffer_kib``): ``mb_per_s``;
- ``what="fsync"``: ``syncs_per_s`` of a write(1 KiB) + fdatasync loop, the ceiling for one
  writer;
- ``what="append"`` (``layer`` RecordLog | FileStorage, ``entry_kib``, ``writers``):
  ``appends_per_s``, ``mb_per_s``, ``appends_per_fsync``, ``syncs_per_s`` and the latency
  of one append + sync (``p50_ms`` ... ``max_ms``). The 1-writer and ``--storage-writers``
  cells of one layer and size are measured in alternating slices (see
  :func:`~consensus.bench.storage_bench.paired`), so their ratio is read within one run;
- ``what="recovery"`` (``cache`` cold | warm, ``mib``): ``recovery_s``,
  ``recovery_mib_per_s`` (MiB on disk per second of ``FileStorage.open`` + ``recover()``)
  and ``entries_per_s``.

``args.runs`` repetitions per cell; ``args.seconds`` (default 1.0, ``--quick`` 0.1) is the
time of each append measurement. ``--quick``: 1 KiB entries only, 8 writers, a 2 MiB log.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import zlib
from collections.abc import Callable

from crc32c import crc32c

from .. import storage_bench as sb
from ..report import BenchReport, Params

DESCRIPTION = "the write-ahead log and snapshot store: append, sync and recovery rates"
SUITE = "storage"


def configure(group: argparse._ArgumentGroup) -> None:
    """The ``--storage-...`` options."""
    group.add_argument("--storage-dir", default=None, help="directory on the disk to measure")
    group.add_argument(
        "--storage-writers", type=int, default=None, help="the concurrent case (64; quick 8)"
    )
    group.add_argument(
        "--storage-recovery-mib", type=int, default=None, help="log to recover (64; quick 2)"
    )
    group.add_argument(
        "--storage-slices", type=int, default=4, help="1/N writer alternations per run"
    )


def run(args: argparse.Namespace, report: BenchReport) -> None:
    """Add the suite's cells to ``report`` (see the module docstring)."""
    quick = bool(getattr(args, "quick", False))
    runs = int(args.runs)
    seconds = float(args.seconds) if getattr(args, "seconds", None) else (0.1 if quick else 1.0)
    writers = getattr(args, "storage_writers", None) or (8 if quick else 64)
    mib = getattr(args, "storage_recovery_mib", None) or (2 if quick else 64)
    slices = max(1, int(getattr(args, "storage_slices", 4) or 4))
    sizes = (sb.KIB,) if quick else (sb.KIB, 64 * sb.KIB)
    base = tempfile.mkdtemp(prefix="bench-storage-", dir=getattr(args, "storage_dir", None))
    try:
        _crc(report, runs, 0.05 if quick else 0.3)
        fsync = report.cell(SUITE, "raw fsync", {"env": "local", "what": "fsync"})
        for _ in range(runs):
            fsync.add_run({"syncs_per_s": sb.raw_fsync_per_s(base, seconds)})
        _appends(report, base, runs, seconds, writers, slices, sizes)
        _recovery(report, base, runs, mib)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _crc(report: BenchReport, runs: int, seconds: float) -> None:
    impls: tuple[tuple[str, Callable[[bytes], int]], ...] = (
        ("crc32c", crc32c),
        ("zlib.crc32", zlib.crc32),
    )
    for name, fn in impls:
        for kib in (1, 64):
            params: Params = {"env": "local", "what": "crc", "impl": name, "buffer_kib": kib}
            cell = report.cell(SUITE, f"{name} {kib} KiB", params)
            for _ in range(runs):
                cell.add_run({"mb_per_s": sb.crc_mb_per_s(fn, kib * sb.KIB, seconds)})


def _appends(
    report: BenchReport,
    base: str,
    runs: int,
    seconds: float,
    writers: int,
    slices: int,
    sizes: tuple[int, ...],
) -> None:
    layers: tuple[tuple[str, sb.Bench], ...] = (
        ("RecordLog", sb.appends_wal),
        ("FileStorage", sb.appends_raft),
    )
    for layer, bench in layers:
        for entry_bytes in sizes:
            kib = entry_bytes // sb.KIB
            cells = [
                report.cell(
                    SUITE,
                    f"{layer} {kib} KiB x{n}",
                    {
                        "env": "local",
                        "what": "append",
                        "layer": layer,
                        "entry_kib": kib,
                        "writers": n,
                    },
                )
                for n in (1, writers)
            ]
            for _ in range(runs):
                pair = sb.paired(bench, base, writers, entry_bytes, seconds, slices)
                for cell, result in zip(cells, pair, strict=True):
                    cell.add_run(
                        {
                            "appends_per_s": result.per_s,
                            "mb_per_s": result.mb_per_s,
                            "appends_per_fsync": result.per_fsync,
                            "syncs_per_s": result.fsyncs / result.elapsed,
                            **result.latency.figures(),
                        }
                    )


def _recovery(report: BenchReport, base: str, runs: int, mib: int) -> None:
    path = os.path.join(base, "recovery")
    count, _ = sb.write_log(path, mib * sb.MIB, sb.KIB)
    size_mib = sum(os.path.getsize(os.path.join(path, n)) for n in os.listdir(path)) / sb.MIB
    for cache in ("cold", "warm"):
        params: Params = {"env": "local", "what": "recovery", "cache": cache, "mib": mib}
        cell = report.cell(SUITE, f"recovery {mib} MiB {cache}", params)
        for _ in range(runs):
            elapsed = sb.time_recovery(path, count, cold=cache == "cold")
            cell.add_run(
                {
                    "recovery_s": elapsed,
                    "recovery_mib_per_s": size_mib / elapsed,
                    "entries_per_s": count / elapsed,
                }
            )
