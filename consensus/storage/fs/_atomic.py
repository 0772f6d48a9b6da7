"""Replacing a small file atomically: write a temporary, fsync it, rename, fsync the dir."""

from __future__ import annotations

import posixpath

from ._api import FileSystem

TMP_SUFFIX = ".tmp"


def atomic_write(fs: FileSystem, path: str, data: bytes) -> None:
    """Make ``path`` hold ``data``, durably, such that a crash at any point leaves either
    the previous contents or ``data`` (never a mixture). Durable when it returns."""
    tmp = path + TMP_SUFFIX
    fs.write(tmp, data)
    fs.fsync(tmp)
    fs.rename(tmp, path)
    fs.fsync_dir(posixpath.dirname(path) or ".")


def remove_temporaries(fs: FileSystem, directory: str) -> list[str]:
    """Delete leftovers of interrupted :func:`atomic_write` calls; return their names."""
    names = [n for n in fs.list(directory) if n.endswith(TMP_SUFFIX)]
    for name in names:
        fs.remove(posixpath.join(directory, name))
    if names:
        fs.fsync_dir(directory)
    return names
