"""Becoming the distinguished proposer: phase 1 for every slot from the commit index on.

A candidate picks the next ballot above everything it has seen, promises it to itself
(hard state, durable in the same ``Ready`` as its Prepares), and sends
``Prepare(ballot, commit + 1)``. With promises from a majority it knows, for the open
range, the highest vote per slot and the highest commit index ``M`` of the quorum. As
leader it then:

- fetches the chosen values of slots ``commit + 1 .. M`` (``CatchUp``) instead of
  proposing there: some acceptor of the quorum knows them;
- proposes at every slot in ``M + 1 .. frontier`` (the last slot any promise reported)
  the highest-ballot vote, or a no-op where there is none: the holes a failed proposer
  left;
- takes new proposals from ``frontier + 1`` on with phase 2 only.

A ``Nack`` to a candidate means a higher ballot exists: it jumps past it and backs off for
a random election timeout. A ``Nack`` to the leader (an acceptor promised a higher ballot,
say a partitioned node that kept campaigning) makes it start phase 1 again at once with a
ballot above it; its followers grant it, since it is their leader.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core import Role
from ..errors import InvariantViolation
from ..messages import Nack, Prepare, Promise
from ..quorum import VoteResult
from ..types import Entry, EntryKind
from . import leader, membership
from .proposer import RangePhaseOne, next_ballot

if TYPE_CHECKING:
    from .core import PaxosCore


def campaign(core: PaxosCore, transfer: bool = False) -> None:
    """Start phase 1 with a new ballot (``transfer``: ordered by the leader, see
    :mod:`.transfer`; the Prepares say so, to be answered despite the lease)."""
    ballot = next_ballot(core.id, max(core.seen, core.acceptor.promised))
    core.become_candidate()
    if not core.acceptor.prepare(ballot):
        raise InvariantViolation(f"node {core.id} refused its own ballot {ballot}")
    core.seen = ballot
    first = core.chosen.commit + 1
    p1 = RangePhaseOne(ballot, core.voters, first)
    core.phase1 = p1
    core.campaign_voters = core.voters  # the quorum of config(first): see membership.may_win
    p1.promised(core.id, core.chosen.commit, core.acceptor.votes_from(first))
    for peer in core.voter_peers:
        core.send(Prepare(core.id, peer, ballot, first, transfer))
    if p1.result() is VoteResult.WON:
        win(core)


def on_promise(core: PaxosCore, m: Promise) -> None:
    p1 = core.phase1
    if core.role is not Role.CANDIDATE or p1 is None or m.ballot != p1.ballot:
        return
    if m.first_slot != p1.first_slot:
        return
    p1.promised(m.src, m.commit, m.accepted)
    if p1.result() is VoteResult.WON:
        win(core)


def on_nack(core: PaxosCore, m: Nack) -> None:
    if m.promised <= m.ballot or m.ballot.node != core.id:
        return
    core.seen = max(core.seen, m.promised)
    if m.ballot != core.own_ballot():
        return  # about an older ballot of ours: already moved on
    if core.role is Role.CANDIDATE:
        p1 = core.phase1
        if p1 is not None:
            p1.refused(m.src)
        core.become_follower(None)  # back off a random election timeout, then jump past
    elif core.role is Role.LEADER:
        campaign(core)


def win(core: PaxosCore) -> None:
    """Phase 1 succeeded: become the distinguished proposer (see the module docstring)."""
    p1 = core.phase1
    if p1 is None or p1.result() is not VoteResult.WON:
        raise InvariantViolation("win() without a won phase 1")
    if not membership.may_win(core):
        return  # fetching chosen values first, or started over with a new configuration
    ballot = p1.ballot
    chosen = core.chosen
    fetch_until = max(p1.max_commit, chosen.commit)
    frontier = max(p1.frontier(), fetch_until)
    core.become_leader(fetch_until=fetch_until, frontier=frontier)
    noop_term = ballot.as_term()
    stop = membership.frontier_stop(core, p1.votes, fetch_until + 1, frontier)
    for slot in range(fetch_until + 1, stop + 1):
        if chosen.knows(slot):
            continue
        vote = p1.votes.get(slot)
        entry = vote.entry if vote is not None else Entry(slot, noop_term, b"", EntryKind.NOOP)
        leader.propose_entry(core, entry)
    if core.role is not Role.LEADER:
        return  # a lone voter chose its adopted change at once and moved on
    if p1.max_commit_node is not None and fetch_until > chosen.commit:
        leader.note_peer_commit(core, p1.max_commit_node, p1.max_commit)
    leader.broadcast_heartbeat(core)
    leader.maybe_fetch(core)
