"""Multi-Paxos in the simulator: how to build a node, and Paxos's own safety invariants.

:class:`MultiPaxosInvariants` is fed every ``Ready`` (before the driver persists or sends
anything) and checks, incrementally:

- one value per slot (learned): the first value any node learns or delivers at a slot is
  recorded; every later one, from any node, must be the same entry. Sources: chosen
  values a node stores (``Ready.entries``) and delivers (``Ready.committed``), and a
  restarted node's recovered chosen values.
- one value per slot (voted): the votes in ``Ready.hard_state`` deltas are counted per
  (slot, ballot); one ballot proposes one value per slot, and once a majority of the
  voters its leader counts with (the leader's configuration, observed while it leads;
  learners store votes too but do not count; if its leader was never observed, the
  voting node's configuration) voted for a value in one ballot it is
  chosen, whether or not anyone learned it yet: it must agree with the recorded value.
  (The simulator syncs a ``must_sync`` batch before anything else happens to the node,
  and votes always come with ``must_sync``, so an observed vote is a durable vote.)
- delivery in slot order: a node delivers slot i+1 right after slot i (after a restart
  or an installed snapshot, from the snapshot's index, or slot 1).
- promises never go back: a node's promised ballot never decreases, across restarts too
  (a restarted node must promise at least what it had synced).

Membership (``consensus sim --membership``):

- one change in flight: a leader never has two CONFIG entries proposed above its commit
  index (checked when it proposes one).
- single-step changes: each CONFIG entry a node delivers (``Ready.committed``) differs
  by one step from the configuration as of the slot before it on that node (the one
  values chosen below it, or its snapshot, set there; one-value-per-slot makes that the
  same on every node).

Cost: constant work per vote, per learned value and per delivered entry (a leader's
CONFIG proposal costs its in-flight slots).
"""

from __future__ import annotations

import random
from typing import Any

from ..core import Ready, Role
from ..membership import Membership
from ..messages import ZERO_BALLOT, Accepted, Ballot, Message, PaxosHardState, Promise
from ..paxos import PaxosConfig, PaxosCore
from ..quorum import majority
from ..storage.base import Recovered
from ..storage.paxos_memory import PaxosMemoryStorage
from ..storage.sim_disk import PaxosSimDiskStorage
from ..types import Entry, EntryKind, Index, NodeId, Snapshot
from .protocols import ProtocolSpec
from .violation import APPLY_ORDER, ONE_CHANGE_IN_FLIGHT, SINGLE_STEP_CHANGE, SimViolation

ONE_VALUE_PER_SLOT = "one-value-per-slot"
"""At most one value is chosen at each slot (Paxos's safety property)."""
PROMISE_MONOTONE = "promise-monotone"
"""An acceptor's promised ballot never decreases, not even across a crash."""


def ballot_text(ballot: Ballot) -> str:
    """A ballot as violations print it: ``(round, node)``."""
    return f"({ballot.round}, {ballot.node})"


def term_text(term: int) -> str:
    """An entry's term, which in Multi-Paxos is an encoded ballot, as ``(round, node)``."""
    return ballot_text(Ballot.from_term(term)) if term >= 0 else str(term)


def entry_text(entry: Entry) -> str:
    return (
        f"Entry(slot={entry.index}, ballot={term_text(entry.term)}, data={entry.data!r}, "
        f"kind={entry.kind.name})"
    )


SIM_PAXOS_CONFIG = PaxosConfig()
"""The configuration simulated nodes run with (the library defaults)."""


class MultiPaxosInvariants:
    """Multi-Paxos's safety properties over one simulated cluster (see the module doc)."""

    def __init__(self) -> None:
        self._chosen: dict[Index, tuple[Entry, str]] = {}
        self._votes: dict[tuple[Index, Ballot], tuple[Entry, set[NodeId]]] = {}
        self._ballot_voters: dict[Ballot, tuple[NodeId, ...]] = {}
        self._delivered: dict[NodeId, Index] = {}
        self._promised: dict[NodeId, Ballot] = {}
        self._synced_promise: dict[NodeId, Ballot] = {}

    def observe(self, node: NodeId, core: Any, ready: Ready[Any]) -> None:
        paxos: PaxosCore = core
        lead = paxos.lead
        if lead is not None and lead.ballot not in self._ballot_voters:
            self._ballot_voters[lead.ballot] = paxos.voters
        for entry in ready.entries:
            self._check_chosen(entry, f"node {node} learned it")
        if ready.snapshot is not None:
            index = ready.snapshot.meta.index
            self._delivered[node] = max(self._delivered.get(node, 0), index)
        if ready.committed:
            last = self._delivered.get(node, paxos.chosen.base)
            for entry in ready.committed:
                if entry.index != last + 1:
                    raise SimViolation(
                        APPLY_ORDER, f"node {node} delivered slot {entry.index} after {last}"
                    )
                last = entry.index
                self._check_chosen(entry, f"node {node} delivered it")
                if entry.kind is EntryKind.CONFIG:
                    self._delivered_config(node, paxos, entry)
            self._delivered[node] = last
        hs: PaxosHardState | None = ready.hard_state
        if hs is not None:
            self._check_promise(node, hs.promised, "promised")
            if ready.must_sync:
                self._synced_promise[node] = hs.promised
            for vote in hs.accepted:
                self._count_vote(node, vote.slot, vote.ballot, vote.entry, paxos.voters)
                if vote.entry.kind is EntryKind.CONFIG and paxos.role is Role.LEADER:
                    self._one_change_in_flight(node, paxos)

    def restarted(self, node: NodeId, core: Any) -> None:
        paxos: PaxosCore = core
        self._delivered[node] = paxos.chosen.applied
        synced = self._synced_promise.get(node, ZERO_BALLOT)
        if paxos.acceptor.promised < synced:
            raise SimViolation(
                PROMISE_MONOTONE,
                f"node {node} restarted promising {ballot_text(paxos.acceptor.promised)}, "
                f"below the {ballot_text(synced)} it had synced",
            )
        self._promised[node] = paxos.acceptor.promised
        for entry in paxos.chosen.run(paxos.chosen.base + 1, paxos.chosen.commit):
            self._check_chosen(entry, f"node {node} recovered it")

    # -- the checks -----------------------------------------------------------------------
    def _check_chosen(self, entry: Entry, how: str) -> None:
        seen = self._chosen.get(entry.index)
        if seen is None:
            self._chosen[entry.index] = (entry, how)
        elif seen[0] != entry:
            raise SimViolation(
                ONE_VALUE_PER_SLOT,
                f"slot {entry.index}: {entry_text(entry)} ({how}) but {entry_text(seen[0])} is "
                f"chosen ({seen[1]})",
            )

    def _one_change_in_flight(self, node: NodeId, paxos: PaxosCore) -> None:
        lead = paxos.lead
        if lead is None:
            return
        pending = [
            slot
            for slot, tally in sorted(lead.inflight.items())
            if tally.entry.kind is EntryKind.CONFIG
        ]
        if len(pending) > 1:
            raise SimViolation(
                ONE_CHANGE_IN_FLIGHT,
                f"leader {node} of ballot {ballot_text(lead.ballot)} proposes CONFIG entries "
                f"at slots {pending} (commit index {paxos.chosen.commit})",
            )

    def _delivered_config(self, node: NodeId, paxos: PaxosCore, entry: Entry) -> None:
        new = Membership.decode(entry.data)
        # the node delivered every slot below (or holds a snapshot standing for them)
        old = paxos.membership_at(entry.index - 1)
        if not new.one_step_from(old):
            raise SimViolation(
                SINGLE_STEP_CHANGE,
                f"node {node} delivered {new.describe()} at slot {entry.index}, more than "
                f"one step from the configuration delivered before it ({old.describe()})",
            )

    def _check_promise(self, node: NodeId, promised: Ballot, how: str) -> None:
        before = self._promised.get(node, ZERO_BALLOT)
        if promised < before:
            raise SimViolation(
                PROMISE_MONOTONE,
                f"node {node} {how} {ballot_text(promised)} after promising {ballot_text(before)}",
            )
        self._promised[node] = promised

    def _count_vote(
        self,
        node: NodeId,
        slot: Index,
        ballot: Ballot,
        entry: Entry,
        fallback: tuple[NodeId, ...],
    ) -> None:
        key = (slot, ballot)
        seen = self._votes.get(key)
        if seen is None:
            seen = (entry, set())
            self._votes[key] = seen
        elif seen[0] != entry:
            raise SimViolation(
                ONE_VALUE_PER_SLOT,
                f"slot {slot}: ballot {ballot_text(ballot)} proposed {entry_text(seen[0])} and "
                f"{entry_text(entry)}",
            )
        # a ballot whose leader was never seen leading (fed by hand): the voter's own view
        counted = self._ballot_voters.get(ballot, fallback)
        if node not in counted:
            return  # a learner's copy: never part of a quorum
        voters = seen[1]
        voters.add(node)
        if len(voters) == majority(len(counted)):
            self._check_chosen(entry, f"a majority voted for it in ballot {ballot_text(ballot)}")


def _make_core(
    node: NodeId, voters: tuple[NodeId, ...], rng: random.Random, recovered: Any
) -> PaxosCore:
    rec: Recovered[PaxosHardState] | None = recovered
    return PaxosCore(node, voters, rng, SIM_PAXOS_CONFIG, rec)


def _compact(core: Any, snapshot: Snapshot) -> None:
    paxos: PaxosCore = core
    paxos.compact(snapshot)


def _vouches(msg: Message) -> bool:
    return type(msg) is Promise or type(msg) is Accepted


MULTIPAXOS_SPEC = ProtocolSpec(
    name="multipaxos",
    make_core=_make_core,
    make_storage=PaxosMemoryStorage,
    make_invariants=MultiPaxosInvariants,
    compact=_compact,
    make_disk_storage=PaxosSimDiskStorage,
    vouches=_vouches,
    term_text=term_text,
    reconfigurable=True,
)
