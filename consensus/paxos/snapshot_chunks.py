"""Catch-up snapshots in chunks (``PaxosConfig.snapshot_chunk_bytes``), instead of one
``ChosenSnapshot`` frame.

Pull-based and stateless on the sender, so any node that compacted can serve it:

- a ``CatchUp`` for slots the sender compacted away is answered with the first chunk,
  ``SnapshotChunk(meta, commit, offset=0, data, total)``;
- the receiver keeps one reassembly (:class:`Incoming`: the snapshot's ``meta``, its
  ``total`` size and the bytes so far) and, after each chunk it appends, asks for the next
  one (``SnapshotChunkRequest(meta, offset)``): one chunk in flight at a time. A sender
  still holding that snapshot answers with the chunk at ``offset``; one whose snapshot
  changed answers with offset 0 of its current one;
- the snapshot is installed (``PaxosCore.install_snapshot``) only when all ``total`` bytes
  are there, and only if it still covers slots above the commit index.

Loss, duplication and reordering: a chunk at the offset the reassembly expects is
appended; a chunk of the same snapshot at another offset is a duplicate or arrives after a
gap and is dropped, except offset 0, which answers a retried ``CatchUp`` and makes the
receiver ask again for the chunk it expects (resuming, not restarting). A chunk of another
snapshot (another ``meta`` or ``total``) at offset 0 throws the reassembly away and starts
over with that snapshot; at another offset it is dropped. A lost chunk or request stalls
the reassembly until the catch-up timer (``election_ticks``, :func:`follower.request_catch_up`)
sends ``CatchUp`` again. Chunks covering nothing above the commit index end the reassembly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..messages import CatchUp
from ..messages.paxos import SnapshotChunk, SnapshotChunkRequest
from ..types import NodeId, Snapshot, SnapshotMeta
from . import follower

if TYPE_CHECKING:
    from .core import PaxosCore


class Incoming:
    """A snapshot being reassembled: ``meta``, ``total`` bytes expected, ``data`` so far."""

    __slots__ = ("data", "meta", "total")

    def __init__(self, meta: SnapshotMeta, total: int) -> None:
        self.meta = meta
        self.total = total
        self.data = bytearray()


def send_chunk(core: PaxosCore, to: NodeId, offset: int) -> None:
    """Send ``to`` the chunk of our snapshot at ``offset`` (0 if past its end)."""
    snap = core.snapshot
    if snap is None:
        return
    if not 0 <= offset < len(snap.data):
        offset = 0
    data = snap.data[offset : offset + core.config.snapshot_chunk_bytes]
    core.send(
        SnapshotChunk(core.id, to, snap.meta, core.chosen.commit, offset, data, len(snap.data))
    )


def on_catch_up(core: PaxosCore, m: CatchUp) -> None:
    """``CatchUp`` for compacted slots starts a chunked snapshot; others as before."""
    if m.first_slot <= core.chosen.base and core.snapshot is not None:
        send_chunk(core, m.src, 0)
    else:
        follower.on_catch_up(core, m)


def on_chunk_request(core: PaxosCore, m: SnapshotChunkRequest) -> None:
    snap = core.snapshot
    if snap is None:
        return
    send_chunk(core, m.src, m.offset if snap.meta == m.meta else 0)


def on_chunk(core: PaxosCore, m: SnapshotChunk) -> None:
    """Reassemble (see the module docstring); install once complete."""
    end = m.offset + len(m.data)
    if end > m.total or (m.offset > 0 and not m.data):
        return  # malformed
    core.known_commit = max(core.known_commit, m.commit)
    if m.meta.index <= core.chosen.commit:
        core.incoming = None  # nothing in it we lack
        core.catchup_wait = 0
        _more(core, m)
        return
    inc = core.incoming
    if inc is None or inc.meta != m.meta or inc.total != m.total:
        if m.offset != 0:
            return  # a piece of a snapshot we are not assembling
        inc = Incoming(m.meta, m.total)
        core.incoming = inc
    have = len(inc.data)
    if m.offset == have:
        inc.data += m.data
    elif m.offset != 0:
        return  # a duplicate, or after a gap
    if len(inc.data) < inc.total:
        core.catchup_wait = core.config.election_ticks  # a request is in flight
        core.send(SnapshotChunkRequest(core.id, m.src, inc.meta, len(inc.data)))
        return
    core.incoming = None
    core.catchup_wait = 0
    core.install_snapshot(Snapshot(inc.meta, bytes(inc.data)))
    _more(core, m)


def _more(core: PaxosCore, m: SnapshotChunk) -> None:
    if core.chosen.commit < min(core.known_commit, m.commit):
        follower.request_catch_up(core, m.src)
