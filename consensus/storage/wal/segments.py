"""Segment files: naming, listing and per-segment bookkeeping.

A segment is named for the global log position of its first byte (its magic):
``00000000000000131072.wal``. Positions grow across segments without gaps, so the
segment holding a position, and a missing segment, are found from names alone.
"""

from __future__ import annotations

import posixpath
import re

from ..base import StorageError
from ..fs import FileSystem

SEGMENT_SUFFIX = ".wal"
_NAME = re.compile(r"^(\d{20})\.wal$")


def segment_name(start: int) -> str:
    return f"{start:020d}{SEGMENT_SUFFIX}"


def segment_path(directory: str, start: int) -> str:
    return posixpath.join(directory, segment_name(start))


def list_segments(fs: FileSystem, directory: str) -> list[int]:
    """Start positions of the segments in ``directory``, ascending. A ``.wal`` file with
    a malformed name is an error (something else wrote into the data dir)."""
    starts = []
    for name in fs.list(directory):
        if not name.endswith(SEGMENT_SUFFIX):
            continue
        match = _NAME.match(name)
        if match is None:
            raise StorageError(
                f"unexpected file {posixpath.join(directory, name)} in the WAL directory: "
                "segment names are 20 digits + .wal"
            )
        starts.append(int(match.group(1)))
    return sorted(starts)
