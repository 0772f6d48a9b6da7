"""The leader's side: replicating the log, committing, heartbeats, snapshots, reads.

Commit rule (paper section 5.4.2, Figure 8): the leader commits index N only when a
majority has matched N *and* the entry at N is of the leader's current term; earlier
entries are committed indirectly with it. The majority is of the voters of the
configuration in effect (the leader itself counts only if it is one); learners receive
the log, heartbeats and snapshots like followers but never count towards commit,
read-index confirmation or check-quorum.
"""

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
from ..quorum import committed_index
from ..types import NodeId, ReadState
from .progress import ProgressState

if TYPE_CHECKING:
    from .core import RaftCore


def step_leader(core: RaftCore, m: RaftMessage) -> None:
    """Messages of the current term to the leader."""
    pr = core.progress.get(m.src)
    if pr is None:
        return
    if isinstance(m, AppendEntriesResponse):
        pr.recent_active = True
        if m.index > core.log.last_index():
            return  # acknowledges entries we never sent: not from a correct follower
        if m.success:
            _acknowledged(core, m.src, m.index)
        else:
            # Fast back-off: skip every entry of ours that cannot match the follower's
            # log at (hint_index, hint_term).
            if m.hint_term > 0:
                probe_from = core.log.conflict_hint(m.hint_index, m.hint_term)
            else:
                probe_from = m.hint_index
            if pr.rejected(m.index, probe_from):
                if pr.state is ProgressState.REPLICATE:
                    pr.become_probe()
                send_append(core, m.src)
    elif isinstance(m, HeartbeatResponse):
        pr.recent_active = True
        pr.paused = False
        stalled = not pr.acked_since_heartbeat
        if pr.state is ProgressState.SNAPSHOT:
            _send_snapshot_chunk(core, m.src)
        elif pr.state is ProgressState.PROBE:
            if pr.match < core.log.last_index():
                send_append(core, m.src)  # the probe (or its answer) may have been lost
        elif pr.match < core.log.last_index() and (
            stalled or pr.next_index <= core.log.last_index()
        ):
            # Replicating, yet no acknowledgement came back between the heartbeat and its
            # answer (links are mostly FIFO, acks leave before heartbeat answers): appends
            # may have been lost. Free a slot and send what comes next; a gap makes the
            # follower reject, and the leader falls back to probing. (While acks flow,
            # nothing extra is sent: the next append carries the next entries.)
            if stalled and pr.inflight:
                pr.inflight.popleft()
            send_append(core, m.src, send_if_empty=stalled)
        if m.context is not None:
            confirmed = core.reads.ack(m.context, m.src, core.voters)
            if confirmed:
                core.renew_lease(confirmed[-1].tick)
            for read in confirmed:
                _answer_read(core, read.context, read.index, read.origin)
    elif isinstance(m, InstallSnapshotResponse):
        pr.recent_active = True
        if pr.state is not ProgressState.SNAPSHOT or m.index != pr.snapshot_index:
            return
        if m.done:
            pr.acknowledged(m.index)
            pr.become_probe()
            send_append(core, m.src)
        elif m.success:
            pr.snapshot_offset = m.next_offset
            _send_snapshot_chunk(core, m.src)
        else:
            pr.become_probe()
    elif isinstance(m, ReadIndex):
        leader_read(core, m.context, m.src)


def _acknowledged(core: RaftCore, peer: NodeId, index: int) -> None:
    pr = core.progress[peer]
    moved = pr.acknowledged(index)
    if pr.state is ProgressState.PROBE:
        pr.become_replicate()
    if moved and maybe_commit(core):
        _release_reads_waiting_for_commit(core)
    if pr.next_index <= core.log.last_index():
        while not pr.is_paused() and pr.next_index <= core.log.last_index():
            send_append(core, peer, send_if_empty=False)
    if core.transfer_target == peer:
        continue_transfer(core)


def self_persisted(core: RaftCore) -> None:
    """The driver persisted the leader's log up to ``log.stable``: count our own copy."""
    if core.progress[core.id].acknowledged(core.log.stable) and maybe_commit(core):
        _release_reads_waiting_for_commit(core)


def maybe_commit(core: RaftCore) -> bool:
    """Advance the commit index to what a majority has, if that entry is of our term."""
    log = core.log
    n = committed_index({v: p.match for v, p in core.progress.items()}, core.voters)
    if n > log.committed and log.term(n) == core.term:
        log.commit_to(n)
        return True
    return False


def send_append(core: RaftCore, to: NodeId, send_if_empty: bool = True) -> None:
    """Send ``to`` the entries it needs next (a snapshot when they are compacted away)."""
    pr = core.progress[to]
    if pr.is_paused():
        return
    log = core.log
    prev_index = pr.next_index - 1
    prev_term = log.term(prev_index)
    if prev_term is None:
        if core.snapshot is None:
            raise AssertionError(f"entries before {pr.next_index} compacted without a snapshot")
        pr.become_snapshot(core.snapshot.meta.index)
        _send_snapshot_chunk(core, to)
        return
    cfg = core.config
    entries = log.slice(pr.next_index, pr.next_index + cfg.max_entries_per_msg)
    if not entries and not send_if_empty:
        return
    size = 0
    for pos, e in enumerate(entries):
        size += len(e.data)
        if size > cfg.max_bytes_per_msg and pos > 0:
            del entries[pos:]
            break
    core.send(
        AppendEntries(core.id, to, core.term, prev_index, prev_term, tuple(entries), log.committed)
    )
    pr.sent(entries[-1].index if entries else None)


def _send_snapshot_chunk(core: RaftCore, to: NodeId) -> None:
    pr = core.progress[to]
    snap = core.snapshot
    if snap is None or snap.meta.index != pr.snapshot_index:
        pr.become_probe()  # the snapshot changed under us: start over from a probe
        return
    chunk = core.config.snapshot_chunk_bytes
    offset = pr.snapshot_offset
    data = snap.data[offset : offset + chunk]
    done = offset + len(data) >= len(snap.data)
    core.send(InstallSnapshot(core.id, to, core.term, snap.meta, offset, data, done))


def broadcast_append(core: RaftCore, send_if_empty: bool = True) -> None:
    for peer in core.peers:
        send_append(core, peer, send_if_empty)


def broadcast_new_entries(core: RaftCore) -> None:
    """Send every follower its entries up to the last index, as many messages as its
    progress allows right now (what a proposal per entry would have sent, batched)."""
    last = core.log.last_index()
    for peer in core.peers:
        pr = core.progress[peer]
        while not pr.is_paused() and pr.next_index <= last:
            send_append(core, peer, send_if_empty=False)


def broadcast_heartbeat(core: RaftCore, context: bytes | None) -> None:
    committed = core.log.committed
    for peer in core.peers:
        pr = core.progress[peer]
        pr.acked_since_heartbeat = False
        core.send(Heartbeat(core.id, peer, core.term, min(pr.match, committed), context))


def reply_stale(core: RaftCore, m: RaftMessage) -> None:
    """Answer a message from a deposed leader so it learns the newer term."""
    core.send(AppendEntriesResponse(core.id, m.src, core.term, False, 0))


def quorum_active(core: RaftCore) -> bool:
    """Check-quorum: did a majority of the voters (counting us, if we are one) answer
    since the last check? Learners do not count. Resets."""
    active = 0
    voters = core.voters
    for node, pr in core.progress.items():
        if (node == core.id or pr.recent_active) and node in voters:
            active += 1
        pr.recent_active = False
    return active >= core.quorum_size()


def continue_transfer(core: RaftCore) -> None:
    target = core.transfer_target
    if target is None:
        return
    if core.progress[target].match == core.log.last_index():
        core.send(TimeoutNow(core.id, target, core.term))
    else:
        send_append(core, target)


# -- read index ---------------------------------------------------------------------------
def leader_read(core: RaftCore, context: bytes, origin: NodeId) -> None:
    """Start confirming a read for ``origin`` (this node or a follower that forwarded)."""
    if core.log.term(core.log.committed) != core.term:
        # Until an entry of our term commits we do not know the true commit index.
        if len(core.reads_before_commit) >= core.config.max_pending_reads:
            core.fail_read(context, origin)
        else:
            core.reads_before_commit.append((context, origin))
        return
    if core.voters == (core.id,):
        _answer_read(core, context, core.log.committed, origin)
        return
    if len(core.reads) >= core.config.max_pending_reads:
        core.fail_read(context, origin)
        return
    round_context = core.reads.add(
        context, core.log.committed, origin, core.id, core.ticks, core.is_voter
    )
    broadcast_heartbeat(core, round_context)


def _release_reads_waiting_for_commit(core: RaftCore) -> None:
    if core.reads_before_commit and core.log.term(core.log.committed) == core.term:
        waiting, core.reads_before_commit = core.reads_before_commit, []
        for context, origin in waiting:
            leader_read(core, context, origin)


def _answer_read(core: RaftCore, context: bytes, index: int, origin: NodeId) -> None:
    if origin == core.id:
        core.read_states.append(ReadState(context, index))
    else:
        core.send(ReadIndexResponse(core.id, origin, core.term, context, index, True))
