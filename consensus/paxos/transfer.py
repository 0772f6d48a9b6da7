"""Leadership transfer: the Multi-Paxos counterpart of Raft's TimeoutNow (Raft dissertation,
section 3.10), used by the runtime's graceful shutdown.

``PaxosCore.transfer_leadership(to)`` on the leader of ballot ``b``:

1. the leader stops taking proposals (``propose`` raises ``ProposalDropped``);
2. it waits until ``to`` is up to date: every slot the leader proposed is chosen, the
   leader's commit index covers them, and ``to`` reported (in a heartbeat answer) a commit
   index at least the leader's. ``to`` catches up by itself: the leader's heartbeats tell
   it the commit index and it fetches what it lacks (``CatchUp``: chosen values, or a
   chunked snapshot);
3. it then sends ``PaxosTimeoutNow(b)`` to ``to`` (again on each of its heartbeat answers
   while the transfer runs, in case one is lost). ``to`` starts phase 1 at once, skipping
   the pre-vote probe, with a ballot above ``b``, its Prepares marked ``transfer`` so that
   acceptors answer them despite the lease (``check_quorum``), the old leader included,
   which steps down when it promises the higher ballot.

The transfer is abandoned after ``election_ticks`` ticks without the leader stepping
down; proposals are then taken again. It ends as well whenever the leader leaves its role.
Safety never depends on any of this: ``to`` wins phase 1 like any candidate, and a new
leader's phase 1 finds every value possibly chosen; being up to date only makes its first
command quick (nothing to fetch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core import Role
from ..errors import NotLeader
from ..messages import PaxosHeartbeat, PaxosHeartbeatAck
from ..messages.paxos import PaxosTimeoutNow
from ..types import NodeId
from . import election, leader

if TYPE_CHECKING:
    from .core import PaxosCore


class TransferState:
    """A leadership transfer in progress: its target and the ticks it has run."""

    __slots__ = ("elapsed", "target")

    def __init__(self, target: NodeId) -> None:
        self.target = target
        self.elapsed = 0


def start(core: PaxosCore, to: NodeId) -> None:
    """``PaxosCore.transfer_leadership``: raises ``NotLeader`` off the leader and
    ``ValueError`` for a node that is not a voter; a transfer to itself does nothing. A
    second call restarts the transfer (timer included) towards ``to``."""
    lead = core.lead
    if core.role is not Role.LEADER or lead is None:
        raise NotLeader(core.leader)
    if to not in core.voters:
        raise ValueError(f"cannot transfer leadership to node {to}: not a voter")
    if to == core.id:
        return
    core.transfer = TransferState(to)
    if target_caught_up(core, to):
        core.send(PaxosTimeoutNow(core.id, to, lead.ballot))
    else:  # a fresh answer tells the target's commit index; it starts fetching now
        core.send(PaxosHeartbeat(core.id, to, lead.ballot, core.chosen.commit))


def target_caught_up(core: PaxosCore, target: NodeId) -> bool:
    """Whether every slot this leader proposed is chosen and ``target`` reported a commit
    index covering all of them."""
    lead = core.lead
    if lead is None:
        return False
    commit = core.chosen.commit
    return (
        not lead.inflight
        and commit >= lead.next_slot - 1
        and lead.peer_commit.get(target, 0) >= commit
    )


def tick(core: PaxosCore) -> None:
    """One tick of a running transfer: abandon it after ``election_ticks``."""
    t = core.transfer
    if t is None:
        return
    if core.role is not Role.LEADER:
        core.transfer = None
        return
    t.elapsed += 1
    if t.elapsed >= core.config.election_ticks:
        core.transfer = None  # the target did not take over in time: lead on


def on_heartbeat_ack(core: PaxosCore, m: PaxosHeartbeatAck) -> None:
    """The leader's handling of a heartbeat answer, plus: the transfer target answering
    up to date gets ``PaxosTimeoutNow``."""
    leader.on_heartbeat_ack(core, m)
    t = core.transfer
    lead = core.lead
    if t is None or lead is None or m.src != t.target or m.ballot != lead.ballot:
        return
    if target_caught_up(core, t.target):
        core.send(PaxosTimeoutNow(core.id, t.target, lead.ballot))


def on_timeout_now(core: PaxosCore, m: PaxosTimeoutNow) -> None:
    """The target: campaign at once (no probe), above the ordering leader's ballot, with
    ``transfer`` Prepares. Only the leader this node follows can order it: ignored from
    any other node (an older leader, say), below the promised ballot, or on a node that is
    not a follower (a duplicate after it already campaigned, say)."""
    if m.ballot.node != m.src or m.ballot < core.acceptor.promised:
        return
    if core.role is not Role.FOLLOWER or core.leader != m.src:
        return
    core.seen = max(core.seen, m.ballot)
    election.campaign(core, transfer=True)
