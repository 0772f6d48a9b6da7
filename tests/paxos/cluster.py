"""A hand-driven Multi-Paxos cluster for scenario tests: the simulator's ``Cluster`` (which
drives each core by the Ready contract and runs every invariant checker) joined by a FIFO
mailbox this test controls."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import attrs

from consensus.membership import ConfChange, Membership
from consensus.messages import Message
from consensus.paxos import PaxosConfig, PaxosCore
from consensus.sim.cluster import Cluster
from consensus.sim.paxos_spec import MULTIPAXOS_SPEC
from consensus.types import Entry, NodeId, ProposalTicket

Drop = Callable[[Message], bool]


class PaxosCluster:
    """``members``: each node's initial configuration (default: every node a voter); a
    node joining later starts with the configuration that will hold it as a learner.
    ``snapshot_every``: nodes compact every that many applied entries (0: never)."""

    def __init__(
        self,
        nodes: int = 3,
        seed: int = 0,
        config: PaxosConfig | None = None,
        members: Callable[[NodeId], Membership] | None = None,
        snapshot_every: int = 0,
    ) -> None:
        self.mailbox: list[Message] = []
        spec = MULTIPAXOS_SPEC
        if config is not None or members is not None:

            def make_core(
                node: NodeId, voters: tuple[NodeId, ...], rng: random.Random, rec: Any
            ) -> PaxosCore:
                initial = members(node) if members is not None else Membership.of(voters)
                return PaxosCore(node, initial, rng, config, rec)

            spec = attrs.evolve(spec, make_core=make_core)
        self.sim = Cluster(
            spec,
            nodes,
            random.Random(seed),
            self.mailbox.append,
            record_applied=True,
            snapshot_every_entries=snapshot_every,
        )
        self.delivered = 0

    def core(self, node: NodeId) -> PaxosCore:
        core = self.sim.core(node)
        assert isinstance(core, PaxosCore)
        return core

    def run(self, drop: Drop = lambda m: False, limit: int = 100_000) -> None:
        """Deliver (or drop) in FIFO order until the mailbox is empty."""
        steps = 0
        while self.mailbox:
            steps += 1
            assert steps <= limit, f"{len(self.mailbox)} messages left after {limit}"
            msg = self.mailbox.pop(0)
            if not drop(msg):
                self.delivered += 1
                self.sim.deliver(msg)

    def round(self, drop: Drop = lambda m: False) -> int:
        """Deliver exactly the messages in flight now (one message delay); returns how many."""
        batch, self.mailbox[:] = list(self.mailbox), []
        for msg in batch:
            if not drop(msg):
                self.delivered += 1
                self.sim.deliver(msg)
        return len(batch)

    def tick_all(self, times: int = 1, drop: Drop = lambda m: False) -> None:
        for _ in range(times):
            for node in self.sim.voters:
                if self.sim.is_up(node):
                    self.sim.tick(node)
            self.run(drop)

    def elect(self, node: NodeId, drop: Drop = lambda m: False) -> None:
        core = self.core(node)
        core.election_elapsed = core.randomized_election_ticks - 1
        self.sim.tick(node)
        self.run(drop)

    def change(self, node: NodeId, change: ConfChange) -> ProposalTicket:
        """``propose_change`` at ``node``, its batch drained (messages into the mailbox)."""
        core = self.core(node)
        ticket = core.propose_change(change)
        if core.has_ready():
            self.sim.drain(self.sim.host(node), self.sim.core(node))
        return ticket

    def applied(self, node: NodeId) -> list[Entry]:
        log = self.sim.host(node).replica.log
        assert log is not None
        return list(log)


def isolate(*nodes: NodeId) -> Drop:
    """Drop every message to or from ``nodes``."""
    return lambda m: m.src in nodes or m.dst in nodes
