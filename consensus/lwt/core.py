"""The leaderless per-key Paxos core (``paxos-lwt``): every node is an acceptor for every
key and a coordinator for the operations proposed to it.

Contract (``consensus.core``): ``tick``/``step``/``propose``/``ready``/``advance``.

- ``propose(data)``: ``data`` is an encoded :class:`~consensus.lwt.ops.LwtOp`
  (:func:`~consensus.lwt.ops.encode_op`); a malformed one raises ``ValueError``, a full
  queue ``ProposalDropped``. The returned ticket is ``(n, 0)`` for the n-th operation of
  this core instance; the answer comes out as a ``ProposalResult`` with that ticket in
  ``Ready.results``, its data an encoded :class:`~consensus.lwt.ops.LwtOutcome`.
  Nothing is ever in ``Ready.committed``: there is no log.
- ``read_index`` raises ``ProposalDropped``: reads are operations (``GET``), each a full
  round.
- Persistence: a batch whose ``hard_state`` is set has ``must_sync``; its ``messages``
  (promises, acceptances, and the prepares of a freshly reserved ballot range) and its
  ``results`` leave only after it is synced. The coordinator counts its own acceptor's
  promise and acceptance at once, without a message; they are in the same batch as
  anything that depends on them, so they too are durable before anyone hears of them.

Operations on one key run one at a time per coordinator, in proposal order; operations
on different keys run concurrently.
A round that decided an absent value keeps counting acceptances for a while; once every
node accepted it, the coordinator sends ``LwtPurge`` so that all forget the key (the rule
and why it is safe: ``docs/lwt.md``). ``status()`` reports role ``FOLLOWER`` and no leader
(there is none); its ``term`` is the highest ballot round seen, encoded.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from ..core import Ready, Recovered, Role, Status
from ..errors import ProposalDropped
from ..messages import Message
from ..messages.lwt import (
    LwtAccept,
    LwtAccepted,
    LwtHardState,
    LwtNack,
    LwtPrepare,
    LwtPromise,
    LwtPurge,
    LwtRecord,
)
from ..messages.paxos import NODE_ID_LIMIT, ZERO_BALLOT, Ballot
from ..quorum import majority
from ..types import NodeId, ProposalResult, ProposalTicket
from .acceptor import LwtAcceptor
from .config import LwtConfig
from .coordinator import Operation, Phase, Promised, choose
from .ops import LWT_OP_CODEC, ChangeFn, LwtOpKind, LwtOutcome, LwtStatus, decode_op

if TYPE_CHECKING:
    import random


class LwtCore:
    """One ``paxos-lwt`` node (see the module doc). ``change`` is the register's change
    function for ``APPLY`` operations (:data:`~consensus.lwt.ops.ChangeFn`); without one,
    ``propose`` refuses them."""

    leaderless = True
    """Every node takes proposals (the runtime does not redirect to a leader)."""
    role = Role.FOLLOWER
    """No node ever leads (the same role ``status()`` reports)."""

    def __init__(
        self,
        node_id: NodeId,
        voters: tuple[NodeId, ...],
        rng: random.Random,
        config: LwtConfig | None = None,
        recovered: Recovered[LwtHardState] | None = None,
        change: ChangeFn | None = None,
    ) -> None:
        if node_id not in voters:
            raise ValueError(f"node {node_id} is not one of the voters {voters}")
        if not all(0 < v < NODE_ID_LIMIT for v in voters):
            raise ValueError(f"node ids must be in 1..{NODE_ID_LIMIT - 1}, got {voters}")
        self._id = node_id
        self.voters = tuple(sorted(set(voters)))
        self._peers = tuple(v for v in self.voters if v != node_id)
        self._quorum = majority(len(self.voters))
        self._rng = rng
        self._change = change
        self.config = config or LwtConfig()
        hs = recovered.hard_state if recovered is not None else None
        self.acceptor = LwtAcceptor(
            hs.records if hs is not None else (), hs.floor if hs is not None else ZERO_BALLOT
        )
        self._reserved = hs.reserved if hs is not None else 0
        # Every round up to ``reserved`` may have been used before a crash: start above.
        self._round = max(self._reserved, self.acceptor.highest_round())
        self._reserve_dirty = False
        self._queues: dict[bytes, deque[Operation]] = {}
        self._pending = 0
        self._seq = 0
        self._messages: list[Message] = []
        self._results: list[ProposalResult] = []
        self._batch: Ready[LwtHardState] | None = None
        # Decided absent states whose ballot may yet be accepted by every node, so that
        # the key can be forgotten: (key, ballot) -> (nodes that accepted, ticks left).
        self._tombstones: dict[tuple[bytes, Ballot], tuple[set[NodeId], int]] = {}
        self.purges = 0

    # -- the contract ---------------------------------------------------------------------
    @property
    def id(self) -> NodeId:
        return self._id

    def propose(self, data: bytes) -> ProposalTicket:
        """Queue one encoded operation (module doc); raises ``ValueError`` for bad data,
        ``ProposalDropped`` beyond ``max_pending``."""
        op = decode_op(data)
        if op.kind is LwtOpKind.APPLY and self._change is None:
            raise ValueError("an apply operation needs a core with a change function")
        if self._pending >= self.config.max_pending:
            raise ProposalDropped(f"node {self._id} already has {self._pending} operations pending")
        self._seq += 1
        operation = Operation(ProposalTicket(self._seq, 0), op)
        self._pending += 1
        queue = self._queues.setdefault(op.key, deque())
        queue.append(operation)
        if len(queue) == 1:
            self._start_attempt(operation)
        return operation.ticket

    def read_index(self, context: bytes) -> None:
        raise ProposalDropped("paxos-lwt has no read index: propose a GET operation")

    def tick(self) -> None:
        if self._tombstones:
            for watch, (acks, left) in list(self._tombstones.items()):
                if left <= 1:
                    del self._tombstones[watch]
                else:
                    self._tombstones[watch] = (acks, left - 1)
        for queue in list(self._queues.values()):
            operation = queue[0]
            if operation.timer <= 0:
                continue
            operation.timer -= 1
            if operation.timer == 0:
                if operation.phase is Phase.BACKOFF:
                    self._start_attempt(operation)
                else:
                    self._fail(operation, "timeout")

    def step(self, message: Message) -> None:
        if message.dst != self._id or message.src not in self._peers:
            return
        if isinstance(message, LwtPrepare):
            self._see(message.ballot)
            self._send_promise(message.src, message.key, message.ballot)
        elif isinstance(message, LwtAccept):
            self._see(message.ballot)
            refused = self.acceptor.accept(
                message.key, message.ballot, message.value, message.writer, message.base
            )
            if refused is None:
                self._messages.append(
                    LwtAccepted(self._id, message.src, message.key, message.ballot)
                )
            else:
                self._messages.append(
                    LwtNack(self._id, message.src, message.key, message.ballot, refused)
                )
        elif isinstance(message, LwtPromise):
            self._see(message.accepted)
            promised = Promised(message.accepted, message.value, message.writer)
            self._on_promise(message.src, message.key, message.ballot, promised)
        elif isinstance(message, LwtAccepted):
            self._on_accepted(message.src, message.key, message.ballot)
        elif isinstance(message, LwtNack):
            self._see(message.promised)
            self._on_nack(message.src, message.key, message.ballot)
        elif isinstance(message, LwtPurge) and self.acceptor.purge(message.key, message.ballot):
            self.purges += 1

    def has_ready(self) -> bool:
        return (
            self._batch is not None
            or bool(self._messages)
            or bool(self._results)
            or self.acceptor.dirty
            or self._reserve_dirty
        )

    def ready(self) -> Ready[LwtHardState]:
        if self._batch is None:
            changed, purged, floor = self.acceptor.take_delta()
            hard_state: LwtHardState | None = None
            if changed or purged or floor is not None or self._reserve_dirty:
                reserved = self._reserved if self._reserve_dirty else 0
                hard_state = LwtHardState(changed, reserved, purged, floor or ZERO_BALLOT)
            self._reserve_dirty = False
            self._batch = Ready(
                hard_state=hard_state,
                must_sync=hard_state is not None,
                messages=tuple(self._messages),
                results=tuple(self._results),
            )
            self._messages.clear()
            self._results.clear()
        return self._batch

    def advance(self, ready: Ready[LwtHardState]) -> None:
        if self._batch is ready:
            self._batch = None

    def status(self) -> Status:
        return Status(
            id=self._id,
            role=Role.FOLLOWER,
            term=Ballot(self._round, 0).as_term(),
            leader=None,
            commit_index=0,
            applied_index=0,
            last_index=0,
        )

    # -- inspection (tests, checkers) ------------------------------------------------------
    def record(self, key: bytes) -> LwtRecord:
        """This node's acceptor record for ``key``."""
        return self.acceptor.record(key)

    @property
    def pending(self) -> int:
        """Operations queued or running here."""
        return self._pending

    def operation(self, key: bytes) -> Operation | None:
        """The operation now running for ``key`` here, if any."""
        queue = self._queues.get(key)
        return queue[0] if queue else None

    # -- the coordinator ------------------------------------------------------------------
    def _see(self, ballot: Ballot) -> None:
        if ballot.round > self._round:
            self._round = ballot.round

    def _next_ballot(self) -> Ballot:
        self._round += 1
        if self._round > self._reserved:
            self._reserved = self._round + self.config.ballot_reserve - 1
            self._reserve_dirty = True
        return Ballot(self._round, self._id)

    def _start_attempt(self, operation: Operation) -> None:
        operation.attempts += 1
        ballot = self._next_ballot()
        operation.ballot = ballot
        operation.phase = Phase.PREPARE
        operation.promises = {}
        operation.acks = set()
        operation.nacks = set()
        operation.timer = self.config.phase_timeout_ticks
        key = operation.op.key
        for peer in self._peers:
            self._messages.append(LwtPrepare(self._id, peer, key, ballot))
        found = self.acceptor.prepare(key, ballot)
        if isinstance(found, Ballot):
            self._see(found)
            self._on_nack(self._id, key, ballot)
        else:
            promised = Promised(found.accepted, found.value, found.writer)
            self._on_promise(self._id, key, ballot, promised)

    def _send_promise(self, to: NodeId, key: bytes, ballot: Ballot) -> None:
        found = self.acceptor.prepare(key, ballot)
        if isinstance(found, Ballot):
            self._messages.append(LwtNack(self._id, to, key, ballot, found))
        else:
            self._messages.append(
                LwtPromise(self._id, to, key, ballot, found.accepted, found.value, found.writer)
            )

    def _current(self, key: bytes, ballot: Ballot, phase: Phase) -> Operation | None:
        queue = self._queues.get(key)
        if not queue:
            return None
        operation = queue[0]
        if operation.phase is not phase or operation.ballot != ballot:
            return None
        return operation

    def _on_promise(self, src: NodeId, key: bytes, ballot: Ballot, promised: Promised) -> None:
        operation = self._current(key, ballot, Phase.PREPARE)
        if operation is None:
            return
        operation.promises[src] = promised
        if len(operation.promises) < self._quorum:
            return
        choice = choose(operation, list(operation.promises.values()), self._change)
        if choice.unknown:
            self._finish(operation, self._given_up(operation, None))
            return
        if choice.wrote:
            operation.writes[ballot] = choice.seen
            if operation.first_write is None:
                operation.first_write = ballot
        operation.answer = (choice.held, choice.seen)
        operation.proposed_absent = choice.value is None
        operation.phase = Phase.ACCEPT
        operation.timer = self.config.phase_timeout_ticks
        for peer in self._peers:
            self._messages.append(
                LwtAccept(self._id, peer, key, ballot, choice.value, choice.writer, choice.base)
            )
        refused = self.acceptor.accept(key, ballot, choice.value, choice.writer, choice.base)
        if refused is not None:
            self._see(refused)
            self._on_nack(self._id, key, ballot)
        else:
            self._on_accepted(self._id, key, ballot)

    def _on_accepted(self, src: NodeId, key: bytes, ballot: Ballot) -> None:
        operation = self._current(key, ballot, Phase.ACCEPT)
        if operation is None:
            watch = self._tombstones.get((key, ballot))
            if watch is not None:
                watch[0].add(src)
                self._maybe_purge(key, ballot, watch[0])
            return
        operation.acks.add(src)
        if len(operation.acks) >= self._quorum:
            held, seen = operation.answer
            outcome = LwtOutcome(LwtStatus.DONE, held, seen, ballot, operation.attempts)
            if operation.proposed_absent and len(self._tombstones) < self.config.max_pending:
                self._tombstones[(key, ballot)] = (operation.acks, self.config.phase_timeout_ticks)
                self._maybe_purge(key, ballot, operation.acks)
            self._finish(operation, outcome)

    def _maybe_purge(self, key: bytes, ballot: Ballot, acks: set[NodeId]) -> None:
        """Every node accepted the absent state decided in ``ballot``: let all forget the
        key (``docs/lwt.md``, "State, storage, compaction")."""
        if len(acks) < len(self.voters):
            return
        del self._tombstones[(key, ballot)]
        for peer in self._peers:
            self._messages.append(LwtPurge(self._id, peer, key, ballot))
        if self.acceptor.purge(key, ballot):
            self.purges += 1

    def _on_nack(self, src: NodeId, key: bytes, ballot: Ballot) -> None:
        """``src`` refused the current attempt: it fails once a majority can no longer
        answer yes (waiting for the rest spares a retry when a minority is ahead)."""
        operation = self._current(key, ballot, Phase.PREPARE) or self._current(
            key, ballot, Phase.ACCEPT
        )
        if operation is None:
            return
        operation.nacks.add(src)
        if len(operation.nacks) > len(self.voters) - self._quorum:
            self._fail(operation, "nack")

    def _fail(self, operation: Operation, why: str) -> None:
        """The current attempt failed (``why``: "nack" or "timeout")."""
        operation.last_failure = why
        if operation.attempts >= self.config.max_attempts:
            applied = None if operation.first_write is not None else False
            self._finish(operation, self._given_up(operation, applied))
            return
        config = self.config
        span = min(config.backoff_cap_ticks, config.backoff_base_ticks << (operation.attempts - 1))
        operation.phase = Phase.BACKOFF
        operation.timer = self._rng.randint(1, max(1, span))

    def _given_up(self, operation: Operation, applied: bool | None) -> LwtOutcome:
        status = LwtStatus.CONTENDED if operation.last_failure == "nack" else LwtStatus.TIMEOUT
        return LwtOutcome(status, applied, None, operation.ballot, operation.attempts)

    def _finish(self, operation: Operation, outcome: LwtOutcome) -> None:
        self._results.append(
            ProposalResult(operation.ticket, outcome.ok, LWT_OP_CODEC.encode(outcome))
        )
        self._pending -= 1
        key = operation.op.key
        queue = self._queues[key]
        queue.popleft()
        operation.phase = Phase.QUEUED
        operation.timer = 0
        if queue:
            self._start_attempt(queue[0])
        else:
            del self._queues[key]
