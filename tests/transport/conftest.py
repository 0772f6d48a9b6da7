"""Makers that build connected transports for the conformance suite and other tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence

import trio

from consensus.messages import Heartbeat
from consensus.transport import (
    Address,
    SimNetwork,
    TcpOptions,
    TcpTransport,
    TlsConfig,
    Transport,
    bind_listeners,
)
from consensus.types import NodeId


@contextlib.asynccontextmanager
async def sim_cluster(
    ids: Sequence[NodeId], seed: int = 1
) -> AsyncIterator[Mapping[NodeId, Transport]]:
    network = SimNetwork(seed)
    nodes = {i: network.endpoint(i) for i in ids}
    async with trio.open_nursery() as nursery:
        nursery.start_soon(network.run)
        yield nodes
        nursery.cancel_scope.cancel()


@contextlib.asynccontextmanager
async def tcp_cluster(
    ids: Sequence[NodeId],
    *,
    cluster_id: str = "test",
    tls: Mapping[NodeId, TlsConfig | None] | None = None,
    options: TcpOptions | None = None,
    wait_connected: bool = True,
) -> AsyncIterator[dict[NodeId, TcpTransport]]:
    """Transports on 127.0.0.1 free ports, fully connected before the body runs."""
    listeners = {i: await bind_listeners(Address("127.0.0.1", 0)) for i in ids}
    addresses = {
        i: Address("127.0.0.1", ls[0].socket.getsockname()[1]) for i, ls in listeners.items()
    }
    nodes = {
        i: TcpTransport(i, cluster_id, addresses, tls=(tls or {}).get(i), options=options, seed=i)
        for i in ids
    }
    async with trio.open_nursery() as nursery:
        for i, transport in nodes.items():
            transport.listen_address = addresses[i]
            await nursery.start(transport.run, listeners[i])
        if wait_connected:
            with trio.fail_after(10):
                while not all(
                    n.connected(p) for n in nodes.values() for p in ids if p != n.node_id
                ):
                    await trio.sleep(0.005)
        yield nodes
        nursery.cancel_scope.cancel()


def heartbeat(src: int, dst: int, n: int = 1) -> Heartbeat:
    """A small Raft message to send between two test transports."""
    return Heartbeat(src=src, dst=dst, term=1, commit=n)


async def eventually_delivered(a: TcpTransport, b: TcpTransport) -> None:
    """Send ``a`` -> ``b`` until one arrives (a connection may still be dialling)."""
    with trio.fail_after(10):
        while True:
            a.send(heartbeat(a.node_id, b.node_id, 5))
            with trio.move_on_after(0.1):
                if await b.inbox.receive() == heartbeat(a.node_id, b.node_id, 5):
                    return
