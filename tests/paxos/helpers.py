"""Small helpers for driving Paxos nodes by hand: drain a node's Ready batches the way a
driver must (persist, sync when asked, then send), and a FIFO mailbox between nodes."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from consensus.core import Ready
from consensus.messages import Message
from consensus.paxos import PaxosConfig, PaxosCore
from consensus.storage.paxos_memory import PaxosMemoryStorage
from consensus.types import Entry, NodeId

M = TypeVar("M", bound=Message)


def take(node: Any) -> Ready[Any]:
    """The node's next batch, acknowledged (an empty Ready if there is none)."""
    if not node.has_ready():
        return Ready()
    rd: Ready[Any] = node.ready()
    node.advance(rd)
    return rd


def out(rd: Ready[Any]) -> tuple[Message, ...]:
    """Everything a batch sends: its early messages, then its messages."""
    return rd.early_messages + rd.messages


def of_type(messages: Iterable[Message], cls: type[M]) -> list[M]:
    return [m for m in messages if type(m) is cls]


class Net:
    """Nodes with their storage, joined by a FIFO mailbox. ``flush`` drives one node's
    Ready loop; ``run`` delivers until the mailbox is empty."""

    def __init__(self, nodes: dict[NodeId, Any]) -> None:
        self.nodes = nodes
        self.storage = {n: PaxosMemoryStorage() for n in nodes}
        self.mailbox: list[Message] = []
        self.committed: dict[NodeId, list[Entry]] = {n: [] for n in nodes}
        self.readies: dict[NodeId, list[Ready[Any]]] = {n: [] for n in nodes}

    def flush(self, node: NodeId) -> None:
        core = self.nodes[node]
        while core.has_ready():
            rd = core.ready()
            self.readies[node].append(rd)
            store = self.storage[node]
            store.persist(rd.hard_state, rd.entries, rd.snapshot)
            if rd.must_sync:
                store.sync()
            self.mailbox.extend(rd.early_messages + rd.messages)
            self.committed[node].extend(rd.committed)
            core.advance(rd)

    def flush_all(self) -> None:
        for node in self.nodes:
            self.flush(node)

    def deliver(self, msg: Message) -> None:
        if msg.dst in self.nodes:
            self.nodes[msg.dst].step(msg)
            self.flush(msg.dst)

    def run(self, drop: Callable[[Message], bool] = lambda m: False, limit: int = 10_000) -> int:
        """Deliver (or drop) messages in FIFO order until none is left; returns how many."""
        self.flush_all()
        count = 0
        while self.mailbox:
            count += 1
            if count > limit:
                raise AssertionError(f"still {len(self.mailbox)} messages after {limit}")
            msg = self.mailbox.pop(0)
            if not drop(msg):
                self.deliver(msg)
        return count

    def tick(self, node: NodeId, times: int = 1) -> None:
        for _ in range(times):
            self.nodes[node].tick()
            self.flush(node)


def paxos_cluster(
    n: int = 3, seed: int = 0, config: PaxosConfig | None = None
) -> tuple[Net, dict[NodeId, PaxosCore]]:
    voters = tuple(range(1, n + 1))
    cores = {i: PaxosCore(i, voters, random.Random(seed * 100 + i), config) for i in voters}
    return Net(dict(cores)), cores


def elect(net: Net, cores: dict[NodeId, PaxosCore], node: NodeId) -> None:
    """Make ``node`` campaign now and deliver everything."""
    core = cores[node]
    core.election_elapsed = core.randomized_election_ticks - 1
    net.tick(node)
    net.run()


def new_core(
    id: NodeId = 1, n: int = 3, config: PaxosConfig | None = None, seed: int = 0
) -> PaxosCore:
    return PaxosCore(id, tuple(range(1, n + 1)), random.Random(seed), config)


def grant_probe(core: PaxosCore) -> None:
    """Answer ``core``'s pre-prepare probe, if one runs, with grants from the
    lowest-numbered peers (a majority with its own)."""
    from consensus.messages import ZERO_BALLOT
    from consensus.messages.paxos import PrePromise
    from consensus.quorum import majority

    probe = core.probe
    if probe is None:
        return
    for peer in core.peers[: majority(len(core.voters)) - 1]:
        core.step(PrePromise(peer, core.id, probe.ballot, True, ZERO_BALLOT))


def campaign(core: PaxosCore) -> Ready[Any]:
    """Let ``core``'s election timeout expire (and its pre-prepare probe be granted, with
    ``pre_prepare`` on); returns the batch with its Prepares."""
    core.election_elapsed = core.randomized_election_ticks - 1
    core.tick()
    if core.probe is not None:
        take(core)  # the PrePrepares
        grant_probe(core)
    return take(core)


def make_leader(core: PaxosCore) -> Ready[Any]:
    """Campaign and win with empty promises from the lowest-numbered peers."""
    from consensus.messages import Promise
    from consensus.quorum import majority

    campaign(core)
    ballot = core.own_ballot()
    for peer in core.peers[: majority(len(core.voters)) - 1]:
        core.step(Promise(peer, core.id, ballot, core.chosen.commit + 1, core.chosen.commit, ()))
    return take(core)
