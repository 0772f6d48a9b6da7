"""The node's client port: serves the client protocol of :mod:`consensus.client.protocol`.

Each connection has a reader and a writer. Proposals are handed to the driver with a
callback that queues the reply when the entry is applied (no task per proposal); reads
run as one task each (they await a read barrier). At most
``requests_per_connection_max`` requests are in flight per connection; beyond that the
reader stops reading, so TCP flow control pushes back on the client. Replies go through a
bounded queue to the writer, which writes everything queued in one ``send_all``.
A frame that fails to decode (or is too large) closes that connection with a logged
reason; nothing a client sends can stop the node.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import Mapping

import attrs
import trio

from ..client.protocol import (
    CLIENT_CODEC,
    ErrorReply,
    ProposeRequest,
    QueryRequest,
    RedirectReply,
    Reply,
    ResultReply,
    StatusReply,
    StatusRequest,
)
from ..codec import DecodeError, FrameDecoder
from ..errors import ConsensusError, NotLeader, ProposalDropped
from ..types import NodeId
from .errors import Backpressure, NodeStopped, OutcomeUnknown, Timeout
from .log import ReplicatedLog

log = logging.getLogger("consensus.server")


class _Connection:
    """Per-connection state: the reply queue and the count of requests in flight.

    The queue holds more than the in-flight bound, so ``reply`` never blocks (it is called
    from the driver's apply loop through :class:`_Pending`)."""

    __slots__ = ("_room", "in_flight", "receive", "send")

    def __init__(self, in_flight_max: int) -> None:
        self.send, self.receive = trio.open_memory_channel[Reply](in_flight_max + 1)
        self.in_flight = 0
        self._room = trio.Event()

    def reply(self, reply: Reply) -> None:
        self.in_flight -= 1
        with contextlib.suppress(
            trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError
        ):
            self.send.send_nowait(reply)
        self._room.set()

    async def wait_room(self) -> None:
        self._room = trio.Event()
        await self._room.wait()

    def close(self) -> None:
        self.send.close()


class _Pending:
    """A proposal waiting in the driver; answers its client when resolved."""

    __slots__ = ("conn", "rid", "server")

    def __init__(self, server: ClientServer, conn: _Connection, rid: int) -> None:
        self.server = server
        self.conn = conn
        self.rid = rid

    def set(self, value: bytes) -> None:
        self.conn.reply(ResultReply(self.rid, value))

    def fail(self, error: BaseException) -> None:
        self.conn.reply(self.server.error_reply(self.rid, error))


@attrs.frozen(slots=True)
class ServerLimits:
    requests_per_connection_max: int = 1024
    request_timeout_s: float = 5.0
    tls_handshake_timeout_s: float = 5.0


class ClientServer:
    """Serves clients of one node. ``client_endpoints`` maps node ids to their client
    addresses, to put in redirects (nodes missing from it are redirected by id only)."""

    def __init__(
        self,
        replicated: ReplicatedLog,
        client_endpoints: Mapping[NodeId, str] | None = None,
        *,
        limits: ServerLimits | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.log = replicated
        self.client_endpoints = dict(client_endpoints or {})
        self.limits = limits or ServerLimits()
        self.tls = tls
        self.connections = 0
        self.closed_for_bad_frames = 0

    async def serve(
        self,
        listeners: list[trio.SocketListener],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(trio.serve_listeners, self._handle_guarded, listeners)
            task_status.started()

    async def _handle_guarded(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        try:
            await self._handle(stream)
        except Exception as exc:  # never let one client take the node down
            log.warning(
                "client connection failed",
                extra={"fields": {"error": f"{type(exc).__name__}: {exc}"}},
            )
        finally:
            await trio.aclose_forcefully(stream)

    async def _handle(self, raw: trio.SocketStream) -> None:
        stream: trio.abc.Stream = raw
        if self.tls is not None:
            tls_stream = trio.SSLStream(raw, self.tls, server_side=True)
            try:
                with trio.fail_after(self.limits.tls_handshake_timeout_s):
                    await tls_stream.do_handshake()
            except (trio.BrokenResourceError, trio.TooSlowError) as exc:
                log.warning("refused client", extra={"fields": {"reason": str(exc)}})
                return
            stream = tls_stream
        conn = _Connection(self.limits.requests_per_connection_max)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._write_loop, stream, conn.receive, nursery.cancel_scope)
            await self._read_loop(stream, conn, nursery)
            # let the answers already on their way go out, briefly
            with trio.move_on_after(0.5):
                while conn.in_flight:
                    await conn.wait_room()
            nursery.cancel_scope.cancel()
        conn.close()

    async def _read_loop(
        self, stream: trio.abc.Stream, conn: _Connection, nursery: trio.Nursery
    ) -> None:
        decoder = FrameDecoder(CLIENT_CODEC)
        limit = self.limits.requests_per_connection_max
        try:
            while True:
                data = await stream.receive_some(256 * 1024)
                if not data:
                    return
                decoder.feed(bytes(data))
                for request in decoder.records():
                    while conn.in_flight >= limit:
                        await conn.wait_room()
                    conn.in_flight += 1
                    self._dispatch(request, conn, nursery)
        except DecodeError as exc:
            self.closed_for_bad_frames += 1
            log.warning(
                "closing client connection", extra={"fields": {"reason": f"bad frame: {exc}"}}
            )
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            return

    def _dispatch(self, request: object, conn: _Connection, nursery: trio.Nursery) -> None:
        """Start answering one request; every path ends in exactly one ``conn.reply``."""
        if isinstance(request, ProposeRequest):
            try:
                self.log.propose_nowait(request.command, _Pending(self, conn, request.request_id))
            except ConsensusError as exc:
                conn.reply(self.error_reply(request.request_id, exc))
        elif isinstance(request, QueryRequest):
            nursery.start_soon(self._query, request, conn)
        elif isinstance(request, StatusRequest):
            conn.reply(self.status_reply(request.request_id))
        else:
            conn.reply(ErrorReply(0, "bad-request", f"{type(request).__name__} is not a request"))

    async def _query(self, request: QueryRequest, conn: _Connection) -> None:
        try:
            result = await self.log.query(request.query, timeout_s=self.limits.request_timeout_s)
        except ConsensusError as exc:
            conn.reply(self.error_reply(request.request_id, exc))
        else:
            conn.reply(ResultReply(request.request_id, result))

    async def _write_loop(
        self,
        stream: trio.abc.Stream,
        replies: trio.MemoryReceiveChannel[Reply],
        done: trio.CancelScope,
    ) -> None:
        try:
            async for reply in replies:
                chunks = [CLIENT_CODEC.encode_frame(reply)]
                while len(chunks) < 1024:
                    try:
                        chunks.append(CLIENT_CODEC.encode_frame(replies.receive_nowait()))
                    except trio.WouldBlock:
                        break
                await stream.send_all(b"".join(chunks))
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            done.cancel()

    def error_reply(self, rid: int, exc: BaseException) -> Reply:
        """The reply for a request that failed with ``exc``."""
        if isinstance(exc, NotLeader):
            hint = exc.leader_hint
            return RedirectReply(rid, hint, self.client_endpoints.get(hint, "") if hint else "")
        if isinstance(exc, Backpressure):
            return ErrorReply(rid, "busy", str(exc))
        if isinstance(exc, ProposalDropped):
            return ErrorReply(rid, "dropped", str(exc))
        if isinstance(exc, Timeout):
            return ErrorReply(rid, "timeout", str(exc))
        if isinstance(exc, OutcomeUnknown):
            return ErrorReply(rid, "unknown", str(exc))
        if isinstance(exc, NodeStopped):
            return ErrorReply(rid, "stopped", str(exc))
        return ErrorReply(rid, "unknown", f"{type(exc).__name__}: {exc}")

    def status_reply(self, request_id: int) -> StatusReply:
        st = self.log.status()
        return StatusReply(
            request_id=request_id,
            node_id=st.id,
            role=st.role,
            term=st.term,
            leader=st.leader,
            commit_index=st.commit_index,
            applied_index=st.applied_index,
            last_index=st.last_index,
            protocol=self.log.protocol,
        )
