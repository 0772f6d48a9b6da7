"""The key-value store over ``paxos-lwt``: one Paxos register per key, no log.

:class:`KvRegisters` is what ``consensus serve --protocol paxos-lwt`` runs instead of the
replicated :class:`~statemachines.kv.KvStateMachine`. It speaks the same vocabulary
(:mod:`statemachines.kv_commands`) to the same clients, but every operation is one
round on one key's register (:mod:`consensus.lwt`), so only what fits one key is offered.

The register of key ``k`` (``b"k" + k`` in UTF-8: the core wants a non-empty key) holds
``None`` while ``k`` is absent, else ``create_revision``, ``mod_revision``, ``version``
(little-endian u64 each), what it remembers of recent sessions (:class:`SessionWrites`)
and the value. Operations are the core's ``APPLY`` with the
request's bytes as command; :meth:`change` is the change function (pure and total: the
same on every node; a command it cannot read changes nothing) and :meth:`answer` builds
the result from the value the round saw.

Differences from the replicated store (see docs/lwt.md):

- **Revisions are per key.** A key's ``mod_revision`` counts its writes (1 at creation)
  and ``create_revision`` is 1; a result's ``revision`` is the key's mod revision after
  the operation (0 for an absent key). There is no store-wide revision. A deleted key is
  absent (and forgotten once every node holds its tombstone), so its counters start
  again at 1 when it is written again: a mod revision or version read before a delete
  can match again after it.
- **Refused with a clear ``ErrorResult``:** transactions (``txn``: one key per round, as
  in Cassandra), leases (``lease``), ``range`` and ``watch`` (``bad-command``: no order or
  history across keys), stale reads (a node's accepted value may never be chosen).
- **Sessions** open and close at the node that is asked, without a round (a session id
  is a random 62-bit number). Exactly-once is per register: a register remembers, for
  its :data:`SESSIONS_REMEMBERED` most recently writing sessions, the highest
  ``ack_seq`` each sent with a write to it (its *floor*: every write of the session
  below it was answered) and the results of its last :data:`WRITES_REMEMBERED` writes
  at or above the floor; a conditional write whose condition failed is remembered
  the same way (its round writes the register's session memory, not its value). A write
  seen before gets its first result back and changes nothing; one below the floor (a
  coordinator still retrying a round its client gave up on) is refused and changes
  nothing. Not protected: writes of a session pushed out by :data:`SESSIONS_REMEMBERED`
  other sessions, more than :data:`WRITES_REMEMBERED` unanswered writes of one session
  to one key, operations on an absent key that leave it absent (a failed condition, a
  delete of nothing) and deletes (neither leaves a register to remember them in).
"""

from __future__ import annotations

import secrets
import struct

import attrs

from consensus.codec import DecodeError
from consensus.lwt.routing import Answer, Round, Routed
from consensus.types import Entry

from .kv_commands import (
    KV_CODEC,
    Cas,
    CloseSession,
    Command,
    CondResult,
    Delete,
    DeleteIf,
    DeleteResult,
    ErrorResult,
    Get,
    GetResult,
    KeyValue,
    KvConfig,
    LeaseCommand,
    Put,
    PutIfAbsent,
    PutResult,
    Range,
    RegisterSession,
    Result,
    SessionResult,
    Txn,
    Watch,
)

_HEAD = struct.Struct("<QQQB")  # create_revision, mod_revision, version, sessions
_SESSION = struct.Struct("<QQB")  # session id, floor, remembered writes
_WRITE = struct.Struct("<QI")  # seq, result length
SESSIONS_REMEMBERED = 8
"""Sessions remembered per register, the most recently writing first (module doc)."""
WRITES_REMEMBERED = 4
"""Writes remembered per session and register."""
RESULT_BYTES_REMEMBERED = 1024
"""A larger result is not kept (the write is still remembered as applied)."""
KeyOp = Put | Delete | Cas | PutIfAbsent | DeleteIf | Get

TXN_REFUSED = (
    "multi-key transactions are not offered on paxos-lwt: each operation is one Paxos "
    "round on one key (as in Cassandra, one partition per LWT)"
)
LEASE_REFUSED = "leases are not offered on paxos-lwt: there is no store-wide clock or log"
RANGE_REFUSED = "range is not offered on paxos-lwt: each key is its own register, unordered"
WATCH_REFUSED = "watch is not offered on paxos-lwt: there is no history of changes"
STALE_REFUSED = (
    "stale reads are not offered on paxos-lwt: a node's accepted value may never be "
    "chosen; use a linearizable read"
)


def register_key(key: str) -> bytes:
    """The core's key for the store's ``key``."""
    return b"k" + key.encode()


@attrs.frozen(slots=True)
class SessionWrites:
    """What a register remembers of one session: ``floor``, the highest ``ack_seq`` the
    session sent with a write to this register (every write below it was answered), and
    the writes at or above it applied here, ``(seq, encoded result)`` (``b""``: the
    result was too large to keep)."""

    session: int
    floor: int
    writes: tuple[tuple[int, bytes], ...] = ()


@attrs.frozen(slots=True)
class Register:
    """A present key's register: its pair and its most recently writing sessions."""

    kv: KeyValue
    sessions: tuple[SessionWrites, ...] = ()

    def seen(self, session: int, seq: int) -> bytes | None:
        """The answer for a write ``(session, seq)`` this register must not apply: the
        result it got (a retry of a write already in), or a refusal (a stale retry below
        the session's floor, which its client no longer waits for); None: apply it."""
        if not session:
            return None
        for entry in self.sessions:
            if entry.session != session:
                continue
            for done, result in entry.writes:
                if done == seq:
                    return result or _error("session", TOO_LARGE)
            if seq < entry.floor:
                return _error("session", STALE)
        return None


TOO_LARGE = "this write was applied before; its result was too large to keep"
STALE = "a stale retry of a write this session's client already had answered: not applied"


def encode_register(register: Register) -> bytes:
    kv = register.kv
    parts = [_HEAD.pack(kv.create_revision, kv.mod_revision, kv.version, len(register.sessions))]
    for entry in register.sessions:
        parts.append(_SESSION.pack(entry.session, entry.floor, len(entry.writes)))
        for seq, result in entry.writes:
            parts += [_WRITE.pack(seq, len(result)), result]
    parts.append(kv.value)
    return b"".join(parts)


def decode_register(key: str, data: bytes | None) -> Register | None:
    """The register a value stands for (None: absent, or not one: a value only
    :func:`encode_register` writes is ever chosen)."""
    if data is None or len(data) < _HEAD.size:
        return None
    create, mod, version, count = _HEAD.unpack_from(data)
    at = _HEAD.size
    sessions = []
    for _ in range(count):
        if at + _SESSION.size > len(data):
            return None
        session, floor, n = _SESSION.unpack_from(data, at)
        at += _SESSION.size
        writes = []
        for _ in range(n):
            if at + _WRITE.size > len(data):
                return None
            seq, size = _WRITE.unpack_from(data, at)
            at += _WRITE.size
            writes.append((seq, data[at : at + size]))
            at += size
        sessions.append(SessionWrites(session, floor, tuple(writes)))
    if at > len(data):
        return None
    return Register(KeyValue(key, data[at:], create, mod, version), tuple(sessions))


def remember(
    register: Register | None, session: int, seq: int, ack_seq: int, result: bytes
) -> tuple[SessionWrites, ...]:
    """The sessions a register keeps after ``(session, seq)`` wrote it."""
    old = register.sessions if register is not None else ()
    if not session:
        return old
    mine = next((e for e in old if e.session == session), None)
    floor = max(ack_seq, mine.floor if mine else 0)
    kept = [(q, r) for q, r in (mine.writes if mine else ()) if q >= floor]
    entry = SessionWrites(
        session,
        floor,
        ((seq, result if len(result) <= RESULT_BYTES_REMEMBERED else b""), *kept)[
            :WRITES_REMEMBERED
        ],
    )
    others = [e for e in old if e.session != session]
    return (entry, *others)[:SESSIONS_REMEMBERED]


def _error(kind: str, message: str, limit: str = "") -> bytes:
    return KV_CODEC.encode(ErrorResult(kind, message, limit))


def run(op: KeyOp, before: KeyValue | None) -> tuple[bool, bool, KeyValue | None, Result]:
    """``(condition held, writes, the pair after, result)`` of ``op`` on ``before``."""
    mod = before.mod_revision if before else 0
    if isinstance(op, Get):
        return True, False, before, GetResult(mod, before)
    if isinstance(op, Delete):
        if before is None:
            return True, False, None, DeleteResult(0, None)
        return True, True, None, DeleteResult(mod + 1, before)
    if isinstance(op, Put):
        after = _written(op.key, op.value, before)
        return True, True, after, PutResult(after.mod_revision, before)
    if isinstance(op, PutIfAbsent):
        holds = before is None
        new = op.value
    else:
        if op.expected_value is not None:
            holds = before is not None and before.value == op.expected_value
        elif op.expected_version is not None:
            holds = (before.version if before else 0) == op.expected_version
        else:
            holds = mod == op.expected_mod_revision
        if isinstance(op, DeleteIf):
            holds = holds and before is not None
        new = op.new if isinstance(op, Cas) else b""
    if not holds:
        return False, False, before, CondResult(False, mod, before, None)
    if isinstance(op, DeleteIf):
        return True, True, None, CondResult(True, mod + 1, None, before)
    after = _written(op.key, new, before)
    return True, True, after, CondResult(True, after.mod_revision, after, before)


def _written(key: str, value: bytes, before: KeyValue | None) -> KeyValue:
    if before is None:
        return KeyValue(key, value, 1, 1, 1)
    return KeyValue(key, value, before.create_revision, before.mod_revision + 1, before.version + 1)


def _key_op(command: bytes) -> tuple[KeyOp, int, int, int] | None:
    """``(one-key operation, session, seq, ack_seq)`` of a round's command (None: not
    one; a read has session 0)."""
    try:
        record = KV_CODEC.decode(command)
    except DecodeError:
        return None
    if isinstance(record, Command):
        op = record.write.op
        if isinstance(op, Txn):
            return None
        return op, record.session_id, record.seq, record.ack_seq
    if isinstance(record, Get):
        return record, 0, 0, 0
    return None


class KvRegisters:
    """The key-value store's semantics on per-key registers (module doc). Implements the
    runtime's register machine: ``route``, ``route_local``, ``change``, ``answer``, and the
    ``StateMachine`` methods, which do nothing here (there is no log to apply)."""

    def __init__(self, config: KvConfig | None = None) -> None:
        self.config = config or KvConfig()

    # -- requests -----------------------------------------------------------------------
    def route(self, request: bytes, *, write: bool) -> Routed:
        """A write (``ProposeRequest``) or a linearizable read (``QueryRequest``): answer
        now, or the round to run."""
        try:
            record = KV_CODEC.decode(request)
        except DecodeError as exc:
            return Answer(_error("bad-command", f"not a key-value request: {exc}"))
        op: KeyOp
        if write:
            if isinstance(record, RegisterSession):
                return Answer(KV_CODEC.encode(SessionResult(secrets.randbits(62) + 1)))
            if isinstance(record, CloseSession):
                return Answer(KV_CODEC.encode(SessionResult(record.session_id)))
            if isinstance(record, LeaseCommand):
                return Answer(_error("lease", LEASE_REFUSED))
            if not isinstance(record, Command):
                what = type(record).__name__
                return Answer(_error("bad-command", f"{what} is not a write"))
            written = record.write.op
            if isinstance(written, Txn):
                return Answer(_error("txn", TXN_REFUSED))
            op = written
        else:
            if isinstance(record, Range):
                return Answer(_error("bad-command", RANGE_REFUSED))
            if isinstance(record, Watch):
                return Answer(_error("bad-command", WATCH_REFUSED))
            if not isinstance(record, Get):
                what = type(record).__name__
                return Answer(_error("bad-command", f"{what} is not a read"))
            op = record
        refused = self._check(op)
        if refused is not None:
            return Answer(refused)
        return Round(register_key(op.key), request)

    def route_local(self, request: bytes) -> bytes:
        """A stale read: refused (module doc)."""
        return _error("bad-command", STALE_REFUSED)

    def _check(self, op: KeyOp) -> bytes | None:
        size = len(op.key.encode())
        limit = self.config.key_bytes_max
        if size > limit:
            return _error(
                "limit", f"key of {size} bytes (limit key_bytes_max={limit})", "key_bytes_max"
            )
        values = []
        if isinstance(op, Put | PutIfAbsent):
            values.append(op.value)
        if isinstance(op, Cas):
            values.append(op.new)
        if isinstance(op, Cas | DeleteIf) and op.expected_value is not None:
            values.append(op.expected_value)
        limit = self.config.value_bytes_max
        for value in values:
            if len(value) > limit:
                return _error(
                    "limit",
                    f"value of {len(value)} bytes (limit value_bytes_max={limit})",
                    "value_bytes_max",
                )
        return None

    # -- the register -------------------------------------------------------------------
    def change(self, command: bytes, current: bytes | None) -> tuple[bool, bool, bytes | None]:
        """The change function (``consensus.lwt.ops.ChangeFn``). A write the register
        has seen from its session (``Register.seen``) is not applied again."""
        parsed = _key_op(command)
        if parsed is None:
            return False, False, current
        op, session, seq, ack_seq = parsed
        register = decode_register(op.key, current)
        if register is not None and register.seen(session, seq) is not None:
            return True, False, current
        held, writes, after, result = run(op, register.kv if register else None)
        if not writes:
            if session and register is not None:  # a failed condition is remembered too
                sessions = remember(register, session, seq, ack_seq, KV_CODEC.encode(result))
                return held, True, encode_register(Register(register.kv, sessions))
            return held, False, current
        if after is None:
            return held, True, None
        sessions = remember(register, session, seq, ack_seq, KV_CODEC.encode(result))
        return held, True, encode_register(Register(after, sessions))

    def answer(self, command: bytes, before: bytes | None) -> bytes:
        """The encoded result of the round that ran ``command`` and saw ``before`` (for a
        retried write already in, the result it got the first time)."""
        parsed = _key_op(command)
        if parsed is None:
            return _error("bad-command", "not a one-key operation")
        op, session, seq, _ = parsed
        register = decode_register(op.key, before)
        if register is not None:
            seen = register.seen(session, seq)
            if seen is not None:
                return seen
        return KV_CODEC.encode(run(op, register.kv if register else None)[3])

    # -- StateMachine (no log) ----------------------------------------------------------
    def apply(self, entry: Entry) -> bytes:
        return _error("bad-command", "paxos-lwt has no log to apply")

    def query(self, request: bytes) -> bytes:
        return self.route_local(request)

    def snapshot(self) -> bytes:
        return b""

    def restore(self, data: bytes) -> None:
        """Nothing to restore: the registers live in the protocol's storage."""
