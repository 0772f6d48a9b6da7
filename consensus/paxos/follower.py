"""Every node's acceptor and learner side: answering Prepare and Accept, following the
distinguished proposer, learning chosen values and catching up on missed ones.

Ballot rules shared by the leader's messages (Accept, Commit, heartbeat) of ballot ``b``:
``b`` below the promised ballot gets a ``Nack`` (the stale leader jumps past it); ``b`` at
or above it comes from a proposer that won phase 1 with ``b``, so this node follows it
(a candidate or leader of a lower ballot steps down). A ballot must belong to its sender.

Learning from the leader: ``Commit(b, c)`` says every slot up to ``c`` is chosen and, at
slots where the leader proposed in ``b``, its value is the chosen one. So a vote accepted
in ``b`` at such a slot is learned at once; any other slot up to ``c`` is asked for with
``CatchUp`` (at most one request in flight, retried after ``election_ticks``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core import Role
from ..messages import (
    Accept,
    Accepted,
    Ballot,
    CatchUp,
    Chosen,
    ChosenSnapshot,
    Commit,
    Nack,
    PaxosHeartbeat,
    PaxosHeartbeatAck,
    Prepare,
    Promise,
    ReadForwardReply,
)
from ..types import Entry, Index, NodeId, ReadState

if TYPE_CHECKING:
    from .core import PaxosCore


def on_prepare(core: PaxosCore, m: Prepare) -> None:
    if m.ballot.node != m.src or m.first_slot < 1:
        return
    core.seen = max(core.seen, m.ballot)
    if core.in_lease() and m.src != core.leader and not m.transfer:
        return  # a live leader holds the lease: do not let a stray candidate depose it
    if not core.acceptor.prepare(m.ballot):
        core.send(Nack(core.id, m.src, m.ballot, core.acceptor.promised))
        return
    if core.role is not Role.FOLLOWER and core.own_ballot() < m.ballot:
        core.become_follower(None)
    core.election_elapsed = 0  # give the candidate time to finish
    commit = core.chosen.commit
    votes = core.acceptor.votes_from(max(m.first_slot, commit + 1))
    core.send(Promise(core.id, m.src, m.ballot, m.first_slot, commit, votes))


def follow(core: PaxosCore, src: NodeId, ballot: Ballot) -> bool:
    """The ballot rules for a leader's message: False (after a Nack if stale) to ignore it."""
    if ballot.node != src:
        return False
    if ballot < core.acceptor.promised:
        core.send(Nack(core.id, src, ballot, core.acceptor.promised))
        return False
    core.seen = max(core.seen, ballot)
    if core.role is not Role.FOLLOWER:
        core.become_follower(src)
    elif core.leader != src:
        core.set_leader(src)
    core.election_elapsed = 0
    return True


def on_accept(core: PaxosCore, m: Accept) -> None:
    if not follow(core, m.src, m.ballot):
        return
    accepted: list[Index] = []
    known: list[Entry] = []
    for entry in m.entries:
        if core.chosen.knows(entry.index):
            chosen = core.chosen.get(entry.index)
            if chosen is not None:
                known.append(chosen)  # tell the proposer instead of voting
            continue
        if not core.acceptor.accept(m.ballot, entry):
            break  # cannot happen: follow() checked the ballot
        accepted.append(entry.index)
    if accepted:
        core.send(Accepted(core.id, m.src, m.ballot, tuple(accepted)))
    if known:
        core.send(Chosen(core.id, m.src, tuple(known), core.chosen.commit))
    learn_from_leader(core, m.src, m.ballot, m.commit)


def on_commit(core: PaxosCore, m: Commit) -> None:
    if follow(core, m.src, m.ballot):
        learn_from_leader(core, m.src, m.ballot, m.commit)


def on_heartbeat(core: PaxosCore, m: PaxosHeartbeat) -> None:
    if not follow(core, m.src, m.ballot):
        return
    core.send(PaxosHeartbeatAck(core.id, m.src, m.ballot, core.chosen.commit, m.context))
    learn_from_leader(core, m.src, m.ballot, m.commit)


def learn_from_leader(core: PaxosCore, leader: NodeId, ballot: Ballot, commit: Index) -> None:
    """Learn what ``Commit(ballot, commit)`` from ``leader`` proves; ask for the rest."""
    chosen = core.chosen
    core.known_commit = max(core.known_commit, commit)
    if commit <= chosen.commit:
        return
    for slot in core.acceptor.slots_between(chosen.commit + 1, commit):
        vote = core.acceptor.vote(slot)
        if vote is not None and vote.ballot == ballot:
            core.learn(vote.entry)
    if chosen.commit < commit:
        request_catch_up(core, leader)


def request_catch_up(core: PaxosCore, target: NodeId) -> None:
    if core.catchup_wait > 0 or target == core.id:
        return
    core.catchup_wait = core.config.election_ticks
    core.send(CatchUp(core.id, target, core.chosen.commit + 1))


def on_catch_up(core: PaxosCore, m: CatchUp) -> None:
    snapshot = core.snapshot
    if m.first_slot <= core.chosen.base and snapshot is not None:
        # compacted away: the snapshot stands for them
        core.send(ChosenSnapshot(core.id, m.src, snapshot, core.chosen.commit))
        return
    entries = core.chosen.run(m.first_slot, core.config.max_entries_per_msg)
    if entries:
        core.send(Chosen(core.id, m.src, tuple(entries), core.chosen.commit))


def on_chosen(core: PaxosCore, m: Chosen) -> None:
    for entry in m.entries:
        core.learn(entry)
    core.known_commit = max(core.known_commit, m.commit)
    if m.entries:
        core.catchup_wait = 0  # an answer: the next request may go at once
    if core.chosen.commit < min(core.known_commit, m.commit) and m.entries:
        request_catch_up(core, m.src)


def on_chosen_snapshot(core: PaxosCore, m: ChosenSnapshot) -> None:
    core.known_commit = max(core.known_commit, m.commit)
    core.catchup_wait = 0
    if m.snapshot.meta.index > core.chosen.commit:
        core.install_snapshot(m.snapshot)
    if core.chosen.commit < min(core.known_commit, m.commit):
        request_catch_up(core, m.src)


def on_read_reply(core: PaxosCore, m: ReadForwardReply) -> None:
    if not core.forwarded.answered(m.context):
        return
    if m.ok:
        core.read_states.append(ReadState(m.context, m.index))
    else:
        core.dropped_reads.append(m.context)
