"""FileStorage specifics: the data dir's identity and lock, leftovers, refusals."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

from consensus.storage import FileStorage, StorageError, WalOptions
from consensus.storage.fs import CrashMode, SimFileSystem, SimulatedCrash

from .harness import entries, hs, snap


def open_at(path: str, fs: object = None, **kw: object) -> FileStorage:
    args: dict[str, object] = {"cluster_id": "alpha", "node_id": 1}
    args.update(kw)
    return FileStorage.open(path, fs=fs, **args)  # type: ignore[arg-type]


def test_a_data_dir_belongs_to_one_cluster_and_node(tmp_path: Path) -> None:
    path = str(tmp_path / "n1")
    open_at(path).close()
    with pytest.raises(
        StorageError,
        match=f"data dir {path} belongs to cluster 'alpha' node 1, not cluster 'beta' node 1",
    ):
        open_at(path, cluster_id="beta")
    with pytest.raises(
        StorageError, match="belongs to cluster 'alpha' node 1, not cluster 'alpha' node 2"
    ):
        open_at(path, node_id=2)
    open_at(path).close()


def test_a_foreign_non_empty_dir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(
        StorageError, match=r"is not empty but has no IDENTITY file \(found notes\.txt\)"
    ):
        open_at(str(tmp_path))


def test_bad_identity_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cluster_id must be a non-empty string, got ''"):
        open_at(str(tmp_path), cluster_id="")
    with pytest.raises(ValueError, match="node_id must be a positive integer, got 0"):
        open_at(str(tmp_path), node_id=0)


def test_one_process_at_a_time(tmp_path: Path) -> None:
    path = str(tmp_path)
    first = open_at(path)
    lock = f"{path}/LOCK"
    with pytest.raises(StorageError) as refused:
        open_at(path)
    assert str(refused.value) == (
        f"data dir {path} is in use by another process (lock {lock} is held by pid {os.getpid()})"
    )
    first.close()
    open_at(path).close()


def test_identity_survives_a_crash_during_creation() -> None:
    for crash_at in range(1, 8):
        fs = SimFileSystem(crash_at)
        fs.crash_at_op = crash_at
        with contextlib.suppress(SimulatedCrash):
            open_at("/n", fs).close()
        fs.crash(CrashMode.TORN)
        open_at("/n", fs).close()  # a half-made dir is finished, never refused
        with pytest.raises(StorageError, match="not cluster 'x' node 1"):
            open_at("/n", fs, cluster_id="x")


def test_leftover_temporaries_are_removed(tmp_path: Path) -> None:
    open_at(str(tmp_path)).close()
    (tmp_path / "CHECKPOINT.tmp").write_bytes(b"half written")
    open_at(str(tmp_path)).close()
    assert not (tmp_path / "CHECKPOINT.tmp").exists()


def test_a_damaged_checkpoint_or_snapshot_is_refused(tmp_path: Path) -> None:
    s = open_at(str(tmp_path), options=WalOptions(segment_bytes_max=4096))
    s.persist(hs(1, 1, 100), entries(1, 100, 1, size=100), None)
    s.compact(snap(100, 1))
    s.close()
    (tmp_path / "CHECKPOINT").write_bytes(b"garbage")
    with pytest.raises(
        StorageError,
        match=r"checkpoint unreadable: .*CHECKPOINT is corrupt at byte offset 0",
    ):
        open_at(str(tmp_path))
    (tmp_path / "CHECKPOINT").unlink()
    [snapshot] = tmp_path.glob("*.snap")
    snapshot.write_bytes(snapshot.read_bytes()[:-3])
    with pytest.raises(StorageError, match=f"snapshot file is damaged: {snapshot} is corrupt"):
        open_at(str(tmp_path))


def test_compacted_segments_must_not_reappear_missing(tmp_path: Path) -> None:
    """After compaction the checkpoint says where the WAL starts; losing the segment
    there is refused rather than starting from a later one."""
    s = open_at(str(tmp_path), options=WalOptions(segment_bytes_max=4096))
    s.persist(hs(1, 1, 200), entries(1, 200, 1, size=100), None)
    s.sync()
    s.compact(snap(100, 1))
    s.close()
    segments = sorted(tmp_path.glob("*.wal"))
    segments[0].unlink()
    with pytest.raises(StorageError, match=f"WAL segment {segments[0]} is missing"):
        open_at(str(tmp_path))


def test_closed_and_abandoned_storage_refuse_use(tmp_path: Path) -> None:
    s = open_at(str(tmp_path))
    s.close()
    s.close()
    with pytest.raises(StorageError, match="is closed"):
        s.persist(None, entries(1, 1, 1), None)
    s = open_at(str(tmp_path))
    s.abandon()
    with pytest.raises(StorageError, match="is closed"):
        s.sync()


def test_an_entry_too_big_for_a_record_is_refused_before_writing(tmp_path: Path) -> None:
    s = open_at(str(tmp_path), options=WalOptions(record_bytes_max=100))
    with pytest.raises(
        ValueError, match="an entry needs a 218-byte WAL record, over record_bytes_max 100"
    ):
        s.persist(None, [*entries(1, 1, 1), *entries(2, 2, 1, size=200)], None)
    assert s.last_index() == 0
    s.persist(None, entries(1, 1, 1), None)
    s.close()
    assert open_at(str(tmp_path)).recover().entries == tuple(entries(1, 1, 1))


def test_the_layout_on_disk(tmp_path: Path) -> None:
    s = open_at(str(tmp_path))
    s.persist(hs(1, 1, 5), entries(1, 5, 1), None)
    s.compact(snap(5, 1))
    s.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "00000000000000000000.wal",
        "IDENTITY",
        "LOCK",
        "snap-000000000001-i5.snap",
    ]
    assert b'"cluster_id": "alpha"' in (tmp_path / "IDENTITY").read_bytes()
