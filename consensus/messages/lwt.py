"""The leaderless per-key Paxos (``paxos-lwt``) records and messages.

One register per key, decided by single-decree-style Paxos rounds in the manner of
CASPaxos (Rystsov, 2018) and Cassandra's Paxos v2: a coordinator (any node) sends
``LwtPrepare``; acceptors answer ``LwtPromise`` with their accepted ballot and state;
the coordinator computes the new state from the highest accepted one and sends
``LwtAccept``; acceptors answer ``LwtAccepted``. A refusal of either phase is an
``LwtNack`` carrying the acceptor's promised ballot, which the coordinator jumps past.
``LwtPurge`` lets acceptors forget a deleted key (see ``docs/lwt.md``).

A register's *state* is ``value`` (``None``: the key is absent) and ``writer``: the
ballot of the round that computed that value (``ZERO_BALLOT`` for a key never written).
A round that only reads (a ``get``, a condition that failed) writes the state back
unchanged, ``writer`` included; a round that writes sets ``writer`` to its own ballot.
``writer`` lets a coordinator that lost track of its own write (its accept phase failed)
recognise it in a later round; see ``docs/lwt.md``.

Ballots are :class:`~consensus.messages.paxos.Ballot` ``(round, node)``, unique per
coordinator across restarts (the coordinator reserves rounds durably, ``reserved``).

Wire type ids 224-239 (see :mod:`consensus.codec`): 224 + position in
:data:`LWT_RECORDS`. Append only.
"""

from __future__ import annotations

import attrs

from ._base import Message
from .paxos import ZERO_BALLOT, Ballot


@attrs.frozen(slots=True)
class LwtRecord:
    """An acceptor's durable state for one key.

    - ``promised``: the highest ballot promised for this key (never decreases);
    - ``accepted``: the ballot of the last accepted state (``ZERO_BALLOT``: none);
    - ``value``, ``writer``: the accepted state (see the module doc);
    - ``base``: the ballot of the state the accepted one was computed from (the highest
      accepted ballot among the coordinator's promises). No protocol rule reads it; it is
      kept so that checkers can verify that every chosen state extends the previous one.

    Invariant: ``accepted <= promised``.
    """

    key: bytes
    promised: Ballot = ZERO_BALLOT
    accepted: Ballot = ZERO_BALLOT
    value: bytes | None = None
    writer: Ballot = ZERO_BALLOT
    base: Ballot = ZERO_BALLOT


@attrs.frozen(slots=True)
class LwtHardState:
    """A ``paxos-lwt`` node's durable state: a *delta* in ``Ready``, whole in
    ``Recovered``.

    - ``records``: in a ``Ready``, the keys whose acceptor record changed in that batch
      (each replaces the stored record of its key); in ``Recovered``, every stored record.
    - ``reserved``: the coordinator has used no ballot round above this (0: unchanged in
      a delta). A restarted coordinator starts its rounds above it, so it never reuses a
      ballot it may have sent before the crash.
    - ``purged``: in a ``Ready``, the records of keys this acceptor forgot in that batch
      (apply these removals *before* ``records``: a key forgotten and then touched again
      in one batch is in both); empty in ``Recovered``.
    - ``floor``: every key without a record counts as promised at this ballot (the highest
      ballot of any forgotten key); never decreases. In a delta, it replaces the stored
      floor when it is higher.
    """

    records: tuple[LwtRecord, ...] = ()
    reserved: int = 0
    purged: tuple[LwtRecord, ...] = ()
    floor: Ballot = ZERO_BALLOT


@attrs.frozen(slots=True)
class LwtMessage(Message):
    """Base of every ``paxos-lwt`` message; ``key`` names the register."""

    key: bytes


@attrs.frozen(slots=True)
class LwtPrepare(LwtMessage):
    """Phase 1a: promise ``ballot`` for ``key``."""

    ballot: Ballot


@attrs.frozen(slots=True)
class LwtPromise(LwtMessage):
    """Phase 1b: the sender promised ``ballot`` for ``key``; its accepted state is
    ``value``/``writer``, accepted in ``accepted`` (``ZERO_BALLOT``: none)."""

    ballot: Ballot
    accepted: Ballot
    value: bytes | None
    writer: Ballot


@attrs.frozen(slots=True)
class LwtAccept(LwtMessage):
    """Phase 2a: accept the state ``value``/``writer`` for ``key`` in ``ballot``;
    ``base`` is the accepted ballot it was computed from (see :class:`LwtRecord`)."""

    ballot: Ballot
    value: bytes | None
    writer: Ballot
    base: Ballot


@attrs.frozen(slots=True)
class LwtAccepted(LwtMessage):
    """Phase 2b: the sender accepted, in ``ballot``, what ``LwtAccept`` proposed."""

    ballot: Ballot


@attrs.frozen(slots=True)
class LwtNack(LwtMessage):
    """A refusal of ``ballot`` (a prepare or an accept) for ``key``: the sender promised
    ``promised``, which is higher."""

    ballot: Ballot
    promised: Ballot


@attrs.frozen(slots=True)
class LwtPurge(LwtMessage):
    """The coordinator of ``ballot`` saw *every* node accept its tombstone (an absent value
    it wrote) for ``key``: a receiver whose record still stands exactly there (promised and
    accepted ``ballot``, value absent) may forget the key, raising its floor to ``ballot``."""

    ballot: Ballot


LWT_MESSAGES: tuple[type[LwtMessage], ...] = (
    LwtPrepare,
    LwtPromise,
    LwtAccept,
    LwtAccepted,
    LwtNack,
    LwtPurge,
)

LWT_RECORDS: tuple[type, ...] = (LwtRecord, LwtHardState, *LWT_MESSAGES)
"""Every ``paxos-lwt`` wire record, in wire-id order (type id 224 + position). Append
only: never reorder, never remove. 224-239 is this protocol's block."""
