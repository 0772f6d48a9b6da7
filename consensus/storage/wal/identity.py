"""The ``IDENTITY`` file: which cluster, node and protocol a data directory belongs to.

Written once, atomically and CRC-framed, when the directory is created (before anything
else), and checked on every open, so that a node never starts on another node's data.
"""

from __future__ import annotations

import json
import posixpath

from ..base import StorageError
from ..fs import FileSystem, atomic_write
from .records import decode_single, encode_single

IDENTITY_FILE = "IDENTITY"
LOCK_FILE = "LOCK"
FORMAT = "consensus-toolkit-storage/1"


def ensure_identity(
    fs: FileSystem, directory: str, cluster_id: str, node_id: int, protocol: str
) -> None:
    """Check that ``directory`` belongs to ``(cluster_id, node_id)`` and holds
    ``protocol``'s data; in an empty directory, write that identity first (durably).
    ``StorageError`` otherwise, naming what was found."""
    if not isinstance(cluster_id, str) or not cluster_id:
        raise ValueError(f"cluster_id must be a non-empty string, got {cluster_id!r}")
    if type(node_id) is not int or node_id < 1:
        raise ValueError(f"node_id must be a positive integer, got {node_id!r}")
    path = posixpath.join(directory, IDENTITY_FILE)
    if not fs.exists(path):
        others = [n for n in fs.list(directory) if n != LOCK_FILE]
        if others:
            raise StorageError(
                f"data dir {directory} is not empty but has no {IDENTITY_FILE} file (found "
                f"{', '.join(others[:5])}): refusing to use it"
            )
        text = json.dumps(
            {"format": FORMAT, "cluster_id": cluster_id, "node_id": node_id, "protocol": protocol}
        )
        atomic_write(fs, path, encode_single(text.encode()))
        return
    try:
        found = json.loads(decode_single(fs.read(path), path))
        stored = (found["format"], found["cluster_id"], found["node_id"], found["protocol"])
    except (ValueError, KeyError, TypeError) as exc:
        raise StorageError(f"unreadable identity file {path}: {exc}") from None
    if stored[0] != FORMAT:
        raise StorageError(f"{path}: data dir format {stored[0]!r}, this build reads {FORMAT!r}")
    if stored[1:3] != (cluster_id, node_id):
        raise StorageError(
            f"data dir {directory} belongs to cluster {stored[1]!r} node {stored[2]}, not "
            f"cluster {cluster_id!r} node {node_id}: refusing to open it"
        )
    if stored[3] != protocol:
        raise StorageError(
            f"data dir {directory} holds {stored[3]} data, not {protocol}: refusing to open it"
        )
