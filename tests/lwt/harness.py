"""A hand-driven ``paxos-lwt`` cluster for tests: each node's ``Ready`` is drained by the
contract (persist, sync when asked, then send and answer), and messages wait in a mailbox
until a test delivers, drops or reorders them.

Every batch is checked on the way for the persistence rule: a promise, an acceptance or
an answer leaves only in a batch that is synced, after the record it vouches for.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from consensus.core import Ready
from consensus.lwt import LwtConfig, LwtCore, LwtOp, LwtOpKind, LwtOutcome, decode_outcome
from consensus.lwt.ops import ChangeFn, encode_op
from consensus.messages import Message
from consensus.messages.lwt import LwtAccepted, LwtHardState, LwtPromise
from consensus.storage.fs import SimulatedCrash
from consensus.storage.lwt_memory import LwtMemoryStorage
from consensus.types import NodeId, ProposalTicket


class PersistenceBroken(AssertionError):
    """A reply left a node before the state it vouches for was synced."""


class Net:
    def __init__(
        self,
        nodes: int = 3,
        seed: int = 0,
        config: LwtConfig | None = None,
        storage: Callable[[NodeId], Any] | None = None,
        change: ChangeFn | None = None,
    ) -> None:
        """``storage(node)`` makes a node's store (default ``LwtMemoryStorage``): anything
        with ``persist``, ``sync``, ``recover`` and ``crash`` (lose what is not durable).
        A ``SimulatedCrash`` raised by it crashes the node there. ``change``: the cores'
        change function for ``APPLY`` operations."""
        self.change = change
        self.voters = tuple(range(1, nodes + 1))
        self.config = config or LwtConfig()
        self._rng = random.Random(seed)
        make = storage or (lambda _node: LwtMemoryStorage())
        self.storage = {n: make(n) for n in self.voters}
        self.cores: dict[NodeId, LwtCore | None] = {}
        self.mailbox: list[Message] = []
        self.outcomes: dict[tuple[NodeId, int], LwtOutcome] = {}
        self.batches: list[tuple[NodeId, Ready[LwtHardState]]] = []
        self.before_sync: Callable[[NodeId, int], bool] | None = None
        """Asked before each sync (node, batch number): True crashes the node there."""
        for node in self.voters:
            self.cores[node] = LwtCore(
                node, self.voters, self._core_rng(), self.config, change=change
            )

    def _core_rng(self) -> random.Random:
        return random.Random(self._rng.getrandbits(64))

    def core(self, node: NodeId) -> LwtCore:
        core = self.cores[node]
        assert core is not None, f"node {node} is down"
        return core

    # -- inputs ---------------------------------------------------------------------------
    def propose(self, node: NodeId, op: LwtOp) -> ProposalTicket:
        ticket = self.core(node).propose(encode_op(op))
        self.drain(node)
        return ticket

    def tick(self, node: NodeId | None = None, times: int = 1) -> None:
        for _ in range(times):
            for n in self.voters if node is None else (node,):
                core = self.cores[n]
                if core is not None:
                    core.tick()
                    self.drain(n)

    def deliver(self, msg: Message) -> None:
        self.mailbox.remove(msg)
        core = self.cores[msg.dst]
        if core is not None:
            core.step(msg)
            self.drain(msg.dst)

    def deliver_all(
        self, limit: int = 100_000, keep: Callable[[Message], bool] | None = None
    ) -> int:
        """Deliver in FIFO order until the mailbox is empty (``keep`` False: drop)."""
        count = 0
        while self.mailbox and count < limit:
            msg = self.mailbox.pop(0)
            count += 1
            if keep is not None and not keep(msg):
                continue
            core = self.cores[msg.dst]
            if core is not None:
                core.step(msg)
                self.drain(msg.dst)
        return count

    def deliver_round(self) -> int:
        """Deliver the messages in the mailbox now (not the answers they cause)."""
        now = list(self.mailbox)
        for msg in now:
            self.deliver(msg)
        return len(now)

    def settle(self, rounds: int = 200) -> None:
        """Deliver and tick until nothing is pending anywhere."""
        for _ in range(rounds):
            self.deliver_all()
            if all(c is None or c.pending == 0 for c in self.cores.values()):
                return
            self.tick()
        raise AssertionError("the cluster did not settle")

    def crash(self, node: NodeId) -> None:
        self.storage[node].crash()
        self.cores[node] = None

    def restart(self, node: NodeId) -> None:
        assert self.cores[node] is None
        recovered = self.storage[node].recover()
        self.cores[node] = LwtCore(
            node, self.voters, self._core_rng(), self.config, recovered, self.change
        )
        self.drain(node)

    # -- the Ready loop -------------------------------------------------------------------
    def drain(self, node: NodeId) -> None:
        core = self.cores[node]
        while core is not None and core.has_ready():
            rd = core.ready()
            self.batches.append((node, rd))
            self._check_vouching(node, rd)
            storage = self.storage[node]
            try:
                storage.persist(rd.hard_state, rd.entries, rd.snapshot)
                if rd.must_sync:
                    if self.before_sync is not None and self.before_sync(node, len(self.batches)):
                        self.crash(node)
                        return
                    storage.sync()
            except SimulatedCrash:
                self.crash(node)
                return
            self.mailbox.extend(rd.messages)
            for result in rd.results:
                self.outcomes[(node, result.ticket.index)] = decode_outcome(result.data)
            core.advance(rd)

    def _check_vouching(self, node: NodeId, rd: Ready[LwtHardState]) -> None:
        """Every promise/acceptance/answer is in a synced batch, and the state it vouches
        for is durable by then (in this batch or an earlier synced one)."""
        vouching = [m for m in rd.messages if isinstance(m, LwtPromise | LwtAccepted)]
        if (vouching or rd.results) and rd.hard_state is not None and not rd.must_sync:
            raise PersistenceBroken(f"node {node}: batch with hard state but no must_sync")
        storage = self.storage[node]
        written = {r.key: r for r in (rd.hard_state.records if rd.hard_state else ())}
        durable = storage.recover().hard_state
        stored = {r.key: r for r in (durable.records if durable else ())}
        for msg in vouching:
            rec = written.get(msg.key) or stored.get(msg.key)
            if rec is None or rec.promised < msg.ballot:
                raise PersistenceBroken(
                    f"node {node} sent {type(msg).__name__} for {msg.ballot} before "
                    "persisting that promise"
                )
            if isinstance(msg, LwtAccepted) and rec.accepted < msg.ballot:
                raise PersistenceBroken(f"node {node} acknowledged an unpersisted accept")

    # -- helpers --------------------------------------------------------------------------
    def outcome(self, node: NodeId, ticket: ProposalTicket) -> LwtOutcome | None:
        return self.outcomes.get((node, ticket.index))

    def run(self, node: NodeId, op: LwtOp) -> LwtOutcome:
        """Propose ``op`` at ``node`` and settle the cluster; its outcome."""
        ticket = self.propose(node, op)
        self.settle()
        outcome = self.outcome(node, ticket)
        assert outcome is not None
        return outcome


def get(key: bytes) -> LwtOp:
    return LwtOp(LwtOpKind.GET, key)


def put(key: bytes, value: bytes) -> LwtOp:
    return LwtOp(LwtOpKind.PUT, key, value)


def cas(key: bytes, expect: bytes | None, value: bytes) -> LwtOp:
    return LwtOp(LwtOpKind.CAS, key, value, expect)
