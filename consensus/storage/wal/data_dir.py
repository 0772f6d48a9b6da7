"""What every WAL-backed store shares, whatever its protocol.

A :class:`DataDir` is one open data directory::

    IDENTITY                     cluster id, node id, protocol (checked on every open)
    LOCK                         held (flock) while a process has the directory open;
                                 holds that process's pid
    CHECKPOINT                   the store's checkpoint, replaced atomically
    00000000000000000000.wal     WAL segments, named for their first log position
    snap-000000000003-i4096.snap latest snapshot, replaced atomically

It opens the directory (lock, identity, leftovers of interrupted atomic writes, the
checkpoint, the latest snapshot), then the WAL with the store's replay function; keeps
per segment the highest log index (Raft) or slot (Paxos) written into it; stores
snapshots after syncing what came before them; and compacts: checkpoint first, then
delete the segments holding only indexes at or below a snapshot. It also holds the
failure state: after any failed write or fsync the store refuses every call.

The checkpoint holds the position the WAL starts at (or before), and an opaque blob the
store uses for state whose latest record may sit in a deleted segment (Raft: the hard
state; Paxos: the promised ballot and commit index), with the position of that record.
"""

from __future__ import annotations

import logging
import posixpath
import struct
from collections.abc import Sequence

import attrs

from ...types import NodeId, Snapshot
from ..base import StorageError, describe_failure
from ..fs import FileLock, FileSystem, OsFileSystem, atomic_write, remove_temporaries
from .identity import LOCK_FILE, ensure_identity
from .record_log import RecordLog, WalOptions
from .records import decode_single, encode_single
from .recovery import Replay
from .snapshots import SnapshotStore

log = logging.getLogger("consensus.storage.wal")

CHECKPOINT_FILE = "CHECKPOINT"
_CHECKPOINT_HEAD = struct.Struct("<8sQ")
_CHECKPOINT_MAGIC = b"CKPT0001"


@attrs.frozen(slots=True)
class Checkpoint:
    wal_start: int = 0
    blob: bytes = b""


class DataDir:
    """See the module docstring. Construct with :meth:`open`, then :meth:`open_wal`."""

    def __init__(
        self,
        fs: FileSystem,
        path: str,
        dir_lock: FileLock,
        options: WalOptions,
        checkpoint: Checkpoint,
        snapshots: SnapshotStore,
    ) -> None:
        self.fs = fs
        self.path = path
        self.options = options
        self.checkpoint = checkpoint
        self.snapshots = snapshots
        self.snapshot: Snapshot | None = None
        self.segment_max_index: dict[int, int] = {}
        self._dir_lock = dir_lock
        self._wal: RecordLog | None = None
        self._failed: StorageError | None = None
        self._closed = False

    @classmethod
    def open(
        cls,
        path: str,
        *,
        cluster_id: str,
        node_id: NodeId,
        protocol: str,
        fs: FileSystem | None = None,
        options: WalOptions | None = None,
    ) -> DataDir:
        """Lock and check the directory, read its checkpoint and latest snapshot. Any
        failure is a ``StorageError`` saying why."""
        fs = fs or OsFileSystem()
        lock_path = posixpath.join(path, LOCK_FILE)
        try:
            fs.mkdir(path)
            dir_lock = fs.lock(lock_path)
        except BlockingIOError:
            raise StorageError(
                f"data dir {path} is in use by another process "
                f"(lock {lock_path} is held{lock_holder(fs, lock_path)})"
            ) from None
        except OSError as exc:
            raise StorageError(f"cannot open data dir {path}: {exc}") from exc
        try:
            for name in remove_temporaries(fs, path):
                log.info("removed %s, left by an interrupted atomic write", f"{path}/{name}")
            ensure_identity(fs, path, cluster_id, node_id, protocol)
            snapshots = SnapshotStore(fs, path)
            data_dir = cls(
                fs, path, dir_lock, options or WalOptions(), _read_checkpoint(fs, path), snapshots
            )
            data_dir.snapshot = snapshots.load_latest()
            return data_dir
        except OSError as exc:
            dir_lock.release()
            raise StorageError(f"cannot open data dir {path}: {exc}") from exc
        except BaseException:
            dir_lock.release()
            raise

    def open_wal(self, replay: Replay) -> RecordLog:
        """Recover the WAL, calling ``replay`` for every record (see :mod:`.recovery`)."""
        try:
            self._wal = RecordLog.open(
                self.fs,
                self.path,
                replay,
                options=self.options,
                start_position=self.checkpoint.wal_start,
            )
        except OSError as exc:
            self._dir_lock.release()
            raise StorageError(f"cannot recover the WAL in {self.path}: {exc}") from exc
        except BaseException:
            self._dir_lock.release()
            raise
        return self._wal

    @property
    def wal(self) -> RecordLog:
        assert self._wal is not None, "open_wal() first"
        return self._wal

    # -- bookkeeping ----------------------------------------------------------------
    def note_index(self, segment: int, index: int) -> None:
        """Record that ``segment`` holds a record about log index (or slot) ``index``."""
        if self.segment_max_index.get(segment, 0) < index:
            self.segment_max_index[segment] = index

    def append_indexed(self, payload: bytes, index: int) -> int:
        """Append a record about ``index``; returns its end position."""
        end = self.wal.append(payload)
        self.note_index(self.wal.active_segment, index)
        return end

    def append_indexed_many(self, payloads: Sequence[bytes], indexes: Sequence[int]) -> None:
        """:meth:`append_indexed` each payload with its index, in order (the WAL's lock
        taken once for all)."""
        segment_max = self.segment_max_index
        for (_, segment), index in zip(self.wal.append_many(payloads), indexes, strict=True):
            if segment_max.get(segment, 0) < index:
                segment_max[segment] = index

    # -- snapshots and compaction ---------------------------------------------------
    def save_snapshot(self, snapshot: Snapshot) -> None:
        """Sync the WAL (so everything before the snapshot is durable first), then write
        the snapshot file durably. The store appends its mark after this."""
        self.wal.sync()
        self.snapshots.save(snapshot)
        self.snapshot = snapshot

    def drop_covered(self, index: int, blob: bytes) -> None:
        """Delete the oldest segments holding only indexes <= ``index`` (never the active
        one), after writing the checkpoint ``blob`` (which must be durable state: sync
        first) with the new start of the WAL."""
        wal = self.wal
        segments = wal.segments()
        active = wal.active_segment
        keep_from = active
        for start in segments:
            if start == active or self.segment_max_index.get(start, 0) > index:
                keep_from = start
                break
        if keep_from == segments[0]:
            return
        self.write_checkpoint(Checkpoint(keep_from, blob))
        for start in wal.drop_segments_before(keep_from):
            self.segment_max_index.pop(start, None)
            log.info("compaction removed WAL segment %d (indexes <= %d)", start, index)

    def write_checkpoint(self, checkpoint: Checkpoint) -> None:
        data = _CHECKPOINT_HEAD.pack(_CHECKPOINT_MAGIC, checkpoint.wal_start) + checkpoint.blob
        atomic_write(self.fs, posixpath.join(self.path, CHECKPOINT_FILE), encode_single(data))
        self.checkpoint = checkpoint

    # -- failure and lifecycle ------------------------------------------------------
    def check_usable(self) -> None:
        if self._failed is not None:
            raise StorageError(f"storage is unusable after an earlier failure: {self._failed}")
        if self._closed:
            raise StorageError(f"storage {self.path} is closed")
        failure = self.wal.failure
        if failure is not None:
            raise StorageError(f"storage is unusable after an earlier failure: {failure}")

    def fail(self, what: str, exc: OSError) -> StorageError:
        """Turn the store unusable; the caller raises the returned error."""
        if self._failed is None:
            self._failed = StorageError(
                f"{what} in {self.path} failed: {describe_failure(exc)}; "
                "the storage refuses further use"
            )
        return self._failed

    def close(self) -> None:
        """Sync and release the WAL and the lock. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._failed is None and self.wal.failure is None:
                self.wal.close()
        finally:
            self._dir_lock.release()

    def abandon(self) -> None:
        """Let go as a killed process would: nothing synced, unsent appends lost."""
        self._closed = True
        if self._wal is not None:
            self._wal.abandon()
        self._dir_lock.release()


def lock_holder(fs: FileSystem, lock_path: str) -> str:
    """`` by pid N`` when the lock file names its holder (see ``OsFileLock``), else ``""``."""
    try:
        text = fs.read(lock_path).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return f" by pid {text}" if text.isdigit() else ""


def _read_checkpoint(fs: FileSystem, directory: str) -> Checkpoint:
    path = posixpath.join(directory, CHECKPOINT_FILE)
    if not fs.exists(path):
        return Checkpoint()
    try:
        data = decode_single(fs.read(path), path)
        if len(data) < _CHECKPOINT_HEAD.size or data[:8] != _CHECKPOINT_MAGIC:
            raise ValueError(f"{path} is not a checkpoint file")
    except ValueError as exc:
        raise StorageError(f"checkpoint unreadable: {exc}") from None
    _, wal_start = _CHECKPOINT_HEAD.unpack_from(data)
    return Checkpoint(wal_start, data[_CHECKPOINT_HEAD.size :])
