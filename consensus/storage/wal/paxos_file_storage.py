"""Durable Multi-Paxos storage on files: the same WAL, snapshots and checkpoint as the
Raft store (:mod:`.data_dir`), with Paxos records (:mod:`.paxos_records`).

Semantics are those of :class:`~consensus.storage.paxos_memory.PaxosMemoryStorage`:
``hard_state`` is a :class:`PaxosHardState` delta (promised ballot replaces, commit only
grows, votes are written by slot), ``entries`` are chosen values by slot (a slot's value
never changes), a snapshot drops every vote and chosen value at or below its index. A
batch that would break these rules (a second value for a chosen slot, a promise going
backwards) raises ``StorageError`` before anything of it is written.

Durability is as for the Raft store (:mod:`.file_storage`): a ``sync`` covers every
batch persisted before it with one group-committed fsync; what survives a crash is the
state after a prefix of the persisted records (snapshot mark, chosen values, promise,
commit, votes, in that order per batch), and persisting a snapshot first syncs what came
before it and stores the snapshot file durably. The promise and commit are checkpointed
before compaction deletes segments.

All votes and chosen values since the last snapshot are also kept in memory.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from ...messages import ZERO_BALLOT as _ZERO
from ...messages import AcceptedRecord, Ballot, PaxosHardState
from ...types import Entry, Index, NodeId, Snapshot
from ..base import Recovered, StorageError
from ..fs import FileSystem
from .data_dir import DataDir
from .paxos_records import (
    Chosen,
    Commit,
    PaxosMark,
    decode_checkpoint,
    decode_record,
    encode_checkpoint,
    encode_chosen,
    encode_commit,
    encode_mark,
    encode_promise,
    encode_vote,
)
from .record_log import WalOptions
from .records import HEADER_BYTES

PROTOCOL = "multipaxos"


class _PaxosState:
    """What the store holds; the same rules serve replay and live writes."""

    def __init__(self) -> None:
        self.promised: Ballot = _ZERO
        self.promise_position = 0  # end of the promise record (checkpoint ordering)
        self.commit: Index = 0
        self.votes: dict[Index, AcceptedRecord] = {}
        self.chosen: dict[Index, Entry] = {}
        self.base: Index = 0  # the snapshot's index
        self.written = False

    def install(self, index: Index) -> None:
        for slot in [s for s in self.votes if s <= index]:
            del self.votes[slot]
        for slot in [s for s in self.chosen if s <= index]:
            del self.chosen[slot]
        self.commit = max(self.commit, index)
        self.base = index


class PaxosFileStorage:
    """Multi-Paxos storage on files; see the module docstring. Use :meth:`open`."""

    def __init__(self, data_dir: DataDir, state: _PaxosState) -> None:
        self._dir = data_dir
        self._wal = data_dir.wal
        self._state = state
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
    ) -> PaxosFileStorage:
        """Open (or create) ``path`` for this node; refuses what ``FileStorage.open``
        refuses (another cluster, node or protocol, a directory in use, corruption)."""
        data_dir = DataDir.open(
            path, cluster_id=cluster_id, node_id=node_id, protocol=PROTOCOL, fs=fs, options=options
        )
        state = _PaxosState()
        try:
            checkpoint = decode_checkpoint(data_dir.checkpoint.blob)
        except ValueError as exc:
            data_dir.abandon()
            raise StorageError(f"checkpoint of {path} unreadable: {exc}") from None
        last_mark: list[PaxosMark] = []

        def feed(segment: int, position: int, payload: memoryview) -> None:
            try:
                record = decode_record(payload)
            except ValueError as exc:
                raise StorageError(
                    f"WAL record at log position {position} (segment {segment} of {path}) "
                    f"has a valid CRC but cannot be decoded: {exc}; refusing to start"
                ) from None
            state.written = True
            if isinstance(record, AcceptedRecord):
                data_dir.note_index(segment, record.slot)
                state.votes[record.slot] = record
            elif isinstance(record, Chosen):
                data_dir.note_index(segment, record.entry.index)
                state.chosen[record.entry.index] = record.entry
            elif isinstance(record, Ballot):
                state.promised = record
                state.promise_position = position + HEADER_BYTES + len(payload)
            elif isinstance(record, Commit):
                state.commit = max(state.commit, record.index)
            else:
                state.install(record.index)
                last_mark[:] = [record]

        wal = data_dir.open_wal(feed)
        try:
            if checkpoint is not None:
                state.written = True
                promised, position, commit = checkpoint
                if position > state.promise_position:
                    state.promised, state.promise_position = promised, position
                state.commit = max(state.commit, commit)
            snapshot = data_dir.snapshot
            if snapshot is not None:
                state.written = True
                meta = snapshot.meta
                state.install(meta.index)  # drops what a replay from mid-log kept below it
                if not last_mark or last_mark[0].index != meta.index:
                    wal.append(encode_mark(PaxosMark(meta.index, meta.term)))
                    wal.sync()
        except BaseException:
            data_dir.abandon()
            raise
        return cls(data_dir, state)

    # -- CoreStorage ----------------------------------------------------------------
    def persist(
        self,
        hard_state: PaxosHardState | None,
        entries: Sequence[Entry],
        snapshot: Snapshot | None,
    ) -> None:
        """Record a batch; durable after ``sync``. See the module docstring."""
        with self._lock:
            self._dir.check_usable()
            state = self._state
            base = state.base
            if snapshot is not None and snapshot.meta.index > base:
                base = snapshot.meta.index
            else:
                snapshot = None
            chosen = [e for e in entries if e.index > base]
            votes = [v for v in hard_state.accepted if v.slot > base] if hard_state else []
            self._check(hard_state, chosen, votes)
            try:
                if snapshot is not None:
                    self._store_snapshot(snapshot)
                append = self._dir.append_indexed
                for entry in chosen:
                    append(encode_chosen(entry), entry.index)
                    state.chosen[entry.index] = entry
                if hard_state is not None:
                    if hard_state.promised != state.promised or not state.written:
                        end = self._wal.append(encode_promise(hard_state.promised))
                        state.promised, state.promise_position = hard_state.promised, end
                    if hard_state.commit > state.commit:
                        self._wal.append(encode_commit(hard_state.commit))
                        state.commit = hard_state.commit
                    for vote in votes:
                        append(encode_vote(vote), vote.slot)
                        state.votes[vote.slot] = vote
                if snapshot is not None or chosen or hard_state is not None:
                    state.written = True
            except OSError as exc:
                raise self._dir.fail("persisting a batch", exc) from exc

    def _check(
        self, hard_state: PaxosHardState | None, chosen: list[Entry], votes: list[AcceptedRecord]
    ) -> None:
        state = self._state
        batch: dict[Index, Entry] = {}
        for entry in chosen:
            old = batch.get(entry.index) or state.chosen.get(entry.index)
            if old is not None and old != entry:
                raise StorageError(
                    f"slot {entry.index}: chosen value {old!r} overwritten with {entry!r}"
                )
            batch[entry.index] = entry
        if hard_state is not None and hard_state.promised < state.promised:
            raise StorageError(
                f"promised ballot went backwards: {state.promised} -> {hard_state.promised}"
            )
        sizes = [len(e.data) for e in chosen] + [len(v.entry.data) for v in votes]
        if sizes and max(sizes) + 64 > self._record_bytes_max:
            raise ValueError(
                f"a value of {max(sizes)} bytes does not fit record_bytes_max "
                f"{self._record_bytes_max}"
            )

    def sync(self) -> None:
        """Make every batch persisted before this call durable (group commit)."""
        self._dir.check_usable()
        self._wal.sync()

    def recover(self) -> Recovered[PaxosHardState]:
        """The state held (right after :meth:`open`, the durable state)."""
        with self._lock:
            state = self._state
            if not state.written:
                return Recovered()
            commit = state.commit
            while commit + 1 in state.chosen:
                commit += 1
            votes = tuple(state.votes[s] for s in sorted(state.votes))
            return Recovered(
                PaxosHardState(state.promised, commit, votes),
                self._dir.snapshot,
                tuple(state.chosen[s] for s in sorted(state.chosen)),
            )

    def compact(self, snapshot: Snapshot) -> None:
        """Store ``snapshot``, drop what it covers, delete covered segments; durable when
        it returns. A snapshot not newer than the stored one is ignored."""
        with self._lock:
            self._dir.check_usable()
            self._wal.sync()
            if snapshot.meta.index <= self._state.base:
                return
            try:
                self._store_snapshot(snapshot)
                self._state.written = True
                self._wal.sync()
                state = self._state
                blob = encode_checkpoint(state.promised, state.promise_position, state.commit)
                self._dir.drop_covered(snapshot.meta.index, blob)
            except OSError as exc:
                raise self._dir.fail("compacting", exc) from exc

    def _store_snapshot(self, snapshot: Snapshot) -> None:
        self._dir.save_snapshot(snapshot)
        self._state.install(snapshot.meta.index)
        self._wal.append(encode_mark(PaxosMark(snapshot.meta.index, snapshot.meta.term)))

    # -- reads and lifecycle --------------------------------------------------------
    def snapshot(self) -> Snapshot | None:
        with self._lock:
            return self._dir.snapshot

    @property
    def fsyncs(self) -> int:
        return self._wal.fsyncs

    def close(self) -> None:
        with self._lock:
            self._dir.close()

    def abandon(self) -> None:
        """Drop this store as a killed process would (see ``FileStorage.abandon``)."""
        with self._lock:
            self._dir.abandon()
