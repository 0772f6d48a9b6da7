"""The Trio driver: runs one protocol core with a ticker, an inbox and the Ready loop.

Tasks (one nursery, see :meth:`Driver.run`):

- the ticker calls ``core.tick()`` every ``tick_s`` seconds of Trio time;
- the receiver steps every message from the transport's inbox into the core;
- the Ready loop takes batches and handles each exactly in the order of
  :mod:`consensus.core`: persist, fsync when ``must_sync``, send, apply and answer
  waiters, ``advance``.

Proposals and reads enter the core directly from the caller's task (Trio is single
threaded, so the core is never touched concurrently) and wake the loop. The blocking
fsync runs in a worker thread (``trio.to_thread``) so the receiver and the callers keep
feeding the core meanwhile; the next batch then carries everything that arrived during
the fsync, so one fsync covers many proposals (group commit).

Invariants: a proposal is answered only after the entry committed at its index was
applied; its term decides between success and ``ProposalDropped``. A read barrier returns
only once the applied index has reached the read index the core confirmed. Every waiting
list is bounded; going over the bound is a ``Backpressure`` error.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from typing import Any, TypeVar

import attrs
import trio

from ..core import ProtocolCore, Ready, Role, Status
from ..errors import NotLeader, ProposalDropped
from ..storage.base import CoreStorage
from ..transport.base import Transport
from ..types import Entry, EntryKind, Index, NodeId, Snapshot, SnapshotMeta, Term
from .errors import Backpressure, NodeStopped, OutcomeUnknown, Timeout
from .statemachine import StateMachine
from .waiters import AppliedWaits, Resolver, Waiter

log = logging.getLogger("consensus.runtime")

T = TypeVar("T")


@attrs.frozen(slots=True)
class DriverConfig:
    """Runtime knobs; times in seconds of Trio time.

    - ``tick_s``: one core tick (the core's election and heartbeat timeouts are in ticks).
    - ``proposals_waiting_max`` / ``reads_waiting_max``: back-pressure bounds.
    - ``read_round_timeout_s``: a read-index round unanswered this long is failed with
      ``Timeout`` so the reads queued behind it can go.
    - ``snapshot_entries``: snapshot the state machine and compact the log every this
      many applied entries (0: never).
    - ``sync_in_thread``: run ``storage.sync`` in a worker thread (off for in-memory
      storage under ``MockClock``, where a thread would let the clock jump).
    - ``subscriber_entries_max``: a committed-entry subscriber this far behind is cut off.
    """

    tick_s: float = 0.01
    proposals_waiting_max: int = 16384
    reads_waiting_max: int = 16384
    read_round_timeout_s: float = 2.0
    snapshot_entries: int = 20_000
    sync_in_thread: bool = True
    subscriber_entries_max: int = 4096
    inbox_batch_max: int = 4096

    def __attrs_post_init__(self) -> None:
        if self.tick_s <= 0:
            raise ValueError(f"DriverConfig.tick_s must be > 0, got {self.tick_s}")
        for name in (
            "proposals_waiting_max",
            "reads_waiting_max",
            "subscriber_entries_max",
            "inbox_batch_max",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"DriverConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.snapshot_entries < 0:
            raise ValueError(
                f"DriverConfig.snapshot_entries must be >= 0, got {self.snapshot_entries}"
            )


@attrs.frozen(slots=True)
class NodeStatus:
    """What ``status`` reports: the core's view plus the driver's applied index."""

    id: NodeId
    role: str
    term: Term
    leader: NodeId | None
    commit_index: Index
    applied_index: Index
    last_index: Index
    snapshot_index: Index


class _ReadRound:
    __slots__ = ("context", "started_at", "waiters")

    def __init__(self, context: bytes, waiters: list[Waiter[Index]], started_at: float) -> None:
        self.context = context
        self.waiters = waiters
        self.started_at = started_at


class Driver:
    """Runs ``core`` against ``storage``, ``transport`` and ``state_machine``.

    ``snapshot`` is the state the node restarts from (from ``storage.recover()``); the
    state machine is restored from it before anything is applied.
    """

    def __init__(
        self,
        core: ProtocolCore[Any],
        storage: CoreStorage[Any],
        transport: Transport,
        state_machine: StateMachine,
        config: DriverConfig | None = None,
        *,
        snapshot: Snapshot | None = None,
    ) -> None:
        self.core = core
        self.storage = storage
        self.transport = transport
        self.state_machine = state_machine
        self.config = config or DriverConfig()
        self.applied_index: Index = 0
        self.applied_term: Term = 0
        self.snapshot_index: Index = 0
        if snapshot is not None:
            state_machine.restore(snapshot.data)
            self.applied_index = self.snapshot_index = snapshot.meta.index
            self.applied_term = snapshot.meta.term
        self.fsyncs = 0
        self.early_applies = 0
        self._synced_index: Index = self.snapshot_index
        self.readies = 0
        self._proposals: dict[Index, tuple[Term, Resolver[bytes]]] = {}
        self._read_queue: list[Waiter[Index]] = []
        self._read_round: _ReadRound | None = None
        self._read_counter = 0
        self._applied_waits = AppliedWaits()
        self._subscribers: list[trio.MemorySendChannel[Entry]] = []
        self._wake = trio.Event()
        self._stopped: BaseException | None = None
        self._running = False

    # -- running ------------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run until cancelled (or until storage fails, which raises)."""
        self._running = True
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._tick_loop)
                nursery.start_soon(self._receive_loop)
                nursery.start_soon(self._ready_loop)
                task_status.started()
        finally:
            self._running = False
            self._stop(NodeStopped(f"node {self.core.id} stopped"))

    def _stop(self, error: BaseException) -> None:
        self._stopped = error
        for _, proposal in self._proposals.values():
            proposal.fail(error)
        self._proposals.clear()
        reads = list(self._read_queue)
        if self._read_round is not None:
            reads.extend(self._read_round.waiters)
            self._read_round = None
        self._read_queue.clear()
        for read in reads:
            read.fail(error)
        self._applied_waits.fail_all(error)
        for sub in self._subscribers:
            sub.close()
        self._subscribers.clear()

    def wake(self) -> None:
        self._wake.set()

    async def _tick_loop(self) -> None:
        tick_s = self.config.tick_s
        deadline = trio.current_time()
        while True:
            deadline += tick_s
            now = trio.current_time()
            if deadline < now - 10 * tick_s:  # far behind (a long pause): do not replay
                deadline = now
            await trio.sleep_until(deadline)
            self.core.tick()
            self._expire_read_round()
            self._wake.set()

    async def _receive_loop(self) -> None:
        inbox = self.transport.inbox
        step = self.core.step
        async for message in inbox:
            step(message)
            self._drain_inbox()
            self._wake.set()

    def _drain_inbox(self) -> None:
        inbox = self.transport.inbox
        step = self.core.step
        for _ in range(self.config.inbox_batch_max):
            try:
                message = inbox.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                return
            step(message)

    async def _ready_loop(self) -> None:
        core = self.core
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            # Let tasks that are already runnable (proposers, the receiver) feed the core
            # first, so that this batch carries as much as possible.
            await trio.lowlevel.checkpoint()
            self._drain_inbox()
            while core.has_ready():
                await self._handle(core.ready())
                self._drain_inbox()
            await self._maybe_snapshot()

    async def _handle(self, rd: Ready[Any]) -> None:
        self.readies += 1
        committed = rd.committed
        if (
            rd.must_sync
            and rd.snapshot is None
            and committed
            and committed[0].index <= self._synced_index
        ):
            # Committed entries that an earlier fsync already made durable here need not
            # wait for this batch's fsync: apply them and answer their proposers first.
            # (Committed means durable on a quorum; the durable-here check covers the
            # single-voter case, where the leader's own unsynced entry counts.)
            split = 0
            while split < len(committed) and committed[split].index <= self._synced_index:
                split += 1
            self._apply(committed[:split])
            committed = committed[split:]
            self.early_applies += 1
        send = self.transport.send
        # A leader's replication traffic leaves before its own fsync, so the followers'
        # fsyncs overlap with ours (the core counts our copy only after ``advance``).
        for message in rd.early_messages:
            send(message)
        if rd.hard_state is not None or rd.entries or rd.snapshot is not None:
            self.storage.persist(rd.hard_state, rd.entries, rd.snapshot)
        if rd.must_sync:
            self.fsyncs += 1
            await self._blocking(self.storage.sync)
            if rd.snapshot is not None:
                self._synced_index = rd.snapshot.meta.index
            self._note_synced(rd.entries)
        for message in rd.messages:
            send(message)
        if rd.snapshot is not None:
            self._install(rd.snapshot)
        if committed:
            self._apply(committed)
        for state in rd.read_states:
            self._read_done(state.context, state.index, None)
        for context in rd.dropped_reads:
            self._read_done(context, 0, NotLeader(self.core.status().leader, "read dropped"))
        self.core.advance(rd)

    def _note_synced(self, entries: tuple[Entry, ...]) -> None:
        """Track the last index of the locally durable log prefix, when ``entries`` (just
        synced) extend or replace it contiguously; otherwise leave it (conservative)."""
        if not entries or entries[0].index > self._synced_index + 1:
            return
        if entries[-1].index - entries[0].index + 1 == len(entries):
            self._synced_index = entries[-1].index

    async def _blocking(self, fn: Callable[[], T]) -> T:
        if self.config.sync_in_thread:
            return await trio.to_thread.run_sync(fn)
        return fn()

    # -- applying -----------------------------------------------------------------------
    def _apply(self, entries: tuple[Entry, ...]) -> None:
        apply = self.state_machine.apply
        proposals = self._proposals
        for entry in entries:
            if entry.index <= self.applied_index:
                continue
            result = apply(entry) if entry.kind == EntryKind.NORMAL else b""
            self.applied_index = entry.index
            self.applied_term = entry.term
            pending = proposals.pop(entry.index, None)
            if pending is not None:
                term, waiter = pending
                if term == entry.term:
                    waiter.set(result)
                else:
                    waiter.fail(
                        ProposalDropped(
                            f"entry {entry.index} was committed with term {entry.term}, not the "
                            f"proposal's term {term}"
                        )
                    )
            if self._subscribers:
                self._publish(entry)
        self._applied_waits.release(self.applied_index)

    def _install(self, snapshot: Snapshot) -> None:
        meta = snapshot.meta
        if meta.index <= self.applied_index:
            return
        self.state_machine.restore(snapshot.data)
        self.applied_index = self.snapshot_index = meta.index
        self.applied_term = meta.term
        for index in [i for i in self._proposals if i <= meta.index]:
            self._proposals.pop(index)[1].fail(
                OutcomeUnknown(
                    f"a snapshot up to {meta.index} replaced the log around proposal {index}"
                )
            )
        self._applied_waits.release(self.applied_index)
        log.info(
            "installed snapshot",
            extra={"fields": {"node": self.core.id, "index": meta.index, "term": meta.term}},
        )

    def _publish(self, entry: Entry) -> None:
        for sub in list(self._subscribers):
            try:
                sub.send_nowait(entry)
            except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
                sub.close()
                self._subscribers.remove(sub)

    async def _maybe_snapshot(self) -> None:
        every = self.config.snapshot_entries
        if not every or self.applied_index - self.snapshot_index < every:
            return
        voters = tuple(getattr(self.core, "voters", ()))
        meta = SnapshotMeta(self.applied_index, self.applied_term, voters)
        snapshot = Snapshot(meta, self.state_machine.snapshot())
        await self._blocking(lambda: self.storage.compact(snapshot))
        compact = getattr(self.core, "compact", None)
        if compact is not None:
            compact(snapshot)
        self.snapshot_index = meta.index
        log.info(
            "took snapshot",
            extra={
                "fields": {"node": self.core.id, "index": meta.index, "bytes": len(snapshot.data)}
            },
        )

    # -- proposals ----------------------------------------------------------------------
    def _check_running(self) -> None:
        if self._stopped is not None or not self._running:
            raise NodeStopped(f"node {self.core.id} is not running")

    async def propose(self, data: bytes) -> bytes:
        """Propose ``data``; return the state machine's result once it is applied."""
        waiter: Waiter[bytes] = Waiter()
        self.propose_nowait(data, waiter)
        return await waiter.wait()

    def propose_nowait(self, data: bytes, resolver: Resolver[bytes]) -> None:
        """Propose ``data``; ``resolver`` gets the result (or the error) once the entry at
        its index is applied. Raises ``NotLeader``, ``ProposalDropped``, ``Backpressure``
        or ``NodeStopped`` at once when the proposal is not taken. For servers that
        answer from a callback instead of a task per request."""
        self._check_running()
        if len(self._proposals) >= self.config.proposals_waiting_max:
            raise Backpressure(
                f"{len(self._proposals)} proposals already wait on node {self.core.id}"
            )
        ticket = self.core.propose(data)
        old = self._proposals.get(ticket.index)
        if old is not None:  # an earlier proposal at this index lost its place
            old[1].fail(ProposalDropped(f"entry {ticket.index} was overwritten"))
        self._proposals[ticket.index] = (ticket.term, resolver)
        self._wake.set()

    # -- reads --------------------------------------------------------------------------
    async def read_barrier(self) -> Index:
        """Wait until a read served from the local state machine is linearizable."""
        self._check_running()
        waiting = len(self._read_queue) + (len(self._read_round.waiters) if self._read_round else 0)
        if waiting >= self.config.reads_waiting_max:
            raise Backpressure(f"{waiting} reads already wait on node {self.core.id}")
        waiter: Waiter[Index] = Waiter()
        self._read_queue.append(waiter)
        self._start_read_round()
        index = await waiter.wait()
        await self.wait_applied(index)
        return index

    async def wait_applied(self, index: Index) -> None:
        if self.applied_index >= index:
            return
        self._check_running()
        waiter: Waiter[None] = Waiter()
        self._applied_waits.add(index, waiter)
        await waiter.wait()

    def _start_read_round(self) -> None:
        """Start one read-index round for every read queued so far (one at a time: a read
        that arrives during a round cannot use it, the round's index may predate it)."""
        if self._read_round is not None or not self._read_queue:
            return
        self._read_counter += 1
        context = struct.pack(">QQ", self.core.id, self._read_counter)
        waiters, self._read_queue = self._read_queue, []
        self._read_round = _ReadRound(context, waiters, trio.current_time())
        try:
            self.core.read_index(context)
        except NotLeader as exc:
            self._read_done(context, 0, exc)
        self._wake.set()

    def _read_done(self, context: bytes, index: Index, error: BaseException | None) -> None:
        round_ = self._read_round
        if round_ is None or round_.context != context:
            return  # an abandoned round
        self._read_round = None
        for waiter in round_.waiters:
            if error is None:
                waiter.set(index)
            else:
                waiter.fail(error)
        self._start_read_round()

    def _expire_read_round(self) -> None:
        round_ = self._read_round
        if round_ is None:
            return
        if trio.current_time() - round_.started_at >= self.config.read_round_timeout_s:
            self._read_done(
                round_.context,
                0,
                Timeout(f"read-index round unanswered for {self.config.read_round_timeout_s}s"),
            )

    # -- inspection and control ---------------------------------------------------------
    def status(self) -> NodeStatus:
        st: Status = self.core.status()
        return NodeStatus(
            id=st.id,
            role=st.role.value,
            term=st.term,
            leader=st.leader,
            commit_index=st.commit_index,
            applied_index=self.applied_index,
            last_index=st.last_index,
            snapshot_index=self.snapshot_index,
        )

    def is_leader(self) -> bool:
        return self.core.status().role is Role.LEADER

    def subscribe(self) -> trio.MemoryReceiveChannel[Entry]:
        """A stream of entries applied from now on (cut off if it falls too far behind)."""
        self._check_running()
        send, receive = trio.open_memory_channel[Entry](self.config.subscriber_entries_max)
        self._subscribers.append(send)
        return receive

    def transfer_target(self) -> NodeId | None:
        """The most up-to-date peer to hand leadership to, if the core can transfer."""
        if getattr(self.core, "transfer_leadership", None) is None or not self.is_leader():
            return None
        progress = getattr(self.core, "progress", {})
        peers: list[NodeId] = [p for p in getattr(self.core, "voters", ()) if p != self.core.id]
        if not peers:
            return None
        best: NodeId = max(peers, key=lambda p: (getattr(progress.get(p), "match", 0), -p))
        return best

    def start_transfer(self, to: NodeId) -> None:
        self.core.transfer_leadership(to)  # type: ignore[attr-defined]
        self._wake.set()
