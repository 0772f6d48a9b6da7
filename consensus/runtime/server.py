"""The node's client port: serves the client protocol of :mod:`consensus.client.protocol`.

Each connection has a reader and a writer. Proposals are handed to the driver with a
callback that queues the reply when the entry is applied (no task per proposal); linearizable
reads run as one task each (they await a read barrier); lease reads are answered at once
while the node holds a read lease (else as linearizable reads); stale reads are answered at once
from the local state machine, whatever this node's role. At most
``requests_per_connection_max`` requests are in flight per connection; beyond that the
reader stops reading, so TCP flow control pushes back on the client (and the reply list
holds at most that many). Replies go out in one write per connection and batch, from the
driver's task after each batch (see :class:`_Connection`); the driver hands every
proposal read meanwhile, from all connections, to the core together.
A frame that fails to decode (or is too large) closes that connection with a logged
reason; nothing a client sends can stop the node.

Fault injection. With ``allow_fault_injection`` (``consensus serve
--allow-fault-injection``, for test clusters) the server also answers
``FaultControlRequest`` (skew, reset or read the node's :class:`~.clock.NodeClock`) and
``SnapshotDigestRequest`` (applied index and SHA-256 of the state machine's snapshot);
without it both are refused with ``ErrorReply`` kind ``bad-request`` saying so.
"""

from __future__ import annotations

import hashlib
import logging
import math
import ssl
from collections.abc import Callable, Mapping

import attrs
import trio

from ..client.protocol import (
    CLIENT_CODEC,
    FAULT_ACTIONS,
    Consistency,
    ErrorReply,
    FaultControlReply,
    FaultControlRequest,
    LeaseQueryRequest,
    LocalQueryRequest,
    MatchIndex,
    MemberChangeRequest,
    MemberInfo,
    MemberListRequest,
    MemberReply,
    ProposeRequest,
    QueryRequest,
    RedirectReply,
    Reply,
    ResultReply,
    SnapshotDigestReply,
    SnapshotDigestRequest,
    StatusReply,
    StatusRequest,
)
from ..codec import DecodeError, FrameDecoder
from ..errors import ConsensusError, NotLeader, ProposalDropped
from ..membership import ChangeKind, ConfChange, Membership, MembershipError
from ..transport.sockio import SocketIO
from ..types import NodeId
from .errors import Backpressure, NodeStopped, OutcomeUnknown, Timeout
from .log import ReplicatedLog

log = logging.getLogger("consensus.server")


class _Connection:
    """Per-connection state: the replies not yet written, the count of requests in
    flight, and the writing state.

    ``reply`` never blocks (it is called from the driver's apply loop through
    :class:`_Pending`): it queues the reply and marks the connection. Marked connections
    get their replies written in one write each (directly, see
    :mod:`consensus.transport.sockio`) when the driver's batch is done
    (``Driver.after_batch``), or by the server's one flusher task for answers given
    outside a batch. What a socket does not take at once, and everything on a TLS
    connection, is left to the connection's own writer task. The replies list holds at
    most one reply per request in flight, and the reader stops reading at
    ``requests_per_connection_max`` in flight."""

    __slots__ = (
        "_mark",
        "_room",
        "_wake",
        "closed",
        "in_flight",
        "io",
        "marked",
        "replies",
        "unsent",
        "writing",
    )

    def __init__(self, io: SocketIO | None, mark: Callable[[_Connection], None]) -> None:
        self.replies: list[Reply] = []
        self.in_flight = 0
        self.closed = False
        self.io = io
        self.unsent = b""
        self.writing = False
        self.marked = False
        self._mark = mark
        self._wake = trio.Event()
        self._room = trio.Event()

    def reply(self, reply: Reply) -> None:
        self.in_flight -= 1
        if not self.closed:
            self.replies.append(reply)
            if not self.marked:
                self.marked = True
                self._mark(self)
        self._room.set()

    def flush(self) -> None:
        """Write the queued replies now if the socket takes them; else wake the writer."""
        self.marked = False
        if self.closed or not (self.replies or self.unsent):
            return
        if self.io is None or self.writing or self.unsent:
            self._wake.set()
            return
        data = self.encode_replies()
        try:
            sent = self.io.try_send(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            sent = 0  # the writer task meets the error and ends the connection
        if sent < len(data):
            self.unsent = data[sent:]
            self._wake.set()

    def encode_replies(self) -> bytes:
        replies, self.replies = self.replies, []
        encode_frame = CLIENT_CODEC.encode_frame
        return b"".join([encode_frame(reply) for reply in replies])

    async def wait_output(self) -> bytes:
        """The next bytes for the writer task to write (waits until there are some)."""
        while not (self.unsent or self.replies):
            self._wake = trio.Event()
            await self._wake.wait()
        data, self.unsent = self.unsent or self.encode_replies(), b""
        return data

    @property
    def idle(self) -> bool:
        """No request in flight and nothing left to write."""
        return not (self.in_flight or self.replies or self.unsent or self.writing)

    async def wait_room(self) -> None:
        self._room = trio.Event()
        await self._room.wait()

    def close(self) -> None:
        self.closed = True
        self.replies.clear()
        self.unsent = b""


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
        allow_fault_injection: bool = False,
    ) -> None:
        self.log = replicated
        self.allow_fault_injection = allow_fault_injection
        self.client_endpoints = dict(client_endpoints or {})
        self.limits = limits or ServerLimits()
        self.tls = tls
        self.connections = 0
        self.closed_for_bad_frames = 0
        self._marked: list[_Connection] = []
        self._flush_wake = trio.Event()

    async def serve(
        self,
        listeners: list[trio.SocketListener],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        driver = self.log.driver
        driver.after_batch.append(self._flush_marked)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._flush_loop)
            await nursery.start(trio.serve_listeners, self._handle_guarded, listeners)
            task_status.started()

    def _mark(self, conn: _Connection) -> None:
        self._marked.append(conn)
        if not self.log.driver.in_batch:  # else the driver calls _flush_marked soon
            self._flush_wake.set()

    def _flush_marked(self) -> None:
        """Write the replies of every connection marked since the last pass."""
        marked, self._marked = self._marked, []
        for conn in marked:
            conn.flush()

    async def _flush_loop(self) -> None:
        """Flush marked connections for answers given outside the driver's batches
        (reads, refusals): one task wake-up per batch of work for all connections."""
        while True:
            await self._flush_wake.wait()
            self._flush_wake = trio.Event()
            self._flush_marked()

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
        io = SocketIO.wrap(stream)
        conn = _Connection(io, self._mark)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._write_loop, stream, conn, nursery.cancel_scope)
            await self._read_loop(stream, io, conn, nursery)
            # let the answers already on their way go out, briefly
            with trio.move_on_after(0.5):
                while not conn.idle:
                    if conn.in_flight:
                        await conn.wait_room()
                    else:
                        await trio.sleep(0.001)
            nursery.cancel_scope.cancel()
        conn.close()

    async def _read_loop(
        self,
        stream: trio.abc.Stream,
        io: SocketIO | None,
        conn: _Connection,
        nursery: trio.Nursery,
    ) -> None:
        decoder = FrameDecoder(CLIENT_CODEC)
        limit = self.limits.requests_per_connection_max
        receive = io.receive_some if io is not None else stream.receive_some
        try:
            while True:
                data = await receive(256 * 1024)
                if not data:
                    return
                decoder.feed(data)
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
        elif isinstance(request, LeaseQueryRequest):
            answer = self.log.query_lease_now(request.query)
            if answer is not None:
                conn.reply(ResultReply(request.request_id, answer))
            else:
                nursery.start_soon(self._query, request, conn)
        elif isinstance(request, LocalQueryRequest):
            conn.reply(ResultReply(request.request_id, self.log.query_local(request.query)))
        elif isinstance(request, StatusRequest):
            conn.reply(self.status_reply(request.request_id))
        elif isinstance(request, FaultControlRequest | SnapshotDigestRequest):
            conn.reply(self.fault_reply(request))
        elif isinstance(request, MemberListRequest):
            conn.reply(self.member_list_reply(request.request_id))
        elif isinstance(request, MemberChangeRequest):
            nursery.start_soon(self._member_change, request, conn)
        else:
            conn.reply(ErrorReply(0, "bad-request", f"{type(request).__name__} is not a request"))

    async def _query(self, request: QueryRequest | LeaseQueryRequest, conn: _Connection) -> None:
        consistency: Consistency = (
            "lease" if isinstance(request, LeaseQueryRequest) else "linearizable"
        )
        try:
            result = await self.log.query(
                request.query, timeout_s=self.limits.request_timeout_s, consistency=consistency
            )
        except ConsensusError as exc:
            conn.reply(self.error_reply(request.request_id, exc))
        else:
            conn.reply(ResultReply(request.request_id, result))

    async def _write_loop(
        self, stream: trio.abc.Stream, conn: _Connection, done: trio.CancelScope
    ) -> None:
        """Write what :meth:`_Connection.flush` could not (TLS, a full send buffer)."""
        send_all = conn.io.send_all if conn.io is not None else stream.send_all
        try:
            while True:
                data = await conn.wait_output()
                conn.writing = True
                try:
                    await send_all(data)
                finally:
                    conn.writing = False
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            done.cancel()

    def member_reply(self, rid: int, membership: Membership) -> MemberReply:
        """``membership`` with this node's (a leader's) match index for each member."""
        st = self.log.status()
        match = dict(st.progress)
        members = [
            MemberInfo(
                n,
                "voter" if membership.is_voter(n) else "learner",
                membership.address(n) or "",
                match.get(n),
            )
            for n in membership.members
        ]
        return MemberReply(rid, st.id, tuple(members))

    def member_list_reply(self, rid: int) -> Reply:
        """The leader's configuration in effect; a redirect from any other node."""
        try:
            membership = self.log.membership()
        except MembershipError as exc:
            return ErrorReply(rid, "refused", str(exc))
        st = self.log.status()
        if st.role != "leader":
            return self.error_reply(rid, NotLeader(st.leader))
        return self.member_reply(rid, membership)

    async def _member_change(self, request: MemberChangeRequest, conn: _Connection) -> None:
        rid = request.request_id
        try:
            change = ConfChange(ChangeKind(request.kind), request.node_id, request.address)
        except (ValueError, MembershipError) as exc:
            conn.reply(ErrorReply(rid, "bad-request", f"bad membership change: {exc}"))
            return
        try:
            membership = await self.log.change_membership(
                change, timeout_s=self.limits.request_timeout_s
            )
        except MembershipError as exc:
            conn.reply(ErrorReply(rid, "refused", str(exc)))
        except ConsensusError as exc:
            conn.reply(self.error_reply(rid, exc))
        else:
            log.info("membership changed", extra={"fields": {"change": change.describe()}})
            conn.reply(self.member_reply(rid, membership))

    def error_reply(self, rid: int, exc: BaseException) -> Reply:
        """The reply for a request that failed with ``exc``."""
        if isinstance(exc, MembershipError):
            return ErrorReply(rid, "refused", str(exc))
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

    def fault_reply(self, request: FaultControlRequest | SnapshotDigestRequest) -> Reply:
        """The answer to a fault-injection request (refused unless allowed)."""
        rid = request.request_id
        name = type(request).__name__
        if not self.allow_fault_injection:
            return ErrorReply(
                rid,
                "bad-request",
                f"{name} refused: this node was not started with --allow-fault-injection",
            )
        if isinstance(request, SnapshotDigestRequest):
            applied = self.log.status().applied_index
            digest = hashlib.sha256(self.log.state_machine.snapshot()).digest()
            return SnapshotDigestReply(rid, applied, digest)
        clock = self.log.clock
        if request.action == "skew":
            if not (math.isfinite(request.offset_ms) and math.isfinite(request.rate)):
                return ErrorReply(
                    rid,
                    "bad-request",
                    f"{name}: offset_ms and rate must be finite, got "
                    f"{request.offset_ms} and {request.rate}",
                )
            try:
                clock.skew(request.offset_ms, request.rate)
            except ValueError as exc:
                return ErrorReply(rid, "bad-request", f"{name}: {exc}")
        elif request.action == "reset":
            clock.reset()
        elif request.action != "read":
            choices = ", ".join(FAULT_ACTIONS)
            return ErrorReply(
                rid, "bad-request", f"{name}: unknown action {request.action!r} ({choices})"
            )
        if request.action != "read":
            log.info(
                "clock fault",
                extra={
                    "fields": {
                        "action": request.action,
                        "offset_ms": clock.offset_ms,
                        "rate": clock.rate,
                    }
                },
            )
        return FaultControlReply(rid, clock.now_s() * 1000, clock.offset_ms, clock.rate)

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
            voters=st.membership.voters if st.membership is not None else (),
            learners=st.membership.learners if st.membership is not None else (),
            progress=tuple(MatchIndex(n, i) for n, i in st.progress),
            **self._counters(),
        )

    def _counters(self) -> dict[str, int]:
        """The node's cumulative traffic and fsync counters, where its parts keep them."""
        driver = self.log.driver
        stats = getattr(driver.transport, "stats", None)
        fsyncs = getattr(driver.storage, "fsyncs", 0)
        return {
            "messages_sent": stats.sent if stats is not None else 0,
            "bytes_sent": stats.bytes_sent if stats is not None else 0,
            "fsyncs": fsyncs if isinstance(fsyncs, int) else 0,
        }
