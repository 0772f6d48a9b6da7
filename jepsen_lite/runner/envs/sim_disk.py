"""One simulated node's durable storage for the sim environment.

:class:`MemoryDisk` wraps the in-memory stores (``MemoryStorage`` for Raft,
``PaxosMemoryStorage`` for Multi-Paxos): a crash keeps exactly what was synced. No disk
faults.

:class:`FileDisk` is the real file WAL (``FileStorage`` / ``PaxosFileStorage``) on a
:class:`~consensus.storage.fs.SimFileSystem`. A crash with no disk fault armed is a
process crash (``CrashMode.PROCESS``: what was written survives, as the kernel keeps it
after SIGKILL; what still sat in the WAL's own write buffer is lost). A disk fault
(:meth:`FileDisk.arm`) decides what the *next* crash does instead:

- ``lose-unsynced``: a power loss: only synced bytes and names survive;
- ``torn-write``: a torn write-back: a random prefix of each file's unsynced tail
  survives, with one bit of it flipped (the WAL's CRCs must catch it and drop the tail);
- ``bit-flip``: a power loss, then one bit flipped inside a WAL record that recovery can
  prove was durable (a record in a sealed segment, or one a later record's ``synced``
  watermark covers): media corruption, which recovery must refuse.

:meth:`FileDisk.open` reopens the data directory after a crash; a ``StorageError`` from
it (recovery refusing damaged data) is the caller's to report.
"""

from __future__ import annotations

import random
from typing import Any

from consensus.storage.fs import CrashMode, SimFileSystem
from consensus.storage.memory import MemoryStorage
from consensus.storage.paxos_memory import PaxosMemoryStorage
from consensus.storage.wal import FileStorage, PaxosFileStorage, WalOptions
from consensus.storage.wal.records import HEADER, HEADER_BYTES, SEGMENT_MAGIC
from consensus.types import NodeId

from ..api import Fault
from . import sim_lwt

DATA_DIR = "/data"
DISK_SHAPES: tuple[str, ...] = ("lose-unsynced", "torn-write", "bit-flip")
WAL_OPTIONS = WalOptions(segment_bytes_max=256 * 1024, buffer_bytes_max=64 * 1024)


class MemoryDisk:
    """In-memory storage that survives the node's crashes (see the module doc)."""

    kind = "memory"

    def __init__(self, protocol: str) -> None:
        self.store: Any = MemoryStorage() if protocol == "raft" else PaxosMemoryStorage()
        if protocol == "paxos-lwt":
            self.store = sim_lwt.memory_store()

    def open(self) -> Any:
        return self.store

    def crash(self) -> str:
        self.store.crash()
        return "unsynced writes lost"


class FileDisk:
    """The file WAL on a simulated disk (see the module doc)."""

    kind = "disk"

    def __init__(self, protocol: str, node: NodeId, rng: random.Random) -> None:
        self.protocol = protocol
        self.node = node
        self.rng = rng
        self.fs = SimFileSystem(random.Random(rng.getrandbits(64)))
        self.armed: Fault | None = None
        self.store: Any = None

    def open(self) -> Any:
        """Open (or create) the data directory and recover; ``StorageError`` if recovery
        refuses what it found."""
        cls: Any = FileStorage if self.protocol == "raft" else PaxosFileStorage
        if self.protocol == "paxos-lwt":
            cls = sim_lwt.file_store_class()
        self.store = cls.open(
            DATA_DIR, cluster_id="sim", node_id=self.node, fs=self.fs, options=WAL_OPTIONS
        )
        return self.store

    def arm(self, fault: Fault) -> None:
        """Make the next crash apply ``fault`` (``ValueError`` for an unknown shape)."""
        if fault.shape not in DISK_SHAPES:
            raise ValueError(
                f"unknown disk fault shape {fault.shape!r}: choose one of {', '.join(DISK_SHAPES)}"
            )
        self.armed = fault

    def crash(self) -> str:
        """Crash the machine as the armed fault says; returns what happened, in words."""
        fault, self.armed = self.armed, None
        self.store = None
        if fault is None:
            self.fs.crash(CrashMode.PROCESS)
            return "process crash (written data kept)"
        if fault.shape == "lose-unsynced":
            self.fs.crash(CrashMode.POWER_LOSS)
            return "power loss (unsynced writes lost)"
        if fault.shape == "torn-write":
            self.fs.crash(CrashMode.TORN, garble=True)
            return "torn write-back (unsynced tail torn and garbled)"
        self.fs.crash(CrashMode.POWER_LOSS)
        return "power loss, then " + self._flip_durable_bit()

    def _flip_durable_bit(self) -> str:
        candidates = self._proven_records()
        if not candidates:
            return "bit-flip found no record proven durable (nothing flipped)"
        path, start, end = candidates[self.rng.randrange(len(candidates))]
        offset = self.rng.randrange(start, end)
        bit = self.rng.randrange(8)
        self.fs.flip_bit(path, offset, bit)
        return f"bit {bit} of byte {offset} of {path} flipped"

    def _proven_records(self) -> list[tuple[str, int, int]]:
        """(path, first byte, end) of the payloads of WAL records that recovery knows
        were durable: every record of a segment but the last, and records of the last
        segment that a later record's ``synced`` watermark covers."""
        names = sorted(n for n in self.fs.list(DATA_DIR) if n.endswith(".wal"))
        found: list[tuple[str, int, int]] = []
        for i, name in enumerate(names):
            path = f"{DATA_DIR}/{name}"
            data = self.fs.read(path)
            start = int(name[:20])
            records: list[tuple[int, int]] = []  # (payload start, end)
            watermarks: list[int] = []
            offset = len(SEGMENT_MAGIC)
            while len(data) - offset >= HEADER_BYTES:
                _crc, length, synced = HEADER.unpack_from(data, offset)
                end = offset + HEADER_BYTES + length
                if length == 0 or end > len(data):
                    break
                records.append((offset + HEADER_BYTES, end))
                watermarks.append(synced)
                offset = end
            last = i == len(names) - 1
            for k, (lo, hi) in enumerate(records):
                later = max(watermarks[k + 1 :], default=-1)
                if not last or later >= start + hi:
                    found.append((path, lo, hi))
        return found
