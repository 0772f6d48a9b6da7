"""The file-system shim: every byte a durable store writes goes through a ``FileSystem``.

:class:`OsFileSystem` is the real disk; :class:`SimFileSystem` keeps files in memory and
injects seeded faults (crashes at a chosen operation, torn and scrambled tails, flipped
bits, failed fsyncs) for crash-point tests and the simulator. :func:`atomic_write`
replaces a small file so that a crash leaves either the old or the new contents.
"""

from ._api import AppendFile as AppendFile
from ._api import FileLock as FileLock
from ._api import FileSystem as FileSystem
from ._atomic import atomic_write as atomic_write
from ._atomic import remove_temporaries as remove_temporaries
from ._os import OsFileSystem as OsFileSystem
from ._sim import SECTOR_BYTES as SECTOR_BYTES
from ._sim import CrashMode as CrashMode
from ._sim import SimFileSystem as SimFileSystem
from ._sim import SimulatedCrash as SimulatedCrash

__all__ = [
    "SECTOR_BYTES",
    "AppendFile",
    "CrashMode",
    "FileLock",
    "FileSystem",
    "OsFileSystem",
    "SimFileSystem",
    "SimulatedCrash",
    "atomic_write",
    "remove_temporaries",
]
