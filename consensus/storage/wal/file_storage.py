"""Durable Raft storage on files: a WAL of entries, hard states and snapshot marks, plus
snapshot files and a checkpoint (the directory layout is in :mod:`.data_dir`).

Write path. ``persist`` appends one WAL record per entry, one for a changed hard state
(entries first, so a torn tail never keeps a commit index without its entries) and, for
a snapshot, a mark. ``sync`` is the WAL's group commit: the hard state rides the same
fsync as the entries. The checkpoint (write, fsync, rename, fsync the directory) takes
the hard state before compaction deletes segments, so deleting a segment never loses
it; recovery takes whichever of checkpoint and WAL is newer.

Durability. What ``sync`` returned for survives any crash; what survives beyond that is
always the state after some prefix of the persisted operations (snapshot, each entry,
hard state, in order). Two calls make earlier operations durable without a ``sync``:
persisting a snapshot syncs everything before it and writes the snapshot file durably
(so a snapshot, once persisted, survives); and sealing a full segment syncs it.

Snapshots. ``compact`` (a local snapshot) and a snapshot in ``persist`` (from the leader)
both write the snapshot file, then a mark into the WAL saying whether the log was kept
after it or dropped. ``compact`` then deletes the segments whose entries all lie at or
below the snapshot (never the active one).

Reads and memory. Like etcd, the whole log since the last snapshot is also kept in
memory (a :class:`LogView`) and reads come from there; compaction bounds it.

Threads. Every method may be called from any thread; ``sync`` runs concurrently with
``persist`` and with other ``sync`` calls, sharing fsyncs.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from ...types import Entry, HardState, Index, NodeId, Snapshot, Term
from ..base import Recovered, StorageError
from ..fs import FileSystem
from ..log_view import LogView, check_append
from .data_dir import DataDir
from .raft_records import (
    SnapshotMark,
    decode_hard_state_checkpoint,
    encode_entry,
    encode_hard_state,
    encode_hard_state_checkpoint,
    encode_mark,
)
from .record_log import WalOptions
from .replay import RaftReplay

PROTOCOL = "raft"


class FileStorage:
    """Raft storage on files; see the module docstring. Construct with :meth:`open`."""

    def __init__(
        self,
        data_dir: DataDir,
        view: LogView,
        hard_state: HardState | None,
        hard_state_position: int,
    ) -> None:
        self._dir = data_dir
        self._wal = data_dir.wal
        self._view = view
        self._hard_state = hard_state
        self._hard_state_position = hard_state_position
        self._record_bytes_max = data_dir.options.record_bytes_max
        self._lock = threading.RLock()

    @classmethod
    def open(
        cls,
        path: str,
        *,
        cluster_id: str,
        node_id: NodeId,
        fs: FileSystem | None = None,
        options: WalOptions | None = None,
    ) -> FileStorage:
        """Open (or create) the data directory ``path`` for node ``node_id`` of cluster
        ``cluster_id`` and recover its state. Refuses (``StorageError``) a directory of
        another cluster, node or protocol, one in use by another process, or a corrupt
        one."""
        data_dir = DataDir.open(
            path, cluster_id=cluster_id, node_id=node_id, protocol=PROTOCOL, fs=fs, options=options
        )
        try:
            hard_state, position = decode_hard_state_checkpoint(data_dir.checkpoint.blob)
        except ValueError as exc:
            data_dir.abandon()
            raise StorageError(f"checkpoint of {path} unreadable: {exc}") from None
        replay = RaftReplay(path, data_dir.note_index)
        wal = data_dir.open_wal(replay.feed)
        try:
            view, missing = replay.finish(data_dir.snapshot)
            if missing is not None:  # crashed between the snapshot file and its mark
                wal.append(encode_mark(missing))
                wal.sync()
        except BaseException:
            data_dir.abandon()
            raise
        if replay.hard_state is not None and replay.hard_state_position > position:
            hard_state, position = replay.hard_state, replay.hard_state_position
        return cls(data_dir, view, hard_state, position)

    # -- CoreStorage ----------------------------------------------------------------
    def persist(
        self,
        hard_state: HardState | None,
        entries: Sequence[Entry],
        snapshot: Snapshot | None,
    ) -> None:
        """Record a batch (see :mod:`consensus.storage.base`); durable after ``sync``.
        Entries that do not fit the log raise ``ValueError`` before anything is written."""
        with self._lock:
            self._dir.check_usable()
            view = self._view
            payloads = [encode_entry(entry) for entry in entries]
            if entries:
                offset, last = view.offset, view.last_index()
                if snapshot is not None:
                    offset = snapshot.meta.index
                    last = last if view.matches(offset, snapshot.meta.term) else offset
                check_append(entries, offset, last)
                biggest = max(len(p) for p in payloads)
                if biggest > self._record_bytes_max:
                    raise ValueError(
                        f"an entry needs a {biggest}-byte WAL record, over record_bytes_max "
                        f"{self._record_bytes_max}"
                    )
            try:
                if snapshot is not None:
                    self._store_snapshot(snapshot)
                if entries:
                    self._dir.append_indexed_many(payloads, [entry.index for entry in entries])
                    view.append(entries)
                if hard_state is not None:
                    self._hard_state_position = self._wal.append(encode_hard_state(hard_state))
                    self._hard_state = hard_state
            except OSError as exc:
                raise self._dir.fail("persisting a batch", exc) from exc

    def sync(self) -> None:
        """Make every batch persisted before this call durable (group commit; may run in
        several threads at once). ``StorageError`` if the storage failed, now or before."""
        self._dir.check_usable()
        self._wal.sync()

    def recover(self) -> Recovered[HardState]:
        """The state this storage holds: right after :meth:`open`, exactly the durable
        state a restarted node starts from."""
        with self._lock:
            return Recovered(self._hard_state, self._dir.snapshot, tuple(self._view.entries))

    def compact(self, snapshot: Snapshot) -> None:
        """Store ``snapshot`` and drop the segments it covers; durable when it returns. A
        snapshot not newer than the stored one is ignored."""
        with self._lock:
            self._dir.check_usable()
            self._wal.sync()
            current = self._dir.snapshot
            if current is not None and snapshot.meta.index <= current.meta.index:
                return
            try:
                self._store_snapshot(snapshot)
                self._wal.sync()
                # Everything is synced, so the hard state in memory is durable.
                blob = encode_hard_state_checkpoint(self._hard_state, self._hard_state_position)
                self._dir.drop_covered(snapshot.meta.index, blob)
            except OSError as exc:
                raise self._dir.fail("compacting", exc) from exc

    def _store_snapshot(self, snapshot: Snapshot) -> None:
        self._dir.save_snapshot(snapshot)
        meta = snapshot.meta
        reset = self._view.install(meta.index, meta.term)
        self._wal.append(encode_mark(SnapshotMark(meta.index, meta.term, reset)))

    # -- reads ----------------------------------------------------------------------
    def first_index(self) -> Index:
        with self._lock:
            return self._view.first_index()

    def last_index(self) -> Index:
        with self._lock:
            return self._view.last_index()

    def term(self, index: Index) -> Term:
        with self._lock:
            return self._view.term(index)

    def entries(self, lo: Index, hi: Index, bytes_max: int | None = None) -> list[Entry]:
        with self._lock:
            return self._view.slice(lo, hi, bytes_max)

    def snapshot(self) -> Snapshot | None:
        """The latest snapshot ("load latest snapshot"), kept in memory since open."""
        with self._lock:
            return self._dir.snapshot

    def hard_state(self) -> HardState | None:
        with self._lock:
            return self._hard_state

    # -- lifecycle ------------------------------------------------------------------
    @property
    def path(self) -> str:
        return self._dir.path

    @property
    def fsyncs(self) -> int:
        """fsyncs of the WAL so far (group commit makes this less than the syncs)."""
        return self._wal.fsyncs

    def close(self) -> None:
        """Sync, release the files and the directory lock. Idempotent."""
        with self._lock:
            self._dir.close()

    def abandon(self) -> None:
        """Drop this storage as a killed process would (for tests of process crashes):
        appends not yet handed to the OS are lost, nothing is synced, the files and the
        directory lock are released. Later calls raise ``StorageError``."""
        with self._lock:
            self._dir.abandon()
