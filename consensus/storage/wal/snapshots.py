"""Snapshot files: one CRC-framed, codec-encoded ``Snapshot`` per file, written atomically.

Names carry a sequence number (and, for people, the snapshot's index):
``snap-000000000007-i120000.snap``. The highest sequence is the latest; older files are
deleted once a newer one is durable. A damaged latest snapshot is refused, never skipped:
the WAL it stood for may already be compacted away.
"""

from __future__ import annotations

import logging
import posixpath
import re

from ...codec import WIRE, DecodeError
from ...types import Snapshot
from ..base import StorageError
from ..fs import FileSystem, atomic_write
from .records import decode_single, encode_single

log = logging.getLogger("consensus.storage.wal")

_NAME = re.compile(r"^snap-(\d{12})-i(\d+)\.snap$")


def snapshot_name(seq: int, index: int) -> str:
    return f"snap-{seq:012d}-i{index}.snap"


class SnapshotStore:
    """The snapshot files of one data directory (not thread-safe: the owner locks)."""

    def __init__(self, fs: FileSystem, directory: str) -> None:
        self._fs = fs
        self._dir = directory
        self._seq = 0

    def _files(self) -> list[tuple[int, str]]:
        found = []
        for name in self._fs.list(self._dir):
            match = _NAME.match(name)
            if match is not None:
                found.append((int(match.group(1)), name))
            elif name.endswith(".snap"):
                raise StorageError(f"unexpected snapshot file name {name} in {self._dir}")
        return sorted(found)

    def load_latest(self) -> Snapshot | None:
        """The latest snapshot, checked; removes older leftovers. ``StorageError`` if the
        latest file is damaged."""
        files = self._files()
        if not files:
            return None
        self._seq, name = files[-1]
        path = posixpath.join(self._dir, name)
        try:
            snapshot = WIRE.decode(decode_single(self._fs.read(path), path))
        except (ValueError, DecodeError) as exc:
            raise StorageError(f"snapshot file is damaged: {exc}") from None
        if not isinstance(snapshot, Snapshot):
            raise StorageError(f"snapshot file {path} holds a {type(snapshot).__name__}")
        self._remove(files[:-1])
        return snapshot

    def save(self, snapshot: Snapshot) -> None:
        """Write ``snapshot`` as the new latest, durably; then delete the older files."""
        older = self._files()
        self._seq += 1
        name = snapshot_name(self._seq, snapshot.meta.index)
        atomic_write(
            self._fs, posixpath.join(self._dir, name), encode_single(WIRE.encode(snapshot))
        )
        self._remove(older)

    def _remove(self, files: list[tuple[int, str]]) -> None:
        for _, name in files:
            self._fs.remove(posixpath.join(self._dir, name))
            log.info("removed superseded snapshot %s", posixpath.join(self._dir, name))
        if files:
            self._fs.fsync_dir(self._dir)
