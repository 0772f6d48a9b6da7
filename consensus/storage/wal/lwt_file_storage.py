"""Durable ``paxos-lwt`` storage on files: the shared WAL (:mod:`.data_dir`), one record
per key changed, and periodic images of the key table that bound the log.

Semantics are those of :class:`~consensus.storage.lwt_memory.LwtMemoryStorage`:
``hard_state`` is an :class:`LwtHardState` delta (purged keys removed first, then each
record replaces its key's; ``floor`` and ``reserved`` only grow); a record whose promise
goes backwards, or a reservation that does, raises ``StorageError`` before anything of
the batch is written. ``entries`` and ``snapshot`` must be empty (there is no log).

Durability: a ``sync`` covers every batch persisted before it with one group-committed
fsync (the driver sends a batch's promises and acceptances only after it). What survives
a crash is the state after a prefix of the persisted WAL records. Within a batch they are
written floor first, then removals, records, reservation: any prefix is safe, because a
raised floor only refuses more, and a key is forgotten only once the floor that covers it
is in the log before it.

Compaction: every record goes to the log, so the log grows with every promise and
acceptance. Once the bytes written since the last image pass ``compact_bytes`` and twice
the live table's size, the store syncs, writes an image of the whole table (floor,
reservation, every record) as the data directory's snapshot file (generation ``g``, in
the snapshot's index field), appends a ``MARK g`` record, syncs, checkpoints and deletes
the segments holding only records the image covers. Disk use is therefore bounded by
about the image plus ``compact_bytes`` plus one segment, and memory by the live keys.
Recovery loads the latest image, replays the WAL and restarts from the image at its mark
(records before the mark are older than the image); an image without its mark (a crash
between the two) holds everything the log held, since it was taken after a sync.

Corruption is refused as for the other stores (:mod:`.recovery`): a torn last record is
dropped, a CRC failure in durable bytes, an undecodable record or a damaged image stops
the open with a ``StorageError`` that says where.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from ...messages.lwt import LwtHardState, LwtRecord
from ...messages.paxos import ZERO_BALLOT, Ballot
from ...types import Entry, NodeId, Snapshot, SnapshotMeta
from ..base import Recovered, StorageError
from ..fs import FileSystem
from .data_dir import DataDir
from .lwt_records import (
    Floor,
    Mark,
    Purge,
    Reserved,
    decode_record,
    decode_table,
    encode_floor,
    encode_mark,
    encode_purge,
    encode_record,
    encode_reserved,
    encode_table,
)
from .record_log import WalOptions
from .records import HEADER_BYTES

PROTOCOL = "paxos-lwt"
COMPACT_BYTES_DEFAULT = 8 * 1024 * 1024


class _LwtState:
    """The key table and node-wide values; the same rules serve replay and live writes."""

    def __init__(self) -> None:
        self.records: dict[bytes, LwtRecord] = {}
        self.sizes: dict[bytes, int] = {}
        self.live_bytes = 0
        self.floor: Ballot = ZERO_BALLOT
        self.reserved = 0
        self.written = False

    def put(self, record: LwtRecord, size: int) -> None:
        self.live_bytes += size - self.sizes.get(record.key, 0)
        self.records[record.key] = record
        self.sizes[record.key] = size

    def remove(self, key: bytes) -> None:
        self.records.pop(key, None)
        self.live_bytes -= self.sizes.pop(key, 0)

    def raise_floor(self, ballot: Ballot) -> None:
        if ballot.as_term() > self.floor.as_term():
            self.floor = ballot

    def reserve(self, round_: int) -> None:
        self.reserved = max(self.reserved, round_)

    def load(self, floor: Ballot, reserved: int, records: dict[bytes, LwtRecord]) -> None:
        self.records, self.sizes, self.live_bytes = {}, {}, 0
        for record in records.values():
            self.put(record, len(encode_record(record)) + HEADER_BYTES)
        self.floor, self.reserved, self.written = floor, reserved, True


class LwtFileStorage:
    """``paxos-lwt`` storage on files; see the module docstring. Use :meth:`open`."""

    def __init__(
        self, data_dir: DataDir, state: _LwtState, generation: int, compact_bytes: int
    ) -> None:
        self._dir = data_dir
        self._wal = data_dir.wal
        self._state = state
        self._generation = generation
        self._compact_bytes = compact_bytes
        self._image_position = self._wal.position
        self._record_bytes_max = data_dir.options.record_bytes_max
        self._lock = threading.RLock()
        self.images = 0
        """Key-table images written by this instance."""

    @classmethod
    def open(
        cls,
        path: str,
        *,
        cluster_id: str,
        node_id: NodeId,
        fs: FileSystem | None = None,
        options: WalOptions | None = None,
        compact_bytes: int = COMPACT_BYTES_DEFAULT,
    ) -> LwtFileStorage:
        """Open (or create) ``path`` for this node; refuses what ``FileStorage.open``
        refuses (another cluster, node or protocol, a directory in use, corruption)."""
        if compact_bytes < 1:
            raise ValueError(f"compact_bytes must be >= 1, got {compact_bytes}")
        data_dir = DataDir.open(
            path, cluster_id=cluster_id, node_id=node_id, protocol=PROTOCOL, fs=fs, options=options
        )
        state = _LwtState()
        image = data_dir.snapshot
        generation = 0
        table: tuple[Ballot, int, dict[bytes, LwtRecord]] | None = None
        if image is not None:
            generation = image.meta.index
            try:
                table = decode_table(image.data)
            except ValueError as exc:
                data_dir.abandon()
                raise StorageError(f"key-table image in {path} unreadable: {exc}") from None
        marked = [False]
        current = [1]  # the generation the records being replayed belong to

        def feed(segment: int, position: int, payload: memoryview) -> None:
            try:
                record = decode_record(payload)
            except ValueError as exc:
                raise StorageError(
                    f"WAL record at log position {position} (segment {segment} of {path}) "
                    f"has a valid CRC but cannot be decoded: {exc}; refusing to start"
                ) from None
            state.written = True
            if isinstance(record, Mark):
                current[0] = record.generation + 1
                if table is not None and record.generation == generation:
                    state.load(*table)
                    marked[0] = True
            elif isinstance(record, LwtRecord):
                state.put(record, len(payload) + HEADER_BYTES)
            elif isinstance(record, Purge):
                state.remove(record.key)
            elif isinstance(record, Floor):
                state.raise_floor(record.ballot)
            elif isinstance(record, Reserved):
                state.reserve(record.round)
            data_dir.note_index(segment, current[0])

        wal = data_dir.open_wal(feed)
        try:
            if table is not None and not marked[0]:
                # The image was written after a sync of everything before it, and its
                # mark is the next record: without the mark, the image is the whole state.
                state.load(*table)
                end = wal.append(encode_mark(generation))
                data_dir.note_index(wal.active_segment, generation + 1)
                wal.sync_upto(end)
        except BaseException:
            data_dir.abandon()
            raise
        return cls(data_dir, state, generation, compact_bytes)

    # -- CoreStorage ----------------------------------------------------------------
    def persist(
        self,
        hard_state: LwtHardState | None,
        entries: Sequence[Entry],
        snapshot: Snapshot | None,
    ) -> None:
        """Record a batch; durable after ``sync``. See the module docstring."""
        if entries or snapshot is not None:
            raise StorageError("paxos-lwt storage keeps no log entries and no snapshots")
        if hard_state is None:
            return
        with self._lock:
            self._dir.check_usable()
            state = self._state
            payloads = self._check(hard_state)
            append = self._dir.append_indexed
            index = self._generation + 1
            try:
                if hard_state.floor.as_term() > state.floor.as_term():
                    append(encode_floor(hard_state.floor), index)
                    state.raise_floor(hard_state.floor)
                for gone in hard_state.purged:
                    append(encode_purge(gone.key), index)
                    state.remove(gone.key)
                for record, payload in zip(hard_state.records, payloads, strict=True):
                    append(payload, index)
                    state.put(record, len(payload) + HEADER_BYTES)
                if hard_state.reserved > state.reserved:
                    append(encode_reserved(hard_state.reserved), index)
                    state.reserve(hard_state.reserved)
                state.written = True
            except OSError as exc:
                raise self._dir.fail("persisting a batch", exc) from exc
            since = self._wal.position - self._image_position
            if since > self._compact_bytes and since > 2 * state.live_bytes:
                self._write_image()

    def _check(self, hard_state: LwtHardState) -> list[bytes]:
        """The batch's record payloads; raises before anything is written if the batch
        breaks a rule."""
        state = self._state
        purged = {r.key for r in hard_state.purged}
        if hard_state.reserved and hard_state.reserved < state.reserved:
            raise StorageError(
                f"reserved ballot round went backwards: {state.reserved} -> {hard_state.reserved}"
            )
        payloads = []
        for record in hard_state.records:
            old = None if record.key in purged else state.records.get(record.key)
            if old is not None and record.promised.as_term() < old.promised.as_term():
                raise StorageError(
                    f"key {record.key!r}: promised ballot went backwards: "
                    f"{old.promised} -> {record.promised}"
                )
            payload = encode_record(record)
            if len(payload) > self._record_bytes_max:
                raise ValueError(
                    f"a record of {len(payload)} bytes (key {record.key[:32]!r}) does not fit "
                    f"record_bytes_max {self._record_bytes_max}"
                )
            payloads.append(payload)
        return payloads

    def _write_image(self) -> None:
        """Image the table, mark it in the log, drop the segments it covers."""
        state = self._state
        generation = self._generation + 1
        records = (state.records[k] for k in sorted(state.records))
        data = encode_table(state.floor, state.reserved, records)
        try:
            self._dir.save_snapshot(Snapshot(SnapshotMeta(generation, 0, ()), data))
            self._generation = generation
            end = self._dir.append_indexed(encode_mark(generation), generation + 1)
            self._wal.sync_upto(end)
            self._image_position = end
            self._dir.drop_covered(generation, b"")
        except OSError as exc:
            raise self._dir.fail("writing a key-table image", exc) from exc
        self.images += 1

    def sync(self) -> None:
        """Make every batch persisted before this call durable (group commit)."""
        self._dir.check_usable()
        self._wal.sync()

    def recover(self) -> Recovered[LwtHardState]:
        """The state held (right after :meth:`open`, the durable state)."""
        with self._lock:
            state = self._state
            if not state.written:
                return Recovered()
            records = tuple(state.records[k] for k in sorted(state.records))
            return Recovered(LwtHardState(records, state.reserved, floor=state.floor))

    def compact(self, snapshot: Snapshot) -> None:
        raise StorageError("paxos-lwt storage has no log to compact (it images its key table)")

    # -- reads and lifecycle --------------------------------------------------------
    @property
    def keys(self) -> int:
        """Keys with a record."""
        return len(self._state.records)

    @property
    def fsyncs(self) -> int:
        return self._wal.fsyncs

    def segments(self) -> list[int]:
        """Start positions of the WAL segments on disk."""
        return self._wal.segments()

    def close(self) -> None:
        with self._lock:
            self._dir.close()

    def abandon(self) -> None:
        """Drop this store as a killed process would (see ``FileStorage.abandon``)."""
        with self._lock:
            self._dir.abandon()
