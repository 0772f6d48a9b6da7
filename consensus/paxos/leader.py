"""The distinguished proposer's side: phase 2 for new slots, counting acceptances,
heartbeats, re-sending unacknowledged Accepts, fetching chosen values, and reads.

Steady state: ``propose`` takes the next slot, the leader votes for it itself and sends one
``Accept`` per peer (batched per ``Ready``); a majority of ``Accepted`` makes it chosen:
one round trip per command. The commit index then goes out in the next Accept, or in a
``Commit`` (``announce_commit``), or in the next heartbeat.

Deposition: the leader steps down when its acceptor promises a higher ballot, when a
higher ballot's leader contacts it, when a majority has not answered for
``election_ticks`` (``check_quorum``), and when it learns that a slot it proposed at was
chosen with another value, or that a slot above its proposals was chosen at all: both
prove a higher ballot chose values. Before stepping down it never announces a commit
index that covers such a slot, which is what makes :class:`~consensus.messages.Commit`'s
promise true.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core import Role
from ..errors import InvariantViolation
from ..messages import (
    Accepted,
    Ballot,
    PaxosHeartbeat,
    PaxosHeartbeatAck,
    ReadForward,
    ReadForwardReply,
)
from ..quorum import majority
from ..types import Entry, Index, NodeId, ReadState
from . import follower
from .learner import AcceptTally
from .reads import PendingRead, ReadRounds

if TYPE_CHECKING:
    from .core import PaxosCore


class LeaderState:
    """What a node keeps while it is the distinguished proposer of ``ballot``.

    Slots: up to ``fetch_until`` are chosen and fetched, never proposed; from
    ``fetch_until + 1`` to ``next_slot - 1`` this leader proposed (``inflight`` holds the
    ones not yet chosen); ``read_floor`` is the last slot that may have been chosen before
    this ballot.
    """

    __slots__ = (
        "active",
        "ballot",
        "fetch_until",
        "heartbeat_elapsed",
        "inflight",
        "next_slot",
        "now",
        "peer_commit",
        "quorum_elapsed",
        "read_floor",
        "reads",
        "sent_at",
    )

    def __init__(
        self,
        ballot: Ballot,
        fetch_until: Index,
        frontier: Index,
        reads: ReadRounds,
    ) -> None:
        self.ballot = ballot
        self.fetch_until = fetch_until
        self.next_slot = frontier + 1
        self.read_floor = frontier
        self.inflight: dict[Index, AcceptTally] = {}
        self.sent_at: dict[Index, int] = {}
        self.active: set[NodeId] = set()
        self.peer_commit: dict[NodeId, Index] = {}
        self.reads = reads
        self.now = 0
        self.heartbeat_elapsed = 0
        self.quorum_elapsed = 0


def _lead(core: PaxosCore) -> LeaderState:
    lead = core.lead
    if lead is None or core.role is not Role.LEADER:
        raise InvariantViolation(f"node {core.id} acts as leader while {core.role.value}")
    return lead


def propose_entry(core: PaxosCore, entry: Entry) -> None:
    """Phase 2 for ``entry`` in this leader's ballot: vote, then ask every peer."""
    lead = _lead(core)
    slot = entry.index
    if slot <= lead.fetch_until or slot in lead.inflight or core.chosen.knows(slot):
        raise InvariantViolation(f"leader {core.id} proposing twice at slot {slot}")
    if not core.acceptor.accept(lead.ballot, entry):
        raise InvariantViolation(
            f"leader {core.id} of {lead.ballot} refused by its own acceptor "
            f"(promised {core.acceptor.promised})"
        )
    tally = AcceptTally(lead.ballot, entry, core.voters)
    lead.inflight[slot] = tally
    lead.sent_at[slot] = lead.now
    lead.next_slot = max(lead.next_slot, slot + 1)
    commit = core.chosen.commit
    for peer in core.peers:
        core.outbox.accept(
            core.id, peer, lead.ballot, entry, commit, core.config.max_entries_per_msg
        )
    if tally.record(core.id):
        core.learn(entry)


def on_accepted(core: PaxosCore, m: Accepted) -> None:
    lead = core.lead
    if core.role is not Role.LEADER or lead is None or m.ballot != lead.ballot:
        return
    lead.active.add(m.src)
    for slot in m.slots:
        tally = lead.inflight.get(slot)
        if tally is not None and tally.record(m.src):
            core.learn(tally.entry)
            if core.lead is not lead:
                return  # deposed by what it learned


def on_learned(core: PaxosCore, entry: Entry) -> bool:
    """``entry`` became known chosen; False if that proves this leader deposed."""
    lead = _lead(core)
    slot = entry.index
    tally = lead.inflight.pop(slot, None)
    lead.sent_at.pop(slot, None)
    if tally is not None:
        return tally.entry == entry
    return slot < lead.next_slot


def may_install(core: PaxosCore, index: Index) -> bool:
    """Whether a snapshot up to ``index`` covers only slots this leader fetches: one
    that covers its own proposals hides whether they were chosen, so it steps down."""
    lead = _lead(core)
    return index <= lead.fetch_until


def announce(core: PaxosCore) -> None:
    lead = _lead(core)
    for peer in core.peers:
        core.outbox.announce(core.id, peer, lead.ballot, core.chosen.commit)


def note_peer_commit(core: PaxosCore, peer: NodeId, commit: Index) -> None:
    """``peer`` reported ``commit``: its latest report stands, even when lower (a node's
    commit index is not synced, so it can go back after a restart; keeping the highest
    one made ``maybe_fetch`` ask a peer that no longer had the values, forever)."""
    lead = _lead(core)
    lead.peer_commit[peer] = commit


def maybe_fetch(core: PaxosCore) -> None:
    """Ask a peer for the chosen values below ``fetch_until`` that this leader lacks."""
    lead = _lead(core)
    want = core.chosen.commit + 1
    if want > lead.fetch_until:
        return
    best = max(lead.peer_commit.items(), key=lambda pc: (pc[1], -pc[0]), default=None)
    if best is not None and best[1] >= want:
        follower.request_catch_up(core, best[0])


def tick(core: PaxosCore) -> None:
    lead = _lead(core)
    lead.now += 1
    lead.heartbeat_elapsed += 1
    lead.quorum_elapsed += 1
    cfg = core.config
    if lead.quorum_elapsed >= cfg.election_ticks:
        lead.quorum_elapsed = 0
        heard = len(lead.active.intersection(core.voters))  # learners answer too
        if cfg.check_quorum and heard + 1 < majority(len(core.voters)):
            core.become_follower(None)
            return
        lead.active.clear()
    if lead.heartbeat_elapsed >= cfg.heartbeat_ticks:
        lead.heartbeat_elapsed = 0
        broadcast_heartbeat(core)
        _resend_stale(core)
        maybe_fetch(core)


def broadcast_heartbeat(core: PaxosCore) -> None:
    lead = _lead(core)
    context = lead.reads.context()
    for peer in core.peers:
        core.send(PaxosHeartbeat(core.id, peer, lead.ballot, core.chosen.commit, context))


def _resend_stale(core: PaxosCore) -> None:
    lead = _lead(core)
    cfg = core.config
    commit = core.chosen.commit
    for slot, tally in lead.inflight.items():
        if lead.now - lead.sent_at[slot] < cfg.accept_resend_ticks:
            continue
        lead.sent_at[slot] = lead.now
        for peer in core.peers:
            if peer not in tally.votes:
                core.outbox.accept(
                    core.id, peer, lead.ballot, tally.entry, commit, cfg.max_entries_per_msg
                )


# -- reads ------------------------------------------------------------------------------
def leader_read(core: PaxosCore, context: bytes, origin: NodeId) -> None:
    lead = _lead(core)
    read = PendingRead(context, max(core.chosen.commit, lead.read_floor), origin)
    if len(core.voters) == 1:
        _answer(core, read)
    elif not lead.reads.add(read):
        _fail(core, read)
    else:
        _start_round(core)


def _start_round(core: PaxosCore) -> None:
    lead = _lead(core)
    context = lead.reads.start()
    if context is None:
        return
    for peer in core.peers:
        core.send(PaxosHeartbeat(core.id, peer, lead.ballot, core.chosen.commit, context))


def on_heartbeat_ack(core: PaxosCore, m: PaxosHeartbeatAck) -> None:
    lead = core.lead
    if core.role is not Role.LEADER or lead is None or m.ballot != lead.ballot:
        return
    lead.active.add(m.src)
    note_peer_commit(core, m.src, m.commit)
    if m.context is not None:
        for read in lead.reads.ack(m.src, m.context):
            _answer(core, read)
        _start_round(core)
    maybe_fetch(core)


def on_read_forward(core: PaxosCore, m: ReadForward) -> None:
    if core.role is Role.LEADER:
        leader_read(core, m.context, m.src)
    else:
        core.send(ReadForwardReply(core.id, m.src, m.context, 0, False))


def abort_reads(core: PaxosCore) -> None:
    lead = _lead(core)
    for read in lead.reads.drain():
        _fail(core, read)


def _answer(core: PaxosCore, read: PendingRead) -> None:
    if read.origin == core.id:
        core.read_states.append(ReadState(read.context, read.index))
    else:
        core.send(ReadForwardReply(core.id, read.origin, read.context, read.index, True))


def _fail(core: PaxosCore, read: PendingRead) -> None:
    if read.origin == core.id:
        core.dropped_reads.append(read.context)
    else:
        core.send(ReadForwardReply(core.id, read.origin, read.context, 0, False))
