"""The peer handshake: cluster id and node id, before any protocol message.

The dialing node sends :class:`Hello`; the accepting node answers :class:`HelloAck` or
:class:`HelloReject` (then closes). A peer from another cluster, an unknown node id, or a
node that should not be dialing us is refused with a reason both sides log. Handshake
records use their own codec (type ids 128-135) with a small frame limit, so a stray
client or a random byte stream is refused after at most ``HANDSHAKE_FRAME_BYTES_MAX``
bytes.
"""

from __future__ import annotations

import contextlib
from typing import Any

import attrs
import trio

from ..codec import FRAME_HEADER, Codec, DecodeError
from ..types import NodeId

HANDSHAKE_VERSION = 1
HANDSHAKE_FRAME_BYTES_MAX = 4096


class HandshakeError(Exception):
    """The handshake failed; the message says why (and whose fault it was)."""


@attrs.frozen(slots=True)
class Hello:
    """Sent by the dialer: who it is, and who it thinks it is talking to."""

    version: int
    cluster_id: str
    node_id: int
    peer_id: int


@attrs.frozen(slots=True)
class HelloAck:
    cluster_id: str
    node_id: int


@attrs.frozen(slots=True)
class HelloReject:
    reason: str


HANDSHAKE = Codec(
    {128: Hello, 129: HelloAck, 130: HelloReject}, frame_bytes_max=HANDSHAKE_FRAME_BYTES_MAX
)


async def read_frame(stream: trio.abc.ReceiveStream, codec: Codec) -> Any:
    """Read exactly one frame (no more bytes) and decode it; ``DecodeError`` on bad input,
    ``HandshakeError`` on end of stream."""
    header = await _read_exact(stream, FRAME_HEADER.size)
    (length,) = FRAME_HEADER.unpack(header)
    if length > codec.frame_bytes_max:
        raise DecodeError(f"frame of {length} bytes is over the limit of {codec.frame_bytes_max}")
    return codec.decode(await _read_exact(stream, length))


async def _read_exact(stream: trio.abc.ReceiveStream, count: int) -> bytes:
    buf = bytearray()
    while len(buf) < count:
        chunk = await stream.receive_some(count - len(buf))
        if not chunk:
            raise HandshakeError("connection closed during the handshake")
        buf += chunk
    return bytes(buf)


async def dial(stream: trio.abc.Stream, cluster_id: str, node_id: NodeId, peer_id: NodeId) -> None:
    """Introduce ourselves to ``peer_id`` and check its answer."""
    await stream.send_all(
        HANDSHAKE.encode_frame(Hello(HANDSHAKE_VERSION, cluster_id, node_id, peer_id))
    )
    answer = await read_frame(stream, HANDSHAKE)
    if isinstance(answer, HelloReject):
        raise HandshakeError(f"node {peer_id} refused us: {answer.reason}")
    if not isinstance(answer, HelloAck):
        raise HandshakeError(f"expected HelloAck from node {peer_id}, got {type(answer).__name__}")
    if answer.cluster_id != cluster_id:
        raise HandshakeError(
            f"peer at node {peer_id}'s address is in cluster {answer.cluster_id!r}, "
            f"not {cluster_id!r}"
        )
    if answer.node_id != peer_id:
        raise HandshakeError(f"expected node {peer_id} at its address, found node {answer.node_id}")


def check_hello(
    hello: Any, cluster_id: str, node_id: NodeId, allowed_dialers: frozenset[NodeId]
) -> str | None:
    """Why ``hello`` must be refused, or None if the dialer is welcome."""
    if not isinstance(hello, Hello):
        return f"expected Hello, got {type(hello).__name__}"
    if hello.version != HANDSHAKE_VERSION:
        return f"handshake version {hello.version} is not supported (want {HANDSHAKE_VERSION})"
    if hello.cluster_id != cluster_id:
        return f"cluster id {hello.cluster_id!r} is not this cluster ({cluster_id!r})"
    if hello.peer_id != node_id:
        return f"dialer wanted node {hello.peer_id}, this is node {node_id}"
    if hello.node_id not in allowed_dialers:
        return f"node id {hello.node_id} is not a peer that dials this node"
    return None


async def accept(
    stream: trio.abc.Stream, cluster_id: str, node_id: NodeId, allowed_dialers: frozenset[NodeId]
) -> NodeId:
    """Read the dialer's Hello; answer; return its node id or raise ``HandshakeError``."""
    hello = await read_frame(stream, HANDSHAKE)
    reason = check_hello(hello, cluster_id, node_id, allowed_dialers)
    if reason is not None:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await stream.send_all(HANDSHAKE.encode_frame(HelloReject(reason)))
        raise HandshakeError(f"refused a peer: {reason}")
    await stream.send_all(HANDSHAKE.encode_frame(HelloAck(cluster_id, node_id)))
    assert isinstance(hello, Hello)
    return hello.node_id
