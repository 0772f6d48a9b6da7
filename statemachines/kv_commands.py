"""The key-value store's command vocabulary: operations, limits, the codec (and results).

This module is the single source of truth that the state machine
(:mod:`statemachines.kv`), the client (:mod:`consensus.client.kv`) and, later, a per-key
Paxos service import. It holds no state and does no I/O.

Operations
----------
Reads (answered by ``query``, linearizable after a read barrier or stale, or inside a
:class:`Txn`): :class:`Get` and :class:`Range`; :class:`Watch` (changes since a revision,
from the history of recent changes each replica keeps). Writes (replicated through the
log, inside a session :class:`Command`): :class:`Put`, :class:`Delete`, the conditional
writes :class:`Cas`, :class:`PutIfAbsent`, :class:`DeleteIf`, and the multi-key
:class:`Txn` (etcd's shape: ``compare``, then ``success`` or ``failure`` ops). Session
management:
:class:`RegisterSession` and :class:`CloseSession`. Leases (in a :class:`LeaseCommand`):
:class:`LeaseGrant`, :class:`LeaseKeepAlive`, :class:`LeaseRevoke`, :class:`LeasedPut`.

Results
-------
Every answer is one record of :mod:`statemachines.kv_results` (re-exported here), e.g.
:class:`CondResult` (``applied=False`` with the current value and metadata when a condition
failed) or :class:`ErrorResult` (nothing was applied).

Metadata (etcd's): each key has ``create_revision`` (the store revision that created it
since it last did not exist), ``mod_revision`` (of its last write) and ``version`` (writes
since creation, 1 after creation). An absent key compares as version 0, create and mod
revision 0, and its value compares as failing every comparison.

Wire format: :data:`KV_CODEC`, type ids 192-223 (see :mod:`consensus.codec`); 192-194
were the first version's ``Put``, ``Get`` and ``KvResult`` and are retired (never
reused). Records nested in other records (``KeyValue``, ``Compare``, the ``*Op`` one-of
records, the write ops) need no type id.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any, TypeAlias

import attrs

from consensus.codec import Codec, DecodeError

from .kv_config import CLOCK_SOURCES as CLOCK_SOURCES
from .kv_config import DEFAULT_CONFIG as DEFAULT_CONFIG
from .kv_config import KvConfig as KvConfig
from .kv_config import kv_config_from_table as kv_config_from_table
from .kv_results import (
    ERROR_KINDS as ERROR_KINDS,
)
from .kv_results import (
    EVENT_TYPES as EVENT_TYPES,
)
from .kv_results import (
    Compacted as Compacted,
)
from .kv_results import (
    CondResult as CondResult,
)
from .kv_results import (
    DeleteResult as DeleteResult,
)
from .kv_results import (
    ErrorResult as ErrorResult,
)
from .kv_results import (
    GetResult as GetResult,
)
from .kv_results import (
    KeyValue as KeyValue,
)
from .kv_results import (
    LeaseResult as LeaseResult,
)
from .kv_results import (
    PutResult as PutResult,
)
from .kv_results import (
    RangeResult as RangeResult,
)
from .kv_results import (
    Result as Result,
)
from .kv_results import (
    SessionResult as SessionResult,
)
from .kv_results import (
    TxnResponse as TxnResponse,
)
from .kv_results import (
    TxnResult as TxnResult,
)
from .kv_results import (
    WatchEvent as WatchEvent,
)
from .kv_results import (
    WatchResult as WatchResult,
)

# -- reads ----------------------------------------------------------------------------


@attrs.frozen(slots=True)
class Get:
    """Read one key. Result: :class:`GetResult`."""

    key: str


@attrs.frozen(slots=True)
class Range:
    """Read keys in order: with ``prefix`` true, the keys starting with ``start``; else
    those in ``[start, end)`` (``end=None``: no upper bound). At most ``limit`` keys
    (0: ``KvConfig.range_limit_max``). Result: :class:`RangeResult`."""

    start: str
    end: str | None = None
    prefix: bool = False
    limit: int = 0

    def __attrs_post_init__(self) -> None:
        if self.prefix and self.end is not None:
            raise ValueError("Range: a prefix range has no end")

    @classmethod
    def of_prefix(cls, prefix: str, limit: int = 0) -> Range:
        return cls(prefix, None, True, limit)

    def contains(self, key: str) -> bool:
        if self.prefix:
            return key.startswith(self.start)
        return key >= self.start and (self.end is None or key < self.end)


@attrs.frozen(slots=True)
class Watch:
    """The changes to ``key`` (or, with ``prefix``, to the keys starting with it) made at
    revisions ``from_revision`` and later, oldest first; at most ``limit`` events (0:
    ``KvConfig.watch_events_max``), never splitting one revision's events, so an answer
    can carry up to one revision's worth more. ``from_revision=0``: from now on (no
    events; the answer says where to continue). Result: :class:`WatchResult`, or
    :class:`Compacted` when ``from_revision`` is older than the history kept. A query
    (any node answers it from what it has applied)."""

    key: str
    prefix: bool = False
    from_revision: int = 0
    limit: int = 0

    def matches(self, key: str) -> bool:
        return key.startswith(self.key) if self.prefix else key == self.key


# -- writes ---------------------------------------------------------------------------


@attrs.frozen(slots=True)
class Put:
    """Set ``key`` to ``value``. Result: :class:`PutResult` (with the previous pair)."""

    key: str
    value: bytes


@attrs.frozen(slots=True)
class Delete:
    """Remove ``key`` (a no-op, not a write, when absent). Result: :class:`DeleteResult`."""

    key: str


def _one_expectation(name: str, value: Any, version: Any, mod: Any) -> None:
    if sum(x is not None for x in (value, version, mod)) != 1:
        raise ValueError(
            f"{name}: give exactly one of expected_value, expected_version, expected_mod_revision"
        )


@attrs.frozen(slots=True)
class Cas:
    """Set ``key`` to ``new`` if its current value is ``expected_value``, or its version is
    ``expected_version`` (0: the key is absent), or its mod revision is
    ``expected_mod_revision``: exactly one of the three. Result: :class:`CondResult`."""

    key: str
    new: bytes
    expected_value: bytes | None = None
    expected_version: int | None = None
    expected_mod_revision: int | None = None

    def __attrs_post_init__(self) -> None:
        _one_expectation(
            "Cas", self.expected_value, self.expected_version, self.expected_mod_revision
        )


@attrs.frozen(slots=True)
class PutIfAbsent:
    """Set ``key`` to ``value`` if it does not exist. Result: :class:`CondResult`."""

    key: str
    value: bytes


@attrs.frozen(slots=True)
class DeleteIf:
    """Remove ``key`` if it exists and matches the one expectation given (as for
    :class:`Cas`). Result: :class:`CondResult`."""

    key: str
    expected_value: bytes | None = None
    expected_version: int | None = None
    expected_mod_revision: int | None = None

    def __attrs_post_init__(self) -> None:
        _one_expectation(
            "DeleteIf", self.expected_value, self.expected_version, self.expected_mod_revision
        )


# -- transactions ---------------------------------------------------------------------


class Target(enum.IntEnum):
    """What a :class:`Compare` looks at."""

    VALUE = 0
    VERSION = 1
    CREATE_REVISION = 2
    MOD_REVISION = 3
    EXISTS = 4


class CompareOp(enum.IntEnum):
    EQUAL = 0
    NOT_EQUAL = 1
    LESS = 2
    GREATER = 3


OP_SYMBOLS: dict[str, CompareOp] = {
    "=": CompareOp.EQUAL,
    "==": CompareOp.EQUAL,
    "!=": CompareOp.NOT_EQUAL,
    "<": CompareOp.LESS,
    ">": CompareOp.GREATER,
}


@attrs.frozen(slots=True)
class Compare:
    """``<target of key> <op> <operand>``. ``VALUE`` compares ``value`` (bytes order;
    false for an absent key); ``VERSION``, ``CREATE_REVISION`` and ``MOD_REVISION``
    compare ``number`` (0 for an absent key); ``EXISTS`` compares ``exists`` with ``=``
    or ``!=`` only. Build them with :func:`compare`."""

    key: str
    target: Target
    op: CompareOp
    value: bytes | None = None
    number: int | None = None
    exists: bool | None = None

    def __attrs_post_init__(self) -> None:
        want = {Target.VALUE: "value", Target.EXISTS: "exists"}.get(self.target, "number")
        given = [n for n in ("value", "number", "exists") if getattr(self, n) is not None]
        if given != [want]:
            raise ValueError(f"Compare of {self.target.name}: give {want} and nothing else")
        if self.target is Target.EXISTS and self.op not in (CompareOp.EQUAL, CompareOp.NOT_EQUAL):
            raise ValueError("Compare of EXISTS: only = and != apply")


def compare(
    key: str, target: str | Target, op: str | CompareOp, operand: bytes | int | bool
) -> Compare:
    """``compare("k", "value", "=", b"v")``, ``compare("k", "version", ">", 2)``,
    ``compare("k", "exists", "=", True)``; targets ``value, version, create_revision,
    mod_revision, exists``; ops ``= != < >``. ``ValueError`` for anything else."""
    if isinstance(target, str):
        try:
            target = Target[target.upper()]
        except KeyError:
            raise ValueError(f"unknown compare target {target!r}") from None
    if isinstance(op, str):
        if op not in OP_SYMBOLS:
            raise ValueError(f"unknown compare operator {op!r}")
        op = OP_SYMBOLS[op]
    if target is Target.VALUE:
        if not isinstance(operand, bytes):
            raise ValueError("a value compare needs bytes")
        return Compare(key, target, op, value=operand)
    if target is Target.EXISTS:
        if not isinstance(operand, bool):
            raise ValueError("an exists compare needs true or false")
        return Compare(key, target, op, exists=operand)
    if isinstance(operand, bool) or not isinstance(operand, int) or operand < 0:
        raise ValueError(f"a {target.name.lower()} compare needs an integer >= 0")
    return Compare(key, target, op, number=operand)


ReadOp: TypeAlias = Get | Range
WriteOp: TypeAlias = Put | Delete | Cas | PutIfAbsent | DeleteIf
TxnBranchOp: TypeAlias = Get | Range | Put | Delete


@attrs.frozen(slots=True)
class TxnOp:
    """One op of a transaction branch: exactly one field is set (a one-of)."""

    get: Get | None = None
    range: Range | None = None
    put: Put | None = None
    delete: Delete | None = None

    def __attrs_post_init__(self) -> None:
        set_fields = (
            (self.get is not None)
            + (self.range is not None)
            + (self.put is not None)
            + (self.delete is not None)
        )
        if set_fields != 1:
            raise ValueError("TxnOp: exactly one of get, range, put, delete")

    @property
    def op(self) -> TxnBranchOp:
        op = self.get or self.range or self.put or self.delete
        assert op is not None
        return op

    @classmethod
    def of(cls, op: TxnBranchOp | TxnOp) -> TxnOp:
        if isinstance(op, TxnOp):
            return op
        if isinstance(op, Get):
            return cls(get=op)
        if isinstance(op, Range):
            return cls(range=op)
        if isinstance(op, Put):
            return cls(put=op)
        if isinstance(op, Delete):
            return cls(delete=op)
        raise TypeError(f"{type(op).__name__} cannot be a transaction op")


def _txn_ops(ops: Iterable[TxnBranchOp | TxnOp]) -> tuple[TxnOp, ...]:
    return tuple(TxnOp.of(op) for op in ops)


def _compares(items: Iterable[Compare]) -> tuple[Compare, ...]:
    return tuple(items)


@attrs.frozen(slots=True)
class Txn:
    """If every compare holds, run ``success``, else ``failure``: in order, atomically,
    at one revision (bumped once if the branch writes anything). A branch may not write
    one key twice. Result: :class:`TxnResult` (``succeeded`` and one response per op).
    Ops may be given bare (``Put(...)``); they are wrapped in :class:`TxnOp`."""

    compare: tuple[Compare, ...] = attrs.field(default=(), converter=_compares)
    success: tuple[TxnOp, ...] = attrs.field(default=(), converter=_txn_ops)
    failure: tuple[TxnOp, ...] = attrs.field(default=(), converter=_txn_ops)


@attrs.frozen(slots=True)
class Write:
    """The write carried by a :class:`Command`: exactly one field is set (a one-of)."""

    put: Put | None = None
    delete: Delete | None = None
    cas: Cas | None = None
    put_if_absent: PutIfAbsent | None = None
    delete_if: DeleteIf | None = None
    txn: Txn | None = None

    def __attrs_post_init__(self) -> None:
        set_fields = (
            (self.put is not None)
            + (self.delete is not None)
            + (self.cas is not None)
            + (self.put_if_absent is not None)
            + (self.delete_if is not None)
            + (self.txn is not None)
        )
        if set_fields != 1:  # plain comparisons: this runs for every applied write
            raise ValueError("Write: exactly one operation")

    @property
    def op(self) -> WriteOp | Txn:
        op = self.put or self.delete or self.cas or self.put_if_absent or self.delete_if or self.txn
        assert op is not None
        return op

    @classmethod
    def of(cls, op: WriteOp | Txn) -> Write:
        if isinstance(op, Put):
            return cls(put=op)
        if isinstance(op, Delete):
            return cls(delete=op)
        if isinstance(op, Cas):
            return cls(cas=op)
        if isinstance(op, PutIfAbsent):
            return cls(put_if_absent=op)
        if isinstance(op, DeleteIf):
            return cls(delete_if=op)
        if isinstance(op, Txn):
            return cls(txn=op)
        raise TypeError(f"{type(op).__name__} is not a write")


# -- leases ---------------------------------------------------------------------------


@attrs.frozen(slots=True)
class LeaseGrant:
    """Grant a lease of ``ttl_ms`` (>= 1): it expires when the store's clock passes
    its expiry (the clock at the grant + ``ttl_ms``) without a keep-alive, deleting every
    key attached to it. The lease id is the granting entry's log index.
    Result: :class:`LeaseResult`."""

    ttl_ms: int


@attrs.frozen(slots=True)
class LeaseKeepAlive:
    """Push a lease's expiry to the store's clock + its TTL. Result:
    :class:`LeaseResult`."""

    lease_id: int


@attrs.frozen(slots=True)
class LeaseRevoke:
    """End a lease now, deleting its keys (at one revision). Result: :class:`LeaseResult`."""

    lease_id: int


@attrs.frozen(slots=True)
class LeasedPut:
    """Put ``key`` attached to lease ``lease_id`` (it is deleted when the lease ends).
    ``if_absent``: only if ``key`` does not exist. Result: :class:`PutResult`, or
    :class:`CondResult` with ``if_absent``."""

    key: str
    value: bytes
    lease_id: int
    if_absent: bool = False


LeaseOp: TypeAlias = LeaseGrant | LeaseKeepAlive | LeaseRevoke | LeasedPut


@attrs.frozen(slots=True)
class LeaseWrite:
    """The lease operation carried by a :class:`LeaseCommand` (a one-of)."""

    grant: LeaseGrant | None = None
    keep_alive: LeaseKeepAlive | None = None
    revoke: LeaseRevoke | None = None
    put: LeasedPut | None = None

    def __attrs_post_init__(self) -> None:
        count = (
            (self.grant is not None)
            + (self.keep_alive is not None)
            + (self.revoke is not None)
            + (self.put is not None)
        )
        if count != 1:
            raise ValueError("LeaseWrite: exactly one operation")

    @property
    def op(self) -> LeaseOp:
        op = self.grant or self.keep_alive or self.revoke or self.put
        assert op is not None
        return op

    @classmethod
    def of(cls, op: LeaseOp) -> LeaseWrite:
        if isinstance(op, LeaseGrant):
            return cls(grant=op)
        if isinstance(op, LeaseKeepAlive):
            return cls(keep_alive=op)
        if isinstance(op, LeaseRevoke):
            return cls(revoke=op)
        if isinstance(op, LeasedPut):
            return cls(put=op)
        raise TypeError(f"{type(op).__name__} is not a lease operation")


# -- sessions and the log entry -------------------------------------------------------


@attrs.frozen(slots=True)
class RegisterSession:
    """Open a session. Result: :class:`SessionResult` whose ``session_id`` is this
    command's log index. ``now_ms`` is the proposer's clock (milliseconds; it moves the
    store's clock only when ``KvConfig.clock`` is ``"proposer"``)."""

    now_ms: int


@attrs.frozen(slots=True)
class CloseSession:
    """End a session and drop its saved results. Result: :class:`SessionResult`."""

    session_id: int
    now_ms: int


@attrs.frozen(slots=True)
class ClockTick:
    """The leader's clock, written into the log: ``elapsed_ms`` of the proposing
    leader's monotonic clock (at its rate, which a clock fault can skew) since its
    previous tick (or since it began ticking). Applying it advances the store's clock by
    ``min(elapsed_ms, clock_step_max_ms)`` and expires what is due, identically on every
    replica. Ignored by a store whose ``KvConfig.clock`` is ``"proposer"``. Result: empty.

    Time can only be lost, never counted twice: a leader measures each tick from the
    moment it proposed the previous one, whatever became of that proposal, and a new
    leader starts measuring when it begins ticking (so sessions live longer across a
    leader change, never shorter)."""

    elapsed_ms: int


@attrs.frozen(slots=True)
class Command:
    """A write as a log entry. ``(session_id, seq)`` names it for exactly-once
    application: a retry carries the same pair and gets the first result back.
    ``ack_seq`` is the client's lowest sequence number whose result it has not received
    yet (every lower result may be discarded); ``now_ms`` the proposer's clock (see
    :class:`RegisterSession`).
    ``session_id`` 0 means no session: the write applies every time it is committed."""

    session_id: int
    seq: int
    ack_seq: int
    now_ms: int
    write: Write


@attrs.frozen(slots=True)
class LeaseCommand:
    """A lease operation in a session: the same fields and rules as :class:`Command`
    (a separate record so that :class:`Write` keeps its wire format)."""

    session_id: int
    seq: int
    ack_seq: int
    now_ms: int
    write: LeaseWrite


KV_CODEC = Codec(
    {
        195: Command,
        196: RegisterSession,
        197: CloseSession,
        198: Get,
        199: Range,
        200: GetResult,
        201: RangeResult,
        202: PutResult,
        203: DeleteResult,
        204: CondResult,
        205: TxnResult,
        206: SessionResult,
        207: ErrorResult,
        208: Watch,
        209: WatchResult,
        210: Compacted,
        211: LeaseCommand,
        212: LeaseResult,
        213: ClockTick,
    }
)
"""The codec of KV commands, queries and results (type ids 192-223; 192-194 retired)."""

_RESULT_TYPES = (
    GetResult,
    RangeResult,
    PutResult,
    DeleteResult,
    CondResult,
    TxnResult,
    SessionResult,
    ErrorResult,
    WatchResult,
    Compacted,
    LeaseResult,
)


def decode_result(data: bytes) -> Result:
    """Decode a result; ``DecodeError`` if the bytes are not one."""
    result = KV_CODEC.decode(data)
    if not isinstance(result, _RESULT_TYPES):
        raise DecodeError(f"expected a KV result, got {type(result).__name__}")
    return result


__all__ = [
    "CLOCK_SOURCES",
    "DEFAULT_CONFIG",
    "ERROR_KINDS",
    "kv_config_from_table",
    "KV_CODEC",
    "OP_SYMBOLS",
    "EVENT_TYPES",
    "Cas",
    "ClockTick",
    "CloseSession",
    "Compacted",
    "Command",
    "Compare",
    "CompareOp",
    "CondResult",
    "Delete",
    "DeleteIf",
    "DeleteResult",
    "ErrorResult",
    "Get",
    "GetResult",
    "KeyValue",
    "KvConfig",
    "LeaseCommand",
    "LeaseGrant",
    "LeaseKeepAlive",
    "LeaseOp",
    "LeaseResult",
    "LeaseRevoke",
    "LeaseWrite",
    "LeasedPut",
    "Put",
    "PutIfAbsent",
    "PutResult",
    "Range",
    "RangeResult",
    "ReadOp",
    "RegisterSession",
    "Result",
    "SessionResult",
    "Target",
    "Txn",
    "TxnBranchOp",
    "TxnOp",
    "TxnResponse",
    "TxnResult",
    "Watch",
    "WatchEvent",
    "WatchResult",
    "Write",
    "WriteOp",
    "compare",
    "decode_result",
]
