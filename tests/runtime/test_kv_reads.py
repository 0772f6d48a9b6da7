"""Read consistency: ``linearizable`` (read barrier) against ``stale`` (the answering
node's applied state, no barrier), over a simulated cluster (Raft and Multi-Paxos) with a
follower cut off, and through the TCP client and ``consensus kv --consistency``."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from consensus.client import KvClient
from consensus.client.kv import KvSession
from consensus.client.protocol import Consistency
from consensus.errors import NotLeader, ProposalDropped
from consensus.runtime.errors import Timeout
from consensus.types import NodeId
from statemachines.kv import KvStateMachine

from .harness import SimCluster
from .tcp_harness import cluster_configs, endpoints, running_nodes, wait_leader
from .test_kv import LogBackend, kv


class NodeBackend(LogBackend):
    """Writes and linearizable reads through the leader; stale reads at ``node``."""

    def __init__(self, cluster: SimCluster, node: NodeId) -> None:
        super().__init__(cluster)
        self.node = node

    async def query(self, query: bytes, *, consistency: Consistency = "linearizable") -> bytes:
        if consistency == "stale":
            return self.cluster.logs[self.node].query_local(query)
        return await super().query(query)


async def _all_applied(cluster: SimCluster) -> None:
    target = max(log.status().applied_index for log in cluster.logs.values())
    while min(log.status().applied_index for log in cluster.logs.values()) < target:
        await trio.sleep(0.01)


@pytest.mark.parametrize("protocol", ["raft", "multipaxos"])
async def test_stale_read_at_a_cut_off_follower_is_old_linearizable_is_not(
    protocol: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery:
        cluster = SimCluster(nursery, protocol=protocol, machine=KvStateMachine)
        await cluster.start_all()
        leader = await cluster.wait_leader()
        follower = next(n for n in cluster.ids if n != leader)
        now = lambda: int(trio.current_time() * 1000)  # noqa: E731
        kv = KvSession(NodeBackend(cluster, follower), now_ms=now)
        await kv.put("x", b"old")
        await _all_applied(cluster)
        assert await kv.get("x", consistency="stale") == b"old"

        cluster.network.isolate(follower)
        await kv.put("x", b"new")  # committed by the other two
        await kv.put("y", b"1")
        assert await kv.get("x") == b"new"  # linearizable (the default)
        assert await kv.get("x", consistency="linearizable") == b"new"
        # The cut-off follower answers stale reads from what it applied: old data.
        stale = await kv.get_kv("x", consistency="stale")
        assert stale is not None and stale.value == b"old" and stale.mod_revision == 1
        listing = await kv.range("", prefix=True, consistency="stale")
        assert [p.key for p in listing.kvs] == ["x"] and listing.revision == 1
        fresh = await kv.range("", prefix=True)
        assert [p.key for p in fresh.kvs] == ["x", "y"] and fresh.revision == 3
        # ...and cannot serve a linearizable read itself.
        with pytest.raises((NotLeader, ProposalDropped, Timeout)):
            await cluster.logs[follower].query(b"", timeout_s=1.0)

        cluster.network.heal()
        while await kv.get("x", consistency="stale") != b"new":
            await trio.sleep(0.05)  # it catches up once reconnected
        assert (await kv.range("", prefix=True, consistency="stale")).revision == 3
        nursery.cancel_scope.cancel()


async def test_stale_reads_through_the_client_and_the_cli() -> None:
    configs = cluster_configs()
    async with running_nodes(configs) as nodes:
        leader = await wait_leader(nodes)
        points = endpoints(configs)
        at_leader = [points[leader - 1]] + [p for p in points if p != points[leader - 1]]
        async with KvClient(at_leader) as client:
            await client.put("k", b"v1")
            # The first endpoint answers (the leader here, which applied the put).
            assert await client.get("k", consistency="stale") == b"v1"
            listing = await client.range("", prefix=True, consistency="stale")
            assert [p.key for p in listing.kvs] == ["k"]
            with pytest.raises(ValueError, match="consistency is one of"):
                await client.query(b"", consistency="eventual")  # type: ignore[arg-type]
        code, out, err = await kv(",".join(at_leader), "get", "k", "--consistency", "stale")
        assert (code, out) == (0, "v1\n"), err
        code, out, err = await kv(",".join(points), "range", "", "--consistency", "linearizable")
        assert code == 0 and out.startswith("k = v1"), err
        code, _, err = await kv(",".join(points), "get", "k", "--consistency", "eventual")
        assert code == 2 and "invalid choice" in err
