"""TCP transport: peers added and removed at run time (membership changes)."""

from __future__ import annotations

import trio

from consensus.transport import Address, TcpTransport, bind_listeners

from .conftest import eventually_delivered, heartbeat, tcp_cluster


async def test_add_then_remove_a_peer_at_run_time() -> None:
    async with tcp_cluster((1, 2)) as nodes, trio.open_nursery() as nursery:
        listeners = await bind_listeners(Address("127.0.0.1", 0))
        addr3 = Address("127.0.0.1", listeners[0].socket.getsockname()[1])
        peers = {n: t.listen_address for n, t in nodes.items()}
        assert all(a is not None for a in peers.values())
        node3 = TcpTransport(3, "test", {n: a for n, a in peers.items() if a is not None})
        await nursery.start(node3.run, listeners)
        assert not nodes[1].send(heartbeat(1, 3))  # unknown yet: dropped and counted
        assert nodes[1].stats.dropped_unknown_peer == 1
        for n in (1, 2):
            nodes[n].add_peer(3, addr3)  # lower ids dial the new, higher one
        assert 3 in nodes[1].peer_addresses()
        await eventually_delivered(nodes[1], node3)
        await eventually_delivered(node3, nodes[2])
        nodes[1].remove_peer(3)
        assert 3 not in nodes[1].peer_addresses()
        assert not nodes[1].send(heartbeat(1, 3))
        with trio.fail_after(10):  # node 3's link to node 1 goes down and is not redialled
            while node3.connected(1):
                await trio.sleep(0.01)
        await eventually_delivered(nodes[2], node3)  # the other link is untouched
        nodes[1].remove_peer(3)  # idempotent
        nursery.cancel_scope.cancel()
