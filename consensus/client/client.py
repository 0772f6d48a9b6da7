"""A Trio client for a cluster's client ports: finds the leader, follows redirects,
retries idempotently.

::

    async with KvClient(["127.0.0.1:8001", "127.0.0.1:8002"]) as kv:
        await kv.put("x", b"1")
        value = await kv.get("x")          # linearizable

Requests are pipelined over one connection per node. A request goes to the node believed
to be the leader; a :class:`RedirectReply` moves it to the named leader, a node that
knows no leader or cannot be reached moves it to the next endpoint (with a short,
growing pause). Retried writes carry the same ``(client_id, seq)``, so the state machine
applies a write at most once however often it is retried (within its session window).
When the deadline passes, :class:`ClientTimeout` is raised: a write's outcome is then
unknown.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import ssl
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Self, TypeVar

import trio

from ..codec import DecodeError, FrameDecoder
from ..transport.sockio import SocketIO
from ..transport.tcp import Address
from .protocol import (
    CLIENT_CODEC,
    CONSISTENCY_LEVELS,
    Consistency,
    ErrorReply,
    FaultControlReply,
    FaultControlRequest,
    LeaseQueryRequest,
    LocalQueryRequest,
    MemberChangeRequest,
    MemberListRequest,
    MemberReply,
    ProposeRequest,
    QueryRequest,
    RedirectReply,
    Reply,
    Request,
    ResultReply,
    SnapshotDigestReply,
    SnapshotDigestRequest,
    StatusReply,
    StatusRequest,
)


class ClientError(Exception):
    """Base of the errors this client raises."""


class ClientTimeout(ClientError):
    """No node answered in time; the outcome of a write is unknown."""


class RequestRejected(ClientError):
    """The node refused the request as malformed; retrying will not help."""


class ChangeRefused(ClientError):
    """The cluster refused a membership change (it does not apply now, another change
    is in flight, the learner is behind, or the protocol cannot change membership);
    the message says why."""


class ConnectionLost(ClientError):
    """The connection to a node broke while a request was waiting on it."""


class _Call:
    """One request waiting for its reply (``reply`` stays None if the connection died or
    the deadline passed, which ``expired`` tells)."""

    __slots__ = ("done", "expired", "reply")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.reply: Reply | None = None
        self.expired = False


class _Connection:
    """One connection to one node, shared by every task of the client.

    Requests are pipelined: ``request`` queues the frame and waits; one writer task sends
    everything queued so far in one ``send_all``, and the reader hands each reply to the
    request with its id. So many concurrent callers cost one system call per batch, not
    one per request, and the node reads them all at once. A request that finds nothing
    else in flight on an idle connection is written at once by its own task (no writer
    task to wake: the one-request-at-a-time case). But not right after a read that
    answered several requests at once (a burst): their tasks are about to send their
    next requests in this same scheduler pass, and the first of them written alone
    would reach the leader alone and cost the cluster a replication round (and a
    fsync on every node) of its own; so in a burst every request goes to the writer
    task, which sends them together once the woken tasks have run.

    Deadlines: one timer task fails the requests whose deadline passed (a heap of
    deadlines), instead of a Trio cancel scope per request, which would cost more than
    everything else a request does here.
    """

    def __init__(self, endpoint: str, stream: trio.abc.Stream) -> None:
        self.endpoint = endpoint
        self.stream = stream
        self.pending: dict[int, _Call] = {}
        self._out: list[bytes] = []
        self._wake = trio.Event()
        self._io = SocketIO.wrap(stream)
        self._writing = False
        self._burst = False  # the last read answered several requests (class doc)
        self._deadlines: list[tuple[float, int]] = []  # heap; entries of done calls linger
        self._timer_at = math.inf
        self._timer_wake = trio.Event()
        self.closed = False
        self.reason = "closed"

    async def request(self, request: Request, deadline: float) -> Reply:
        """Send ``request`` and wait for its reply until ``deadline`` (Trio time);
        ``trio.TooSlowError`` after it, ``ConnectionLost`` if the connection dies."""
        if self.closed:
            raise ConnectionLost(f"connection to {self.endpoint} is {self.reason}")
        rid = request.request_id
        call = _Call()
        pending = self.pending
        pending[rid] = call
        frame = CLIENT_CODEC.encode_frame(request)
        io = self._io
        if (
            io is not None
            and len(pending) == 1
            and not self._out
            and not self._writing
            and not self._burst
        ):
            try:
                sent = io.try_send(frame)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                sent = 0  # the writer task meets the error and closes the connection
            if sent < len(frame):
                self._out.append(frame[sent:])
                self._wake.set()
        else:
            self._out.append(frame)
            self._wake.set()
        heap = self._deadlines
        heapq.heappush(heap, (deadline, rid))
        while heap[0][1] not in pending:  # forget the deadlines of answered requests
            heapq.heappop(heap)
        if deadline < self._timer_at:
            self._timer_wake.set()
        try:
            await call.done.wait()
        finally:
            pending.pop(rid, None)
        if call.reply is None:
            if call.expired:
                raise trio.TooSlowError(f"no reply from {self.endpoint} in time")
            raise ConnectionLost(f"connection to {self.endpoint} {self.reason}")
        return call.reply

    async def timer_loop(self) -> None:
        """Fail every request whose deadline has passed, as deadlines come."""
        heap = self._deadlines
        pending = self.pending
        while not self.closed:
            now = trio.current_time()
            while heap and (heap[0][0] <= now or heap[0][1] not in pending):
                _, rid = heapq.heappop(heap)
                call = pending.pop(rid, None)
                if call is not None:
                    call.expired = True
                    call.done.set()
            self._timer_at = heap[0][0] if heap else math.inf
            self._timer_wake = trio.Event()
            with trio.move_on_at(self._timer_at):
                await self._timer_wake.wait()

    async def write_loop(self) -> None:
        io = self._io
        send_all = io.send_all if io is not None else self.stream.send_all
        try:
            while not self.closed:
                if not self._out:
                    self._wake = trio.Event()
                    await self._wake.wait()
                    continue
                out, self._out = self._out, []
                self._burst = False
                self._writing = True
                try:
                    await send_all(b"".join(out))
                finally:
                    self._writing = False
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            self.close(f"broke: {type(exc).__name__}: {exc}")

    async def read_loop(self) -> None:
        decoder = FrameDecoder(CLIENT_CODEC)
        reason = "closed by the node"
        io = SocketIO.wrap(self.stream)
        receive = io.receive_some if io is not None else self.stream.receive_some
        try:
            while True:
                data = await receive(256 * 1024)
                if not data:
                    break
                decoder.feed(data)
                pending = self.pending
                answered = 0
                for reply in decoder.records():
                    call = pending.pop(reply.request_id, None)
                    if call is not None:
                        call.reply = reply
                        call.done.set()
                        answered += 1
                self._burst = answered > 1
        except DecodeError as exc:
            reason = f"sent a bad frame: {exc}"
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            reason = f"broke: {type(exc).__name__}: {exc}"
        finally:
            self.close(reason)
            await trio.aclose_forcefully(self.stream)

    def close(self, reason: str = "closed") -> None:
        if not self.closed:
            self.closed = True
            self.reason = reason
        self._wake.set()
        self._timer_wake.set()
        for call in self.pending.values():
            call.done.set()
        self.pending.clear()


class Client:
    """A client of any state machine served by the cluster at ``endpoints``.

    Use as ``async with Client(...) as client``. ``timeout_s`` bounds each call,
    retries included; ``attempt_timeout_s`` bounds one try at one node (a hung node).
    """

    def __init__(
        self,
        endpoints: Sequence[str],
        *,
        client_id: int | None = None,
        timeout_s: float = 10.0,
        attempt_timeout_s: float = 2.0,
        connect_timeout_s: float = 1.0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        if not endpoints:
            raise ValueError("a client needs at least one endpoint")
        for endpoint in endpoints:
            Address.parse(endpoint)  # raises ValueError naming a bad one
        self.endpoints = list(endpoints)
        self.client_id = client_id if client_id is not None else random.getrandbits(62) + 1
        self.timeout_s = timeout_s
        self.attempt_timeout_s = attempt_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.tls = tls
        self.leader: str | None = None
        self.node_ids: dict[int, str] = {}
        self._seq = itertools.count(1)
        self._request_ids = itertools.count(1)
        self._connections: dict[str, _Connection] = {}
        self._dialling: dict[str, trio.Event] = {}
        self._nursery: trio.Nursery | None = None
        self._cm: AbstractAsyncContextManager[trio.Nursery] | None = None
        self.retries = 0
        self.last_error = ""
        """What the last failed attempt met (for error messages)."""
        self.requests_sent = 0
        """Requests handed to a connection (a write may have been applied if > 0)."""

    async def __aenter__(self) -> Self:
        self._cm = trio.open_nursery()
        self._nursery = await self._cm.__aenter__()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        assert self._nursery is not None and self._cm is not None
        self._nursery.cancel_scope.cancel()
        for conn in self._connections.values():
            conn.close()
        try:
            result: bool | None = await self._cm.__aexit__(et, ev, tb)
        except BaseExceptionGroup as group:
            # The body's own exception, wrapped by the nursery: raise it as it was, so
            # that callers can catch ClientError (and not an ExceptionGroup).
            if ev is not None and len(group.exceptions) == 1 and group.exceptions[0] is ev:
                raise ev from None
            raise
        finally:
            self._nursery = None
        return result

    def next_seq(self) -> int:
        """A fresh request sequence number for this client's session."""
        return next(self._seq)

    async def _connect(self, endpoint: str, deadline: float) -> _Connection:
        """The open connection to ``endpoint``, dialled if needed (once, however many
        tasks need it at the same moment)."""
        while True:
            conn = self._connections.get(endpoint)
            if conn is not None and not conn.closed:
                return conn
            dialling = self._dialling.get(endpoint)
            if dialling is None:
                break
            with trio.move_on_at(deadline):
                await dialling.wait()
            if trio.current_time() >= deadline:
                raise trio.TooSlowError(f"connecting to {endpoint} took too long")
        if self._nursery is None:
            raise RuntimeError("use the client as 'async with Client(...) as client'")
        address = Address.parse(endpoint)
        self._dialling[endpoint] = dialled = trio.Event()
        try:
            with trio.fail_at(min(deadline, trio.current_time() + self.connect_timeout_s)):
                raw = await trio.open_tcp_stream(address.host, address.port)
                stream: trio.abc.Stream = raw
                if self.tls is not None:
                    tls_stream = trio.SSLStream(raw, self.tls, server_hostname=address.host)
                    await tls_stream.do_handshake()
                    stream = tls_stream
        finally:
            del self._dialling[endpoint]
            dialled.set()
        conn = _Connection(endpoint, stream)
        self._connections[endpoint] = conn
        self._nursery.start_soon(conn.read_loop)
        self._nursery.start_soon(conn.write_loop)
        self._nursery.start_soon(conn.timer_loop)
        return conn

    def _after(self, endpoint: str) -> str:
        position = self.endpoints.index(endpoint) if endpoint in self.endpoints else -1
        return self.endpoints[(position + 1) % len(self.endpoints)]

    async def _call(
        self,
        make: Callable[[int], Request],
        endpoint: str | None = None,
        *,
        any_node: bool = False,
    ) -> Reply:
        """Send until a definite answer; follow redirects unless ``endpoint`` is fixed.
        ``any_node``: a request any node answers (a stale read): start at the first
        endpoint, move on only when a node cannot answer, and learn no leader from it.

        ``timeout_s`` bounds the whole call and ``attempt_timeout_s`` each try, through
        deadlines (no cancel scope per request on the usual path)."""
        if any_node:
            target = endpoint or self.endpoints[0]
        else:
            target = endpoint or self.leader or self.endpoints[0]
        deadline = trio.current_time() + self.timeout_s
        pause_s = 0.005
        last = "no node answered"
        tried: list[str] = []
        while True:
            if target not in tried:
                tried.append(target)
            try:
                conn = self._connections.get(target)
                if conn is None or conn.closed:
                    conn = await self._connect(target, deadline)
                attempt_deadline = min(deadline, trio.current_time() + self.attempt_timeout_s)
                self.requests_sent += 1
                reply = await conn.request(make(next(self._request_ids)), attempt_deadline)
            except (
                OSError,
                trio.TooSlowError,
                trio.BrokenResourceError,
                ConnectionLost,
            ) as exc:
                last = self.last_error = f"{target}: {type(exc).__name__}: {exc}"
                if endpoint is not None:
                    raise ClientError(last) from None
                if self.leader == target:
                    self.leader = None
                target = self._after(target)
                self.retries += 1
            else:
                if isinstance(reply, ResultReply | StatusReply | MemberReply) or (
                    endpoint is not None
                ):
                    if endpoint is None and not any_node:
                        self.leader = target
                    return reply
                self.retries += 1
                if isinstance(reply, RedirectReply):
                    known = reply.leader_endpoint or (
                        self.node_ids.get(reply.leader_id) if reply.leader_id else None
                    )
                    last = self.last_error = f"{target}: not the leader (leader {reply.leader_id})"
                    if known and known != target:
                        target = known
                        continue
                    target = self._after(target)
                elif isinstance(reply, ErrorReply):
                    last = self.last_error = f"{target}: {reply.kind}: {reply.message}"
                    if reply.kind == "bad-request":
                        raise RequestRejected(reply.message)
                    if reply.kind == "refused":
                        raise ChangeRefused(reply.message)
                    if reply.kind == "stopped":
                        target = self._after(target)
            now = trio.current_time()
            if now >= deadline:
                break
            await trio.sleep(min(pause_s, deadline - now))
            pause_s = min(pause_s * 2, 0.05)
            if trio.current_time() >= deadline:
                break
        raise ClientTimeout(
            f"no answer within {self.timeout_s}s (last: {last}; tried {', '.join(tried)})"
        )

    async def propose(self, command: bytes) -> bytes:
        """Replicate ``command`` (retried as is); the state machine's result."""
        reply = await self._call(lambda rid: ProposeRequest(rid, command))
        assert isinstance(reply, ResultReply)
        return reply.result

    async def query(self, query: bytes, *, consistency: Consistency = "linearizable") -> bytes:
        """A read: ``linearizable`` (through the leader's read barrier), ``lease`` (sent
        to the leader like it; a Raft leader holding its read lease answers without the
        barrier, see docs/kv.md), or ``stale``:
        answered by the first endpoint that answers at all (in ``endpoints`` order), from
        whatever that node has applied; it may miss completed writes."""
        if consistency == "stale":
            reply = await self._call(lambda rid: LocalQueryRequest(rid, query), any_node=True)
            assert isinstance(reply, ResultReply)
            return reply.result
        if consistency == "lease":
            reply = await self._call(lambda rid: LeaseQueryRequest(rid, query))
            assert isinstance(reply, ResultReply)
            return reply.result
        if consistency != "linearizable":
            raise ValueError(f"consistency is one of {', '.join(CONSISTENCY_LEVELS)}")
        reply = await self._call(lambda rid: QueryRequest(rid, query))
        assert isinstance(reply, ResultReply)
        return reply.result

    async def status(self, endpoint: str) -> StatusReply:
        """Ask one node for its status (no redirects); ``ClientError`` if unreachable."""
        reply = await self._call(lambda rid: StatusRequest(rid), endpoint=endpoint)
        if not isinstance(reply, StatusReply):
            raise ClientError(f"{endpoint}: unexpected {type(reply).__name__}")
        self.node_ids[reply.node_id] = endpoint
        return reply

    async def fault_control(
        self, endpoint: str, action: str, *, offset_ms: float = 0.0, rate: float = 1.0
    ) -> FaultControlReply:
        """Skew (``action="skew"``), reset or read the clock of the node at ``endpoint``
        (no redirects). ``RequestRejected`` if the node was not started with
        ``--allow-fault-injection`` or the values are wrong; ``ClientError`` if it
        cannot be reached."""
        reply = await self._call(
            lambda rid: FaultControlRequest(rid, action, float(offset_ms), float(rate)),
            endpoint=endpoint,
        )
        return _expect_reply(endpoint, reply, FaultControlReply)

    async def snapshot_digest(self, endpoint: str) -> SnapshotDigestReply:
        """The applied index and state-machine snapshot SHA-256 of the node at
        ``endpoint`` (no redirects); errors as :meth:`fault_control`."""
        reply = await self._call(lambda rid: SnapshotDigestRequest(rid), endpoint=endpoint)
        return _expect_reply(endpoint, reply, SnapshotDigestReply)

    # -- membership (redirected to the leader like writes) -------------------------------
    async def member_list(self) -> MemberReply:
        """The configuration in effect on the leader, with its match index per member."""
        reply = await self._call(lambda rid: MemberListRequest(rid))
        assert isinstance(reply, MemberReply)
        return reply

    async def _member_change(self, kind: int, node_id: int, address: str = "") -> MemberReply:
        reply = await self._call(lambda rid: MemberChangeRequest(rid, kind, node_id, address))
        assert isinstance(reply, MemberReply)
        return reply

    async def member_add(self, node_id: int, address: str) -> MemberReply:
        """Add ``node_id`` as a learner dialled at peer address ``address``; the new
        configuration once committed. ``ChangeRefused`` says why it does not apply. A
        retry after a lost reply may meet "already a learner": it took effect."""
        Address.parse(address)  # ValueError naming a bad one
        return await self._member_change(1, node_id, address)

    async def member_promote(self, node_id: int) -> MemberReply:
        """Make learner ``node_id`` a voter (refused while it is behind the leader)."""
        return await self._member_change(2, node_id)

    async def member_remove(self, node_id: int) -> MemberReply:
        """Remove member ``node_id`` (voter or learner; the leader too, which then steps
        down)."""
        return await self._member_change(3, node_id)


_R = TypeVar("_R")


def _expect_reply(endpoint: str, reply: Reply, cls: type[_R]) -> _R:
    if isinstance(reply, cls):
        return reply
    if isinstance(reply, ErrorReply):
        if reply.kind == "bad-request":
            raise RequestRejected(f"{endpoint}: {reply.message}")
        raise ClientError(f"{endpoint}: {reply.kind}: {reply.message}")
    raise ClientError(f"{endpoint}: unexpected {type(reply).__name__}")
