"""Hypothesis drives a 3-node ``paxos-lwt`` cluster (the simulator's ``Cluster``) one input
at a time: propose any operation at any node, tick, deliver (optionally keeping a copy:
duplication), drop, partition, heal, crash, restart, stabilize. Messages wait in a
mailbox in any order Hypothesis likes.

The spec's incremental checks run inside every rule; the ``@invariant`` re-checks one
state per key per ballot by brute force over every node's durable records, and the
teardown heals the cluster, lets every operation finish, and checks the whole client
history for per-key linearizability.
"""

from __future__ import annotations

import contextlib
import random

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from consensus.errors import ProposalDropped
from consensus.lwt import LwtCore, LwtOp, LwtOpKind
from consensus.lwt.ops import encode_op
from consensus.messages import Message
from consensus.messages.lwt import LwtHardState
from consensus.sim.cluster import Cluster
from consensus.sim.lwt_spec import LWT_SPEC, LwtInvariants
from consensus.sim.partitions import draw_partition
from consensus.storage.lwt_memory import LwtMemoryStorage

NODES = 3
node_ids = st.integers(1, NODES)
keys = st.sampled_from([b"a", b"b"])
values = st.sampled_from([b"x", b"y", b"z"])
maybe_values = st.one_of(st.none(), values)


@st.composite
def operations(draw: st.DrawFn) -> LwtOp:
    kind = draw(st.sampled_from([k for k in LwtOpKind if k is not LwtOpKind.APPLY]))
    key = draw(keys)
    if kind in (LwtOpKind.PUT, LwtOpKind.PUT_IF_ABSENT):
        return LwtOp(kind, key, draw(values))
    if kind is LwtOpKind.CAS:
        return LwtOp(kind, key, draw(values), draw(maybe_values))
    if kind is LwtOpKind.DELETE_IF:
        return LwtOp(kind, key, None, draw(maybe_values))
    return LwtOp(kind, key)


class LwtClusterMachine(RuleBasedStateMachine):
    @initialize(seed=st.integers(0, 2**32 - 1))
    def start(self, seed: int) -> None:
        self.mailbox: list[Message] = []
        self.cut: set[tuple[int, int]] = set()
        self.cluster = Cluster(LWT_SPEC, NODES, random.Random(seed), self.mailbox.append)

    def _send_all(self, rounds: int) -> None:
        for _ in range(rounds):
            batch, self.mailbox[:] = list(self.mailbox), []
            for msg in batch:
                if (msg.src, msg.dst) not in self.cut:
                    self.cluster.deliver(msg)

    @rule(node=node_ids, op=operations())
    def propose(self, node: int, op: LwtOp) -> None:
        if self.cluster.is_up(node):
            with contextlib.suppress(ProposalDropped):
                self.cluster.propose(node, encode_op(op))

    @rule(node=node_ids, ticks=st.integers(1, 15))
    def tick(self, node: int, ticks: int) -> None:
        for _ in range(ticks):
            self.cluster.tick(node)

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
        self._send_all(rounds)

    @rule(seed=st.integers(0, 1 << 16))
    def partition(self, seed: int) -> None:
        self.cut = set(draw_partition(random.Random(seed), self.cluster.voters).cut)

    @rule()
    def heal(self) -> None:
        self.cut.clear()

    @rule(node=node_ids)
    def crash(self, node: int) -> None:
        if self.cluster.is_up(node):
            self.cluster.crash(node)

    @rule(node=node_ids)
    def restart(self, node: int) -> None:
        if not self.cluster.is_up(node):
            self.cluster.restart(node)

    # -- brute force ----------------------------------------------------------------------
    @invariant()
    def one_state_per_key_per_ballot(self) -> None:
        seen: dict[tuple[bytes, object], object] = {}
        for host in self.cluster.hosts:
            storage = host.storage
            assert isinstance(storage, LwtMemoryStorage)
            hs = storage.recover().hard_state
            records = list(hs.records) if isinstance(hs, LwtHardState) else []
            if isinstance(host.core, LwtCore):
                records += list(host.core.acceptor.records())
            for rec in records:
                assert rec.accepted <= rec.promised
                if rec.accepted.round:
                    state = (rec.value, rec.writer, rec.base)
                    assert seen.setdefault((rec.key, rec.accepted), state) == state

    def teardown(self) -> None:
        if not hasattr(self, "cluster"):
            return
        self.cut.clear()
        for node in self.cluster.voters:
            if not self.cluster.is_up(node):
                self.cluster.restart(node)
        for _ in range(400):
            self._send_all(1)
            if all(isinstance(c, LwtCore) and c.pending == 0 for c in self.cluster.up_cores()):
                break
            for node in self.cluster.voters:
                self.cluster.tick(node)
        assert all(isinstance(c, LwtCore) and c.pending == 0 for c in self.cluster.up_cores())
        invariants = self.cluster.invariants
        assert isinstance(invariants, LwtInvariants)
        invariants.finish()
        assert invariants.lin_unknown == 0


LwtClusterMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLwtCluster = LwtClusterMachine.TestCase
