"""Partitions between etcd members: a TCP proxy in front of each member's peer port.

etcd members talk over HTTP (``rafthttp``): long-lived stream GETs on which the
*dialed* member sends raft messages back to the dialer, and pipeline POSTs from the
dialer. Each member advertises one peer URL, which every other member dials. So
:class:`EtcdPeerProxy` runs one listener per member (that member's advertised peer URL)
and forwards to the member's real peer port. Which member dialed is read from the first
request on the connection: ``X-PeerURLs`` (the sender's advertised URLs, set on every
raft stream, pipeline and snapshot request), else ``X-Server-From`` (the sender's member
id, once :attr:`EtcdPeerProxy.member_ids` is known). A raft connection carries one
sender's traffic only (a member keeps its own HTTP transports per peer).

A connection carries messages both ways (a stream GET answers with the dialed member's
messages), so a partition acts per *pair*: when either direction between A and B is
blocked, every connection between them is cut and new ones are closed as soon as their
first request shows who is calling. The nemesis's shapes are all symmetric, so this
is exact for them; a one-way block is applied both ways (say so, not less).

Requests without a sender header (a peer's ``/version`` poll, health probes) pass: they
carry no raft messages. No packet faults: the peer protocol is a byte stream of HTTP, not
frames that could be dropped one by one.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import trio

from consensus.transport.tcp import Address

NodeId = int
Pair = frozenset[NodeId]

HEADER_BYTES_MAX = 64 * 1024
HEADER_WAIT_S = 10.0


@attrs.define(slots=True)
class PeerProxyStats:
    """Counts of connections: ``accepted`` (forwarded), ``refused`` (a cut pair),
    ``unknown`` (forwarded without a known sender), ``cut`` (closed by a partition)."""

    accepted: int = 0
    refused: int = 0
    unknown: int = 0
    cut: int = 0


class _Connection:
    def __init__(self, src: NodeId | None, dst: NodeId) -> None:
        self.src = src
        self.dst = dst
        self.scope = trio.CancelScope()


class EtcdPeerProxy:
    """The peer network of an etcd cluster (see the module doc). ``targets`` are the
    members' real peer addresses. Run with ``await nursery.start(proxy.serve)``: every
    listener is bound before ``started``, so :meth:`peer_url` is valid from then on."""

    def __init__(self, targets: Mapping[NodeId, Address], *, host: str = "127.0.0.1") -> None:
        if len(targets) < 2:
            raise ValueError("a peer proxy needs at least two members")
        self.targets = dict(targets)
        self.host = host
        self.cut_pairs: frozenset[Pair] = frozenset()
        self.member_ids: dict[str, NodeId] = {}
        """etcd member ids (hex, as in ``X-Server-From``) by node, when known."""
        self.stats = PeerProxyStats()
        self._addresses: dict[NodeId, Address] = {}
        self._connections: set[_Connection] = set()

    def peer_url(self, node: NodeId) -> str:
        """The peer URL ``node`` advertises (this proxy's listener for it)."""
        address = self._addresses.get(node)
        if address is None:
            raise ValueError(f"the peer proxy has no listener for member {node}")
        return f"http://{address.host}:{address.port}"

    def sender(self, headers: Mapping[str, str]) -> NodeId | None:
        """The member that sent a request with ``headers`` (lower-case names), if known."""
        urls = {url.strip().rstrip("/") for url in headers.get("x-peerurls", "").split(",")}
        for node in self._addresses:
            if self.peer_url(node) in urls:
                return node
        return self.member_ids.get(headers.get("x-server-from", "").strip().lower())

    async def partition(self, blocked: frozenset[tuple[NodeId, NodeId]]) -> None:
        """Cut every pair with a blocked link in either direction (see the module doc)."""
        unknown = sorted(link for link in blocked if not set(link) <= set(self.targets))
        if unknown or any(a == b for a, b in blocked):
            raise ValueError(f"partition names links between unknown members: {unknown}")
        self.cut_pairs = frozenset(frozenset(link) for link in blocked)
        for conn in list(self._connections):
            if self._is_cut(conn.src, conn.dst):
                self.stats.cut += 1
                conn.scope.cancel()
        await trio.lowlevel.checkpoint()

    async def heal(self) -> None:
        await self.partition(frozenset())

    def _is_cut(self, src: NodeId | None, dst: NodeId) -> bool:
        return src is not None and frozenset((src, dst)) in self.cut_pairs

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            listeners: list[tuple[NodeId, trio.SocketListener]] = []
            for node in sorted(self.targets):
                (listener,) = await trio.open_tcp_listeners(0, host=self.host)
                self._addresses[node] = Address(self.host, listener.socket.getsockname()[1])
                listeners.append((node, listener))
            for node, listener in listeners:
                nursery.start_soon(self._accept_loop, node, listener)
            task_status.started()

    async def _accept_loop(self, dst: NodeId, listener: trio.SocketListener) -> None:
        async with listener, trio.open_nursery() as nursery:
            while True:
                stream = await listener.accept()
                nursery.start_soon(self._handle, dst, stream)

    async def _handle(self, dst: NodeId, down: trio.SocketStream) -> None:
        up: trio.SocketStream | None = None
        conn: _Connection | None = None
        try:
            head = await _read_head(down)
            if head is None:
                return
            src = self.sender(_headers(head))
            if self._is_cut(src, dst):
                self.stats.refused += 1
                return
            conn = _Connection(src, dst)
            self._connections.add(conn)
            with conn.scope:
                target = self.targets[dst]
                try:
                    up = await trio.open_tcp_stream(target.host, target.port)
                    await up.send_all(head)
                except (OSError, trio.BrokenResourceError):
                    return
                self.stats.accepted += 1
                self.stats.unknown += src is None
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(_pump, down, up, nursery.cancel_scope)
                    nursery.start_soon(_pump, up, down, nursery.cancel_scope)
        finally:
            if conn is not None:
                self._connections.discard(conn)
            await trio.aclose_forcefully(down)
            if up is not None:
                await trio.aclose_forcefully(up)


async def _read_head(stream: trio.SocketStream) -> bytes | None:
    """The bytes up to the end of the first request's headers (possibly more), or
    ``None`` if the dialer closes, sends too much, or takes too long."""
    data = bytearray()
    with trio.move_on_after(HEADER_WAIT_S):
        try:
            while b"\r\n\r\n" not in data:
                chunk = await stream.receive_some(16 * 1024)
                if not chunk or len(data) > HEADER_BYTES_MAX:
                    return None
                data += chunk
        except (OSError, trio.BrokenResourceError):
            return None
        return bytes(data)
    return None


def _headers(head: bytes) -> dict[str, str]:
    text = head.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    headers: dict[str, str] = {}
    for line in text.split("\r\n")[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers


async def _pump(
    source: trio.SocketStream, sink: trio.SocketStream, scope: trio.CancelScope
) -> None:
    """Copy bytes until either side ends; then end the whole connection."""
    try:
        while True:
            data = await source.receive_some(256 * 1024)
            if not data:
                return
            await sink.send_all(data)
    except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
        return
    finally:
        scope.cancel()
