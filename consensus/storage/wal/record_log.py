"""A generic, durable, thread-safe log of opaque records with group commit.

``RecordLog`` knows nothing of Raft or Paxos: it appends byte strings, makes them durable
with as few fsyncs as possible, and replays them on open. Stores for a protocol layer
their own record types on it (:mod:`.file_storage` for Raft).

Positions. Every byte of the log has a global position; a segment is named for the
position of its first byte. :meth:`RecordLog.append` returns the position just past the
record, which is what :meth:`RecordLog.sync_upto` takes.

Group commit. Appends go to an in-memory buffer (bounded: it is written to the file when
it passes ``buffer_bytes_max``). ``sync_upto(p)`` returns once a completed fsync covered
position ``p``. One caller at a time is the *leader*: it writes the buffer, releases the
lock and runs the fsync; appends and other callers go on meanwhile, and callers that
arrive during the fsync queue up. When it completes, the leader wakes exactly the queued
callers it covered and hands the leadership to the first one it did not, which at once
fsyncs everything appended so far. So with N concurrent writers one fsync serves many
records, and no caller is woken only to go back to sleep.

Failure. Any failed write or fsync turns the log unusable: that call and every later one
raise ``StorageError``. A failed fsync is never retried (after one, Linux may have dropped
the dirty pages; a retry could succeed without writing them).

Segments. When a record would take the active segment past ``segment_bytes_max``, the
segment is *sealed*: the buffer is written and the file fsynced before the next segment
is created (its name made durable by an fsync of the directory). Hence only the last
segment can ever hold unsynced bytes, which is what recovery relies on.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Sequence

import attrs

from ..base import StorageError, describe_failure
from ..fs import AppendFile, FileSystem
from .records import (
    HEADER,
    HEADER_BYTES,
    RECORD_BYTES_LIMIT,
    RECORD_BYTES_MAX_DEFAULT,
    SEGMENT_MAGIC,
    crc_of,
)
from .recovery import MAGIC_BYTES, Replay, SegmentExtent, recover_segments
from .segments import segment_path


@attrs.frozen(slots=True)
class WalOptions:
    """Sizes for a :class:`RecordLog` (bytes).

    - ``segment_bytes_max``: roll to a new segment before passing this (a record larger
      than a segment gets a segment of its own).
    - ``record_bytes_max``: the largest payload accepted, and believed on recovery.
    - ``buffer_bytes_max``: appended bytes kept in memory before being written to the file
      without waiting for a sync.
    """

    segment_bytes_max: int = 64 * 1024 * 1024
    record_bytes_max: int = RECORD_BYTES_MAX_DEFAULT
    buffer_bytes_max: int = 1024 * 1024

    def __attrs_post_init__(self) -> None:
        if self.segment_bytes_max < 4096:
            raise ValueError(f"segment_bytes_max must be >= 4096, got {self.segment_bytes_max}")
        if not 1 <= self.record_bytes_max <= RECORD_BYTES_LIMIT:
            raise ValueError(
                f"record_bytes_max must be in 1 .. {RECORD_BYTES_LIMIT}, got "
                f"{self.record_bytes_max}"
            )
        if self.buffer_bytes_max < 1:
            raise ValueError(f"buffer_bytes_max must be >= 1, got {self.buffer_bytes_max}")


_WAITING, _DURABLE, _LEAD, _FAILED = range(4)


class _Waiter:
    """A caller of ``sync_upto`` queued behind an fsync in flight."""

    __slots__ = ("outcome", "wake")

    def __init__(self) -> None:
        self.outcome = _WAITING
        self.wake = threading.Lock()
        self.wake.acquire()


class RecordLog:
    """See the module docstring. Construct with :meth:`open`."""

    def __init__(
        self,
        fs: FileSystem,
        directory: str,
        options: WalOptions,
        extents: list[SegmentExtent],
        active: AppendFile,
    ) -> None:
        self._fs = fs
        self._dir = directory
        self._opts = options
        self._mutex = threading.Lock()
        self._idle = threading.Condition(self._mutex)  # notified when no fsync is in flight
        self._segments = [e.start for e in extents]
        self._active = active
        self._active_start = extents[-1].start
        self._appended = extents[-1].end
        self._synced = self._appended
        self._buffer = bytearray()
        self._syncing = False  # a leader holds the fsync
        self._quiesce = 0  # callers waiting for no fsync in flight (roll, close)
        self._waiters: list[tuple[int, int, _Waiter]] = []  # heap by target position
        self._order = itertools.count()
        self._failed: StorageError | None = None
        self._closed = False
        self.fsyncs = 0
        self.records = 0

    @classmethod
    def open(
        cls,
        fs: FileSystem,
        directory: str,
        replay: Replay,
        *,
        options: WalOptions | None = None,
        start_position: int = 0,
    ) -> RecordLog:
        """Recover the log in ``directory`` (calling ``replay`` for every valid record, see
        :mod:`.recovery`) and open it for appending. An empty directory starts a new log
        at ``start_position``. Everything recovered is fsynced before this returns."""
        opts = options or WalOptions()
        extents = recover_segments(
            fs,
            directory,
            replay,
            record_bytes_max=opts.record_bytes_max,
            start_position=start_position,
        )
        if not extents:
            extents = [SegmentExtent(start_position, start_position)]
        last = extents[-1]
        path = segment_path(directory, last.start)
        # What we read may have come only from the page cache: written but not synced
        # when the process died, or even dropped by a failed fsync and never to reach the
        # disk (Linux marks such pages clean). Before new watermarks vouch for it, write
        # the part no watermark vouches for again, in place, and fsync it.
        unproven = max(0, (last.synced if last.synced is not None else last.start) - last.start)
        if last.end - last.start > unproven:
            fs.write_at(path, unproven, fs.read(path, unproven, last.end - last.start - unproven))
        active = fs.open(path)
        try:
            if last.end == last.start:  # new, or its creation was torn
                active.append(SEGMENT_MAGIC)
                extents[-1] = SegmentExtent(last.start, last.start + MAGIC_BYTES)
            active.fsync()
            fs.fsync_dir(directory)
        except BaseException:
            active.close()
            raise
        return cls(fs, directory, opts, extents, active)

    # -- state ----------------------------------------------------------------------
    @property
    def position(self) -> int:
        """The position just past the last appended record."""
        with self._mutex:
            return self._appended

    @property
    def synced_position(self) -> int:
        """Everything before this position is durable."""
        with self._mutex:
            return self._synced

    @property
    def active_segment(self) -> int:
        """Start position of the segment that takes appends."""
        with self._mutex:
            return self._active_start

    def segments(self) -> list[int]:
        with self._mutex:
            return list(self._segments)

    @property
    def options(self) -> WalOptions:
        return self._opts

    @property
    def failure(self) -> StorageError | None:
        return self._failed

    def _check_usable(self) -> None:
        if self._failed is not None:
            raise StorageError(f"storage is unusable after an earlier failure: {self._failed}")
        if self._closed:
            raise StorageError("the WAL is closed")

    def _fail(self, what: str, exc: BaseException) -> StorageError:
        """Turn the log unusable and release every queued caller; the caller raises the
        returned error."""
        if self._failed is None:
            self._failed = StorageError(
                f"{what} failed: {describe_failure(exc)}; the storage refuses further use "
                "(a failed write or fsync is never retried)"
            )
        self._release_all_locked()
        return self._failed

    def _release_all_locked(self) -> None:
        for _, _, waiter in self._waiters:
            waiter.outcome = _FAILED
            waiter.wake.release()
        self._waiters.clear()
        self._syncing = False
        self._idle.notify_all()

    # -- appending ------------------------------------------------------------------
    def append(self, payload: bytes) -> int:
        """Add a record (1 .. ``record_bytes_max`` bytes); not durable until a sync covers
        the returned position."""
        size = len(payload)
        if not 0 < size <= self._opts.record_bytes_max:
            raise ValueError(
                f"a WAL record holds 1 to {self._opts.record_bytes_max} bytes, got {size}"
            )
        with self._mutex:
            return self._append_locked(payload, size)

    def append_many(self, payloads: Sequence[bytes]) -> list[tuple[int, int]]:
        """:meth:`append` each of ``payloads`` in order, taking the lock once: for each,
        the end position :meth:`append` returns and the start of the segment it went
        to (what :attr:`active_segment` reads right after that append). Checks every
        size before appending any (``ValueError``: nothing appended)."""
        most = self._opts.record_bytes_max
        for payload in payloads:
            if not 0 < len(payload) <= most:
                raise ValueError(f"a WAL record holds 1 to {most} bytes, got {len(payload)}")
        out: list[tuple[int, int]] = []
        with self._mutex:
            for payload in payloads:
                out.append((self._append_locked(payload, len(payload)), self._active_start))
        return out

    def _append_locked(self, payload: bytes, size: int) -> int:
        self._check_usable()
        while True:
            used = self._appended - self._active_start
            if used + HEADER_BYTES + size <= self._opts.segment_bytes_max:
                break
            if used == MAGIC_BYTES:
                break  # an oversized record gets a segment of its own
            if self._syncing:  # the seal must not race an fsync of the same file
                self._wait_idle_locked()
                continue  # someone else may have rolled meanwhile
            self._roll_locked()
        position = self._appended
        synced = self._synced
        buffer = self._buffer
        buffer += HEADER.pack(crc_of(position, size, synced, payload), size, synced)
        buffer += payload
        self._appended = position + HEADER_BYTES + size
        self.records += 1
        if len(buffer) >= self._opts.buffer_bytes_max:
            self._flush_locked()
        return self._appended

    def _wait_idle_locked(self) -> None:
        """Wait until no fsync is in flight (the leader then hands over to nobody)."""
        self._quiesce += 1
        try:
            while self._syncing:
                self._idle.wait()
                self._check_usable()
        finally:
            self._quiesce -= 1

    def _flush_locked(self) -> None:
        if not self._buffer:
            return
        data = bytes(self._buffer)
        self._buffer.clear()
        try:
            self._active.append(data)
        except OSError as exc:
            raise self._fail(f"write to {self._active.path}", exc) from exc
        except BaseException as exc:
            self._fail(f"write to {self._active.path}", exc)
            raise

    def _sync_here_locked(self, what: str) -> None:
        """Write and fsync everything, holding the lock (rare paths: roll, close)."""
        self._flush_locked()
        try:
            self._active.fsync()
        except OSError as exc:
            raise self._fail(f"{what} of {self._active.path}", exc) from exc
        except BaseException as exc:
            self._fail(f"{what} of {self._active.path}", exc)
            raise
        self.fsyncs += 1
        self._publish_locked(self._appended)
        assert not self._waiters and not self._syncing, "every waiter is covered"

    def _roll_locked(self) -> None:
        """Seal the active segment (write, fsync) and start the next one. Called with no
        fsync in flight."""
        self._sync_here_locked("fsync")
        old = self._active
        old.close()
        start = self._appended
        path = segment_path(self._dir, start)
        try:
            active = self._fs.open(path)
            self._active = active
            active.append(SEGMENT_MAGIC)
            self._fs.fsync_dir(self._dir)
        except OSError as exc:
            raise self._fail(f"creating segment {path}", exc) from exc
        except BaseException as exc:
            self._fail(f"creating segment {path}", exc)
            raise
        self._segments.append(start)
        self._active_start = start
        self._appended = start + MAGIC_BYTES

    # -- syncing --------------------------------------------------------------------
    def sync(self) -> None:
        """Make every record appended before this call durable."""
        with self._mutex:
            target = self._appended
        self.sync_upto(target)

    def sync_upto(self, position: int) -> None:
        """Return once everything before ``position`` is durable (group commit: queue
        behind the fsync in flight, or lead the next one). Raises ``StorageError`` if the
        log failed."""
        with self._mutex:
            self._check_usable()
            position = min(position, self._appended)  # nothing later can be waited for
            if self._synced >= position:
                return
            waiter = None
            if self._syncing:
                waiter = _Waiter()
                heapq.heappush(self._waiters, (position, next(self._order), waiter))
            else:
                self._syncing = True
        if waiter is not None:
            waiter.wake.acquire()  # released by the leader (or by a failure)
            if waiter.outcome == _DURABLE:
                return
            if waiter.outcome == _FAILED:
                with self._mutex:
                    self._check_usable()
                raise StorageError("the WAL stopped")  # pragma: no cover - state says why
        self._lead()

    def _lead(self) -> None:
        """As the leader (``_syncing`` set by or for us): write, fsync, publish."""
        with self._mutex:
            try:
                self._flush_locked()
            except BaseException:
                self._release_all_locked()
                raise
            covered = self._appended
            handle = self._active
        try:
            handle.fsync()
        except BaseException as exc:
            with self._mutex:
                error = self._fail(f"fsync of {handle.path}", exc)
            if isinstance(exc, OSError):
                raise error from exc
            raise
        with self._mutex:
            self.fsyncs += 1
            self._publish_locked(covered)

    def _publish_locked(self, covered: int) -> None:
        """``covered`` is durable: wake the callers it satisfies, and hand the leadership
        to the first one still waiting (unless a roll or close wants the fsync idle)."""
        if covered > self._synced:
            self._synced = covered
        heap = self._waiters
        while heap and heap[0][0] <= covered:
            waiter = heapq.heappop(heap)[2]
            waiter.outcome = _DURABLE
            waiter.wake.release()
        if heap and not self._quiesce:
            waiter = heapq.heappop(heap)[2]
            waiter.outcome = _LEAD
            self._syncing = True  # the fsync is the new leader's now
            waiter.wake.release()
        else:
            self._syncing = False
            self._idle.notify_all()

    # -- maintenance ----------------------------------------------------------------
    def drop_segments_before(self, start: int) -> list[int]:
        """Delete every segment that starts before ``start`` (never the active one), and
        make the removal durable. Returns the starts removed."""
        with self._mutex:
            self._check_usable()
            victims = [s for s in self._segments if s < start and s != self._active_start]
            try:
                for victim in victims:
                    self._fs.remove(segment_path(self._dir, victim))
                    self._segments.remove(victim)
                if victims:
                    self._fs.fsync_dir(self._dir)
            except OSError as exc:
                raise self._fail(f"removing segments of {self._dir}", exc) from exc
            except BaseException as exc:
                self._fail(f"removing segments of {self._dir}", exc)
                raise
            return victims

    def close(self) -> None:
        """Sync and release the active segment. Later calls raise ``StorageError``."""
        with self._mutex:
            if self._closed:
                return
            self._wait_idle_locked()
            try:
                if self._failed is None:
                    self._sync_here_locked("fsync")
            finally:
                self._closed = True
                self._active.close()
                self._release_all_locked()

    def abandon(self) -> None:
        """Let go as a killed process would: bytes still in the buffer are lost, nothing is
        synced, the file is released. Later calls raise ``StorageError``."""
        with self._mutex:
            self._buffer.clear()
            self._closed = True
            self._active.close()
            self._release_all_locked()
