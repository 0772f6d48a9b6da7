"""The follower's side of replication: AppendEntries, heartbeats, snapshots, TimeoutNow."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..messages import (
    AppendEntries,
    AppendEntriesResponse,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
    RaftMessage,
    ReadIndex,
    ReadIndexResponse,
    TimeoutNow,
)
from ..types import EntryKind, ReadState, Snapshot
from . import membership

if TYPE_CHECKING:
    from .core import RaftCore

_CONFIG = EntryKind.CONFIG


def step_follower(core: RaftCore, m: RaftMessage) -> None:
    """Messages of the current term to a follower."""
    if isinstance(m, AppendEntries):
        _heard_from_leader(core, m.src)
        handle_append(core, m)
    elif isinstance(m, Heartbeat):
        _heard_from_leader(core, m.src)
        core.log.commit_to(min(m.commit, core.log.last_index()))
        core.send(HeartbeatResponse(core.id, m.src, core.term, m.context))
    elif isinstance(m, InstallSnapshot):
        _heard_from_leader(core, m.src)
        handle_snapshot(core, m)
    elif isinstance(m, TimeoutNow):
        if not core.is_voter:
            return  # leadership is never transferred to a non-voter
        from . import election

        election.campaign(core, pre_vote=False, transfer=True)
    elif isinstance(m, ReadIndexResponse):
        if m.context in core.forwarded_reads:
            core.forwarded_reads.discard(m.context)
            if m.ok:
                core.read_states.append(ReadState(m.context, m.index))
            else:
                core.dropped_reads.append(m.context)
    elif isinstance(m, ReadIndex):
        core.send(ReadIndexResponse(core.id, m.src, core.term, m.context, 0, False))


def _heard_from_leader(core: RaftCore, leader: int) -> None:
    core.election_elapsed = 0
    if core.leader != leader:
        core.forwarded_reads_drop()
        core.leader = leader


def well_formed(m: AppendEntries) -> bool:
    """Entries must follow ``prev_index`` contiguously, with terms that never decrease,
    start at ``prev_term`` or later and do not exceed the sender's term."""
    prev_term = m.prev_term
    for pos, e in enumerate(m.entries):
        if e.index != m.prev_index + 1 + pos or not prev_term <= e.term <= m.term:
            return False
        prev_term = e.term
    return True


def handle_append(core: RaftCore, m: AppendEntries) -> None:
    log = core.log
    if not well_formed(m):
        return  # a correct leader never sends this; ignoring it keeps our log sound
    if m.prev_index < log.committed:
        # Everything up to our commit index already matches the leader's log.
        core.send(AppendEntriesResponse(core.id, m.src, core.term, True, log.committed))
        return
    last_new = log.try_append(m.prev_index, m.prev_term, m.entries)
    if last_new is not None:
        if core.config_at > m.prev_index or (m.entries and _has_config(m)):
            # A CONFIG entry was appended, or one may have been truncated away: the
            # configuration in effect follows the log (module docstring of .core).
            membership.resync(core, m.prev_index + 1)
        log.commit_to(min(m.commit, last_new))
        core.send(AppendEntriesResponse(core.id, m.src, core.term, True, last_new))
        return
    hint_index = log.conflict_hint(m.prev_index, m.prev_term)
    hint_term = log.term(hint_index) or 0
    core.send(
        AppendEntriesResponse(core.id, m.src, core.term, False, m.prev_index, hint_index, hint_term)
    )


def _has_config(m: AppendEntries) -> bool:
    for e in m.entries:  # noqa: SIM110 - a plain loop: this runs for every append
        if e.kind is _CONFIG:
            return True
    return False


def handle_snapshot(core: RaftCore, m: InstallSnapshot) -> None:
    """Collect chunks in order; install the snapshot when the last chunk arrives."""
    meta = m.meta
    log = core.log
    if meta.index <= log.committed:
        # We already have (and have committed) everything it covers.
        core.send(
            InstallSnapshotResponse(core.id, m.src, core.term, meta.index, True, 0, done=True)
        )
        return
    incoming = core.incoming_snapshot
    if incoming is None or incoming[0].meta != meta:
        if m.offset != 0:
            core.send(InstallSnapshotResponse(core.id, m.src, core.term, meta.index, True, 0))
            return
        incoming = (Snapshot(meta, b""), bytearray())
        core.incoming_snapshot = incoming
    buf = incoming[1]
    if m.offset == len(buf):
        buf += m.data
    if not m.done or m.offset + len(m.data) != len(buf):
        core.send(InstallSnapshotResponse(core.id, m.src, core.term, meta.index, True, len(buf)))
        return
    core.incoming_snapshot = None
    snapshot = Snapshot(meta, bytes(buf))
    if log.term(meta.index) == meta.term:
        # Our log already holds the snapshot's last entry: keep the entries after it.
        log.commit_to(meta.index)
    else:
        log.restore(meta)
        core.pending_snapshot = snapshot
        core.snapshot = snapshot
        membership.restored_snapshot(core, meta)
    core.send(
        InstallSnapshotResponse(core.id, m.src, core.term, meta.index, True, len(buf), done=True)
    )
