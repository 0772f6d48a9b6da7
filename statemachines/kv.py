"""A replicated key-value store: commands, results, apply, queries and snapshots.

Commands travel in log entries, encoded with :data:`KV_CODEC` (type ids 192-223). Each
command carries ``(client_id, seq)`` so that retries are deduplicated by
:class:`~statemachines.sessions.SessionTable`. Commands today: :class:`Put`. Queries
(served after a read barrier, never through the log): :class:`Get`. Every answer is a
:class:`KvResult`.

Room to grow: compare-and-set, put-if-absent and multi-key transactions become new
command records with their own type ids, dispatched in :meth:`KvStateMachine.apply`.
"""

from __future__ import annotations

from typing import Any

import attrs
import cbor2

from consensus.codec import Codec, DecodeError
from consensus.types import Entry

from .sessions import SessionTable

SNAPSHOT_VERSION = 1


@attrs.frozen(slots=True)
class Put:
    """Set ``key`` to ``value``. Result: ``KvResult(ok=True, value=<previous or None>)``."""

    client_id: int
    seq: int
    key: str
    value: bytes


@attrs.frozen(slots=True)
class Get:
    """Read ``key``. Result: ``KvResult(ok=True, value=<value or None>)``."""

    key: str


@attrs.frozen(slots=True)
class KvResult:
    """The answer to a command or query; ``error`` is set when ``ok`` is false."""

    ok: bool
    value: bytes | None = None
    error: str = ""


KV_CODEC = Codec({192: Put, 193: Get, 194: KvResult})


def encode_command(command: Put) -> bytes:
    return KV_CODEC.encode(command)


def decode_result(data: bytes) -> KvResult:
    """Decode a result; ``DecodeError`` if it is not one."""
    result = KV_CODEC.decode(data)
    if not isinstance(result, KvResult):
        raise DecodeError(f"expected KvResult, got {type(result).__name__}")
    return result


def _error(text: str) -> bytes:
    return KV_CODEC.encode(KvResult(ok=False, error=text))


_OK_NONE = KV_CODEC.encode(KvResult(ok=True, value=None))
_OK_HEAD = KV_CODEC.encode(KvResult(ok=True, value=b""))[:-2]  # tag, [true, ...


def ok_result(value: bytes | None) -> bytes:
    """``KV_CODEC.encode(KvResult(ok=True, value=value))``, built directly: every replica
    makes one per applied write, so this is a hot path (tested equal to the codec's)."""
    if value is None:
        return _OK_NONE
    n = len(value)
    if n < 24:
        head = bytes((0x40 + n,))
    elif n < 0x100:
        head = bytes((0x58, n))
    elif n < 0x10000:
        head = b"\x59" + n.to_bytes(2, "big")
    elif n < 0x1_0000_0000:
        head = b"\x5a" + n.to_bytes(4, "big")
    else:
        head = b"\x5b" + n.to_bytes(8, "big")
    return b"".join((_OK_HEAD, head, value, b"\x60"))


class KvStateMachine:
    """The key-value state machine (implements ``consensus.runtime.StateMachine``)."""

    def __init__(self, sessions: SessionTable | None = None) -> None:
        self.data: dict[str, bytes] = {}
        self.sessions = sessions if sessions is not None else SessionTable()
        self.applied_index = 0

    def apply(self, entry: Entry) -> bytes:
        self.applied_index = entry.index
        try:
            command = KV_CODEC.decode(entry.data)
        except DecodeError as exc:
            return _error(f"bad command at index {entry.index}: {exc}")
        if not isinstance(command, Put):
            return _error(f"{type(command).__name__} is not a command")
        cached = self.sessions.lookup(command.client_id, command.seq)
        if cached is False:
            return _error(
                f"request {command.seq} of client {command.client_id} is older than its "
                f"session window"
            )
        if isinstance(cached, bytes):
            return cached
        data = self.data
        previous = data.get(command.key)
        data[command.key] = command.value
        result = ok_result(previous)
        self.sessions.record(command.client_id, command.seq, result)
        return result

    def query(self, request: bytes) -> bytes:
        try:
            query = KV_CODEC.decode(request)
        except DecodeError as exc:
            return _error(f"bad query: {exc}")
        if not isinstance(query, Get):
            return _error(f"{type(query).__name__} is not a query")
        return KV_CODEC.encode(KvResult(ok=True, value=self.data.get(query.key)))

    def snapshot(self) -> bytes:
        image: dict[str, Any] = {
            "version": SNAPSHOT_VERSION,
            "applied": self.applied_index,
            "data": self.data,
            "sessions": self.sessions.dump(),
        }
        return bytes(cbor2.dumps(image))

    def restore(self, data: bytes) -> None:
        try:
            image = cbor2.loads(data)
        except Exception as exc:
            raise ValueError(f"KV snapshot is not valid CBOR: {exc}") from None
        if not isinstance(image, dict) or image.get("version") != SNAPSHOT_VERSION:
            raise ValueError("KV snapshot has an unknown format or version")
        table = image.get("data")
        if not isinstance(table, dict) or not all(
            isinstance(k, str) and isinstance(v, bytes) for k, v in table.items()
        ):
            raise ValueError("KV snapshot data is not a str -> bytes map")
        self.sessions.load(image.get("sessions", []))
        self.data = dict(table)
        self.applied_index = int(image.get("applied", 0))
