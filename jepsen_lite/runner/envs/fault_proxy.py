"""Network faults between real node processes: a message-framed TCP proxy.

:class:`NetworkControl` is what an environment needs from "the network": where node A
must dial node B, directed partitions, and packet faults (loss, duplication, delay with
jitter, reordering) on every node-to-node link. :class:`FaultProxy` implements it on
this host with one Trio listener per ordered node pair: node A's peer address for B is
the proxy's listener for ``A->B``, which forwards to B's real peer port.

The proxy cuts the byte stream into the transport's frames (a 4-byte big-endian length,
then that many bytes; :mod:`consensus.codec`), so every fault acts on whole messages,
never on half a frame. The first frame in each direction of a connection is the peer
handshake (:mod:`consensus.transport.handshake`); it always passes untouched, so that a
connection which is allowed at all comes up. Packet faults apply to every later frame,
drawing from one seeded ``random.Random`` (``derive_rng(spec.seed, "proxy")``); the
arrival times of real frames still vary, so a run is not replayable frame by frame.

Direction. Traffic in both directions between A and B shares one TCP connection (the
node with the lower id dials; :mod:`consensus.transport.tcp`), and the proxy knows each
frame's direction: bytes from the dialer are ``dialer->acceptor`` frames.

- ``partition(blocked)``: a frame on a blocked directed link is dropped. When *both*
  directions of a pair are blocked, the proxy also cuts that pair's open connections
  and closes new ones at once (the nodes see a dead link, as with a real partition).
  A one-way block leaves the connection up and drops only that direction's frames
  (TCP itself still works both ways: the limit of a proxy between processes).
- ``packet(faults)``: loss, duplication, delay, jitter and reordering act per frame and
  per direction, with the same settings on every link. Delay keeps each direction's
  frames in order (a frame never leaves before the one read before it); reordering
  gives a chosen share of frames an extra random delay so later frames overtake them.
"""

from __future__ import annotations

import heapq
import itertools
import random
import struct
from collections.abc import Mapping
from typing import Protocol

import attrs
import trio

from consensus.transport.tcp import Address

NodeId = int
Link = tuple[NodeId, NodeId]

_HEADER = struct.Struct(">I")
FRAME_BYTES_MAX = 64 * 1024 * 1024
"""A frame header announcing more than this closes the connection (not a transport)."""


@attrs.frozen(slots=True)
class PacketFaults:
    """Per-frame faults on every link. ``loss`` and ``duplicate`` are probabilities;
    ``delay_ms`` is added to every frame, plus a uniform ``[0, jitter_ms]``; a share
    ``reorder`` of frames gets another uniform ``[0, reorder_window_ms]`` and may be
    overtaken."""

    loss: float = 0.0
    duplicate: float = 0.0
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    reorder: float = 0.0
    reorder_window_ms: float = 20.0

    def __attrs_post_init__(self) -> None:
        for name in ("loss", "duplicate", "reorder"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"packet fault {name} must be in [0, 1], got {value}")
        for name in ("delay_ms", "jitter_ms", "reorder_window_ms"):
            value = getattr(self, name)
            if not value >= 0.0:
                raise ValueError(f"packet fault {name} must be >= 0, got {value}")

    @property
    def delays(self) -> bool:
        return self.delay_ms > 0 or self.jitter_ms > 0 or self.reorder > 0


class NetworkControl(Protocol):
    """The network between the nodes of an environment (see the module doc)."""

    def peer_address(self, src: NodeId, dst: NodeId) -> Address:
        """The address node ``src`` must dial to reach node ``dst``."""
        ...

    async def partition(self, blocked: frozenset[Link]) -> None:
        """Drop every message on the directed links in ``blocked`` from now on (replacing
        any earlier partition)."""
        ...

    async def heal(self) -> None:
        """No partition any more."""
        ...

    async def packet(self, faults: PacketFaults | None) -> None:
        """Apply ``faults`` to every link from now on (``None``: none)."""
        ...


@attrs.define(slots=True)
class LinkStats:
    """Counts for one directed link. ``forwarded`` counts the frames (handshakes
    included) accepted for sending; queued frames that meet a partition when due are
    counted again, as batches, in ``dropped_partition``."""

    forwarded: int = 0
    dropped_partition: int = 0
    dropped_loss: int = 0
    duplicated: int = 0
    delayed: int = 0
    reordered: int = 0


@attrs.define(slots=True)
class ProxyStats:
    accepted: int = 0
    refused: int = 0
    cut: int = 0
    links: dict[Link, LinkStats] = attrs.field(factory=dict)

    def link(self, src: NodeId, dst: NodeId) -> LinkStats:
        return self.links.setdefault((src, dst), LinkStats())

    def total(self) -> LinkStats:
        out = LinkStats()
        for stats in self.links.values():
            for field in attrs.fields(LinkStats):
                setattr(out, field.name, getattr(out, field.name) + getattr(stats, field.name))
        return out


class _Connection:
    """One proxied connection on the listener of ``src->dst``."""

    def __init__(self, src: NodeId, dst: NodeId, down: trio.SocketStream) -> None:
        self.src = src
        self.dst = dst
        self.down = down
        self.up: trio.SocketStream | None = None
        self.scope = trio.CancelScope()

    def cut(self) -> None:
        self.scope.cancel()


class FaultProxy:
    """:class:`NetworkControl` on this host. ``targets`` are the nodes' real peer
    addresses. Run it with ``await nursery.start(proxy.serve)``; it binds all listeners
    (ephemeral ports of ``host``) before ``started``, so :meth:`peer_address` is valid
    from then on. Cancelling ``serve`` closes every listener and connection."""

    def __init__(
        self, targets: Mapping[NodeId, Address], rng: random.Random, *, host: str = "127.0.0.1"
    ) -> None:
        if len(targets) < 2:
            raise ValueError("a fault proxy needs at least two nodes")
        self.targets = dict(targets)
        self.rng = rng
        self.host = host
        self.blocked: frozenset[Link] = frozenset()
        self.faults: PacketFaults | None = None
        self.stats = ProxyStats()
        self._addresses: dict[Link, Address] = {}
        self._connections: set[_Connection] = set()

    def peer_address(self, src: NodeId, dst: NodeId) -> Address:
        try:
            return self._addresses[(src, dst)]
        except KeyError:
            raise ValueError(f"the proxy has no listener for link {src}->{dst}") from None

    def peer_args(self, node: NodeId) -> list[str]:
        """``consensus serve`` arguments that make ``node`` dial its peers through the
        proxy: ``--peer B=ADDR`` for every other node ``B``."""
        return [
            arg
            for other in sorted(self.targets)
            if other != node
            for arg in ("--peer", f"{other}={self.peer_address(node, other)}")
        ]

    async def partition(self, blocked: frozenset[Link]) -> None:
        unknown = [link for link in blocked if link not in self._addresses]
        if unknown:
            raise ValueError(f"partition names links without a listener: {sorted(unknown)}")
        self.blocked = frozenset(blocked)
        for conn in list(self._connections):
            if self._cut_off(conn.src, conn.dst):
                self.stats.cut += 1
                conn.cut()
        await trio.lowlevel.checkpoint()

    async def heal(self) -> None:
        await self.partition(frozenset())

    async def packet(self, faults: PacketFaults | None) -> None:
        self.faults = faults
        await trio.lowlevel.checkpoint()

    def _cut_off(self, a: NodeId, b: NodeId) -> bool:
        return (a, b) in self.blocked and (b, a) in self.blocked

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            listeners: list[tuple[Link, trio.SocketListener]] = []
            for src in sorted(self.targets):
                for dst in sorted(self.targets):
                    if src != dst:
                        (listener,) = await trio.open_tcp_listeners(0, host=self.host)
                        port = listener.socket.getsockname()[1]
                        self._addresses[(src, dst)] = Address(self.host, port)
                        listeners.append(((src, dst), listener))
            for (src, dst), listener in listeners:
                nursery.start_soon(self._accept_loop, src, dst, listener)
            task_status.started()

    async def _accept_loop(self, src: NodeId, dst: NodeId, listener: trio.SocketListener) -> None:
        async with listener, trio.open_nursery() as nursery:
            while True:
                stream = await listener.accept()
                if self._cut_off(src, dst):
                    self.stats.refused += 1
                    await trio.aclose_forcefully(stream)
                    continue
                self.stats.accepted += 1
                nursery.start_soon(self._handle, _Connection(src, dst, stream))

    async def _handle(self, conn: _Connection) -> None:
        self._connections.add(conn)
        try:
            with conn.scope:
                target = self.targets[conn.dst]
                try:
                    conn.up = await trio.open_tcp_stream(target.host, target.port)
                except OSError:
                    return
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._pump, conn, conn.down, conn.up, conn.src, conn.dst)
                    nursery.start_soon(self._pump, conn, conn.up, conn.down, conn.dst, conn.src)
        finally:
            self._connections.discard(conn)
            await trio.aclose_forcefully(conn.down)
            if conn.up is not None:
                await trio.aclose_forcefully(conn.up)

    async def _pump(
        self,
        conn: _Connection,
        source: trio.SocketStream,
        sink: trio.SocketStream,
        src: NodeId,
        dst: NodeId,
    ) -> None:
        """Forward ``src->dst`` frames from ``source`` to ``sink``; when either side ends,
        the whole connection ends."""
        try:
            async with trio.open_nursery() as nursery:
                out = _Outbox(sink)
                nursery.start_soon(out.send_loop, self, src, dst)
                await self._read_loop(source, out, src, dst)
                nursery.cancel_scope.cancel()
        except* (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass  # a side closed or reset: the connection ends (the dialer redials)
        finally:
            conn.cut()

    async def _read_loop(
        self, source: trio.SocketStream, out: _Outbox, src: NodeId, dst: NodeId
    ) -> None:
        stats = self.stats.link(src, dst)
        buffer = bytearray()
        handshake_done = False
        while True:
            data = await source.receive_some(256 * 1024)
            if not data:
                return
            buffer += data
            now: float | None = None
            immediate: list[bytes] = []
            while len(buffer) >= _HEADER.size:
                (length,) = _HEADER.unpack_from(buffer)
                if length > FRAME_BYTES_MAX:
                    return
                end = _HEADER.size + length
                if len(buffer) < end:
                    break
                frame = bytes(buffer[:end])
                del buffer[:end]
                if not handshake_done:
                    handshake_done = True
                    stats.forwarded += 1
                    immediate.append(frame)
                    continue
                if (src, dst) in self.blocked:
                    stats.dropped_partition += 1
                    continue
                faults = self.faults
                if faults is None:
                    stats.forwarded += 1
                    immediate.append(frame)
                    continue
                rng = self.rng
                if faults.loss and rng.random() < faults.loss:
                    stats.dropped_loss += 1
                    continue
                copies = 1
                if faults.duplicate and rng.random() < faults.duplicate:
                    copies = 2
                    stats.duplicated += 1
                if not faults.delays and not out.pending:
                    immediate.extend([frame] * copies)
                    stats.forwarded += copies
                    continue
                if now is None:
                    now = trio.current_time()
                if immediate:  # keep order with frames queued before them
                    out.queue_in_order(now, b"".join(immediate))
                    immediate = []
                for _ in range(copies):
                    delay_s = (faults.delay_ms + rng.uniform(0.0, faults.jitter_ms)) / 1000
                    if faults.reorder and rng.random() < faults.reorder:
                        extra = rng.uniform(0.0, faults.reorder_window_ms) / 1000
                        out.queue_any(now + delay_s + extra, frame)
                        stats.reordered += 1
                    else:
                        out.queue_in_order(now + delay_s, frame)
                    if delay_s > 0:
                        stats.delayed += 1
                    stats.forwarded += 1
            if immediate:
                if out.pending:
                    out.queue_in_order(trio.current_time(), b"".join(immediate))
                else:
                    await out.send_now(b"".join(immediate))


class _Outbox:
    """The frames of one direction waiting for their delivery time (a heap), and the
    writer that sends them."""

    def __init__(self, sink: trio.SocketStream) -> None:
        self.sink = sink
        self.heap: list[tuple[float, int, bytes]] = []
        self._order = itertools.count()
        self._last_in_order = 0.0
        self._wake = trio.Event()
        self._sending = False

    @property
    def pending(self) -> bool:
        return bool(self.heap) or self._sending

    def queue_in_order(self, at: float, frame: bytes) -> None:
        """Deliver ``frame`` at ``at``, but never before a frame queued in order earlier."""
        at = max(at, self._last_in_order)
        self._last_in_order = at
        self.queue_any(at, frame)

    def queue_any(self, at: float, frame: bytes) -> None:
        heapq.heappush(self.heap, (at, next(self._order), frame))
        self._wake.set()

    async def send_now(self, data: bytes) -> None:
        self._sending = True
        try:
            await self.sink.send_all(data)
        finally:
            self._sending = False

    async def send_loop(self, proxy: FaultProxy, src: NodeId, dst: NodeId) -> None:
        heap = self.heap
        stats = proxy.stats.link(src, dst)
        while True:
            if not heap:
                self._wake = trio.Event()
                await self._wake.wait()
                continue
            at = heap[0][0]
            if at > trio.current_time():
                self._wake = trio.Event()
                with trio.move_on_at(at):
                    await self._wake.wait()
                continue
            now = trio.current_time()
            due: list[bytes] = []
            while heap and heap[0][0] <= now:
                due.append(heapq.heappop(heap)[2])
            if (src, dst) in proxy.blocked:  # a partition began while they waited
                stats.dropped_partition += len(due)
                continue
            self._sending = True
            try:
                await self.sink.send_all(b"".join(due))
            finally:
                self._sending = False
