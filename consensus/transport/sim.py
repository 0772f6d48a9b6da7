"""An in-memory network for Trio with one routing hook, for tests under ``MockClock``.

Every message sent through a :class:`SimTransport` becomes a :class:`Packet` that the
network's ``route`` hook turns into a list of delivery delays: ``[]`` drops it, one delay
delivers it once, several deliver duplicates. Reordering falls out of unequal delays;
partitions are a set of blocked directed links checked before the hook. All randomness
comes from one ``random.Random(seed)``, and all time from Trio, so a run under
``trio.testing.MockClock`` is repeatable.

Delivery runs in one task (:meth:`SimNetwork.run`), which keeps a heap of packets due
at Trio times; packets due at the same time keep their send order, so with equal delays
every link is FIFO.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterable, Sequence

import attrs
import trio

from ..messages import Message
from ..types import NodeId
from .base import INBOX_MESSAGES_MAX_DEFAULT, InboxWriter, TransportStats, open_inbox

PENDING_PACKETS_MAX_DEFAULT = 100_000
"""Bound of the packets in flight in the whole network; more are dropped and counted."""


@attrs.frozen(slots=True)
class Packet:
    """One message in flight, with the Trio time it was sent."""

    message: Message
    sent_at: float


Route = Callable[[Packet, random.Random], Sequence[float]]
"""The routing hook: delivery delays in seconds for each copy ([] = drop)."""


@attrs.define(slots=True)
class Faults:
    """A ready-made routing hook: loss, duplication and delay jitter (which reorders).

    Each packet is lost with probability ``loss``; otherwise it is delivered after a delay
    drawn uniformly from ``[delay_s_min, delay_s_max]``, and with probability
    ``duplicate`` a second copy follows with its own delay.
    """

    loss: float = 0.0
    duplicate: float = 0.0
    delay_s_min: float = 0.0
    delay_s_max: float = 0.0

    def __attrs_post_init__(self) -> None:
        for name in ("loss", "duplicate"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"Faults.{name} must be a probability in [0, 1], got {p}")
        if not 0.0 <= self.delay_s_min <= self.delay_s_max:
            raise ValueError(
                f"Faults delays must satisfy 0 <= delay_s_min <= delay_s_max, got "
                f"{self.delay_s_min} and {self.delay_s_max}"
            )

    def _delay(self, rng: random.Random) -> float:
        if self.delay_s_max == self.delay_s_min:
            return self.delay_s_min
        return rng.uniform(self.delay_s_min, self.delay_s_max)

    def __call__(self, packet: Packet, rng: random.Random) -> Sequence[float]:
        if self.loss and rng.random() < self.loss:
            return []
        delays = [self._delay(rng)]
        if self.duplicate and rng.random() < self.duplicate:
            delays.append(self._delay(rng))
        return delays


class SimNetwork:
    """A seeded in-memory network joining :class:`SimTransport` endpoints.

    Use ``nursery.start_soon(network.run)`` (or ``async with network.running():``) so that
    packets get delivered; endpoints come from :meth:`endpoint`.
    """

    def __init__(
        self,
        seed: int,
        route: Route | None = None,
        *,
        pending_packets_max: int = PENDING_PACKETS_MAX_DEFAULT,
    ) -> None:
        self.rng = random.Random(seed)
        self.route: Route = route if route is not None else Faults()
        self.pending_packets_max = pending_packets_max
        self.blocked: set[tuple[NodeId, NodeId]] = set()
        self.dropped_partitioned = 0
        self.dropped_overflow = 0
        self._endpoints: dict[NodeId, SimTransport] = {}
        self._heap: list[tuple[float, int, Message]] = []
        self._seq = 0
        self._wake = trio.Event()

    # -- topology ---------------------------------------------------------------------
    def endpoint(
        self, node_id: NodeId, *, inbox_messages_max: int = INBOX_MESSAGES_MAX_DEFAULT
    ) -> SimTransport:
        """A fresh endpoint for ``node_id``, replacing any closed one (a restart)."""
        old = self._endpoints.get(node_id)
        if old is not None and not old.closed:
            raise ValueError(f"node {node_id} already has an open endpoint")
        transport = SimTransport(self, node_id, inbox_messages_max)
        self._endpoints[node_id] = transport
        return transport

    @property
    def node_ids(self) -> tuple[NodeId, ...]:
        return tuple(sorted(self._endpoints))

    def partition(self, *groups: Iterable[NodeId]) -> None:
        """Block every link between nodes of different groups (both directions).

        Nodes named in no group keep their links to everyone. Replaces earlier blocks.
        """
        sets = [frozenset(g) for g in groups]
        self.blocked = {
            (a, b)
            for i, ga in enumerate(sets)
            for j, gb in enumerate(sets)
            if i != j
            for a in ga
            for b in gb
        }

    def isolate(self, node: NodeId) -> None:
        """Cut ``node`` off from every other node (in addition to existing blocks)."""
        for other in self._endpoints:
            if other != node:
                self.blocked.add((node, other))
                self.blocked.add((other, node))

    def heal(self) -> None:
        self.blocked.clear()

    # -- delivery ---------------------------------------------------------------------
    def _submit(self, message: Message) -> None:
        if (message.src, message.dst) in self.blocked:
            self.dropped_partitioned += 1
            return
        now = trio.current_time()
        for delay in self.route(Packet(message, now), self.rng):
            if len(self._heap) >= self.pending_packets_max:
                self.dropped_overflow += 1
                continue
            self._seq += 1
            heapq.heappush(self._heap, (now + delay, self._seq, message))
        self._wake.set()

    def _deliver(self, message: Message) -> None:
        target = self._endpoints.get(message.dst)
        if target is None or target.closed:
            return
        if (message.src, message.dst) in self.blocked:
            self.dropped_partitioned += 1
            return
        target._writer.deliver(message)

    async def run(self) -> None:
        """Deliver packets when they are due, forever (cancel to stop)."""
        while True:
            now = trio.current_time()
            while self._heap and self._heap[0][0] <= now:
                _, _, message = heapq.heappop(self._heap)
                self._deliver(message)
            self._wake = trio.Event()
            if self._heap:
                with trio.move_on_at(self._heap[0][0]):
                    await self._wake.wait()
            else:
                await self._wake.wait()


class SimTransport:
    """One node's endpoint on a :class:`SimNetwork` (implements ``Transport``)."""

    def __init__(self, network: SimNetwork, node_id: NodeId, inbox_messages_max: int) -> None:
        self._network = network
        self._node_id = node_id
        self._stats = TransportStats()
        self._writer: InboxWriter
        self._writer, self._inbox = open_inbox(self._stats, inbox_messages_max)
        self.closed = False

    @property
    def node_id(self) -> NodeId:
        return self._node_id

    @property
    def inbox(self) -> trio.MemoryReceiveChannel[Message]:
        return self._inbox

    @property
    def stats(self) -> TransportStats:
        return self._stats

    def send(self, message: Message) -> bool:
        if self.closed:
            self._stats.dropped_closed += 1
            return False
        if message.dst not in self._network._endpoints:
            self._stats.dropped_unknown_peer += 1
            return False
        self._stats.sent += 1
        self._network._submit(message)
        return True

    def send_batch(self, messages: Iterable[Message]) -> None:
        for message in messages:
            self.send(message)

    def on_deliver(self, callback: Callable[[], None] | None) -> None:
        self._writer.notify = callback

    async def aclose(self) -> None:
        if not self.closed:
            self.closed = True
            self._writer.close()
        await trio.lowlevel.checkpoint()
