"""Rebuilding a Raft store's state from its WAL records, in order.

Replay may start in the middle of the log's history (compaction deleted the segments
before), so it treats the log as a map from index to entry and applies each record the
way it acts on that map: an entry drops every index from its own on and sets its own;
a reset mark drops everything; any other mark drops the indexes up to it. Deleted
segments held only entries at or below the compaction point ``a``, and these rules act
on the indexes above ``a`` the same whatever came before; so above ``a`` (hence above the
latest snapshot, which is at or above ``a``) replaying from the oldest segment left gives
exactly the log a replay from the very start would. :meth:`RaftReplay.finish` keeps the
entries after the snapshot and checks they follow it without a gap.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable

from ...types import Entry, HardState, Snapshot
from ..base import StorageError
from ..log_view import LogView
from .raft_records import SnapshotMark, decode_record
from .records import HEADER_BYTES


def _index(entry: Entry) -> int:
    return entry.index


class RaftReplay:
    """Feed with :meth:`feed` (a ``recovery.Replay``), then call :meth:`finish`."""

    def __init__(self, directory: str, note_index: Callable[[int, int], None]) -> None:
        self._dir = directory
        self._note_index = note_index  # (segment, index): for compaction
        self.entries: list[Entry] = []  # strictly increasing indexes; gaps possible
        self.hard_state: HardState | None = None
        self.hard_state_position = 0  # end of the record that carried it
        self.last_mark: SnapshotMark | None = None

    def feed(self, segment: int, position: int, payload: memoryview) -> None:
        try:
            record = decode_record(payload)
        except ValueError as exc:
            raise StorageError(
                f"WAL record at log position {position} (segment {segment} of {self._dir}) "
                f"has a valid CRC but cannot be decoded: {exc}; refusing to start"
            ) from None
        if isinstance(record, Entry):
            self._entry(segment, record)
        elif isinstance(record, HardState):
            self.hard_state = record
            self.hard_state_position = position + HEADER_BYTES + len(payload)
        else:
            self.last_mark = record
            if record.reset:
                self.entries = []
            else:
                del self.entries[: bisect_right(self.entries, record.index, key=_index)]

    def _entry(self, segment: int, entry: Entry) -> None:
        self._note_index(segment, entry.index)
        entries = self.entries
        if entries and entry.index != entries[-1].index + 1:
            del entries[bisect_left(entries, entry.index, key=_index) :]
        entries.append(entry)

    def finish(self, snapshot: Snapshot | None) -> tuple[LogView, SnapshotMark | None]:
        """The log after the latest snapshot file, and the mark the WAL lacks, if any.

        If the snapshot's mark is not the last one replayed, a crash came between the
        snapshot file and its mark: the snapshot rule is applied here as the mark would
        have applied it, and the mark is returned for the caller to append. Entries after
        the snapshot that do not follow it without a gap are refused.
        """
        index, term = (snapshot.meta.index, snapshot.meta.term) if snapshot else (0, 0)
        entries = self.entries
        missing = None
        mark = self.last_mark
        if snapshot is not None and (mark is None or (mark.index, mark.term) != (index, term)):
            pos = bisect_left(entries, index, key=_index)
            keep = pos < len(entries) and entries[pos].index == index and entries[pos].term == term
            missing = SnapshotMark(index, term, not keep)
            if not keep:
                entries = []
        del entries[: bisect_right(entries, index, key=_index)]
        if entries and entries[-1].index - index != len(entries):
            expected = index + 1
            for entry in entries:
                if entry.index != expected:
                    break
                expected += 1
            raise StorageError(
                f"WAL of {self._dir} has a gap: entries {index + 1}..{expected - 1} follow the "
                f"snapshot at {index}, then the log resumes at index {entry.index}; refusing "
                "to start"
            )
        view = LogView(index, term)
        view.entries = entries
        return view, missing
