"""The Trio driver: runs one protocol core with a ticker, an inbox and the Ready loop.

Tasks (one nursery, see :meth:`Driver.run`):

- the ticker calls ``core.tick()`` every ``tick_s`` seconds of Trio time;
- the transport's delivery callback steps every message from its inbox into the core,
  in the transport's task (a receiver task does it for a transport without
  ``on_deliver``);
- the Ready loop takes batches and handles each exactly in the order of
  :mod:`consensus.core`: early messages, persist, fsync when ``must_sync``, send, apply
  and answer waiters, ``advance``.

Reads enter the core directly from the caller's task (Trio is single threaded, so the
core is never touched concurrently). Proposals are queued and handed to the core
together by the Ready loop before each batch (``propose_batch``), so that everything
proposed since the last batch is replicated in one message per follower and made
durable by one fsync (group commit). The fsync runs in a worker thread or, with
``sync_in_thread=False``, in the loop itself (see :class:`DriverConfig`).

Invariants: a proposal is answered only after the entry committed at its index was
applied; its term decides between success and ``ProposalDropped``. A read barrier returns
only once the applied index has reached the read index the core confirmed. Every waiting
list is bounded; going over the bound is a ``Backpressure`` error.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from typing import Any

import trio

from ..core import ProtocolCore, Ready, Role, Status
from ..errors import ConsensusError, NotLeader, ProposalDropped
from ..membership import ConfChange, Membership
from ..storage.base import CoreStorage
from ..transport.base import Transport
from ..types import (
    Entry,
    EntryKind,
    Index,
    NodeId,
    ProposalTicket,
    Snapshot,
    SnapshotMeta,
    Term,
)
from .clock import NodeClock
from .driver_config import DriverConfig, NodeStatus
from .errors import Backpressure, NodeStopped, OutcomeUnknown, Timeout
from .node_membership import NodeMembership, snapshot_membership
from .statemachine import StateMachine
from .waiters import AppliedWaits, Resolver, Waiter

log = logging.getLogger("consensus.runtime")


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
        clock: NodeClock | None = None,
    ) -> None:
        self.core = core
        self.clock = clock or NodeClock()
        """The node's skewable clock: its ``rate`` sets the tick pace (a clock fault that
        makes a node's clock run fast makes its election and lease timers fire early)."""
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
        self._leaderless = bool(getattr(core, "leaderless", False))
        """A core whose every node takes proposals and answers them in ``Ready.results``."""
        # Proposals taken but not yet handed to the core: the Ready loop hands them over
        # all at once (``propose_batch``), so one AppendEntries per follower carries them.
        self._incoming: list[tuple[bytes, Resolver[bytes]]] = []
        self._propose_batch: Callable[[list[bytes]], list[ProposalTicket]] | None = getattr(
            core, "propose_batch", None
        )
        self._read_queue: list[Waiter[Index]] = []
        self._read_round: _ReadRound | None = None
        self._read_counter = 0
        self._applied_waits = AppliedWaits()
        self._subscribers: list[trio.MemorySendChannel[Entry]] = []
        self._wake = trio.Event()
        # Called in the Ready loop's task when output it produced (answers) can go out:
        # after each batch, and before its fsync. ``in_batch`` tells the callers of
        # resolvers that such a call is coming (so they need not wake a task of theirs).
        self.after_batch: list[Callable[[], None]] = []
        self.in_batch = False
        self._failure: Exception | None = None  # raised by the core in a delivery callback
        self._stopped: BaseException | None = None
        self._running = False
        self.members = NodeMembership(core, self.applied_index)
        """The node's configuration as applied, and the hooks told of its changes."""

    # -- running ------------------------------------------------------------------------
    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run until cancelled (or until storage fails, which raises)."""
        self._running = True
        on_deliver = getattr(self.transport, "on_deliver", None)
        try:
            async with trio.open_nursery() as nursery:
                if not self.config.external_ticks:
                    nursery.start_soon(self._tick_loop)
                if on_deliver is not None:
                    # The transport hands messages over right away, in its own task: no
                    # receiver task to switch to (see ``_delivered``).
                    on_deliver(self._delivered)
                else:
                    nursery.start_soon(self._receive_loop)
                nursery.start_soon(self._ready_loop)
                task_status.started()
        finally:
            if on_deliver is not None:
                on_deliver(None)
            self._running = False
            self._stop(NodeStopped(f"node {self.core.id} stopped"))

    def _stop(self, error: BaseException) -> None:
        self._stopped = error
        for _, proposal in self._proposals.values():
            proposal.fail(error)
        self._proposals.clear()
        incoming, self._incoming = self._incoming, []
        for _, resolver in incoming:
            resolver.fail(error)
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

    def tick(self) -> None:
        """One tick from an external ticker (``DriverConfig.external_ticks``): what the
        driver's own ticker does at each tick. Callable from outside any task (it only
        steps the core and sets events); a no-op while the driver is not running. A core
        that raises here stops the node from the Ready loop, as in :meth:`_delivered`."""
        if not self._running or self._failure is not None:
            return
        try:
            self.core.tick()
            self._expire_read_round()
        except Exception as exc:
            self._failure = exc
            self._wake.set()
            return
        if self.core.has_ready():
            self._wake.set()

    async def _tick_loop(self) -> None:
        deadline = trio.current_time()
        while True:
            tick_s = self.config.tick_s / self.clock.rate
            deadline += tick_s
            now = trio.current_time()
            if deadline < now - 10 * tick_s:  # far behind (a long pause): do not replay
                deadline = now
            await trio.sleep_until(deadline)
            self.core.tick()
            self._expire_read_round()
            if self.core.has_ready():  # a follower's tick usually changes nothing
                self._wake.set()

    async def _receive_loop(self) -> None:
        inbox = self.transport.inbox
        step = self.core.step
        async for message in inbox:
            step(message)
            self._drain_inbox()
            self._wake.set()

    def _delivered(self) -> None:
        """A message is in the inbox: step it now (the Ready loop is parked at an await,
        e.g. waiting for a fsync, or idle) and wake the loop. Stepping while a Ready is
        being handled is what the core contract allows between ``ready`` and
        ``advance``; it keeps heartbeats and acknowledgements counted during a slow
        fsync (so check-quorum and election timers see them). A core that raises here
        (a bug) stops the node from the Ready loop, not just the connection."""
        if self._failure is None:
            try:
                self._drain_inbox()
            except Exception as exc:
                self._failure = exc
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
            self._raise_failure()
            self._drain_inbox()
            self._hand_over_proposals()
            while core.has_ready():
                self.in_batch = True
                try:
                    await self._handle(core.ready())
                finally:
                    self.in_batch = False
                self._raise_failure()
                self._flush_output()
                self._drain_inbox()
                self._hand_over_proposals()
            await self._maybe_snapshot()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    async def _handle(self, rd: Ready[Any]) -> None:
        self.readies += 1
        send_batch = self.transport.send_batch
        # A leader's replication traffic leaves before its own fsync, so the followers'
        # fsyncs overlap with ours (the core counts our copy only after ``advance``).
        if rd.early_messages:
            send_batch(rd.early_messages)
        committed = rd.committed
        early: tuple[Entry, ...] = ()
        if (
            rd.must_sync
            and rd.snapshot is None
            and committed
            and committed[0].index <= self._synced_index
        ):
            # Committed entries that an earlier fsync already made durable here need not
            # wait for this batch's fsync (see ``_sync`` for when they are applied).
            # (Committed means durable on a quorum; the durable-here check covers the
            # single-voter case, where the leader's own unsynced entry counts.)
            split = 0
            while split < len(committed) and committed[split].index <= self._synced_index:
                split += 1
            early, committed = committed[:split], committed[split:]
            self.early_applies += 1
        if rd.hard_state is not None or rd.entries or rd.snapshot is not None:
            self.storage.persist(rd.hard_state, rd.entries, rd.snapshot)
        if rd.must_sync:
            self.fsyncs += 1
            early = await self._sync(early)
            if rd.snapshot is not None:
                self._synced_index = rd.snapshot.meta.index
            self._note_synced(rd.entries)
        if rd.messages:
            send_batch(rd.messages)
        for result in rd.results:  # a leaderless core's answers, after the fsync
            pending = self._proposals.pop(result.ticket.index, None)
            if pending is not None:
                pending[1].set(result.data)
        if early:
            self._apply(early)
        if rd.snapshot is not None:
            self._install(rd.snapshot)
        if committed:
            self._apply(committed)
        for state in rd.read_states:
            self._read_done(state.context, state.index, None)
        for context in rd.dropped_reads:
            self._read_done(context, 0, NotLeader(self.core.status().leader, "read dropped"))
        self.core.advance(rd)

    def _flush_output(self) -> None:
        for hook in self.after_batch:
            hook()

    async def _sync(self, early: tuple[Entry, ...]) -> tuple[Entry, ...]:
        """``storage.sync()``; returns what of ``early`` (committed entries already
        durable here) is still to apply, after this batch's messages are sent.

        In a worker thread (``sync_in_thread``), ``early`` is applied while the fsync
        runs. Inline, ``early`` is applied first only if a proposer waits for one of
        them (a leader answering its clients sooner), else after the messages (a
        follower acknowledging sooner). Either way the loop yields once before the
        fsync (unless ``yield_before_sync`` is off) so that what was just queued (the
        early messages, the answers of the last batch) goes out on the wire while the
        disk works. A fsync is waited for even if
        the node is being cancelled: a storage call is never abandoned half-way (a
        failure is raised, and stops the node).
        """
        if not self.config.sync_in_thread:
            proposals = self._proposals
            answer_first = any(entry.index in proposals for entry in early)
            if answer_first:
                self._apply(early)
            self._flush_output()
            if self.config.yield_before_sync:
                await trio.lowlevel.cancel_shielded_checkpoint()
            self.storage.sync()
            return () if answer_first else early
        token = trio.lowlevel.current_trio_token()
        done = trio.Event()
        outcome: list[Any] = []

        def deliver(result: Any) -> None:  # in the worker thread
            def back_in_trio() -> None:
                outcome.append(result)
                done.set()

            token.run_sync_soon(back_in_trio)

        trio.lowlevel.start_thread_soon(self.storage.sync, deliver)
        self._flush_output()
        if early:
            await trio.lowlevel.cancel_shielded_checkpoint()
            self._apply(early)
            self._flush_output()
        with trio.CancelScope(shield=True):
            await done.wait()
        outcome[0].unwrap()
        return ()

    def _note_synced(self, entries: tuple[Entry, ...]) -> None:
        """Track the last index of the locally durable log prefix, when ``entries`` (just
        synced) extend or replace it contiguously; otherwise leave it (conservative)."""
        if not entries or entries[0].index > self._synced_index + 1:
            return
        if entries[-1].index - entries[0].index + 1 == len(entries):
            self._synced_index = entries[-1].index

    # -- applying -----------------------------------------------------------------------
    def _apply(self, entries: tuple[Entry, ...]) -> None:
        apply = self.state_machine.apply
        proposals = self._proposals
        for entry in entries:
            if entry.index <= self.applied_index:
                continue
            result = (
                apply(entry) if entry.kind == EntryKind.NORMAL else self.members.apply_entry(entry)
            )
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

    # -- membership (see :class:`~consensus.runtime.node_membership.NodeMembership`) ----
    @property
    def reconfigurable(self) -> bool:
        """The core implements ``ReconfigurableCore`` (membership changes at run time)."""
        return self.members.reconfigurable

    @property
    def applied_membership(self) -> Membership | None:
        """The configuration as of ``applied_index`` (None for a core without one)."""
        return self.members.applied

    @property
    def on_membership(self) -> list[Callable[[], None]]:
        """Hooks called when the configuration changed (see ``NodeMembership.hooks``)."""
        return self.members.hooks

    def membership(self) -> Membership | None:
        """The core's configuration (latest, committed or not); None without membership."""
        return self.members.current()

    def _install(self, snapshot: Snapshot) -> None:
        meta = snapshot.meta
        if meta.index <= self.applied_index:
            return
        self.state_machine.restore(snapshot.data)
        self.applied_index = self.snapshot_index = meta.index
        self.applied_term = meta.term
        if self.reconfigurable:
            self.members.set_applied(snapshot_membership(meta), meta.index)
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
        as_of = self.members.at(self.applied_index) if self.reconfigurable else None
        if as_of is not None:
            meta = SnapshotMeta(
                self.applied_index,
                self.applied_term,
                as_of.voters,
                as_of.learners,
                as_of.addresses,
            )
        else:
            voters = tuple(getattr(self.core, "voters", ()))
            meta = SnapshotMeta(self.applied_index, self.applied_term, voters)
        snapshot = Snapshot(meta, self.state_machine.snapshot())
        compact_in_thread = self.config.compact_in_thread
        if compact_in_thread is None:
            compact_in_thread = self.config.sync_in_thread
        if compact_in_thread:
            await trio.to_thread.run_sync(self.storage.compact, snapshot)
        else:
            self.storage.compact(snapshot)
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
        its index is applied. Raises ``NotLeader``, ``Backpressure`` or ``NodeStopped`` at
        once when the proposal cannot be taken; a refusal found when the Ready loop hands
        it to the core (``ProposalDropped``, or leadership lost meanwhile) goes to
        ``resolver.fail``. For servers that answer from a callback instead of a task per
        request.

        Proposals wait in a list until the Ready loop hands them to the core together, so
        that everything proposed between two batches is replicated in one message per
        follower and made durable by one fsync.
        """
        self._check_running()
        waiting = len(self._proposals) + len(self._incoming)
        if waiting >= self.config.proposals_waiting_max:
            raise Backpressure(f"{waiting} proposals already wait on node {self.core.id}")
        if not self._incoming:
            status = self.core.status()
            if status.role is not Role.LEADER and not self._leaderless:
                raise NotLeader(status.leader)
            self._wake.set()
        self._incoming.append((data, resolver))

    def _hand_over_proposals(self) -> None:
        """Propose everything waiting in ``_incoming``, in arrival order."""
        incoming = self._incoming
        if not incoming:
            return
        self._incoming = []
        batch = self._propose_batch
        done = 0
        while done < len(incoming):
            try:
                if batch is not None:
                    tickets = batch([data for data, _ in incoming[done:]])
                else:
                    tickets = [self.core.propose(incoming[done][0])]
            except ConsensusError as exc:
                for _, resolver in incoming[done:]:
                    resolver.fail(exc)
                return
            for ticket in tickets:
                resolver = incoming[done][1]
                done += 1
                old = self._proposals.get(ticket.index)
                if old is not None:  # an earlier proposal at this index lost its place
                    old[1].fail(ProposalDropped(f"entry {ticket.index} was overwritten"))
                self._proposals[ticket.index] = (ticket.term, resolver)

    def propose_change_nowait(self, change: ConfChange, resolver: Resolver[bytes]) -> None:
        """Propose a configuration change; ``resolver`` gets the encoded new
        configuration once its CONFIG entry is applied here (or the error). Raises at
        once: ``NodeStopped``, ``NotLeader``, ``MembershipError`` (the core's refusal;
        ``MembershipUnsupported`` for a core without membership) or
        ``ProposalDropped``. Proposals still waiting to be handed over go first, so
        the change lands after them."""
        self._check_running()
        if not self.reconfigurable:
            from .errors import MembershipUnsupported

            raise MembershipUnsupported(type(self.core).__name__)
        self._hand_over_proposals()
        ticket: ProposalTicket = self.core.propose_change(change)  # type: ignore[attr-defined]
        old = self._proposals.get(ticket.index)
        if old is not None:
            old[1].fail(ProposalDropped(f"entry {ticket.index} was overwritten"))
        self._proposals[ticket.index] = (ticket.term, resolver)
        self._wake.set()
        self.members.changed()  # dial a new learner now, not only once it commits

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

    @property
    def read_rounds(self) -> int:
        """Read-index rounds this driver started (a lease read served from the lease
        starts none)."""
        return self._read_counter

    def lease_read_index(self) -> Index | None:
        """The index a lease read may be served at now (the core's
        ``lease_read_index``: a Raft leader holding its read lease), else ``None``
        (the core has no leases, or holds none now)."""
        lease = getattr(self.core, "lease_read_index", None)
        if lease is None or self._stopped is not None or not self._running:
            return None
        index: Index | None = lease()
        return index

    async def lease_read_barrier(self) -> Index:
        """:meth:`read_barrier` without the read-index round when the core holds a read
        lease: wait only until the lease's index is applied here."""
        index = self.lease_read_index()
        if index is None:
            return await self.read_barrier()
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
            membership=st.membership,
            applied_membership=self.applied_membership,
            progress=st.progress,
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
