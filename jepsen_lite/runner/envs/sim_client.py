"""The sim environment's client: a ``consensus.client.kv.Backend`` that talks to the
in-process nodes the way the network client talks to node processes.

A call goes to the node the client believes leads (at first a node drawn from the
client's seeded stream), after a client->node delay drawn from ``delay_s`` (each way).
``NotLeader`` with a hint moves it to the hinted node; without a hint, and on any other
refusal (``ProposalDropped``, the node stopping under the call, a driver timeout), it
moves to the next node after a short pause. A node that is down or paused does not
answer: the attempt waits until its deadline (``attempt_s``), and an answer computed by
a node that was paused or killed before the reply left is lost the same way. When the
overall deadline (``total_s``) passes, :class:`~consensus.client.client.ClientTimeout`
is raised (a write's outcome is then unknown), as the network client does.

Retried writes carry the same session sequence number (the ``KvSession`` above builds
the command once), so the state machine applies each at most once.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import trio

from consensus.client.client import ClientTimeout
from consensus.client.protocol import Consistency
from consensus.errors import ConsensusError, NotLeader
from consensus.runtime import ReplicatedLog

if TYPE_CHECKING:
    from .sim import SimCluster

RETRY_PAUSE_S = 0.005
"""Pause before trying the next node after a refusal without a leader hint."""


class SimBackend:
    """See the module docstring."""

    def __init__(
        self,
        cluster: SimCluster,
        rng: random.Random,
        *,
        attempt_s: float,
        total_s: float,
        delay_s: tuple[float, float],
    ) -> None:
        self.cluster = cluster
        self.clock = cluster.clock
        self.rng = rng
        self.attempt_s = attempt_s
        self.total_s = total_s
        self.delay_s = delay_s
        self.guess = cluster.nodes[rng.randrange(len(cluster.nodes))]
        self.attempts = 0

    def _delay(self) -> float:
        lo, hi = self.delay_s
        return lo if hi <= lo else self.rng.uniform(lo, hi)

    def _next(self, node: int) -> int:
        nodes = self.cluster.nodes
        return nodes[(nodes.index(node) + 1) % len(nodes)]

    async def propose(self, command: bytes) -> bytes:
        return await self._call(lambda log: log.propose(command), "write")

    async def query(self, query: bytes, *, consistency: Consistency = "linearizable") -> bytes:
        return await self._call(lambda log: log.query(query, consistency=consistency), "read")

    async def _call(self, op: Callable[[ReplicatedLog], Awaitable[bytes]], what: str) -> bytes:
        deadline = trio.current_time() + self.total_s
        while True:
            now = trio.current_time()
            if now >= deadline:
                raise ClientTimeout(
                    f"{what}: no node answered within {self.total_s:g}s of virtual time"
                )
            node = self.guess
            attempt_end = min(deadline, now + self.attempt_s)
            answered, result, hint = await self._attempt(node, op, attempt_end)
            if answered:
                return result
            if hint is not None and hint in self.cluster.nodes and hint != node:
                self.guess = hint
            else:
                self.guess = self._next(node)
                await self.clock.sleep(RETRY_PAUSE_S)

    async def _attempt(
        self, node: int, op: Callable[[ReplicatedLog], Awaitable[bytes]], attempt_end: float
    ) -> tuple[bool, bytes, int | None]:
        """One try at ``node``: (answered, result, leader hint)."""
        self.attempts += 1
        await self.clock.sleep(self._delay())  # the request on the wire
        host = self.cluster.host(node)
        log, incarnation = host.log, host.incarnation
        if log is None or host.paused:
            await self.clock.sleep_until(attempt_end)
            return False, b"", None
        scope = trio.CancelScope()  # move_on_at(attempt_end), on a clock timer
        timer = self.clock.call_at(attempt_end, trio.CancelScope.cancel, scope)
        try:
            with scope:
                try:
                    result = await op(log)
                except NotLeader as exc:
                    await self.clock.sleep(self._delay())
                    return False, b"", exc.leader_hint
                except ConsensusError:
                    await self.clock.sleep(self._delay())
                    return False, b"", None
                await self.clock.sleep(self._delay())  # the reply on the wire
                if host.paused or host.incarnation != incarnation or host.log is None:
                    await self.clock.sleep_until(attempt_end)  # the reply never leaves
                    return False, b"", None
                return True, result, None
        finally:
            timer.cancel()
        return False, b"", None
