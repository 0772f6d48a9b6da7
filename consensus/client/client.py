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

import itertools
import random
import ssl
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Self

import trio

from ..codec import DecodeError, FrameDecoder
from ..transport.tcp import Address
from .protocol import (
    CLIENT_CODEC,
    ErrorReply,
    ProposeRequest,
    QueryRequest,
    RedirectReply,
    Reply,
    Request,
    ResultReply,
    StatusReply,
    StatusRequest,
)


class ClientError(Exception):
    """Base of the errors this client raises."""


class ClientTimeout(ClientError):
    """No node answered in time; the outcome of a write is unknown."""


class RequestRejected(ClientError):
    """The node refused the request as malformed; retrying will not help."""


class ConnectionLost(ClientError):
    """The connection to a node broke while a request was waiting on it."""


class _Connection:
    def __init__(self, endpoint: str, stream: trio.abc.Stream) -> None:
        self.endpoint = endpoint
        self.stream = stream
        self.pending: dict[int, trio.MemorySendChannel[Reply]] = {}
        self.send_lock = trio.StrictFIFOLock()
        self.closed = False

    async def request(self, request: Request) -> Reply:
        if self.closed:
            raise ConnectionLost(f"connection to {self.endpoint} is closed")
        send, receive = trio.open_memory_channel[Reply](1)
        self.pending[request.request_id] = send
        try:
            async with self.send_lock:
                await self.stream.send_all(CLIENT_CODEC.encode_frame(request))
            try:
                return await receive.receive()
            except trio.EndOfChannel:
                raise ConnectionLost(f"connection to {self.endpoint} closed") from None
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            self.close()
            raise ConnectionLost(f"connection to {self.endpoint} broke: {exc}") from None
        finally:
            self.pending.pop(request.request_id, None)

    async def read_loop(self) -> None:
        decoder = FrameDecoder(CLIENT_CODEC)
        try:
            while True:
                data = await self.stream.receive_some(256 * 1024)
                if not data:
                    break
                decoder.feed(bytes(data))
                for reply in decoder.records():
                    waiter = self.pending.pop(getattr(reply, "request_id", -1), None)
                    if waiter is not None:
                        waiter.send_nowait(reply)
        except (DecodeError, trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        finally:
            self.close()
            await trio.aclose_forcefully(self.stream)

    def close(self) -> None:
        self.closed = True
        for waiter in self.pending.values():
            waiter.close()
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
        self._nursery: trio.Nursery | None = None
        self._cm: AbstractAsyncContextManager[trio.Nursery] | None = None
        self.retries = 0

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
        result: bool | None = await self._cm.__aexit__(et, ev, tb)
        self._nursery = None
        return result

    def next_seq(self) -> int:
        """A fresh request sequence number for this client's session."""
        return next(self._seq)

    async def _connect(self, endpoint: str) -> _Connection:
        conn = self._connections.get(endpoint)
        if conn is not None and not conn.closed:
            return conn
        if self._nursery is None:
            raise RuntimeError("use the client as 'async with Client(...) as client'")
        address = Address.parse(endpoint)
        with trio.fail_after(self.connect_timeout_s):
            raw = await trio.open_tcp_stream(address.host, address.port)
            stream: trio.abc.Stream = raw
            if self.tls is not None:
                tls_stream = trio.SSLStream(raw, self.tls, server_hostname=address.host)
                await tls_stream.do_handshake()
                stream = tls_stream
        conn = _Connection(endpoint, stream)
        self._connections[endpoint] = conn
        self._nursery.start_soon(conn.read_loop)
        return conn

    def _after(self, endpoint: str) -> str:
        position = self.endpoints.index(endpoint) if endpoint in self.endpoints else -1
        return self.endpoints[(position + 1) % len(self.endpoints)]

    async def _call(self, make: Callable[[int], Request], endpoint: str | None = None) -> Reply:
        """Send until a definite answer; follow redirects unless ``endpoint`` is fixed."""
        target = endpoint or self.leader or self.endpoints[0]
        pause_s = 0.005
        last = "no node answered"
        with trio.move_on_after(self.timeout_s):
            while True:
                try:
                    conn = await self._connect(target)
                    with trio.fail_after(self.attempt_timeout_s):
                        reply = await conn.request(make(next(self._request_ids)))
                except (
                    OSError,
                    trio.TooSlowError,
                    trio.BrokenResourceError,
                    ConnectionLost,
                ) as exc:
                    last = f"{target}: {type(exc).__name__}: {exc}"
                    if endpoint is not None:
                        raise ClientError(last) from None
                    if self.leader == target:
                        self.leader = None
                    target = self._after(target)
                    self.retries += 1
                    await trio.sleep(pause_s)
                    pause_s = min(pause_s * 2, 0.05)
                    continue
                if isinstance(reply, ResultReply | StatusReply) or endpoint is not None:
                    if endpoint is None:
                        self.leader = target
                    return reply
                self.retries += 1
                if isinstance(reply, RedirectReply):
                    known = reply.leader_endpoint or (
                        self.node_ids.get(reply.leader_id) if reply.leader_id else None
                    )
                    last = f"{target}: not the leader (leader {reply.leader_id})"
                    if known and known != target:
                        target = known
                        continue
                    target = self._after(target)
                elif isinstance(reply, ErrorReply):
                    last = f"{target}: {reply.kind}: {reply.message}"
                    if reply.kind == "bad-request":
                        raise RequestRejected(reply.message)
                    if reply.kind == "stopped":
                        target = self._after(target)
                await trio.sleep(pause_s)
                pause_s = min(pause_s * 2, 0.05)
        raise ClientTimeout(f"no answer within {self.timeout_s}s (last: {last})")

    async def propose(self, command: bytes) -> bytes:
        """Replicate ``command`` (retried as is); the state machine's result."""
        reply = await self._call(lambda rid: ProposeRequest(rid, command))
        assert isinstance(reply, ResultReply)
        return reply.result

    async def query(self, query: bytes) -> bytes:
        """A linearizable read."""
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
