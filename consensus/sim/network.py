"""The simulated network: delays, loss, duplication, reordering and partitions.

``send`` decides a message's fate at once, from the network's own seeded random stream,
and schedules a ``DELIVER`` event for every copy that survives; ``arrive`` is asked when
that event comes due. The fault model:

- delay: uniform in ``[delay_us_min, delay_us_max]``; with probability ``spike_rate`` a
  message is slowed by up to ``spike_us_max`` more (a stalled link or a GC pause);
- loss: a message vanishes with probability ``loss_rate``;
- duplication: with probability ``duplicate_rate`` a message is delivered twice, each
  copy with its own delay;
- reordering: with ``reorder_jitter_us`` > 0 every copy gets extra uniform jitter and a
  link does not keep send order; otherwise every directed link is FIFO (a late message
  holds back the ones behind it, as on a TCP connection);
- partitions: a set of cut directed links. A message on a cut link is dropped when sent
  and also when it arrives (a partition that starts while it is in flight catches it).
- bounded queues: at most ``link_queue_max`` messages in flight per directed link; more
  are dropped and counted as ``overflow``.

Whether the destination node is up is the cluster's business, not the network's.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from heapq import heappush

import attrs

from ..messages import Message
from ..types import NodeId
from .events import DELIVER, Clock, EventQueue
from .options import FaultOptions, SimConfig


@attrs.define(slots=True)
class NetworkStats:
    sent: int = 0
    lost: int = 0
    cut: int = 0
    overflow: int = 0
    duplicated: int = 0


class SimNetwork:
    """Directed links between nodes ``nodes``, with the faults of ``faults``."""

    __slots__ = (
        "_clock",
        "_cut",
        "_delay_min",
        "_delay_spread",
        "_dup",
        "_inflight",
        "_jitter",
        "_last",
        "_loss",
        "_queue",
        "_queue_max",
        "_random",
        "_rng",
        "_size",
        "_spike_max",
        "_spike_rate",
        "stats",
    )

    def __init__(
        self,
        nodes: Sequence[NodeId],
        rng: random.Random,
        config: SimConfig,
        faults: FaultOptions,
        queue: EventQueue,
        clock: Clock,
    ) -> None:
        if not nodes or min(nodes) < 1:
            raise ValueError(f"node ids must be positive, got {list(nodes)}")
        size = max(nodes) + 1
        self._size = size
        self._rng = rng
        self._random = rng.random
        self._queue = queue
        self._clock = clock
        self._queue_max = config.link_queue_max
        self._delay_min = config.delay_us_min
        self._delay_spread = config.delay_us_max - config.delay_us_min + 1
        self._loss = faults.loss_rate
        self._dup = faults.duplicate_rate
        self._jitter = faults.reorder_jitter_us
        self._spike_rate = faults.spike_rate
        self._spike_max = faults.spike_us_max
        self._cut = [[False] * size for _ in range(size)]
        self._inflight = [[0] * size for _ in range(size)]
        self._last = [[0] * size for _ in range(size)]  # FIFO: latest delivery time per link
        self.stats = NetworkStats()

    # -- faults ---------------------------------------------------------------------------
    def partition(self, cut: Iterable[tuple[NodeId, NodeId]]) -> None:
        """Cut the given directed links (in addition to any already cut)."""
        for src, dst in cut:
            self._cut[src][dst] = True

    def heal(self) -> None:
        """Restore every link."""
        for row in self._cut:
            for dst in range(len(row)):
                row[dst] = False

    @property
    def cut(self) -> list[list[bool]]:
        """``cut[src][dst]``: the link is cut (the live table, changed in place; for the
        run loop, which inlines :meth:`arrive`)."""
        return self._cut

    @property
    def inflight(self) -> list[list[int]]:
        """``inflight[src][dst]``: copies in flight on the link (the live table)."""
        return self._inflight

    def is_cut(self, src: NodeId, dst: NodeId) -> bool:
        return self._cut[src][dst]

    def calm(self) -> None:
        """Turn message faults off (loss, duplication, reordering, delay spikes)."""
        self._loss = 0.0
        self._dup = 0.0
        self._jitter = 0
        self._spike_rate = 0.0

    # -- traffic --------------------------------------------------------------------------
    def send(self, msg: Message) -> None:
        """Decide ``msg``'s fate (now) and schedule the delivery of each surviving copy."""
        src = msg.src
        dst = msg.dst
        stats = self.stats
        stats.sent += 1
        if not 0 < dst < self._size or src == dst:
            raise ValueError(f"node {src} sent a message to node {dst}, which is not a peer")
        if self._cut[src][dst]:
            stats.cut += 1
            return
        random = self._random
        if self._loss and random() < self._loss:
            stats.lost += 1
            return
        now_us = self._clock.now_us
        inflight = self._inflight[src]
        if inflight[dst] >= self._queue_max:
            stats.overflow += 1
        else:
            # the first copy: _schedule, inlined (this is the hottest call of a run)
            inflight[dst] += 1
            at = now_us + self._delay_min + int(random() * self._delay_spread)
            if self._spike_rate and random() < self._spike_rate:
                at += int(random() * self._spike_max)
            if self._jitter:
                at += int(random() * self._jitter)
            else:
                last = self._last[src]
                if at < last[dst]:
                    at = last[dst]
                last[dst] = at
            queue = self._queue
            queue.seq += 1
            heappush(queue.heap, (at, queue.seq, DELIVER, msg))
        if self._dup and random() < self._dup:
            stats.duplicated += 1
            self._schedule(msg, src, dst, now_us)

    def _schedule(self, msg: Message, src: NodeId, dst: NodeId, now_us: int) -> None:
        inflight = self._inflight[src]
        if inflight[dst] >= self._queue_max:
            self.stats.overflow += 1
            return
        inflight[dst] += 1
        random = self._random
        at = now_us + self._delay_min + int(random() * self._delay_spread)
        if self._spike_rate and random() < self._spike_rate:
            at += int(random() * self._spike_max)
        if self._jitter:
            at += int(random() * self._jitter)
        else:
            last = self._last[src]
            if at < last[dst]:
                at = last[dst]
            last[dst] = at
        queue = self._queue
        queue.seq += 1
        heappush(queue.heap, (at, queue.seq, DELIVER, msg))

    def arrive(self, msg: Message) -> bool:
        """A copy of ``msg`` comes due: False when its link is cut now (it is dropped)."""
        self._inflight[msg.src][msg.dst] -= 1
        if self._cut[msg.src][msg.dst]:
            self.stats.cut += 1
            return False
        return True
