"""Storage for protocol cores: the interface, in-memory and durable (WAL) implementations.

- :mod:`.base`: ``CoreStorage`` (persist / sync / recover / compact), ``LogReader``,
  ``StorageError``.
- :class:`MemoryStorage`: honest in-memory model of a disk, for tests and simulation.
- :class:`FileStorage` (Raft) and :class:`PaxosFileStorage` (Multi-Paxos): segments +
  CRC + fsync with group commit, snapshots, identity; ``paxos_memory`` holds the
  in-memory Paxos store.
- :mod:`.fs`: the file-system shim (real disk, or simulated with faults).
- :class:`SimDiskStorage` / :class:`PaxosSimDiskStorage`: the file stores on a simulated
  disk, with ``crash()``.
"""

from .base import CoreStorage as CoreStorage
from .base import LogCompacted as LogCompacted
from .base import LogReader as LogReader
from .base import LogUnavailable as LogUnavailable
from .base import RaftLogStorage as RaftLogStorage
from .base import Recovered as Recovered
from .base import StorageError as StorageError
from .memory import MemoryStorage as MemoryStorage
from .sim_disk import PaxosSimDiskStorage as PaxosSimDiskStorage
from .sim_disk import SimDiskStorage as SimDiskStorage
from .wal import FileStorage as FileStorage
from .wal import PaxosFileStorage as PaxosFileStorage
from .wal import RecordLog as RecordLog
from .wal import WalOptions as WalOptions

__all__ = [
    "CoreStorage",
    "FileStorage",
    "LogCompacted",
    "LogReader",
    "LogUnavailable",
    "MemoryStorage",
    "PaxosFileStorage",
    "PaxosSimDiskStorage",
    "RaftLogStorage",
    "RecordLog",
    "Recovered",
    "SimDiskStorage",
    "StorageError",
    "WalOptions",
]
