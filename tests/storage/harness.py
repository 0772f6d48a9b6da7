"""Storage under test: one harness per implementation, with restart and crash.

``reopen`` is a clean shutdown and restart; ``crash`` a power cut and restart. With
``exact_crash`` the crash keeps exactly the synced state; without (the real disk, where a
test cannot cut the power) it is a killed process, and unsynced writes may survive.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from consensus.storage import FileStorage, MemoryStorage, WalOptions
from consensus.storage.fs import CrashMode, OsFileSystem, SimFileSystem
from consensus.types import Entry, HardState, Snapshot, SnapshotMeta

SMALL = WalOptions(segment_bytes_max=4096, buffer_bytes_max=512)


class MemoryHarness:
    name = "memory"
    exact_crash = True

    def __init__(self) -> None:
        self.storage: Any = MemoryStorage()

    def reopen(self) -> None:
        self.storage.sync()
        self.storage.crash()

    def crash(self) -> None:
        self.storage.crash()

    def close(self) -> None:
        pass


class FileHarness:
    def __init__(self, fs: Any, path: str, exact_crash: bool, options: WalOptions) -> None:
        self.fs = fs
        self.path = path
        self.exact_crash = exact_crash
        self.options = options
        self.storage: Any = self.open()

    def open(self) -> FileStorage:
        return FileStorage.open(
            self.path, cluster_id="test", node_id=1, fs=self.fs, options=self.options
        )

    def reopen(self) -> None:
        self.storage.close()
        self.storage = self.open()

    def crash(self) -> None:
        if isinstance(self.fs, SimFileSystem):
            self.fs.crash(CrashMode.POWER_LOSS)
        else:
            self.storage.abandon()
        self.storage = self.open()

    def close(self) -> None:
        self.storage.close()


def os_harness(tmp_path: Path, options: WalOptions = SMALL) -> FileHarness:
    h = FileHarness(OsFileSystem(), str(tmp_path / "data"), False, options)
    h.name = "file-os"  # type: ignore[attr-defined]
    return h


def sim_harness(seed: int = 0, options: WalOptions = SMALL) -> FileHarness:
    h = FileHarness(SimFileSystem(seed), "/data", True, options)
    h.name = "file-sim"  # type: ignore[attr-defined]
    return h


def entries(lo: int, hi: int, term: int, size: int = 40, tag: bytes = b"") -> list[Entry]:
    """Entries ``lo .. hi`` (inclusive) of ``term``; data tells index and term apart."""
    return [
        Entry(i, term, (tag + f"{i}:{term}:".encode()).ljust(size, b".")) for i in range(lo, hi + 1)
    ]


def snap(index: int, term: int, data: bytes = b"image") -> Snapshot:
    return Snapshot(SnapshotMeta(index, term, (1, 2, 3)), data + f"@{index}".encode())


def hs(term: int, vote: int | None, commit: int) -> HardState:
    return HardState(term, vote, commit)


def rng_bytes(rng: random.Random, n: int) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(n))
