"""Membership over real TCP, in one Trio program: a joiner node started with ``join``,
added, promoted, an old node removed, through the Trio client; status shows the
configuration; refusals come back as ``ChangeRefused``."""

from __future__ import annotations

import pytest
import trio

from consensus.client import ChangeRefused, Client, KvClient
from consensus.runtime.config import build_config
from consensus.runtime.local import free_ports
from consensus.runtime.node import Node
from statemachines.kv import KvStateMachine

from .tcp_harness import cluster_configs, endpoints, running_nodes, wait_leader


async def _retry_change(call: object, *args: object) -> object:
    """A change, retried while the cluster is not ready for it (new leader's no-op, a
    learner still catching up)."""
    with trio.fail_after(15):
        while True:
            try:
                return await call(*args)  # type: ignore[operator]
            except ChangeRefused as exc:
                if "yet" not in str(exc) and "behind" not in str(exc):
                    raise
            await trio.sleep(0.05)


@pytest.mark.parametrize("protocol", ["raft", "multipaxos"])
async def test_join_add_promote_remove_over_tcp(protocol: str) -> None:
    configs = cluster_configs(3, protocol=protocol)
    eps = endpoints(configs)
    peer_port, client_port = free_ports(2)
    joiner = build_config(
        node_id=4,
        cluster_id="t",
        listen=f"127.0.0.1:{peer_port}",
        peers=[f"{c.node_id}={c.listen}" for c in configs],
        client_listen=f"127.0.0.1:{client_port}",
        join=True,
        protocol=protocol,
    )
    assert joiner.voters == (1, 2, 3)
    async with running_nodes(configs) as nodes, trio.open_nursery() as nursery:
        await wait_leader(nodes)
        node4 = Node(joiner, KvStateMachine(), seed=4)
        await nursery.start(node4.run)
        async with KvClient(eps) as kv, Client(eps) as client:
            await kv.put("a", b"1")
            reply = await client.member_list()
            assert [(m.node_id, m.role) for m in reply.members] == [
                (1, "voter"),
                (2, "voter"),
                (3, "voter"),
            ]
            with pytest.raises(ChangeRefused, match="not a learner"):
                await client.member_promote(4)
            reply = await _retry_change(client.member_add, 4, str(joiner.listen))  # type: ignore[assignment]
            assert [(m.node_id, m.role) for m in reply.members][-1] == (4, "learner")
            with trio.fail_after(10):  # the learner receives the log
                while node4.state_machine.revision < 1:  # type: ignore[attr-defined]
                    await trio.sleep(0.02)
            await _retry_change(client.member_promote, 4)
            reply = await _retry_change(client.member_remove, 1)  # type: ignore[assignment]
            assert [(m.node_id, m.role) for m in reply.members] == [
                (2, "voter"),
                (3, "voter"),
                (4, "voter"),
            ]
        eps2 = [str(c.client_listen) for c in configs[1:]] + [str(joiner.client_listen)]
        async with KvClient(eps2) as kv, Client(eps2) as client:
            await kv.put("b", b"2")
            assert await kv.get("a") == b"1"
            statuses = [await client.status(e) for e in eps2]
            leader = next(s for s in statuses if s.role == "leader")
            assert leader.voters == (2, 3, 4)
            assert [p.node_id for p in leader.progress] == [2, 3, 4]
        assert node4.transport is not None and 1 not in node4.transport.peer_addresses()
        nursery.cancel_scope.cancel()
