"""The project's key-value commands run as etcd requests: a :class:`~consensus.client.kv.
Backend` for :class:`~consensus.client.kv.KvSession`, so every runner workload runs on
etcd unchanged.

:class:`EtcdBackend` decodes each command or query with ``KV_CODEC``, sends the matching
request to etcd's JSON gRPC gateway (:mod:`.etcd_http`) and encodes the answer as the
result type our store would give:

- ``Get`` / ``Range``: ``/v3/kv/range`` (``serializable`` for ``stale`` reads);
- ``Put`` / ``Delete``: ``/v3/kv/put`` / ``/v3/kv/deleterange`` with ``prev_kv``;
- ``Cas``: ``/v3/kv/txn`` comparing the value, version or mod revision; success: put,
  then range the key; failure: range the key;
- ``PutIfAbsent``: the same, comparing ``create_revision = 0``;
- ``DeleteIf``: the compare; success: delete (``prev_kv``); failure: range;
- ``Txn``: ``/v3/kv/txn``, compares and ops one to one (``exists`` becomes
  ``create_revision > 0``, absent ``= 0``).

Revisions are etcd's own (``mod_revision``, ``create_revision``, ``version`` mean what ours
mean; a result's ``revision`` is the response header's). An empty value (which etcd's JSON
leaves out) reads back as ``b""``.

Sessions: etcd has no exactly-once client sessions. ``RegisterSession`` and
``CloseSession`` are answered here, without etcd (a made-up session id); a write is sent
once and never retried after it may have reached etcd, so an ambiguous failure (timeout,
broken connection, any etcd error other than a refusal) is raised and the runner records
``info``. Requests etcd refuses before proposing (gRPC ``INVALID_ARGUMENT``: a key written
twice in one transaction, an empty key) become an ``ErrorResult``: nothing was applied.
Leases and watches are not mapped (an ``ErrorResult``).

Members: a backend has a *home* member and sends everything there; only when a connection
cannot be opened at all (the member is down; the request was not sent) does it move its
home to the next member. A member that is paused or cut off by a partition still accepts
connections, so its clients stay with it and see what it serves: a linearizable read
times out there, a ``serializable`` read answers from its (possibly stale) state.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable, Sequence
from typing import Any

import trio

from consensus.client.client import ClientTimeout
from consensus.client.protocol import Consistency
from statemachines.kv_commands import (
    DEFAULT_CONFIG,
    KV_CODEC,
    Cas,
    CloseSession,
    Command,
    Compare,
    CompareOp,
    CondResult,
    Delete,
    DeleteIf,
    DeleteResult,
    ErrorResult,
    Get,
    GetResult,
    KeyValue,
    LeaseCommand,
    Put,
    PutIfAbsent,
    PutResult,
    Range,
    RangeResult,
    RegisterSession,
    Result,
    SessionResult,
    Target,
    Txn,
    TxnOp,
    TxnResponse,
    TxnResult,
    Watch,
)

from .etcd_http import GRPC_INVALID_ARGUMENT, EtcdApiError, HttpConnection, NotConnected

Json = dict[str, Any]

# -- encoding ---------------------------------------------------------------------------


def b64(data: str | bytes) -> str:
    """etcd's JSON form of a key or value (base64 of the bytes; text as UTF-8)."""
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    return base64.b64encode(raw).decode("ascii")


def unb64_text(data: str) -> str:
    return base64.b64decode(data).decode("utf-8", "surrogateescape")


ALL_KEYS = b64(b"\0")
"""``key`` and ``range_end`` ``"\\0"``: every key (etcd's convention)."""


def prefix_end(prefix: bytes) -> bytes:
    """The smallest key greater than every key with ``prefix`` (etcd's ``GetPrefixRangeEnd``);
    ``b"\\0"`` (no upper bound) when there is none."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"


def range_body(op: Range | Get, serializable: bool = False) -> Json:
    """The ``RangeRequest`` of a get or range (limit 0: ``KvConfig.range_limit_max``, as
    our store reads it)."""
    if isinstance(op, Get):
        body: Json = {"key": b64(op.key)}
    else:
        start = op.start.encode("utf-8", "surrogateescape")
        if op.prefix:
            end = prefix_end(start) if start else b"\0"
        elif op.end is None:
            end = b"\0"
        else:
            end = op.end.encode("utf-8", "surrogateescape")
        body = {
            "key": b64(start or b"\0"),
            "range_end": b64(end),
            "limit": str(op.limit or DEFAULT_CONFIG.range_limit_max),
        }
    if serializable:
        body["serializable"] = True
    return body


_TARGETS = {
    Target.VALUE: ("VALUE", "value"),
    Target.VERSION: ("VERSION", "version"),
    Target.CREATE_REVISION: ("CREATE", "create_revision"),
    Target.MOD_REVISION: ("MOD", "mod_revision"),
}


def compare_body(cmp: Compare) -> Json:
    """An etcd ``Compare``. ``exists`` has no etcd target: it is ``create_revision > 0``
    (exists) or ``= 0`` (absent)."""
    if cmp.target is Target.EXISTS:
        exists = bool(cmp.exists) == (cmp.op is CompareOp.EQUAL)
        return {
            "key": b64(cmp.key),
            "target": "CREATE",
            "result": "GREATER" if exists else "EQUAL",
            "create_revision": "0",
        }
    target, field = _TARGETS[cmp.target]
    operand = b64(cmp.value or b"") if cmp.target is Target.VALUE else str(cmp.number)
    return {"key": b64(cmp.key), "target": target, "result": cmp.op.name, field: operand}


def condition(op: Cas | PutIfAbsent | DeleteIf) -> Compare:
    """The compare a conditional write stands on: its one expectation, or
    ``create_revision = 0`` (absent) for a put-if-absent."""
    if isinstance(op, PutIfAbsent):
        return Compare(op.key, Target.CREATE_REVISION, CompareOp.EQUAL, number=0)
    if op.expected_value is not None:
        return Compare(op.key, Target.VALUE, CompareOp.EQUAL, value=op.expected_value)
    if op.expected_version is not None:
        return Compare(op.key, Target.VERSION, CompareOp.EQUAL, number=op.expected_version)
    number = op.expected_mod_revision
    return Compare(op.key, Target.MOD_REVISION, CompareOp.EQUAL, number=number)


def request_op(item: TxnOp) -> Json:
    """An etcd ``RequestOp`` for one transaction op."""
    if item.get is not None:
        return {"request_range": range_body(item.get)}
    if item.range is not None:
        return {"request_range": range_body(item.range)}
    if item.put is not None:
        put = item.put
        return {"request_put": {"key": b64(put.key), "value": b64(put.value), "prev_kv": True}}
    assert item.delete is not None
    return {"request_delete_range": {"key": b64(item.delete.key), "prev_kv": True}}


# -- decoding ---------------------------------------------------------------------------


def key_value(data: Json) -> KeyValue:
    """A ``mvccpb.KeyValue`` (int64 fields come as strings; zero fields are left out)."""
    return KeyValue(
        key=unb64_text(data.get("key", "")),
        value=base64.b64decode(data.get("value", "")),
        create_revision=int(data.get("create_revision", 0)),
        mod_revision=int(data.get("mod_revision", 0)),
        version=int(data.get("version", 0)),
    )


def revision(response: Json) -> int:
    return int(response.get("header", {}).get("revision", 0))


def first_kv(response: Json, field: str = "kvs") -> KeyValue | None:
    kvs = response.get(field) or []
    return key_value(kvs[0]) if kvs else None


def range_result(response: Json, rev: int | None = None) -> RangeResult:
    kvs = tuple(key_value(kv) for kv in response.get("kvs") or [])
    at = revision(response) if rev is None else rev
    return RangeResult(at, kvs, bool(response.get("more", False)))


def txn_response(item: TxnOp, response: Json, rev: int) -> TxnResponse:
    """Our response to ``item`` from etcd's ``ResponseOp`` (at the transaction's
    revision, as our store gives it)."""
    if item.get is not None:
        return TxnResponse(get=GetResult(rev, first_kv(response.get("response_range", {}))))
    if item.range is not None:
        return TxnResponse(range=range_result(response.get("response_range", {}), rev))
    if item.put is not None:
        prev = response.get("response_put", {}).get("prev_kv")
        return TxnResponse(put=PutResult(rev, None if prev is None else key_value(prev)))
    deleted = response.get("response_delete_range", {})
    return TxnResponse(delete=DeleteResult(rev, first_kv(deleted, "prev_kvs")))


# -- the backend ------------------------------------------------------------------------

Member = tuple[str, int]


class EtcdBackend:
    """A :class:`~consensus.client.kv.Backend` over etcd (see the module doc).
    ``members`` are the members' client addresses; ``home`` the index of the member to
    use first; ``timeout_s`` bounds each call (failovers included);
    ``serializable_reads`` makes every read ``serializable`` (etcd's stale read) whatever
    consistency the caller asked for. ``on_failover(old, new)`` is told of each move."""

    def __init__(
        self,
        members: Sequence[Member],
        home: int = 0,
        *,
        timeout_s: float = 3.0,
        serializable_reads: bool = False,
        on_failover: Callable[[int, int], None] | None = None,
    ) -> None:
        if not members:
            raise ValueError("an etcd backend needs at least one member")
        self.members = list(members)
        self.home = home % len(self.members)
        self.timeout_s = timeout_s
        self.serializable_reads = serializable_reads
        self.on_failover = on_failover
        self._idle: dict[int, list[HttpConnection]] = {}
        self._session_ids = itertools.count(1)

    async def propose(self, command: bytes) -> bytes:
        return KV_CODEC.encode(await self._write(KV_CODEC.decode(command)))

    async def query(self, query: bytes, *, consistency: Consistency = "linearizable") -> bytes:
        op = KV_CODEC.decode(query)
        serializable = self.serializable_reads or consistency == "stale"
        result: Result
        try:
            if isinstance(op, Get):
                response = await self.post("/v3/kv/range", range_body(op, serializable))
                result = GetResult(revision(response), first_kv(response))
            elif isinstance(op, Range):
                response = await self.post("/v3/kv/range", range_body(op, serializable))
                result = range_result(response)
            elif isinstance(op, Watch):
                result = ErrorResult("bad-command", "the etcd backend does not map watches")
            else:
                result = ErrorResult("bad-command", f"not a query: {type(op).__name__}")
        except EtcdApiError as exc:
            if exc.code != GRPC_INVALID_ARGUMENT:
                raise
            result = ErrorResult("bad-command", f"etcd refused it: {exc.message}")
        return KV_CODEC.encode(result)

    async def _write(self, command: object) -> Result:
        if isinstance(command, RegisterSession):
            return SessionResult(next(self._session_ids))
        if isinstance(command, CloseSession):
            return SessionResult(command.session_id)
        if isinstance(command, LeaseCommand):
            return ErrorResult("bad-command", "the etcd backend does not map leases")
        if not isinstance(command, Command):
            return ErrorResult("bad-command", f"not a command: {type(command).__name__}")
        op = command.write.op
        try:
            return await self._apply(op)
        except EtcdApiError as exc:
            if exc.code == GRPC_INVALID_ARGUMENT:  # refused before proposing
                kind = "txn" if "duplicate key" in exc.message else "bad-command"
                return ErrorResult(kind, f"etcd refused it: {exc.message}")
            raise

    async def _apply(self, op: Put | Delete | Cas | PutIfAbsent | DeleteIf | Txn) -> Result:
        if isinstance(op, Put):
            body = {"key": b64(op.key), "value": b64(op.value), "prev_kv": True}
            response = await self.post("/v3/kv/put", body)
            prev = response.get("prev_kv")
            return PutResult(revision(response), None if prev is None else key_value(prev))
        if isinstance(op, Delete):
            response = await self.post("/v3/kv/deleterange", {"key": b64(op.key), "prev_kv": True})
            return DeleteResult(revision(response), first_kv(response, "prev_kvs"))
        if isinstance(op, Txn):
            compares = [compare_body(c) for c in op.compare]
            body = {
                "compare": compares,
                "success": [request_op(i) for i in op.success],
                "failure": [request_op(i) for i in op.failure],
            }
            response = await self.post("/v3/kv/txn", body)
            succeeded = bool(response.get("succeeded", False))
            branch = op.success if succeeded else op.failure
            rev = revision(response)
            answers = response.get("responses") or []
            if len(answers) != len(branch):
                raise EtcdApiError(200, -1, f"txn: {len(answers)} responses to {len(branch)} ops")
            items = tuple(txn_response(i, r, rev) for i, r in zip(branch, answers, strict=True))
            return TxnResult(succeeded, rev, items)
        return await self._conditional(op)

    async def _conditional(self, op: Cas | PutIfAbsent | DeleteIf) -> CondResult:
        key = b64(op.key)
        read: Json = {"request_range": {"key": key}}
        success: list[Json]
        if isinstance(op, DeleteIf):
            success = [{"request_delete_range": {"key": key, "prev_kv": True}}]
        else:
            value = op.new if isinstance(op, Cas) else op.value
            success = [{"request_put": {"key": key, "value": b64(value), "prev_kv": True}}, read]
        body = {"compare": [compare_body(condition(op))], "success": success, "failure": [read]}
        response = await self.post("/v3/kv/txn", body)
        rev = revision(response)
        answers = response.get("responses") or [{}]
        if not response.get("succeeded", False):
            return CondResult(False, rev, first_kv(answers[0].get("response_range", {})), None)
        if isinstance(op, DeleteIf):
            deleted = answers[0].get("response_delete_range", {})
            return CondResult(True, rev, None, first_kv(deleted, "prev_kvs"))
        prev = answers[0].get("response_put", {}).get("prev_kv")
        now = first_kv(answers[-1].get("response_range", {}))
        return CondResult(True, rev, now, None if prev is None else key_value(prev))

    # -- transport ------------------------------------------------------------------------

    async def post(self, path: str, body: Json) -> Json:
        """``path`` with ``body`` at the home member; on :class:`NotConnected` (nothing
        sent) the home moves on to the next member, each member tried once. A call that
        finds no member it can connect to raises :class:`ClientTimeout`."""
        deadline = trio.current_time() + self.timeout_s
        errors: list[str] = []
        for _ in range(len(self.members)):
            left = deadline - trio.current_time()
            if left <= 0:
                break
            member = self.home
            conn = self._connection(member)
            try:
                answer = await conn.post(path, body, left)
            except NotConnected as exc:
                errors.append(str(exc))
                self._move_home(member)
                continue
            if not conn.closed:
                self._idle.setdefault(member, []).append(conn)
            return answer
        raise ClientTimeout("no etcd member accepted a connection: " + "; ".join(errors))

    def _connection(self, member: int) -> HttpConnection:
        idle = self._idle.get(member)
        if idle:
            return idle.pop()
        host, port = self.members[member]
        return HttpConnection(host, port)

    def _move_home(self, failed: int) -> None:
        if self.home == failed:
            self.home = (failed + 1) % len(self.members)
            if self.on_failover is not None:
                self.on_failover(failed, self.home)

    async def aclose(self) -> None:
        """Close every idle connection."""
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                await conn.aclose()
