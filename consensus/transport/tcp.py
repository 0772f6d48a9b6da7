"""TCP transport: framed CBOR messages over one connection per pair of nodes.

Connections. The node with the lower id dials the one with the higher id; the
connection then carries messages both ways. The dialer reconnects after any failure with
jittered exponential back-off; the acceptor takes a newer connection from the same peer
in place of the old one (the peer restarted). Before any protocol message the two sides
run the handshake of :mod:`.handshake` (and, with TLS, a mutual TLS handshake first).

Sending. Each peer has a bounded queue. :meth:`TcpTransport.send` appends and returns;
a full queue drops the message and counts it, so the core is never blocked by a slow or
dead peer. One writer task per connection takes everything queued, encodes it as frames
and writes it in one ``send_all`` (batching). :meth:`TcpTransport.send_batch` queues
several messages and then writes each peer's queue at once, in the caller's task, as far
as the kernel takes it without blocking (:mod:`.sockio`); only what does not fit goes to
the writer task. That saves a task switch and a scheduler pass per peer and batch.

Receiving. Frames are decoded with ``WIRE``'s :class:`FrameDecoder`; an oversized header is
refused before the body is read. A frame that fails to decode, a record that is not a
message, or a message whose ``src``/``dst`` do not match the authenticated pair closes
that connection with a logged reason. Nothing a peer sends can crash the node.
"""

from __future__ import annotations

import contextlib
import logging
import random
import ssl
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping

import attrs
import trio

from ..codec import WIRE, Codec, DecodeError, FrameDecoder
from ..messages import Message
from ..types import NodeId
from . import handshake
from .base import (
    INBOX_MESSAGES_MAX_DEFAULT,
    PEER_QUEUE_MESSAGES_MAX_DEFAULT,
    InboxWriter,
    TransportStats,
    open_inbox,
)
from .sockio import SocketIO
from .tls import TlsConfig

log = logging.getLogger("consensus.transport.tcp")

RECEIVE_BYTES = 256 * 1024
BATCH_BYTES_MAX = 1 << 20


@attrs.frozen(slots=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> Address:
        """Parse ``HOST:PORT`` (IPv6 hosts in brackets); ``ValueError`` names the problem."""
        host, sep, port = text.rpartition(":")
        if not sep or not host:
            raise ValueError(f"address {text!r} is not HOST:PORT")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        try:
            number = int(port)
        except ValueError:
            raise ValueError(f"address {text!r} has a port that is not a number") from None
        if not 0 <= number <= 65535:
            raise ValueError(f"address {text!r} has a port outside 0-65535")
        return cls(host, number)


@attrs.frozen(slots=True)
class TcpOptions:
    queue_messages_max: int = PEER_QUEUE_MESSAGES_MAX_DEFAULT
    inbox_messages_max: int = INBOX_MESSAGES_MAX_DEFAULT
    backoff_s_min: float = 0.02
    backoff_s_max: float = 1.0
    connect_timeout_s: float = 2.0
    handshake_timeout_s: float = 5.0
    codec: Codec = WIRE


class _Link:
    """One live connection's sending state: its direct I/O (None for TLS), the bytes of
    a batch not yet written (they must go out before anything else on this connection)
    and whether the writer task is in the middle of a write."""

    __slots__ = ("io", "unsent", "writing")

    def __init__(self, io: SocketIO | None) -> None:
        self.io = io
        self.unsent = b""
        self.writing = False


class _Peer:
    __slots__ = ("address", "connection", "connections", "dialer", "id", "link", "queue", "wake")

    def __init__(self, peer_id: NodeId, address: Address) -> None:
        self.id = peer_id
        self.address = address
        self.queue: deque[Message] = deque()
        self.wake = trio.Event()
        self.connection: trio.CancelScope | None = None
        self.link: _Link | None = None
        self.connections = 0
        self.dialer: trio.CancelScope | None = None  # the dialling task's, for remove_peer


class TcpTransport:
    """One node's TCP endpoint (implements ``Transport``); build with :func:`open_tcp_transport`."""

    def __init__(
        self,
        node_id: NodeId,
        cluster_id: str,
        peers: Mapping[NodeId, Address],
        *,
        tls: TlsConfig | None = None,
        options: TcpOptions | None = None,
        seed: int | None = None,
    ) -> None:
        self._node_id = node_id
        self.cluster_id = cluster_id
        self.options = options or TcpOptions()
        self._peers = {pid: _Peer(pid, addr) for pid, addr in peers.items() if pid != node_id}
        self._stats = TransportStats()
        self._writer: InboxWriter
        self._writer, self._inbox = open_inbox(self._stats, self.options.inbox_messages_max)
        self._server_ssl: ssl.SSLContext | None = tls.server_context() if tls else None
        self._client_ssl: ssl.SSLContext | None = tls.client_context() if tls else None
        self._rng = random.Random(seed)
        self._closed = False
        self.listen_address: Address | None = None
        self._nursery: trio.Nursery | None = None  # run()'s, to dial peers added later

    # -- Transport --------------------------------------------------------------------
    @property
    def node_id(self) -> NodeId:
        return self._node_id

    @property
    def inbox(self) -> trio.MemoryReceiveChannel[Message]:
        return self._inbox

    @property
    def stats(self) -> TransportStats:
        return self._stats

    def send(self, message: Message) -> bool:
        peer = self._enqueue(message)
        if peer is None:
            return False
        peer.wake.set()
        return True

    def send_batch(self, messages: Iterable[Message]) -> None:
        """Queue ``messages`` (each as :meth:`send` would), then write every touched
        peer's queue now, as far as its socket takes it without blocking."""
        touched: list[_Peer] = []
        for message in messages:
            peer = self._enqueue(message)
            if peer is not None and peer not in touched:
                touched.append(peer)
        for peer in touched:
            self._write_now(peer)

    def _enqueue(self, message: Message) -> _Peer | None:
        if self._closed:
            self._stats.dropped_closed += 1
            return None
        peer = self._peers.get(message.dst)
        if peer is None:
            self._stats.dropped_unknown_peer += 1
            return None
        if len(peer.queue) >= self.options.queue_messages_max:
            self._stats.dropped_queue_full += 1
            return None
        peer.queue.append(message)
        self._stats.sent += 1
        return peer

    def _write_now(self, peer: _Peer) -> None:
        """Write ``peer``'s queue in this task if its connection is idle; whatever is
        left (no connection, TLS, a full send buffer) is for the writer task."""
        link = peer.link
        if link is not None and link.io is not None and not link.writing and not link.unsent:
            data = self._encode_queue(peer)
            try:
                sent = link.io.try_send(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                sent = 0  # the writer task meets the error and ends the connection
            if sent < len(data):
                link.unsent = data[sent:]
            elif not peer.queue:
                return
        peer.wake.set()

    def _encode_queue(self, peer: _Peer) -> bytes:
        """Frames for the messages at the head of ``peer``'s queue (up to about
        ``BATCH_BYTES_MAX`` bytes), taken off the queue."""
        encode_frame = self.options.codec.encode_frame
        queue = peer.queue
        chunks: list[bytes] = []
        size = 0
        while queue and size < BATCH_BYTES_MAX:
            message = queue.popleft()
            try:
                frame = encode_frame(message)
            except (TypeError, ValueError) as exc:
                log.error(
                    "cannot encode message",
                    extra={"fields": {"node": self._node_id, "peer": peer.id, "error": str(exc)}},
                )
                continue
            chunks.append(frame)
            size += len(frame)
        self._stats.bytes_sent += size
        return b"".join(chunks)

    def on_deliver(self, callback: Callable[[], None] | None) -> None:
        self._writer.notify = callback

    async def aclose(self) -> None:
        self._closed = True
        self._writer.close()
        await trio.lowlevel.checkpoint()

    def connected(self, peer_id: NodeId) -> bool:
        """Whether a handshaken connection to ``peer_id`` is up now."""
        peer = self._peers.get(peer_id)
        return peer is not None and peer.connection is not None

    def peer_addresses(self) -> dict[NodeId, Address]:
        """The address book: every peer this transport sends to and accepts, by id."""
        return {pid: peer.address for pid, peer in self._peers.items()}

    def add_peer(self, peer_id: NodeId, address: Address) -> None:
        """Add ``peer_id`` at ``address`` to the address book at run time (a new member),
        or move it to ``address`` (its old connection is dropped and redialled). A
        higher-numbered peer is dialled at once when the transport is running; a lower
        one is accepted from now on. Adding this node itself is ignored."""
        if peer_id == self._node_id:
            return
        peer = self._peers.get(peer_id)
        if peer is not None:
            if peer.address == address:
                return
            peer.address = address
            if peer.connection is not None:
                peer.connection.cancel()
            return
        peer = self._peers[peer_id] = _Peer(peer_id, address)
        log.info(
            "peer added",
            extra={"fields": {"node": self._node_id, "peer": peer_id, "address": str(address)}},
        )
        if self._nursery is not None and peer_id > self._node_id:
            self._nursery.start_soon(self._dial_forever, peer)

    def remove_peer(self, peer_id: NodeId) -> None:
        """Drop ``peer_id`` from the address book (a removed member): its connection and
        dialling stop, queued messages are discarded, later sends to it are counted as
        ``dropped_unknown_peer`` and its connections are refused. Unknown ids are
        ignored."""
        peer = self._peers.pop(peer_id, None)
        if peer is None:
            return
        peer.queue.clear()
        if peer.dialer is not None:
            peer.dialer.cancel()
        if peer.connection is not None:
            peer.connection.cancel()
        log.info("peer removed", extra={"fields": {"node": self._node_id, "peer": peer_id}})

    # -- running ----------------------------------------------------------------------
    async def run(
        self,
        listeners: list[trio.SocketListener],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Accept on ``listeners`` and dial every higher-numbered peer, until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for peer in self._peers.values():
                if peer.id > self._node_id:
                    nursery.start_soon(self._dial_forever, peer)
            await nursery.start(trio.serve_listeners, self._accept_guarded, listeners)
            task_status.started()

    async def _accept_guarded(self, stream: trio.SocketStream) -> None:
        try:
            await self._accept(stream)
        except Exception as exc:  # never let one connection take the node down
            log.warning(
                "peer connection failed",
                extra={"fields": {"node": self._node_id, "error": f"{type(exc).__name__}: {exc}"}},
            )
        finally:
            await trio.aclose_forcefully(stream)

    async def _accept(self, raw: trio.SocketStream) -> None:
        stream: trio.abc.Stream = raw
        remote = _remote(raw)
        allowed = frozenset(p for p in self._peers if p < self._node_id)
        try:
            with trio.fail_after(self.options.handshake_timeout_s):
                if self._server_ssl is not None:
                    tls_stream = trio.SSLStream(raw, self._server_ssl, server_side=True)
                    await tls_stream.do_handshake()
                    stream = tls_stream
                peer_id = await handshake.accept(stream, self.cluster_id, self._node_id, allowed)
        except (
            handshake.HandshakeError,
            DecodeError,
            trio.BrokenResourceError,
            trio.TooSlowError,
            ssl.SSLError,
            OSError,
        ) as exc:
            self._stats.refused_connections += 1
            log.warning(
                "refused peer connection",
                extra={"fields": {"node": self._node_id, "remote": remote, "reason": _reason(exc)}},
            )
            return
        peer = self._peers.get(peer_id)
        if peer is None:  # removed during the handshake
            return
        if peer.connection is not None:
            peer.connection.cancel()  # the peer reconnected: the old connection is dead
        await self._run_connection(peer, stream)

    async def _dial_forever(self, peer: _Peer) -> None:
        with trio.CancelScope() as scope:
            peer.dialer = scope
            await self._dial_loop(peer)

    async def _dial_loop(self, peer: _Peer) -> None:
        backoff = self.options.backoff_s_min
        while True:
            try:
                stream = await self._dial(peer)
            except (
                handshake.HandshakeError,
                DecodeError,
                trio.BrokenResourceError,
                trio.TooSlowError,
                ssl.SSLError,
                OSError,
            ) as exc:
                level = (
                    logging.WARNING
                    if isinstance(exc, handshake.HandshakeError)
                    else (logging.DEBUG)
                )
                log.log(
                    level,
                    "cannot reach peer",
                    extra={
                        "fields": {
                            "node": self._node_id,
                            "peer": peer.id,
                            "address": str(peer.address),
                            "reason": _reason(exc),
                        }
                    },
                )
            else:
                backoff = self.options.backoff_s_min
                try:
                    await self._run_connection(peer, stream)
                finally:
                    await trio.aclose_forcefully(stream)
            await trio.sleep(backoff * self._rng.uniform(0.5, 1.5))
            backoff = min(backoff * 2, self.options.backoff_s_max)

    async def _dial(self, peer: _Peer) -> trio.abc.Stream:
        with trio.fail_after(self.options.connect_timeout_s):
            raw = await trio.open_tcp_stream(peer.address.host, peer.address.port)
        stream: trio.abc.Stream = raw
        try:
            with trio.fail_after(self.options.handshake_timeout_s):
                if self._client_ssl is not None:
                    tls_stream = trio.SSLStream(raw, self._client_ssl, server_side=False)
                    await tls_stream.do_handshake()
                    stream = tls_stream
                await handshake.dial(stream, self.cluster_id, self._node_id, peer.id)
        except BaseException:
            await trio.aclose_forcefully(raw)
            raise
        return stream

    async def _run_connection(self, peer: _Peer, stream: trio.abc.Stream) -> None:
        """Carry messages both ways until either side fails or a newer one replaces it."""
        self._stats.connections += 1
        peer.connections += 1
        log.info("peer connected", extra={"fields": {"node": self._node_id, "peer": peer.id}})
        link = _Link(SocketIO.wrap(stream))
        with trio.CancelScope() as scope:
            peer.connection = scope
            peer.link = link
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._read_loop, peer, stream, link, nursery.cancel_scope)
                    nursery.start_soon(self._write_loop, peer, stream, link, nursery.cancel_scope)
            finally:
                if peer.connection is scope:
                    peer.connection = None
                if peer.link is link:
                    peer.link = None
        log.info("peer disconnected", extra={"fields": {"node": self._node_id, "peer": peer.id}})

    async def _read_loop(
        self, peer: _Peer, stream: trio.abc.Stream, link: _Link, done: trio.CancelScope
    ) -> None:
        decoder = FrameDecoder(self.options.codec)
        receive = link.io.receive_some if link.io is not None else stream.receive_some
        deliver = self._writer.deliver
        reason = "end of stream"
        try:
            while True:
                data = await receive(RECEIVE_BYTES)
                if not data:
                    break
                decoder.feed(data)
                for record in decoder.records():
                    if not isinstance(record, Message):
                        raise DecodeError(f"{type(record).__name__} is not a message")
                    if record.src != peer.id or record.dst != self._node_id:
                        raise DecodeError(
                            f"message from {record.src} to {record.dst} on the link "
                            f"{peer.id}->{self._node_id}"
                        )
                    deliver(record)
        except DecodeError as exc:
            self._stats.decode_errors += 1
            reason = f"bad frame: {exc}"
            log.warning(
                "closing peer connection",
                extra={"fields": {"node": self._node_id, "peer": peer.id, "reason": reason}},
            )
        except (trio.BrokenResourceError, trio.ClosedResourceError, ssl.SSLError, OSError) as exc:
            reason = _reason(exc)
        log.debug(
            "peer reader stopped",
            extra={"fields": {"node": self._node_id, "peer": peer.id, "reason": reason}},
        )
        done.cancel()

    async def _write_loop(
        self, peer: _Peer, stream: trio.abc.Stream, link: _Link, done: trio.CancelScope
    ) -> None:
        send_all = link.io.send_all if link.io is not None else stream.send_all
        try:
            while True:
                if not link.unsent and not peer.queue:
                    peer.wake = trio.Event()
                    await peer.wake.wait()
                    continue
                data, link.unsent = link.unsent or self._encode_queue(peer), b""
                if not data:
                    continue
                link.writing = True
                try:
                    await send_all(data)
                finally:
                    link.writing = False
        except (trio.BrokenResourceError, trio.ClosedResourceError, ssl.SSLError, OSError):
            done.cancel()


def _remote(stream: trio.SocketStream) -> str:
    try:
        host, port = stream.socket.getpeername()[:2]
    except OSError:
        return "?"
    return f"{host}:{port}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, trio.BrokenResourceError) and exc.__cause__ is not None:
        exc = exc.__cause__
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


async def bind_listeners(address: Address) -> list[trio.SocketListener]:
    """Bind ``address``; ``OSError`` names the address when it is in use."""
    try:
        return await trio.open_tcp_listeners(address.port, host=address.host)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot listen on {address}: {exc.strerror}") from None


@contextlib.asynccontextmanager
async def open_tcp_transport(
    node_id: NodeId,
    cluster_id: str,
    listen: Address,
    peers: Mapping[NodeId, Address],
    *,
    tls: TlsConfig | None = None,
    options: TcpOptions | None = None,
    seed: int | None = None,
    listeners: list[trio.SocketListener] | None = None,
) -> AsyncIterator[TcpTransport]:
    """Bind ``listen`` (port 0 picks a free one) unless ``listeners`` are already bound
    to it, start the transport, stop it on exit."""
    transport = TcpTransport(node_id, cluster_id, peers, tls=tls, options=options, seed=seed)
    if listeners is None:
        listeners = await bind_listeners(listen)
    _host, port = listeners[0].socket.getsockname()[:2]
    transport.listen_address = Address(listen.host, port)
    async with trio.open_nursery() as nursery:
        await nursery.start(transport.run, listeners)
        try:
            yield transport
        finally:
            nursery.cancel_scope.cancel()
            await transport.aclose()
