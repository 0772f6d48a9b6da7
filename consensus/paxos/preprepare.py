"""The pre-vote guard (``PaxosConfig.pre_prepare``, on by default like Raft's ``pre_vote``).

Without it, a node cut off from the cluster raises its promised ballot at every election
timeout; when it comes back, its high promise makes it refuse (``Nack``) the healthy
leader's Accepts and heartbeats, and the leader must re-run phase 1 above it (or, with
``check_quorum`` off, the returning node may take over). With it:

- a node whose election timeout expires first *probes*: it sends ``PrePrepare(b)`` to every
  voter, ``b`` naming the probe, and changes nothing durable (it does drop the leader it
  knew, as it timed out on it);
- a voter answers ``PrePromise(b, granted, promised)``: granted iff it has not heard from a
  live leader within ``election_ticks`` and does not lead itself (:func:`heard_leader`).
  Answering changes nothing on it (no promise, no timer reset);
- with grants from a majority (itself included) the prober starts phase 1 for real
  (:func:`consensus.paxos.election.campaign`), with a ballot above every promise the
  answers reported; refused by a majority, or hearing from a leader meanwhile, it drops
  the probe and waits for its next election timeout.

A campaign ordered by a leadership transfer skips the probe (:mod:`.transfer`).

Liveness: when the leader is really gone, every follower stops hearing from it, so once
``election_ticks`` have passed since its last message each one grants; the first prober
whose randomized timeout (``[election_ticks, 2 * election_ticks)``) expires after that
wins its probe and campaigns, exactly as it would have without the guard (one round trip
later). Probes that fail are retried at each timeout, like campaigns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core import Role
from ..messages.paxos import PrePrepare, PrePromise
from ..quorum import VoteResult, VoteTally
from . import election
from .proposer import next_ballot

if TYPE_CHECKING:
    from ..messages import Ballot
    from .core import PaxosCore


class Probe:
    """A pre-prepare in progress: the ballot naming it and the answers so far."""

    __slots__ = ("ballot", "tally")

    def __init__(self, ballot: Ballot, tally: VoteTally) -> None:
        self.ballot = ballot
        self.tally = tally


def heard_leader(core: PaxosCore) -> bool:
    """Whether this node leads, or heard from its leader within ``election_ticks``."""
    if core.role is Role.LEADER:
        return True
    return core.leader is not None and core.election_elapsed < core.config.election_ticks


def on_election_timeout(core: PaxosCore) -> None:
    """The election timeout expired: probe first (``pre_prepare``), else campaign."""
    if core.config.pre_prepare:
        start(core)
    else:
        election.campaign(core)


def start(core: PaxosCore) -> None:
    """Send a probe to every peer; a node alone is granted at once."""
    ballot = next_ballot(core.id, max(core.seen, core.acceptor.promised))
    core.become_follower(None)  # restarts the election timer; clears any earlier probe
    probe = Probe(ballot, VoteTally(core.voters))
    core.probe = probe
    probe.tally.record(core.id, True)
    for peer in core.voter_peers:
        core.send(PrePrepare(core.id, peer, ballot))
    _count(core, probe)


def on_pre_prepare(core: PaxosCore, m: PrePrepare) -> None:
    """Answer a probe; changes nothing here."""
    if m.ballot.node != m.src:
        return
    granted = not heard_leader(core)
    core.send(PrePromise(core.id, m.src, m.ballot, granted, core.acceptor.promised))


def on_pre_promise(core: PaxosCore, m: PrePromise) -> None:
    probe = core.probe
    if probe is None or m.ballot != probe.ballot:
        return
    if core.role is not Role.FOLLOWER or core.leader is not None:
        core.probe = None  # a leader showed up (or we moved on): the probe is moot
        return
    core.seen = max(core.seen, m.promised)
    probe.tally.record(m.src, m.granted)
    _count(core, probe)


def _count(core: PaxosCore, probe: Probe) -> None:
    result = probe.tally.result()
    if result is VoteResult.WON:
        core.probe = None
        election.campaign(core)
    elif result is VoteResult.LOST:
        core.probe = None
