"""The key-value store's results: every answer a command or query gets.

One record per kind of answer (see :mod:`statemachines.kv_commands` for the operations
and the codec that carries both): :class:`GetResult`, :class:`RangeResult`,
:class:`PutResult`, :class:`DeleteResult`, :class:`CondResult` (``applied=False`` with the
current value and metadata when a condition failed), :class:`TxnResult`,
:class:`SessionResult`, :class:`WatchResult` / :class:`Compacted`, :class:`LeaseResult`,
or :class:`ErrorResult` (nothing was applied). ``revision`` in a result is the store's
revision after the command. Pure records: no state, no I/O.
"""

from __future__ import annotations

from typing import TypeAlias

import attrs


@attrs.frozen(slots=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int
    version: int


@attrs.frozen(slots=True)
class GetResult:
    revision: int
    kv: KeyValue | None


@attrs.frozen(slots=True)
class RangeResult:
    """``kvs`` in key order; ``more`` when the limit cut the range short."""

    revision: int
    kvs: tuple[KeyValue, ...]
    more: bool


@attrs.frozen(slots=True)
class PutResult:
    revision: int
    prev: KeyValue | None


@attrs.frozen(slots=True)
class DeleteResult:
    """``prev`` is the removed pair (None: the key was absent, nothing written)."""

    revision: int
    prev: KeyValue | None


@attrs.frozen(slots=True)
class CondResult:
    """A conditional write. ``applied`` true: written; ``kv`` is the key now (None after
    a delete) and ``prev`` before. ``applied`` false: nothing written; ``kv`` is the
    key's current pair (None if absent), ``prev`` None."""

    applied: bool
    revision: int
    kv: KeyValue | None
    prev: KeyValue | None


@attrs.frozen(slots=True)
class TxnResponse:
    """The response to one :class:`TxnOp`: the one field matching the op is set."""

    get: GetResult | None = None
    range: RangeResult | None = None
    put: PutResult | None = None
    delete: DeleteResult | None = None

    @property
    def result(self) -> GetResult | RangeResult | PutResult | DeleteResult:
        result = self.get or self.range or self.put or self.delete
        assert result is not None
        return result


@attrs.frozen(slots=True)
class TxnResult:
    succeeded: bool
    revision: int
    responses: tuple[TxnResponse, ...]


@attrs.frozen(slots=True)
class SessionResult:
    session_id: int


EVENT_TYPES = ("put", "delete")


@attrs.frozen(slots=True)
class WatchEvent:
    """One change, at ``revision``. ``type`` ``"put"``: ``kv`` is the key after the write
    (value and metadata; ``kv.mod_revision == revision``). ``"delete"``: ``kv`` is the pair
    as it was just before it was deleted (its last value and metadata)."""

    revision: int
    type: str
    kv: KeyValue


@attrs.frozen(slots=True)
class WatchResult:
    """``events`` in revision order (a transaction's events in its op order);
    ``next_revision``: the ``from_revision`` of the next :class:`Watch` to continue with
    (every revision before it was examined); ``more`` when the event limit stopped the
    answer before the newest revision. ``revision``: the store's revision."""

    revision: int
    events: tuple[WatchEvent, ...]
    next_revision: int
    more: bool


@attrs.frozen(slots=True)
class Compacted:
    """A :class:`Watch` asked for revisions no longer kept: ``oldest_revision`` is the
    oldest ``from_revision`` this node still serves (``revision``: the store's)."""

    revision: int
    oldest_revision: int


@attrs.frozen(slots=True)
class LeaseResult:
    """A lease granted, kept alive or revoked: ``expires_ms`` by the store's clock
    (the revocation's clock for a revoke); ``revision`` the store's after it."""

    lease_id: int
    ttl_ms: int
    expires_ms: int
    revision: int


ERROR_KINDS = ("bad-command", "limit", "session", "txn", "lease")
"""``ErrorResult.kind``: a malformed command; a limit exceeded (``limit`` names the
:class:`KvConfig` field); an unknown, expired or misused session; a transaction that
breaks a rule (a key written twice); an unknown (expired or revoked) lease."""


@attrs.frozen(slots=True)
class ErrorResult:
    """The command was refused; nothing was applied."""

    kind: str
    message: str
    limit: str = ""


Result: TypeAlias = (
    GetResult
    | RangeResult
    | PutResult
    | DeleteResult
    | CondResult
    | TxnResult
    | SessionResult
    | ErrorResult
    | WatchResult
    | Compacted
    | LeaseResult
)


__all__ = [
    "Compacted",
    "CondResult",
    "DeleteResult",
    "ERROR_KINDS",
    "EVENT_TYPES",
    "ErrorResult",
    "GetResult",
    "KeyValue",
    "LeaseResult",
    "PutResult",
    "RangeResult",
    "Result",
    "SessionResult",
    "TxnResponse",
    "TxnResult",
    "WatchEvent",
    "WatchResult",
]
