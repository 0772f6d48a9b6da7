"""The application's handle on a ``paxos-lwt`` node: :class:`LwtLog`, a
:class:`~.log.ReplicatedLog` whose proposals and reads are rounds on registers.

There is no log: the state machine is a *register machine* (:class:`RegisterMachine`,
e.g. ``statemachines.kv_lwt.KvRegisters``) that routes each client request to an
immediate answer or to one round on one key (:mod:`consensus.lwt.routing`), supplies the
core's change function, and turns a round's outcome into the reply. Any node takes
requests (``LwtCore.leaderless``: the driver does not redirect).

Outcomes: a decided round is answered with ``machine.answer(command, value seen)``; a
round given up without proposing its write fails with ``ProposalDropped`` (not applied,
safe to retry); one given up after proposing it fails with ``OutcomeUnknown``.
Linearizable reads are rounds too (``query``); stale reads go to ``route_local``.
"""

from __future__ import annotations

from typing import Protocol

from ..client.protocol import Consistency
from ..errors import ProposalDropped
from ..lwt.ops import LwtOp, LwtOpKind, decode_outcome, encode_op
from ..lwt.routing import Answer, Routed
from ..types import Index
from .driver import Driver
from .errors import OutcomeUnknown
from .log import ReplicatedLog
from .statemachine import StateMachine
from .waiters import Resolver, Waiter


class RegisterMachine(StateMachine, Protocol):
    """What :class:`LwtLog` needs from the service over the registers."""

    def route(self, request: bytes, *, write: bool) -> Routed:
        """A write or a linearizable read: an answer now, or the round to run."""
        ...

    def route_local(self, request: bytes) -> bytes:
        """The answer to a stale read (which may be a refusal)."""
        ...

    def change(self, command: bytes, current: bytes | None) -> tuple[bool, bool, bytes | None]:
        """The change function of ``APPLY`` rounds (``consensus.lwt.ops.ChangeFn``)."""
        ...

    def answer(self, command: bytes, before: bytes | None) -> bytes:
        """The reply to ``command``, whose round saw the register value ``before``."""
        ...


class _Finish:
    """Resolves a client's request from its round's outcome."""

    __slots__ = ("command", "machine", "resolver")

    def __init__(self, machine: RegisterMachine, command: bytes, resolver: Resolver[bytes]):
        self.machine = machine
        self.command = command
        self.resolver = resolver

    def set(self, data: bytes) -> None:
        outcome = decode_outcome(data)
        if outcome.ok:
            self.resolver.set(self.machine.answer(self.command, outcome.value))
            return
        why = f"{outcome.status.name.lower()} after {outcome.attempts} rounds"
        if outcome.applied is False:
            self.resolver.fail(ProposalDropped(f"paxos-lwt round {why}; not applied"))
        else:
            self.resolver.fail(OutcomeUnknown(f"paxos-lwt round {why} after proposing its write"))

    def fail(self, error: BaseException) -> None:
        self.resolver.fail(error)


class LwtLog(ReplicatedLog):
    """See the module docstring. ``driver.state_machine`` must be a register machine."""

    def __init__(self, driver: Driver, protocol: str = "paxos-lwt") -> None:
        super().__init__(driver, protocol)
        self.machine: RegisterMachine = driver.state_machine  # type: ignore[assignment]

    def propose_nowait(self, command: bytes, resolver: Resolver[bytes]) -> None:
        self._start(self.machine.route(command, write=True), resolver)

    def _start(self, routed: Routed, resolver: Resolver[bytes]) -> None:
        if isinstance(routed, Answer):
            resolver.set(routed.data)
            return
        op = encode_op(LwtOp(LwtOpKind.APPLY, routed.key, routed.command))
        self.driver.propose_nowait(op, _Finish(self.machine, routed.command, resolver))

    async def propose(self, command: bytes, *, timeout_s: float | None = None) -> bytes:
        waiter: Waiter[bytes] = Waiter()
        self.propose_nowait(command, waiter)
        return await self._within(timeout_s, "proposal", waiter.wait())

    async def read_barrier(self, *, timeout_s: float | None = None) -> Index:
        raise ProposalDropped("paxos-lwt has no read barrier: a read is a round (query)")

    async def query(
        self,
        request: bytes,
        *,
        timeout_s: float | None = None,
        consistency: Consistency = "linearizable",
    ) -> bytes:
        """A linearizable read is one round on its key; ``stale``: :meth:`query_local`."""
        if consistency == "stale":
            return self.query_local(request)
        waiter: Waiter[bytes] = Waiter()
        self._start(self.machine.route(request, write=False), waiter)
        return await self._within(timeout_s, "read", waiter.wait())

    def query_local(self, request: bytes) -> bytes:
        return self.machine.route_local(request)

    def is_leader(self) -> bool:
        return False
