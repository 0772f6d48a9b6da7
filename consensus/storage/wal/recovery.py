"""Reading segments back after a restart: replay every valid record, repair a torn tail,
refuse corruption.

Rules (see docs/storage.md):

- A segment other than the last was fsynced in full before its successor was created
  (``RecordLog`` seals on roll), so any bad byte in it is corruption: refuse.
- In the last segment, a bad record at offset X is a torn tail if no valid record after X
  proves that X had been durable: a valid record whose ``synced`` watermark is past X.
  Records after a torn hole are unsynced writes that happened to reach the disk; they are
  dropped with the tail. Then the file is truncated at X, fsynced, and a warning logged.
- If such a proof exists, the bytes at X were durable and are now damaged: refuse with
  ``StorageError`` naming the file and byte offset. Nothing is ever dropped silently.
- Segments must be contiguous (each starts where the previous one ends), and the oldest
  must start at or before the position the caller expects (segments before it may have
  been compacted away).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import attrs

from ..base import StorageError
from ..fs import FileSystem
from .records import SEGMENT_MAGIC, BadFrame, Frame, read_frame, scan_frames
from .segments import list_segments, segment_name, segment_path

log = logging.getLogger("consensus.storage.wal")

Replay = Callable[[int, int, memoryview], None]
"""``replay(segment_start, record_position, payload)``, once per valid record, in order."""

MAGIC_BYTES = len(SEGMENT_MAGIC)


@attrs.frozen(slots=True)
class SegmentExtent:
    """A segment after recovery: it holds log positions ``start .. end - 1``. ``synced``
    is the watermark of its last record (None if it has none): everything from there on
    may never have reached the disk, even if it reads back fine (see ``RecordLog.open``)."""

    start: int
    end: int
    synced: int | None = None


def recover_segments(
    fs: FileSystem,
    directory: str,
    replay: Replay,
    *,
    record_bytes_max: int,
    start_position: int = 0,
) -> list[SegmentExtent]:
    """Replay and repair the segments in ``directory``; see the module docstring.

    ``start_position``: the log is known to begin at or before this position (0 for a
    log that was never compacted). Returns the segments' extents, oldest first; the last
    one may be empty (``start == end``) if its creation was torn.
    """
    starts = list_segments(fs, directory)
    if not starts:
        if start_position > 0:
            raise StorageError(
                f"WAL segment {segment_path(directory, start_position)} is missing: the "
                f"log was compacted up to position {start_position} but no segment is left"
            )
        return []
    if starts[0] > start_position:
        raise StorageError(
            f"WAL segment {segment_path(directory, start_position)} is missing: the oldest "
            f"segment left is {segment_name(starts[0])}"
        )
    extents: list[SegmentExtent] = []
    for k, start in enumerate(starts):
        if extents and extents[-1].end != start:
            raise StorageError(
                f"WAL segments are not contiguous: {segment_name(extents[-1].start)} ends at "
                f"position {extents[-1].end} but the next segment is {segment_name(start)}"
            )
        last = k == len(starts) - 1
        end, synced = _recover_one(fs, directory, start, last, replay, record_bytes_max)
        extents.append(SegmentExtent(start, end, synced))
    return extents


def _recover_one(
    fs: FileSystem, directory: str, start: int, last: bool, replay: Replay, record_bytes_max: int
) -> tuple[int, int | None]:
    path = segment_path(directory, start)
    data = fs.read(path)
    bad: BadFrame | None = None
    synced = None
    if data[:MAGIC_BYTES] != SEGMENT_MAGIC:
        bad = BadFrame(0, f"bad segment magic {data[:MAGIC_BYTES]!r}")
    else:
        _, bad, synced = scan_frames(data, MAGIC_BYTES, start, record_bytes_max, replay)
    if bad is None:
        return start + len(data), synced
    if last and not data:
        log.info("WAL segment %s is empty (its creation was cut short): reusing it", path)
        return start, None
    if not last:
        raise StorageError(
            f"WAL segment {path} is corrupt at byte offset {bad.offset}: {bad.reason}; it is "
            "not the last segment, so it was fully synced before the next one was created: "
            "refusing to start"
        )
    proof = _durable_record_after(data, bad.offset, start, record_bytes_max)
    if proof is not None:
        raise StorageError(
            f"WAL segment {path} is corrupt at byte offset {bad.offset}: {bad.reason}; the "
            f"valid record at byte offset {proof.offset} was written after offset "
            f"{bad.offset} had been synced, so this is not a torn tail: refusing to start"
        )
    log.warning(
        "WAL segment %s: truncating a torn tail of %d bytes at byte offset %d (%s)",
        path,
        len(data) - bad.offset,
        bad.offset,
        bad.reason,
    )
    keep = bad.offset if bad.offset >= MAGIC_BYTES else 0
    fs.truncate(path, keep)
    fs.fsync(path)
    return start + keep, synced


def _durable_record_after(
    data: bytes, bad_offset: int, start: int, record_bytes_max: int
) -> Frame | None:
    """A valid frame after ``bad_offset`` whose watermark shows ``bad_offset`` was durable.

    Tries every byte offset; valid frames without such a watermark (unsynced writes past
    a hole) are stepped over whole.
    """
    bad_position = start + bad_offset
    offset = bad_offset + 1
    while offset < len(data):
        frame = read_frame(data, offset, start + offset, record_bytes_max)
        if isinstance(frame, Frame):
            if frame.synced > bad_position:
                return frame
            offset = frame.end
        else:
            offset += 1
    return None
