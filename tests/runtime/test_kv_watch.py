"""Watch through the client: over a simulated cluster (Raft and Multi-Paxos) while the
node being polled changes to one that is behind, compaction, and ``consensus kv watch``
against in-process TCP nodes."""

from __future__ import annotations

import json

import pytest
import trio
import trio.testing

from consensus.client import KvClient, WatchCompacted
from consensus.client.kv import KvSession
from consensus.types import NodeId
from statemachines.kv import KvStateMachine
from statemachines.kv_commands import KvConfig, WatchEvent

from .harness import SimCluster
from .tcp_harness import cluster_configs, endpoints, running_nodes, wait_leader
from .test_kv import kv
from .test_kv_reads import NodeBackend


@pytest.mark.parametrize("protocol", ["raft", "multipaxos"])
async def test_watch_resumes_at_another_node_without_repeats_or_gaps(
    protocol: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery:
        cluster = SimCluster(nursery, protocol=protocol, machine=KvStateMachine)
        await cluster.start_all()
        leader = await cluster.wait_leader()
        follower: NodeId = next(n for n in cluster.ids if n != leader)
        backend = NodeBackend(cluster, leader)  # stale reads (the watch polls) at the leader
        session = KvSession(backend, now_ms=lambda: int(trio.current_time() * 1000))
        await session.put("k", b"1")  # revision 1
        cluster.network.isolate(follower)  # it stays at revision 1
        await session.put("other", b"x")  # 2: not under "k"
        await session.put("k", b"2")  # 3
        events: list[WatchEvent] = []

        async def collect() -> None:
            async for event in session.watch("k", from_revision=1, poll_s=0.05):
                events.append(event)

        nursery.start_soon(collect)
        while len(events) < 2:
            await trio.sleep(0.05)
        backend.node = follower  # the watch moves to a node that is behind
        await session.delete("k")  # 4
        await trio.sleep(2)
        assert [e.revision for e in events] == [1, 3]  # nothing new, nothing repeated
        cluster.network.heal()
        while len(events) < 3:
            await trio.sleep(0.05)
        assert [(e.revision, e.type, e.kv.value) for e in events] == [
            (1, "put", b"1"),
            (3, "put", b"2"),
            (4, "delete", b"2"),
        ]
        nursery.cancel_scope.cancel()


async def test_watch_from_a_compacted_revision_names_the_oldest_served(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        cluster = SimCluster(
            nursery, machine=lambda: KvStateMachine(KvConfig(watch_history_revisions=2))
        )
        await cluster.start_all()
        session = KvSession(NodeBackend(cluster, await cluster.wait_leader()))
        for n in range(4):
            await session.put("k", b"%d" % n)
        with pytest.raises(WatchCompacted, match="oldest revision still served is 3") as info:
            await session.watch_once("k", from_revision=1)
        assert info.value.oldest_revision == 3
        kept = await session.watch_once("k", from_revision=3)
        assert [e.kv.value for e in kept.events] == [b"2", b"3"]
        nursery.cancel_scope.cancel()


async def test_watch_through_the_cli() -> None:
    configs = cluster_configs()
    async with running_nodes(configs) as nodes:
        leader = await wait_leader(nodes)
        points = endpoints(configs)
        at_leader = ",".join([points[leader - 1]] + [p for p in points if p != points[leader - 1]])
        async with KvClient(points) as client:
            await client.put("w/a", b"1")  # revision 1
            await client.put("w/b", b"2")  # 2
            await client.delete("w/a")  # 3
            code, out, err = await kv(
                at_leader, "watch", "w/", "--prefix", "--from-revision", "1", "--count", "3"
            )
            assert code == 0, err
            assert out.splitlines() == [
                "PUT w/a = 1  (version 1, created at revision 1, modified at 1)",
                "PUT w/b = 2  (version 1, created at revision 2, modified at 2)",
                "DELETE w/a  (revision 3; was 1)",
            ]
            code, out, err = await kv(
                at_leader, "--json", "watch", "w/b", "--from-revision", "1", "--count", "1"
            )
            assert code == 0, err
            assert json.loads(out) == {
                "revision": 2,
                "type": "put",
                "kv": {
                    "key": "w/b",
                    "value": "2",
                    "create_revision": 2,
                    "mod_revision": 2,
                    "version": 1,
                },
            }
            # A live watch: started from the next revision, it prints the put made after.
            async with trio.open_nursery() as nursery:
                done: list[tuple[int, str, str]] = []

                async def watch() -> None:
                    done.append(
                        await kv(
                            at_leader,
                            "watch",
                            "w/c",
                            "--from-revision",
                            "4",
                            "--count",
                            "1",
                            "--timeout",
                            "60",
                        )
                    )

                nursery.start_soon(watch)
                await client.put("w/c", b"live")
            assert done[0][0] == 0 and done[0][1].startswith("PUT w/c = live"), done
        # Fewer events than --count before the watch's --timeout: exit 1.
        code, out, err = await kv(
            at_leader, "watch", "w/a", "--from-revision", "1", "--count", "5", "--timeout", "1"
        )
        assert code == 1 and out.count("\n") == 2, err
