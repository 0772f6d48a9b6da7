"""The replicated-log interface applications use; the same for Raft and Multi-Paxos.

::

    async with open_log(core, storage, transport, state_machine) as log:
        result = await log.propose(command)          # bytes from state_machine.apply
        await log.read_barrier()                      # then read the local state machine
        answer = await log.query(request)             # read barrier + state_machine.query
        answer = log.query_local(request)             # stale: state_machine.query, no barrier
        async with log.committed() as entries: ...    # applied entries, as they come
        log.status()                                  # role, term, leader, indexes
        await log.change_membership(change)           # a ConfChange; the new Membership
        log.membership()                              # the configuration in effect
        await log.shutdown()                          # hand over leadership, then stop

Errors (see :mod:`consensus.runtime.errors`): ``NotLeader(hint)`` and
``ProposalDropped`` (including ``Backpressure``) mean "not taken, retry"; ``Timeout``
means the deadline passed (a proposal may still commit); ``OutcomeUnknown`` and
``NodeStopped`` say what they say; ``MembershipError`` is a refused membership change
(``MembershipUnsupported`` for a protocol that cannot change membership). Every call
also honours the caller's own Trio cancel scopes and deadlines.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import Any, TypeVar

import trio

from ..client.protocol import Consistency
from ..core import ProtocolCore
from ..membership import ConfChange, Membership
from ..storage.base import CoreStorage
from ..transport.base import Transport
from ..types import Entry, Index, Snapshot
from .clock import NodeClock
from .driver import Driver
from .driver_config import DriverConfig, NodeStatus
from .errors import MembershipUnsupported, Timeout
from .statemachine import StateMachine
from .waiters import Resolver, Waiter

log = logging.getLogger("consensus.runtime")

T = TypeVar("T")


class ReplicatedLog:
    """The application's handle on a running node (see the module docstring)."""

    def __init__(self, driver: Driver, protocol: str = "raft") -> None:
        self._driver = driver
        self.protocol = protocol
        self._stop_scope: trio.CancelScope | None = None

    @property
    def driver(self) -> Driver:
        return self._driver

    @property
    def state_machine(self) -> StateMachine:
        return self._driver.state_machine

    async def _within(self, timeout_s: float | None, what: str, call: Awaitable[T]) -> T:
        if timeout_s is None:
            return await call
        with trio.move_on_after(timeout_s):
            return await call
        raise Timeout(f"{what} did not finish within {timeout_s}s")

    async def propose(self, command: bytes, *, timeout_s: float | None = None) -> bytes:
        """Replicate ``command``; return the state machine's result for it.

        Returns only after the command committed (durable on a quorum) and was applied
        here. On ``Timeout`` it may still commit later.
        """
        return await self._within(timeout_s, "proposal", self._driver.propose(command))

    def propose_nowait(self, command: bytes, resolver: Resolver[bytes]) -> None:
        """The callback form of :meth:`propose` (no deadline): ``resolver.set(result)`` or
        ``resolver.fail(error)`` is called once; errors that stop the proposal from being
        taken at all are raised at once."""
        self._driver.propose_nowait(command, resolver)

    async def read_barrier(self, *, timeout_s: float | None = None) -> Index:
        """Return once the local state machine reflects every write that completed before
        this call (linearizable read). Returns the read index."""
        return await self._within(timeout_s, "read barrier", self._driver.read_barrier())

    async def query(
        self,
        request: bytes,
        *,
        timeout_s: float | None = None,
        consistency: Consistency = "linearizable",
    ) -> bytes:
        """A linearizable read: ``read_barrier`` then ``state_machine.query(request)``;
        with ``consistency="stale"``, :meth:`query_local`; with ``"lease"``, the
        barrier is skipped while the core holds a read lease (a Raft leader with
        ``lease_reads``; see docs/kv.md for what that assumes), else it runs."""
        if consistency == "stale":
            return self.query_local(request)
        if consistency == "lease":
            await self._within(timeout_s, "lease read", self._driver.lease_read_barrier())
        else:
            await self.read_barrier(timeout_s=timeout_s)
        return self._driver.state_machine.query(request)

    def query_lease_now(self, request: bytes) -> bytes | None:
        """A lease read that needs no waiting: the answer when the core holds its read
        lease and its index is applied here, else ``None`` (use :meth:`query` with
        ``consistency="lease"``)."""
        index = self._driver.lease_read_index()
        if index is None or self._driver.applied_index < index:
            return None
        return self._driver.state_machine.query(request)

    def query_local(self, request: bytes) -> bytes:
        """A stale read: ``state_machine.query(request)`` on what this node has applied,
        now, whatever its role. It may miss writes that completed (a follower behind, a
        partitioned old leader) and two such reads at two nodes may go back in time."""
        return self._driver.state_machine.query(request)

    @contextlib.contextmanager
    def committed(self) -> Iterator[trio.MemoryReceiveChannel[Entry]]:
        """A context manager yielding a Trio channel of every entry applied from now on.

        A subscriber more than ``DriverConfig.subscriber_entries_max`` entries behind is
        cut off: its channel ends early.
        """
        channel = self._driver.subscribe()
        with channel:
            yield channel

    async def change_membership(
        self, change: ConfChange, *, timeout_s: float | None = None
    ) -> Membership:
        """Propose one single-step configuration change; return the new configuration
        once its CONFIG entry committed and was applied here.

        Raises at once ``NotLeader(hint)``, ``MembershipError`` with the core's reason
        (the change does not apply, another change is in flight, a learner to promote
        is behind), ``MembershipUnsupported`` for a protocol without membership changes;
        later ``ProposalDropped`` (leadership lost before it committed: retry) or
        ``Timeout`` (it may still commit).
        """
        if not self._driver.reconfigurable:
            raise MembershipUnsupported(self.protocol)
        waiter: Waiter[bytes] = Waiter()
        self._driver.propose_change_nowait(change, waiter)
        data = await self._within(
            timeout_s, f"membership change ({change.describe()})", waiter.wait()
        )
        return Membership.decode(data)

    def membership(self) -> Membership:
        """The configuration in effect on this node (the core's latest, committed or
        not); ``MembershipUnsupported`` for a protocol without membership."""
        current = self._driver.membership()
        if current is None:
            raise MembershipUnsupported(self.protocol)
        return current

    def applied_membership(self) -> Membership | None:
        """The configuration as of the applied index (None without membership)."""
        return self._driver.applied_membership

    def is_leader(self) -> bool:
        """Whether this node's core currently believes it leads."""
        return self._driver.is_leader()

    @property
    def clock(self) -> NodeClock:
        """The node's skewable clock (:class:`~consensus.runtime.clock.NodeClock`)."""
        return self._driver.clock

    def status(self) -> NodeStatus:
        return self._driver.status()

    async def shutdown(self, *, transfer_timeout_s: float = 2.0) -> bool:
        """Stop the node; a leader first hands leadership to its most up-to-date peer
        (where the protocol can). Returns whether a transfer completed."""
        transferred = False
        target = self._driver.transfer_target()
        if target is not None:
            log.info(
                "transferring leadership",
                extra={"fields": {"node": self._driver.core.id, "to": target}},
            )
            try:
                self._driver.start_transfer(target)
            except Exception as exc:  # the core refused: stop anyway
                log.warning(
                    "leadership transfer refused",
                    extra={"fields": {"node": self._driver.core.id, "error": str(exc)}},
                )
            else:
                with trio.move_on_after(transfer_timeout_s):
                    while self._driver.is_leader():
                        await trio.sleep(self._driver.config.tick_s)
                    transferred = True
        if self._stop_scope is not None:
            self._stop_scope.cancel()
        return transferred


@contextlib.asynccontextmanager
async def open_log(
    core: ProtocolCore[Any],
    storage: CoreStorage[Any],
    transport: Transport,
    state_machine: StateMachine,
    config: DriverConfig | None = None,
    *,
    snapshot: Snapshot | None = None,
    protocol: str = "raft",
    clock: NodeClock | None = None,
    log_class: type[ReplicatedLog] | None = None,
) -> AsyncIterator[ReplicatedLog]:
    """Run a node for the duration of the block. ``snapshot`` is the recovered one (if
    any), to restore the state machine from before anything is applied. ``clock`` is the
    node's clock source (its rate sets the tick pace; default: unskewed wall time).
    ``log_class``: the handle to yield (``LwtLog`` for ``paxos-lwt``)."""
    driver = Driver(core, storage, transport, state_machine, config, snapshot=snapshot, clock=clock)
    replicated = (log_class or ReplicatedLog)(driver, protocol)
    async with trio.open_nursery() as nursery:
        replicated._stop_scope = nursery.cancel_scope
        await nursery.start(driver.run)
        try:
            yield replicated
        finally:
            nursery.cancel_scope.cancel()
