"""The file-system interface every durable store goes through.

Two implementations: :class:`~consensus.storage.fs.OsFileSystem` (the real disk) and
:class:`~consensus.storage.fs.SimFileSystem` (in memory, with seeded faults). Storage code
never touches ``os`` directly, so every write, fsync and rename can be counted, failed or
cut short by a simulated crash.

Durability contract (what the storage code may rely on, and what the simulator enforces):

- Bytes written by :meth:`AppendFile.append` or :meth:`FileSystem.write` are durable only
  after an ``fsync`` of that file returns.
- A new name (file creation, :meth:`FileSystem.rename`) or a removed name is durable only
  after :meth:`FileSystem.fsync_dir` of the directory holding it returns.
- A failed fsync raises ``OSError``; what it was meant to make durable may be lost even if
  a later fsync succeeds (Linux drops the dirty pages), so callers must never retry.
- Directories made by :meth:`FileSystem.mkdir` are durable when it returns.

Paths are plain strings; errors are ``OSError`` (``FileNotFoundError`` for a missing file).
"""

from __future__ import annotations

from typing import Protocol


class AppendFile(Protocol):
    """A file opened for appending (a WAL segment)."""

    @property
    def path(self) -> str: ...

    def append(self, data: bytes) -> None:
        """Write ``data`` at the end of the file (all of it, or raise)."""

    def fsync(self) -> None:
        """Make every byte appended so far durable (fdatasync: data and size)."""

    def close(self) -> None:
        """Release the handle (does not sync)."""


class FileLock(Protocol):
    """An exclusive lock on a data directory, held until :meth:`release`."""

    def release(self) -> None: ...


class FileSystem(Protocol):
    def open(self, path: str) -> AppendFile:
        """Open ``path`` for appending, creating it (empty) if missing."""
        ...

    def read(self, path: str, offset: int = 0, length: int | None = None) -> bytes:
        """Up to ``length`` bytes from ``offset`` (to the end if ``length`` is None)."""
        ...

    def size(self, path: str) -> int: ...

    def write(self, path: str, data: bytes) -> None:
        """Create or replace ``path`` with ``data`` (not durable until ``fsync``)."""

    def write_at(self, path: str, offset: int, data: bytes) -> None:
        """Overwrite ``path``'s bytes from ``offset`` in place with ``data`` (extending the
        file if it runs past the end; not durable until ``fsync``)."""

    def fsync(self, path: str) -> None:
        """Make the contents of ``path`` durable."""

    def rename(self, src: str, dst: str) -> None:
        """Atomically replace ``dst`` with ``src`` (same directory)."""

    def fsync_dir(self, path: str) -> None:
        """Make creations, renames and removals in directory ``path`` durable."""

    def list(self, path: str) -> list[str]:
        """Names (not paths) in directory ``path``, sorted."""
        ...

    def exists(self, path: str) -> bool: ...

    def remove(self, path: str) -> None: ...

    def truncate(self, path: str, size: int) -> None:
        """Cut ``path`` to ``size`` bytes (not durable until ``fsync``)."""

    def mkdir(self, path: str) -> None:
        """Create directory ``path`` and its parents if missing (durable on return)."""

    def lock(self, path: str) -> FileLock:
        """Take an exclusive lock file at ``path``; raise ``BlockingIOError`` if held."""
        ...
