"""Raft in the simulator: how to build a node, and Raft's own safety invariants.

:class:`RaftInvariants` is fed every ``Ready`` (once it is durable, before its messages
leave: see ``ProtocolInvariants``) and checks, incrementally:

- election safety: a dict term -> leader; a second node leading in a known term fails.
- one vote per term: a dict (voter, term) -> candidate, from granted (non-pre) vote
  responses; a node voting for two candidates in a term (say, after forgetting an
  unsynced vote in a crash) fails, even if no second leader results.
- log matching: a dict (index, term) -> (term of the entry before it, the entry), set the
  first time any node writes that entry (from ``Ready.entries``; the entry before the
  first one of a batch comes from ``core.log.term``) and compared on every later write.
  By induction on the index, equal (index, term) then means equal logs up to there.
- leader completeness: when a node becomes leader of term T, its log holds every entry
  committed in a term before T (from ``Ready.committed`` of any node; the commit term is
  the term of the first node to report the entry committed, which is never too early),
  from its ``first_index()`` on. A stale election in an old term, won with late votes,
  need not hold entries a newer leader committed since.

On restart, the recovered log is checked against the same (index, term) table.

Membership (``consensus sim --membership``):

- one change in flight: when a leader writes a CONFIG entry of its term, its log holds
  no other CONFIG entry after its commit index. (A correct leader has committed an entry
  of its term before it appends a change, so its commit index is exact there.)
- single-step changes: each CONFIG entry that becomes committed (in index order, from
  ``Ready.committed``) differs from the configuration committed before it (at first,
  the one the cores were built with) by one step: a learner added, a learner promoted,
  or one member removed (addresses aside).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import attrs

from ..core import Ready, Role
from ..membership import Membership
from ..messages import Message, RequestVoteResponse
from ..raft import RaftConfig, RaftCore
from ..storage.base import Recovered
from ..storage.memory import MemoryStorage
from ..storage.sim_disk import SimDiskStorage
from ..types import Entry, EntryKind, HardState, Index, NodeId, Snapshot, Term
from .options import FaultOptions
from .protocols import ProtocolSpec
from .violation import (
    ELECTION_SAFETY,
    LEADER_COMPLETENESS,
    LOG_MATCHING,
    ONE_CHANGE_IN_FLIGHT,
    ONE_VOTE_PER_TERM,
    SINGLE_STEP_CHANGE,
    SimViolation,
)

_LEADER = Role.LEADER
_VOTE = RequestVoteResponse
_CONFIG = EntryKind.CONFIG

SIM_RAFT_CONFIG = RaftConfig()
"""The configuration simulated nodes run with (the library defaults)."""


class RaftInvariants:
    """Raft's safety properties over one simulated cluster (see the module docstring)."""

    def __init__(self) -> None:
        self._leaders: dict[Term, NodeId] = {}
        self._leading: dict[NodeId, Term] = {}  # node -> term it was last seen leading in
        self._votes: dict[tuple[NodeId, Term], NodeId] = {}
        self._written: dict[tuple[Index, Term], tuple[Term | None, Entry]] = {}
        self._committed: list[Term] = [0]  # index -> term of the entry committed there
        # index -> term of the node that first reported it committed: the term in which
        # it became committed, or later (so checks that use it err on the safe side)
        self._commit_terms: list[Term] = [0]
        self._config: Membership | None = None  # the last committed configuration

    def observe(self, node: NodeId, core: Any, ready: Ready[Any]) -> None:
        raft: RaftCore = core
        if raft.role is _LEADER and self._leading.get(node) != raft.term:
            self._became_leader(node, raft)
        if ready.entries:
            self._written_entries(node, raft, ready.entries)
            if raft.role is _LEADER:
                for entry in ready.entries:
                    if entry.kind is _CONFIG and entry.term == raft.term:
                        self._one_change_in_flight(node, raft)
                        break
        if ready.committed:
            committed = self._committed
            for entry in ready.committed:
                if entry.index == len(committed):
                    committed.append(entry.term)
                    self._commit_terms.append(raft.term)
                    if entry.kind is _CONFIG:
                        self._committed_config(node, raft, entry)
        for msg in ready.messages:
            if type(msg) is _VOTE and msg.granted and not msg.pre_vote:
                chosen = self._votes.setdefault((msg.src, msg.term), msg.dst)
                if chosen != msg.dst:
                    raise SimViolation(
                        ONE_VOTE_PER_TERM,
                        f"node {node} voted for node {msg.dst} in term {msg.term} after "
                        f"voting for node {chosen}",
                    )

    def restarted(self, node: NodeId, core: Any) -> None:
        raft: RaftCore = core
        self._leading.pop(node, None)
        log = raft.log
        prev = log.term(log.first_index() - 1)
        for index in range(log.first_index(), log.last_index() + 1):
            entry = log.entry(index)
            self._check_written(node, entry, prev, "recovered")
            prev = entry.term

    # -- the checks -----------------------------------------------------------------------
    def _one_change_in_flight(self, node: NodeId, raft: RaftCore) -> None:
        log = raft.log
        pending = [
            i
            for i in range(max(log.committed + 1, log.first_index()), log.last_index() + 1)
            if log.entry(i).kind is _CONFIG
        ]
        if len(pending) > 1:
            raise SimViolation(
                ONE_CHANGE_IN_FLIGHT,
                f"leader {node} of term {raft.term} holds uncommitted CONFIG entries at "
                f"indexes {pending} (commit index {log.committed})",
            )

    def _committed_config(self, node: NodeId, raft: RaftCore, entry: Entry) -> None:
        new = Membership.decode(entry.data)
        old = self._config if self._config is not None else raft.initial_membership
        self._config = new
        if not new.one_step_from(old):
            raise SimViolation(
                SINGLE_STEP_CHANGE,
                f"node {node} committed {new.describe()} at index {entry.index}, more than "
                f"one step from the configuration committed before it ({old.describe()})",
            )

    def _became_leader(self, node: NodeId, raft: RaftCore) -> None:
        term = raft.term
        other = self._leaders.setdefault(term, node)
        if other != node:
            raise SimViolation(
                ELECTION_SAFETY, f"nodes {other} and {node} are both leaders of term {term}"
            )
        self._leading[node] = term
        log = raft.log
        committed = self._committed
        commit_terms = self._commit_terms
        for index in range(max(1, log.first_index()), len(committed)):
            want = committed[index]
            if commit_terms[index] < term and log.term(index) != want:
                raise SimViolation(
                    LEADER_COMPLETENESS,
                    f"node {node} became leader of term {term} with term {log.term(index)} "
                    f"at index {index}, where an entry of term {want} was committed in term "
                    f"{commit_terms[index]}",
                )

    def _written_entries(self, node: NodeId, raft: RaftCore, entries: tuple[Entry, ...]) -> None:
        prev = raft.log.term(entries[0].index - 1)
        check = self._check_written
        for entry in entries:
            check(node, entry, prev, "wrote")
            prev = entry.term

    def _check_written(self, node: NodeId, entry: Entry, prev: Term | None, how: str) -> None:
        key = (entry.index, entry.term)
        seen = self._written.get(key)
        if seen is None:
            self._written[key] = (prev, entry)
            return
        seen_prev, seen_entry = seen
        if seen_entry is not entry and (
            seen_entry.data != entry.data or seen_entry.kind != entry.kind
        ):
            raise SimViolation(
                LOG_MATCHING,
                f"node {node} {how} {entry!r}, but {seen_entry!r} was written with the same "
                f"index and term",
            )
        if prev is not None and seen_prev is not None and prev != seen_prev:
            raise SimViolation(
                LOG_MATCHING,
                f"node {node} {how} entry ({entry.index}, {entry.term}) after an entry of term "
                f"{prev}; elsewhere it follows an entry of term {seen_prev}",
            )


def _make_core(
    node: NodeId, voters: tuple[NodeId, ...], rng: random.Random, recovered: Any
) -> RaftCore:
    rec: Recovered[HardState] | None = recovered
    return RaftCore(node, voters, rng, SIM_RAFT_CONFIG, rec)


def _compact(core: Any, snapshot: Snapshot) -> None:
    raft: RaftCore = core
    raft.compact(snapshot)


def _tune(rng: random.Random, faults: FaultOptions) -> Callable[[Any], None]:
    """Half of the runs: small batches (1-16 entries per AppendEntries, 1-8 in flight),
    so that catching up takes many messages and old-term entries reach a majority
    before the new leader's own entry does. Runs with churn always send one entry per
    message: the Figure 8 situation (an old entry counted to a majority alone) needs it."""
    small = rng.random() < 0.5
    entries = rng.choice((1, 2, 4, 16))
    inflight = rng.choice((1, 2, 8))
    if faults.churn_rate:
        small, entries = True, 1

    def tune(core: Any) -> None:
        if small and isinstance(core, RaftCore):
            core.config = attrs.evolve(
                core.config, max_entries_per_msg=entries, max_inflight_msgs=inflight
            )

    return tune


def _vouches(msg: Message) -> bool:
    return type(msg) is RequestVoteResponse and msg.granted and not msg.pre_vote


RAFT_SPEC = ProtocolSpec(
    name="raft",
    make_core=_make_core,
    make_storage=MemoryStorage,
    make_invariants=RaftInvariants,
    compact=_compact,
    make_disk_storage=SimDiskStorage,
    vouches=_vouches,
    tune=_tune,
    reconfigurable=True,
)
