"""The real file system behind the shim."""

from __future__ import annotations

from pathlib import Path

import pytest

from consensus.storage.fs import OsFileSystem, atomic_write, remove_temporaries


def test_basic_operations(tmp_path: Path) -> None:
    fs = OsFileSystem()
    d = str(tmp_path / "a" / "b")
    fs.mkdir(d)
    f = fs.open(f"{d}/seg")
    f.append(b"hello ")
    f.append(b"world")
    f.fsync()
    f.close()
    assert fs.read(f"{d}/seg") == b"hello world"
    assert fs.read(f"{d}/seg", 6, 3) == b"wor"
    assert fs.size(f"{d}/seg") == 11
    fs.write_at(f"{d}/seg", 6, b"W")
    assert fs.read(f"{d}/seg") == b"hello World"
    fs.truncate(f"{d}/seg", 5)
    fs.fsync(f"{d}/seg")
    assert fs.read(f"{d}/seg") == b"hello"
    atomic_write(fs, f"{d}/meta", b"v1")
    atomic_write(fs, f"{d}/meta", b"v2")
    assert fs.read(f"{d}/meta") == b"v2"
    fs.write(f"{d}/left.tmp", b"")
    assert remove_temporaries(fs, d) == ["left.tmp"]
    assert fs.list(d) == ["meta", "seg"]
    fs.remove(f"{d}/seg")
    fs.fsync_dir(d)
    assert not fs.exists(f"{d}/seg")


def test_the_directory_lock_is_exclusive(tmp_path: Path) -> None:
    fs = OsFileSystem()
    lock = fs.lock(str(tmp_path / "LOCK"))
    with pytest.raises(BlockingIOError):
        fs.lock(str(tmp_path / "LOCK"))
    lock.release()
    fs.lock(str(tmp_path / "LOCK")).release()
