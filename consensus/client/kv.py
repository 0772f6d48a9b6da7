"""The key-value client: every store operation, typed results, exactly-once sessions.

The vocabulary is :mod:`statemachines.kv_commands` (the client never imports the state
machine). A :class:`KvSession` is one exactly-once session: it registers itself through
the log on its first write (the session id is that entry's index), numbers its writes,
tells the store which results it has received (``ack_seq``) and stamps each command with
the client's clock (``now_ms``), from which the store expires idle sessions.

A :class:`KvClient` is a :class:`~consensus.client.client.Client` with one session of its
own; :meth:`KvClient.session` opens more over the same connections, so many logical
clients share one pipelined connection per node. Any object with ``propose`` and
``query`` coroutines (:class:`Backend`) can carry a session, e.g. a ``ReplicatedLog``.

Errors: :class:`KvError` when the store refused the command (an ``ErrorResult``: nothing
was applied); :class:`SessionExpired` when the session is gone (the outcome of that
write is unknown if it was retried; the next write registers a new session). A failed
condition is not an error: it is a result with ``applied=False`` / ``succeeded=False``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Protocol, TypeVar

import trio

from statemachines.kv_commands import (
    KV_CODEC,
    Cas,
    CloseSession,
    Command,
    Compacted,
    Compare,
    CondResult,
    Delete,
    DeleteIf,
    DeleteResult,
    ErrorResult,
    Get,
    GetResult,
    KeyValue,
    LeaseCommand,
    LeasedPut,
    LeaseGrant,
    LeaseKeepAlive,
    LeaseOp,
    LeaseResult,
    LeaseRevoke,
    LeaseWrite,
    Put,
    PutIfAbsent,
    PutResult,
    Range,
    RangeResult,
    RegisterSession,
    Result,
    SessionResult,
    Txn,
    TxnBranchOp,
    TxnOp,
    TxnResult,
    Watch,
    WatchEvent,
    WatchResult,
    Write,
    WriteOp,
    decode_result,
)

from .client import Client, ClientError
from .protocol import Consistency

R = TypeVar("R")


class KvError(ClientError):
    """The store refused the command; nothing was applied. ``result`` says why."""

    def __init__(self, result: ErrorResult) -> None:
        super().__init__(result.message)
        self.result = result


class SessionExpired(ClientError):
    """The session is unknown to the store (expired or evicted). The write was not
    applied by this attempt, but an earlier attempt may have been: its outcome is
    unknown. The session registers anew on the next write."""


class WatchCompacted(ClientError):
    """The node no longer keeps the changes a watch asked for. ``oldest_revision`` is the
    oldest revision it serves a watch from (read the current state, then watch from the
    read's revision + 1)."""

    def __init__(self, compacted: Compacted, from_revision: int) -> None:
        super().__init__(
            f"revisions from {from_revision} are compacted: the oldest revision still "
            f"served is {compacted.oldest_revision}"
        )
        self.oldest_revision = compacted.oldest_revision
        self.from_revision = from_revision


class Backend(Protocol):
    async def propose(self, command: bytes) -> bytes: ...

    async def query(self, query: bytes, *, consistency: Consistency = "linearizable") -> bytes: ...


def wall_clock_ms() -> int:
    """The default ``now_ms`` of commands: the client's wall clock."""
    return int(time.time() * 1000)


def _expect(result: Result, cls: type[R]) -> R:
    if isinstance(result, ErrorResult):
        raise KvError(result)
    if not isinstance(result, cls):
        raise ClientError(f"expected {cls.__name__}, got {type(result).__name__}")
    return result


class KvSession:
    """One exactly-once session over ``backend`` (see the module doc)."""

    def __init__(self, backend: Backend, now_ms: Callable[[], int] = wall_clock_ms) -> None:
        self.backend = backend
        self.now_ms = now_ms
        self.session_id: int | None = None
        self._seq = 0
        self._outstanding: set[int] = set()
        self._registering: trio.Event | None = None

    @property
    def client_id(self) -> int:
        """The session id (0 before the first write registered it)."""
        return self.session_id or 0

    async def _session(self) -> int:
        while self.session_id is None:
            if self._registering is not None:
                await self._registering.wait()
                continue
            self._registering = done = trio.Event()
            try:
                raw = await self.backend.propose(KV_CODEC.encode(RegisterSession(self.now_ms())))
                self.session_id = _expect(decode_result(raw), SessionResult).session_id
                self._seq, self._outstanding = 0, set()
            finally:
                self._registering = None
                done.set()
        return self.session_id

    async def execute(self, op: WriteOp | Txn | LeaseOp) -> Result:
        """Replicate one write in this session; its result (``ErrorResult`` included)."""
        sid = await self._session()
        self._seq += 1
        seq = self._seq
        outstanding = self._outstanding
        outstanding.add(seq)
        command: Command | LeaseCommand
        if isinstance(op, LeaseGrant | LeaseKeepAlive | LeaseRevoke | LeasedPut):
            command = LeaseCommand(sid, seq, min(outstanding), self.now_ms(), LeaseWrite.of(op))
        else:
            command = Command(sid, seq, min(outstanding), self.now_ms(), Write.of(op))
        try:
            result = decode_result(await self.backend.propose(KV_CODEC.encode(command)))
        finally:
            outstanding.discard(seq)
        if (
            isinstance(result, ErrorResult)
            and result.kind == "session"
            and ("unknown or expired" in result.message)
        ):
            if self.session_id == sid:
                self.session_id = None
            raise SessionExpired(result.message)
        return result

    async def read(
        self, op: Get | Range | Watch, consistency: Consistency = "linearizable"
    ) -> Result:
        """A read, no log entry: ``linearizable`` (read barrier), ``lease`` (no barrier
        while a Raft leader holds its read lease; linearizable within the clock drift
        bound) or ``stale`` (whatever the answering node has applied; may be old). See
        docs/kv.md, "Read consistency"."""
        raw = await self.backend.query(KV_CODEC.encode(op), consistency=consistency)
        return decode_result(raw)

    # -- typed operations ---------------------------------------------------------------
    async def get(self, key: str, *, consistency: Consistency = "linearizable") -> bytes | None:
        """``key``'s value (None if absent)."""
        kv = await self.get_kv(key, consistency=consistency)
        return None if kv is None else kv.value

    async def get_kv(
        self, key: str, *, consistency: Consistency = "linearizable"
    ) -> KeyValue | None:
        """``key``'s value and metadata (None if absent)."""
        return _expect(await self.read(Get(key), consistency), GetResult).kv

    async def range(
        self,
        start: str,
        end: str | None = None,
        *,
        prefix: bool = False,
        limit: int = 0,
        consistency: Consistency = "linearizable",
    ) -> RangeResult:
        """Keys with prefix ``start`` (``prefix=True``) or in ``[start, end)``."""
        result = await self.read(Range(start, end, prefix, limit), consistency)
        return _expect(result, RangeResult)

    async def watch_once(
        self, key: str, *, prefix: bool = False, from_revision: int = 0, limit: int = 0
    ) -> WatchResult:
        """One poll: the changes to ``key`` (or the keys with prefix ``key``) from
        ``from_revision`` on (0: from now on), a stale read of the answering node's
        history. :class:`WatchCompacted` if that node no longer keeps them."""
        result = await self.read(Watch(key, prefix, from_revision, limit), "stale")
        if isinstance(result, Compacted):
            raise WatchCompacted(result, from_revision)
        return _expect(result, WatchResult)

    async def watch(
        self, key: str, *, prefix: bool = False, from_revision: int = 0, poll_s: float = 0.1
    ) -> AsyncIterator[WatchEvent]:
        """Every change to ``key`` (or under prefix ``key``) from ``from_revision`` (0: from
        now on), in revision order, for as long as the caller iterates: polls with
        :meth:`watch_once`, pausing ``poll_s`` when it has caught up. Each poll asks from
        the revision after the last one examined, at whichever node answers, so a reconnect
        or a move to another node neither repeats nor skips events (a node that is behind
        answers nothing new until it catches up). Raises :class:`WatchCompacted`, and the
        backend's errors (``ClientTimeout`` when no node answers in time: call again with
        ``from_revision`` = last event's revision + 1 to resume)."""
        next_revision = from_revision
        while True:
            result = await self.watch_once(key, prefix=prefix, from_revision=next_revision)
            for event in result.events:
                yield event
            next_revision = max(next_revision, result.next_revision)
            if not result.more:
                await trio.sleep(poll_s)

    async def put(self, key: str, value: bytes, *, lease: int = 0) -> bytes | None:
        """Set ``key`` (attached to ``lease`` if not 0: deleted when it ends); returns
        the previous value (None if there was none)."""
        prev = (await self.put_kv(key, value, lease=lease)).prev
        return None if prev is None else prev.value

    async def put_kv(self, key: str, value: bytes, *, lease: int = 0) -> PutResult:
        op: Put | LeasedPut = LeasedPut(key, value, lease) if lease else Put(key, value)
        return _expect(await self.execute(op), PutResult)

    async def delete(self, key: str) -> DeleteResult:
        return _expect(await self.execute(Delete(key)), DeleteResult)

    async def cas(
        self,
        key: str,
        new: bytes,
        *,
        expected_value: bytes | None = None,
        expected_version: int | None = None,
        expected_mod_revision: int | None = None,
    ) -> CondResult:
        """Compare-and-set on exactly one expectation (``ValueError`` otherwise)."""
        op = Cas(key, new, expected_value, expected_version, expected_mod_revision)
        return _expect(await self.execute(op), CondResult)

    async def put_if_absent(self, key: str, value: bytes, *, lease: int = 0) -> CondResult:
        op: PutIfAbsent | LeasedPut = (
            LeasedPut(key, value, lease, if_absent=True) if lease else PutIfAbsent(key, value)
        )
        return _expect(await self.execute(op), CondResult)

    async def grant_lease(self, ttl_ms: int) -> LeaseResult:
        """A new lease of ``ttl_ms`` by the store's clock (the clients' ``now_ms``)."""
        return _expect(await self.execute(LeaseGrant(ttl_ms)), LeaseResult)

    async def keep_alive(self, lease_id: int) -> LeaseResult:
        """Renew a lease for its TTL; ``KvError`` (kind ``lease``) if it has ended."""
        return _expect(await self.execute(LeaseKeepAlive(lease_id)), LeaseResult)

    async def revoke_lease(self, lease_id: int) -> LeaseResult:
        """End a lease now, deleting its keys."""
        return _expect(await self.execute(LeaseRevoke(lease_id)), LeaseResult)

    async def delete_if(
        self,
        key: str,
        *,
        expected_value: bytes | None = None,
        expected_version: int | None = None,
        expected_mod_revision: int | None = None,
    ) -> CondResult:
        op = DeleteIf(key, expected_value, expected_version, expected_mod_revision)
        return _expect(await self.execute(op), CondResult)

    async def txn(
        self,
        compare: Iterable[Compare] = (),
        success: Iterable[TxnBranchOp | TxnOp] = (),
        failure: Iterable[TxnBranchOp | TxnOp] = (),
    ) -> TxnResult:
        """etcd's Txn: if every compare holds run ``success``, else ``failure``."""
        return _expect(await self.execute(Txn(compare, success, failure)), TxnResult)

    async def close(self) -> None:
        """End the session in the store (its saved results are dropped)."""
        if self.session_id is not None:
            sid, self.session_id = self.session_id, None
            raw = await self.backend.propose(KV_CODEC.encode(CloseSession(sid, self.now_ms())))
            _expect(decode_result(raw), SessionResult)


class KvClient(Client):
    """A :class:`Client` of the key-value store with a session of its own; every
    :class:`KvSession` operation is available directly (``await kv.cas(...)``)."""

    @functools.cached_property
    def kv(self) -> KvSession:
        """This client's own session."""
        return KvSession(self)

    def session(self) -> KvSession:
        """Another session over this client's connections (registered on first write)."""
        return KvSession(self)

    async def get(self, key: str, *, consistency: Consistency = "linearizable") -> bytes | None:
        return await self.kv.get(key, consistency=consistency)

    async def get_kv(
        self, key: str, *, consistency: Consistency = "linearizable"
    ) -> KeyValue | None:
        return await self.kv.get_kv(key, consistency=consistency)

    async def range(
        self,
        start: str,
        end: str | None = None,
        *,
        prefix: bool = False,
        limit: int = 0,
        consistency: Consistency = "linearizable",
    ) -> RangeResult:
        return await self.kv.range(start, end, prefix=prefix, limit=limit, consistency=consistency)

    async def watch_once(
        self, key: str, *, prefix: bool = False, from_revision: int = 0, limit: int = 0
    ) -> WatchResult:
        return await self.kv.watch_once(
            key, prefix=prefix, from_revision=from_revision, limit=limit
        )

    def watch(
        self, key: str, *, prefix: bool = False, from_revision: int = 0, poll_s: float = 0.1
    ) -> AsyncIterator[WatchEvent]:
        return self.kv.watch(key, prefix=prefix, from_revision=from_revision, poll_s=poll_s)

    async def put(self, key: str, value: bytes, *, lease: int = 0) -> bytes | None:
        return await self.kv.put(key, value, lease=lease)

    async def put_kv(self, key: str, value: bytes, *, lease: int = 0) -> PutResult:
        return await self.kv.put_kv(key, value, lease=lease)

    async def grant_lease(self, ttl_ms: int) -> LeaseResult:
        return await self.kv.grant_lease(ttl_ms)

    async def keep_alive(self, lease_id: int) -> LeaseResult:
        return await self.kv.keep_alive(lease_id)

    async def revoke_lease(self, lease_id: int) -> LeaseResult:
        return await self.kv.revoke_lease(lease_id)

    async def delete(self, key: str) -> DeleteResult:
        return await self.kv.delete(key)

    async def cas(
        self,
        key: str,
        new: bytes,
        *,
        expected_value: bytes | None = None,
        expected_version: int | None = None,
        expected_mod_revision: int | None = None,
    ) -> CondResult:
        return await self.kv.cas(
            key,
            new,
            expected_value=expected_value,
            expected_version=expected_version,
            expected_mod_revision=expected_mod_revision,
        )

    async def put_if_absent(self, key: str, value: bytes, *, lease: int = 0) -> CondResult:
        return await self.kv.put_if_absent(key, value, lease=lease)

    async def delete_if(
        self,
        key: str,
        *,
        expected_value: bytes | None = None,
        expected_version: int | None = None,
        expected_mod_revision: int | None = None,
    ) -> CondResult:
        return await self.kv.delete_if(
            key,
            expected_value=expected_value,
            expected_version=expected_version,
            expected_mod_revision=expected_mod_revision,
        )

    async def txn(
        self,
        compare: Iterable[Compare] = (),
        success: Iterable[TxnBranchOp | TxnOp] = (),
        failure: Iterable[TxnBranchOp | TxnOp] = (),
    ) -> TxnResult:
        return await self.kv.txn(compare, success, failure)
