"""File-backed stores on a :class:`~consensus.storage.fs.SimFileSystem`: the real WAL
code under simulated disk faults, with the ``crash()`` the simulator's storage protocol
asks for. One instance is one node's disk; ``crash`` is a power cut (or a torn one)
followed by a restart that reopens the data directory.

:class:`SimDiskStorage` holds a Raft ``FileStorage``; :class:`PaxosSimDiskStorage` a
``PaxosFileStorage`` (drop-in for ``PaxosMemoryStorage`` in a simulator spec)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from ..messages import PaxosHardState
from ..types import Entry, HardState, Index, Snapshot, Term
from .base import Recovered
from .fs import CrashMode, SimFileSystem
from .wal import FileStorage, PaxosFileStorage, WalOptions

SIM_DATA_DIR = "/data"


HS = TypeVar("HS")


class _SimDisk(Generic[HS]):
    """One node's simulated disk holding a file store; ``crash_mode`` says what a crash
    keeps (default: exactly the synced state, like ``MemoryStorage``)."""

    def __init__(
        self,
        seed: int | random.Random = 0,
        *,
        crash_mode: CrashMode = CrashMode.POWER_LOSS,
        options: WalOptions | None = None,
        cluster_id: str = "sim",
        node_id: int = 1,
    ) -> None:
        self.fs = SimFileSystem(seed)
        self.crash_mode = crash_mode
        self.garble = False
        """The next crash flips a bit in what survives of the unsynced bytes."""
        self._options = options or WalOptions(segment_bytes_max=64 * 1024)
        self._identity = (cluster_id, node_id)
        self.storage: Any = self._open()

    def _store_class(self) -> Any:
        raise NotImplementedError

    def _open(self) -> Any:
        cluster_id, node_id = self._identity
        return self._store_class().open(
            SIM_DATA_DIR, cluster_id=cluster_id, node_id=node_id, fs=self.fs, options=self._options
        )

    def crash(self) -> None:
        """The machine loses power (per ``crash_mode``) and the node reopens its disk."""
        self.fs.crash(self.crash_mode, self.garble)
        self.garble = False
        self.storage = self._open()

    def persist(
        self, hard_state: HS | None, entries: Sequence[Entry], snapshot: Snapshot | None
    ) -> None:
        self.storage.persist(hard_state, entries, snapshot)

    def sync(self) -> None:
        self.storage.sync()

    def recover(self) -> Recovered[HS]:
        recovered: Recovered[HS] = self.storage.recover()
        return recovered

    def compact(self, snapshot: Snapshot) -> None:
        self.storage.compact(snapshot)


class SimDiskStorage(_SimDisk[HardState]):
    """Raft storage (``FileStorage``) on a simulated disk, with its log reads."""

    storage: FileStorage

    def _store_class(self) -> Any:
        return FileStorage

    def first_index(self) -> Index:
        return self.storage.first_index()

    def last_index(self) -> Index:
        return self.storage.last_index()

    def term(self, index: Index) -> Term:
        return self.storage.term(index)

    def entries(self, lo: Index, hi: Index, bytes_max: int | None = None) -> list[Entry]:
        return self.storage.entries(lo, hi, bytes_max)

    def snapshot(self) -> Snapshot | None:
        return self.storage.snapshot()

    def hard_state(self) -> HardState | None:
        return self.storage.hard_state()


class PaxosSimDiskStorage(_SimDisk[PaxosHardState]):
    """Multi-Paxos storage (``PaxosFileStorage``) on a simulated disk."""

    storage: PaxosFileStorage

    def _store_class(self) -> Any:
        return PaxosFileStorage
