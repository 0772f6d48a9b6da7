"""Multi-Paxos is safe under any schedule Hypothesis can find: message interleaving, loss,
duplication and reordering, partitions, proposals, reads, crashes and restarts (a restart
rebuilds the core from what its storage synced).

Every batch goes through the simulator's ``Cluster``, so the checks run at each step:
one value per slot (learned, delivered, or voted by a majority in one ballot), slot-order
delivery, promises never going back, state-machine safety across nodes, acknowledged
proposals applied as acknowledged, and read indexes covering every write acknowledged
before the read.

Rules come in two grains: ``advance`` moves time (every live node ticks, then one message
delay passes under the current partition and loss), so leaders get elected and commit;
the fine-grained rules then reorder, duplicate and drop single messages, crash and
restart nodes, and cut the network.
"""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from consensus.core import Role
from consensus.errors import ConsensusError
from consensus.messages import Message
from consensus.paxos import PaxosConfig

from .cluster import PaxosCluster

N = 3
NODES = tuple(range(1, N + 1))
CONFIG = PaxosConfig(election_ticks=4, heartbeat_ticks=1, accept_resend_ticks=2)
"""Short timeouts, so that a few ticks make elections, duels and retransmissions."""
node_ids = st.sampled_from(NODES)


class MultiPaxosSafety(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.c = PaxosCluster(N, seed=0, config=CONFIG)
        self.count = 0
        self.cut: frozenset[int] = frozenset()  # nodes partitioned away from the rest

    def _blocked(self, msg: Message) -> bool:
        return (msg.src in self.cut) != (msg.dst in self.cut)

    def _pick(self, dst: int, skip: int) -> int | None:
        found = None
        for pos, msg in enumerate(self.c.mailbox):
            if msg.dst == dst:
                found = pos
                if skip == 0:
                    break
                skip -= 1
        return found

    def _up(self) -> list[int]:
        return [n for n in NODES if self.c.sim.is_up(n)]

    # -- time ---------------------------------------------------------------------------
    @rule(ticks=st.integers(1, 6), loss=st.integers(0, 2**12 - 1))
    def advance(self, ticks: int, loss: int) -> None:
        """``ticks`` times: every live node ticks, then the messages in flight arrive,
        except those cut by the partition and those whose position's bit is set in
        ``loss`` (in the first round)."""
        for t in range(ticks):
            for node in self._up():
                self.c.sim.tick(node)
            mask = loss if t == 0 else 0
            batch, self.c.mailbox[:] = list(self.c.mailbox), []
            for pos, msg in enumerate(batch):
                if not self._blocked(msg) and not (mask >> (pos % 12)) & 1:
                    self.c.sim.deliver(msg)

    # -- single messages ----------------------------------------------------------------
    @rule(dst=node_ids, skip=st.integers(0, 4), keep=st.booleans())
    def deliver_one(self, dst: int, skip: int, keep: bool) -> None:
        """Deliver one message to ``dst`` out of order; ``keep`` duplicates it."""
        pos = self._pick(dst, skip)
        if pos is not None:
            box = self.c.mailbox
            self.c.sim.deliver(box[pos] if keep else box.pop(pos))

    @rule(dst=node_ids, skip=st.integers(0, 4))
    def drop_one(self, dst: int, skip: int) -> None:
        pos = self._pick(dst, skip)
        if pos is not None:
            self.c.mailbox.pop(pos)

    # -- clients ------------------------------------------------------------------------
    @rule(n=st.integers(1, 3))
    def propose(self, n: int) -> None:
        """Propose where a client would end up: at a node that believes it leads."""
        for node in self._up():
            if self.c.core(node).status().role is Role.LEADER:
                for _ in range(n):
                    self.count += 1
                    try:
                        self.c.sim.propose(node, b"c%d" % self.count)
                    except ConsensusError:
                        return
                return

    @rule(node=node_ids)
    def read(self, node: int) -> None:
        if self.c.sim.is_up(node):
            self.count += 1
            self.c.sim.read_index(node, b"r%d" % self.count)

    # -- faults -------------------------------------------------------------------------
    @rule(nodes=st.frozensets(node_ids, max_size=N - 1))
    def partition(self, nodes: frozenset[int]) -> None:
        """Cut ``nodes`` off from the others (empty: heal)."""
        self.cut = nodes

    @precondition(lambda self: len(self._up()) > 1)
    @rule(node=node_ids)
    def crash(self, node: int) -> None:
        if self.c.sim.is_up(node):
            self.c.sim.crash(node)

    @rule(node=node_ids)
    def restart(self, node: int) -> None:
        if not self.c.sim.is_up(node):
            self.c.sim.restart(node)

    # -- a second, brute-force check beside the simulator's incremental ones -------------
    @invariant()
    def applied_logs_agree(self) -> None:
        """Every two live nodes applied the same entries at every index both applied."""
        by_index = [{e.index: e for e in self.c.applied(n)} for n in self._up()]
        for a in by_index:
            for b in by_index:
                for index in a.keys() & b.keys():
                    assert a[index] == b[index], (index, a[index], b[index])


MultiPaxosSafety.TestCase.settings = settings(
    max_examples=100, stateful_step_count=60, deadline=None
)
TestMultiPaxosSafety = MultiPaxosSafety.TestCase


class SlowMultiPaxosSafety(MultiPaxosSafety):
    """The same machine with the full example budget (``-m slow``)."""


SlowMultiPaxosSafety.TestCase.settings = settings(
    max_examples=300, stateful_step_count=60, deadline=None
)
TestSlowMultiPaxosSafety = pytest.mark.slow(SlowMultiPaxosSafety.TestCase)
