"""The per-key operations a ``paxos-lwt`` round decides, their outcomes, and their codec.

An operation is one :class:`LwtOp`, encoded with :data:`LWT_OP_CODEC` and handed to
``LwtCore.propose``. Its answer is an :class:`LwtOutcome` in the ``data`` of a
``ProposalResult`` (``Ready.results``), encoded with the same codec.

Semantics, given the register's current value ``v`` (``None``: absent):

=================  ====================  =========================  ==================
kind               condition holds when  new value when it holds    writes?
=================  ====================  =========================  ==================
``GET``            always                ``v``                      no
``PUT``            always                ``value``                  yes
``CAS``            ``v == expect``       ``value``                  yes, if it holds
``PUT_IF_ABSENT``  ``v is None``         ``value``                  yes, if it holds
``DELETE``         always                ``None``                   yes
``DELETE_IF``      ``v == expect``       ``None``                   yes, if it holds
``APPLY``          the change function   the change function        the change function
=================  ====================  =========================  ==================

``APPLY`` carries an opaque command in ``value`` for the register's *change function*
(CASPaxos's ``f(state) -> state``), which the core is given at construction
(:data:`ChangeFn`): ``change(command, v) -> (condition held, writes, new value)``. It must
be pure and total (same answer on every node, never raising); the key-value store over
``paxos-lwt`` uses it to keep per-key metadata in the register's value.

Every operation, reads and failed conditions included, is decided by a full round: a
round that does not write still proposes the current state unchanged in a new ballot and
answers only once a majority accepted it. So the value it saw was the register's chosen
value at a point between its call and its answer: a ``get`` is never stale and a failed
``cas`` is linearized like a read.

Codec type ids 240-247 (see :mod:`consensus.codec`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import TypeAlias

import attrs

from ..codec import Codec, DecodeError
from ..messages.paxos import ZERO_BALLOT, Ballot


class LwtOpKind(enum.IntEnum):
    GET = 0
    PUT = 1
    CAS = 2
    PUT_IF_ABSENT = 3
    DELETE = 4
    DELETE_IF = 5
    APPLY = 6


_NEEDS_VALUE = frozenset({LwtOpKind.PUT, LwtOpKind.CAS, LwtOpKind.PUT_IF_ABSENT, LwtOpKind.APPLY})

ChangeFn: TypeAlias = Callable[[bytes, bytes | None], tuple[bool, bool, bytes | None]]
"""``change(command, current value) -> (condition held, writes, new value)`` for
``APPLY`` operations; pure and total (see the module doc)."""


@attrs.frozen(slots=True)
class LwtOp:
    """One operation on the register ``key``. ``value`` is what ``PUT``, ``CAS`` and
    ``PUT_IF_ABSENT`` write (required for them, refused for the others); ``expect`` is the
    value ``CAS`` and ``DELETE_IF`` compare with (``None``: "the key is absent")."""

    kind: LwtOpKind
    key: bytes
    value: bytes | None = None
    expect: bytes | None = None

    def check(self) -> None:
        """Raise ``ValueError`` (one line) if the fields do not suit ``kind``."""
        if not self.key:
            raise ValueError("a paxos-lwt operation needs a non-empty key")
        if self.kind in _NEEDS_VALUE and self.value is None:
            raise ValueError(f"{self.kind.name.lower()} needs a value")
        if self.kind not in _NEEDS_VALUE and self.value is not None:
            raise ValueError(f"{self.kind.name.lower()} takes no value")
        if self.expect is not None and self.kind not in (LwtOpKind.CAS, LwtOpKind.DELETE_IF):
            raise ValueError(f"{self.kind.name.lower()} takes no expected value")

    @property
    def writes_always(self) -> bool:
        return self.kind in (LwtOpKind.PUT, LwtOpKind.DELETE)


def evaluate(
    op: LwtOp, current: bytes | None, change: ChangeFn | None = None
) -> tuple[bool, bool, bytes | None]:
    """``(condition held, writes, new value)`` of ``op`` on the current value; ``APPLY``
    asks ``change`` (``ValueError`` without one)."""
    kind = op.kind
    if kind is LwtOpKind.APPLY:
        if change is None or op.value is None:
            raise ValueError("an apply operation needs a core with a change function")
        return change(op.value, current)
    if kind is LwtOpKind.GET:
        return True, False, current
    if kind is LwtOpKind.PUT:
        return True, True, op.value
    if kind is LwtOpKind.DELETE:
        return True, True, None
    # PUT_IF_ABSENT, CAS, DELETE_IF
    held = current is None if kind is LwtOpKind.PUT_IF_ABSENT else current == op.expect
    if not held:
        return False, False, current
    return True, True, (None if kind is LwtOpKind.DELETE_IF else op.value)


class LwtStatus(enum.IntEnum):
    """How an operation ended at its coordinator."""

    DONE = 0
    """Decided: a majority accepted the round that carries it."""
    CONTENDED = 1
    """Given up after ``max_attempts`` rounds, the last one refused by a higher ballot."""
    TIMEOUT = 2
    """Given up after ``max_attempts`` rounds, the last one without a majority in time."""


@attrs.frozen(slots=True)
class LwtOutcome:
    """The answer to one operation.

    - ``status``: :class:`LwtStatus`.
    - ``applied``: ``DONE``: whether the condition held (always True for ``GET``, ``PUT``,
      ``DELETE``). ``CONTENDED``/``TIMEOUT``: False when the operation never proposed its
      write, so it did not and never will take effect; ``None`` when it proposed its write
      and lost track of it, so it may take effect (now or later) or never.
    - ``value``: ``DONE``: the register's value just before the operation (for ``GET``
      the value read; for a failed condition the value that made it fail); else None.
    - ``ballot``: ``DONE``: the ballot of the round that decided it; else the last one.
    - ``attempts``: rounds started for this operation.
    """

    status: LwtStatus
    applied: bool | None
    value: bytes | None = None
    ballot: Ballot = ZERO_BALLOT
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.status is LwtStatus.DONE


LWT_OP_CODEC = Codec({240: LwtOp, 241: LwtOutcome})
"""Codec of operations and outcomes (type ids 240-247)."""


def encode_op(op: LwtOp) -> bytes:
    """``op`` as ``propose`` takes it (checks the fields first: ``ValueError``)."""
    op.check()
    return LWT_OP_CODEC.encode(op)


def decode_op(data: bytes) -> LwtOp:
    """The inverse of :func:`encode_op`; raises ``ValueError`` with a one-line reason."""
    try:
        op = LWT_OP_CODEC.decode(data)
    except DecodeError as exc:
        raise ValueError(f"not an encoded paxos-lwt operation: {exc}") from None
    if not isinstance(op, LwtOp):
        raise ValueError(f"not an encoded paxos-lwt operation: a {type(op).__name__}")
    op.check()
    return op


def decode_outcome(data: bytes) -> LwtOutcome:
    """An :class:`LwtOutcome` from a ``ProposalResult``'s data; ``ValueError`` otherwise."""
    try:
        outcome = LWT_OP_CODEC.decode(data)
    except DecodeError as exc:
        raise ValueError(f"not an encoded paxos-lwt outcome: {exc}") from None
    if not isinstance(outcome, LwtOutcome):
        raise ValueError(f"not an encoded paxos-lwt outcome: a {type(outcome).__name__}")
    return outcome
