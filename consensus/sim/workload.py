"""Simulated clients: closed-loop proposers and readers, and the post-heal liveness probe.

Each client has at most one operation in flight. It sends the operation to the node it
believes leads, follows ``NotLeader`` hints, and gives up on an operation after
``client_timeout_us`` (the outcome is then unknown to it; the checks in
:class:`~consensus.sim.history.History` still hold the cluster to any acknowledgement).
Between operations it thinks for an exponential time of mean ``think_us_mean``. A
fraction ``read_fraction`` of operations are read-index requests (if the protocol
supports them). Proposal data is unique per operation: ``c<client>.<op>``.

After the heal, the regular clients stop and one probe client proposes ``probe.<n>``
until ``probes`` proposals are acknowledged: the liveness half of the run.

Every scheduled client event carries a token; an event whose token is not the client's
current one is stale (the operation it was for has finished) and is ignored.
"""

from __future__ import annotations

import random

from ..errors import NotLeader, ProposalDropped
from ..types import NodeId
from .cluster import Cluster
from .events import CLIENT, Clock, EventQueue
from .options import SimConfig


class Client:
    __slots__ = ("id", "probe", "target", "token", "waiting")

    def __init__(self, client_id: int, target: NodeId, probe: bool = False) -> None:
        self.id = client_id
        self.target = target
        self.token = 0
        self.waiting = False
        self.probe = probe


class Workload:
    """The clients of one run. Events: ``CLIENT`` with payload ``(client id, token)``."""

    def __init__(
        self,
        cluster: Cluster,
        queue: EventQueue,
        clock: Clock,
        rng: random.Random,
        config: SimConfig,
    ) -> None:
        self._cluster = cluster
        self._queue = queue
        self._clock = clock
        self._rng = rng
        self._config = config
        self._nodes = len(cluster.nodes)
        self._reads = cluster.spec.reads and config.read_fraction > 0
        self._retry_us = config.tick_interval_us
        self._redirect_us = max(1, config.delay_us_max)  # one network trip to the hint
        self._operations = cluster.spec.operations() if cluster.spec.operations else None
        self.clients = [Client(i, self._random_node()) for i in range(1, config.clients + 1)]
        self.proposals = 0
        self.reads = 0
        self.probes_acked = 0
        self.healing = False
        self.pinned: NodeId | None = None
        """While set, client 1 sends every operation here, half of them reads (a
        deposed leader that its clients still believe in), and the other clients send
        theirs elsewhere (to the majority side, where a new leader commits writes)."""
        for client in self.clients:
            self._schedule(client, self._think())

    def _random_node(self) -> NodeId:
        return 1 + self._rng.randrange(self._nodes)

    def _think(self) -> int:
        return int(self._rng.expovariate(1.0 / self._config.think_us_mean))

    def _schedule(self, client: Client, delay_us: int) -> None:
        client.token += 1
        self._queue.push(self._clock.now_us + delay_us, CLIENT, (client.id, client.token))

    def pin(self, node: NodeId | None) -> None:
        self.pinned = node

    def heal(self) -> None:
        """Stop the regular clients; start the probe client."""
        self.pinned = None
        self.healing = True
        for client in self.clients:
            client.token += 1  # every pending event of theirs is now stale
            client.waiting = False
        probe = Client(len(self.clients) + 1, self._random_node(), probe=True)
        self.clients.append(probe)
        self._schedule(probe, 0)

    def fire(self, client_id: int, token: int) -> str:
        """A client event comes due; returns what happened (for the trace)."""
        client = self.clients[client_id - 1]
        if token != client.token or (self.healing and not client.probe):
            return "stale"
        if client.waiting:
            client.waiting = False
            client.target = self._random_node()
            self._schedule(client, 0 if client.probe else self._think())
            return "timeout"
        if client.probe and self.probes_acked >= self._config.probes:
            return "probes done"
        return self._start(client)

    def _start(self, client: Client) -> str:
        cluster = self._cluster
        pinned = False
        if self.pinned is not None and not client.probe:
            if client.id == 1:
                pinned = True
                client.target = self.pinned
            elif client.target == self.pinned:
                # The other clients are on the majority side: they fail over.
                others = self._nodes - 1
                client.target = 1 + (self.pinned + self._rng.randrange(others)) % self._nodes
        node = client.target
        if not cluster.is_up(node):
            client.target = self._random_node()
            self._schedule(client, self._retry_us)
            return f"node {node} down"
        client.token += 1
        token = client.token
        client.waiting = True

        def done(ok: bool) -> None:
            self._done(client, token, ok)

        fraction = 0.5 if pinned else self._config.read_fraction
        if self._reads and not client.probe and self._rng.random() < fraction:
            self.reads += 1
            context = b"r%d.%d" % (client.id, token)
            cluster.read_index(node, context, done)
            what = f"read {context.decode()} at {node}"
        else:
            if self._operations is not None:
                data = self._operations(self._rng, client.id, token, client.probe)
            elif client.probe:
                data = b"probe.%d" % token
            else:
                data = b"c%d.%d" % (client.id, token)
            try:
                ticket = cluster.propose(node, data, done)
            except NotLeader as exc:
                client.waiting = False
                hint = exc.leader_hint
                client.target = hint if hint is not None else self._random_node()
                self._schedule(client, self._retry_us if hint is None else self._redirect_us)
                return f"propose at {node}: not leader (hint {hint})"
            except ProposalDropped:
                client.waiting = False
                self._schedule(client, self._retry_us)
                return f"propose at {node}: dropped"
            self.proposals += 1
            shown = data.decode(errors="backslashreplace")
            what = f"propose {shown} at {node} -> ({ticket.index}, {ticket.term})"
        if client.token == token and client.waiting:  # not already answered inside the call
            self._queue.push(
                self._clock.now_us + self._config.client_timeout_us, CLIENT, (client.id, token)
            )
        return what

    def _done(self, client: Client, token: int, ok: bool) -> None:
        if token != client.token or not client.waiting:
            return
        client.waiting = False
        if ok:
            if client.probe:
                self.probes_acked += 1
            self._schedule(client, 0 if client.probe else self._think())
        else:
            client.target = self._random_node()
            self._schedule(client, self._retry_us)
