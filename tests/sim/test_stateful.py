"""Hypothesis drives a 3-node Raft cluster one input at a time.

Rules: propose, tick, deliver (optionally keeping a copy: duplication), drop, partition,
heal, crash, restart, and stabilize (deliver everything deliverable, a few rounds).
Messages wait in a mailbox in any order Hypothesis likes (reordering for free).

The cluster's own incremental checks run inside every rule. The ``@invariant``s here
re-check the same properties independently and by brute force over the current logs, so a
bug in the incremental bookkeeping cannot hide a bug in the core.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from consensus.core import Role
from consensus.errors import NotLeader, ProposalDropped
from consensus.messages import Message
from consensus.raft import RaftCore
from consensus.sim.cluster import Cluster
from consensus.sim.partitions import draw_partition
from consensus.sim.raft_spec import RAFT_SPEC, SIM_RAFT_CONFIG
from consensus.types import Entry

NODES = 3
RAFT_SPEC_ELECTION_TICKS = SIM_RAFT_CONFIG.election_ticks
node_ids = st.integers(1, NODES)


class RaftClusterMachine(RuleBasedStateMachine):
    @initialize(seed=st.integers(0, 2**32 - 1))
    def start(self, seed: int) -> None:
        self.mailbox: list[Message] = []
        self.cut: set[tuple[int, int]] = set()
        self.cluster = Cluster(
            RAFT_SPEC, NODES, random.Random(seed), self.mailbox.append, record_applied=True
        )
        self.proposals = 0
        self.leaders: dict[int, int] = {}  # term -> leader, from status()
        # index -> (entry, highest term anywhere when it was first seen applied)
        self.committed: dict[int, tuple[Entry, int]] = {}
        self.seen: dict[int, int] = {}  # node -> applied entries already folded in

    def _raft(self) -> list[RaftCore]:
        return [c for c in self.cluster.up_cores() if isinstance(c, RaftCore)]

    # -- rules ----------------------------------------------------------------------------
    @rule(node=node_ids, ticks=st.integers(1, 25))
    def tick(self, node: int, ticks: int) -> None:
        for _ in range(ticks):
            self.cluster.tick(node)

    @rule(node=node_ids, count=st.integers(1, 4))
    def propose(self, node: int, count: int) -> None:
        """Propose at ``node``, or at the leader it names."""
        if not self.cluster.is_up(node):
            return
        hint = self.cluster.leader_hint(node)
        if hint is not None and self.cluster.is_up(hint):
            node = hint
        for _ in range(count):
            self.proposals += 1
            try:
                self.cluster.propose(node, b"p%d" % self.proposals)
            except (NotLeader, ProposalDropped):
                return

    @rule(node=node_ids)
    def campaign(self, node: int) -> None:
        """Let ``node``'s election timer run out, then let the votes flow."""
        for _ in range(2 * RAFT_SPEC_ELECTION_TICKS):
            self.cluster.tick(node)
        self.stabilize(8)

    @precondition(lambda self: self.mailbox)
    @rule(pick=st.integers(0, 1 << 16), keep_copy=st.booleans())
    def deliver(self, pick: int, keep_copy: bool) -> None:
        i = pick % len(self.mailbox)
        msg = self.mailbox[i] if keep_copy else self.mailbox.pop(i)
        if (msg.src, msg.dst) not in self.cut:
            self.cluster.deliver(msg)

    @precondition(lambda self: self.mailbox)
    @rule(pick=st.integers(0, 1 << 16))
    def drop(self, pick: int) -> None:
        self.mailbox.pop(pick % len(self.mailbox))

    @rule(rounds=st.integers(1, 4))
    def stabilize(self, rounds: int) -> None:
        for _ in range(rounds):
            batch, self.mailbox[:] = list(self.mailbox), []
            for msg in batch:
                if (msg.src, msg.dst) not in self.cut:
                    self.cluster.deliver(msg)

    @rule(seed=st.integers(0, 1 << 16))
    def partition(self, seed: int) -> None:
        self.cut = set(draw_partition(random.Random(seed), self.cluster.voters).cut)

    @rule()
    def heal(self) -> None:
        self.cut.clear()

    @rule(node=node_ids)
    def crash(self, node: int) -> None:
        if self.cluster.is_up(node):
            self.fold_applied()
            self.cluster.crash(node)
            self.seen[node] = 0

    @rule(node=node_ids)
    def restart(self, node: int) -> None:
        if not self.cluster.is_up(node):
            self.cluster.restart(node)

    # -- brute-force invariants -------------------------------------------------------------
    def fold_applied(self) -> None:
        """Record newly applied entries, with the highest term known at that moment."""
        top = max((c.term for c in self._raft()), default=0)
        for host in self.cluster.hosts:
            log = host.replica.log
            if host.core is None or log is None:
                continue
            start = self.seen.get(host.id, 0)
            if start > len(log):
                start = 0
            for entry in log[start:]:
                known = self.committed.setdefault(entry.index, (entry, top))
                assert known[0] == entry, f"index {entry.index}: {known[0]} vs {entry}"
            self.seen[host.id] = len(log)

    @invariant()
    def election_safety(self) -> None:
        for core in self._raft():
            if core.role is Role.LEADER:
                assert self.leaders.setdefault(core.term, core.id) == core.id

    @invariant()
    def state_machine_safety(self) -> None:
        self.fold_applied()  # asserts every applied entry agrees with the first at its index

    @invariant()
    def log_matching(self) -> None:
        cores = self._raft()
        for a in cores:
            for b in cores:
                if a.id >= b.id:
                    continue
                lo = max(a.log.first_index(), b.log.first_index())
                hi = min(a.log.last_index(), b.log.last_index())
                same = [i for i in range(lo, hi + 1) if a.log.term(i) == b.log.term(i)]
                if not same:
                    continue
                top = same[-1]
                for i in range(lo, top + 1):
                    assert a.log.entry(i) == b.log.entry(i), (a.id, b.id, i)

    @invariant()
    def leader_completeness(self) -> None:
        self.fold_applied()
        for core in self._raft():
            if core.role is not Role.LEADER:
                continue
            for index, (entry, top_term) in self.committed.items():
                if top_term < core.term and index >= core.log.first_index():
                    assert core.log.term(index) == entry.term, (core.id, index)


RaftClusterMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestRaftCluster = RaftClusterMachine.TestCase
