"""The client library's pipelining: many sessions over one connection, one dial for
concurrent first requests, per-attempt deadlines without a cancel scope per request."""

from __future__ import annotations

import pytest
import trio

from consensus.client import ClientTimeout, KvClient
from consensus.runtime.local import free_ports

from .tcp_harness import cluster_configs, endpoints, running_nodes, wait_leader


async def test_many_sessions_share_one_connection_and_batches() -> None:
    configs = cluster_configs()
    async with running_nodes(configs) as nodes:
        leader = await wait_leader(nodes)
        server, replicated = nodes[leader].server, nodes[leader].log
        assert server is not None and replicated is not None
        driver = replicated.driver
        async with KvClient([str(configs[leader - 1].client_listen)]) as kv:
            await kv.put("warm", b"up")
            connections, readies = server.connections, driver.readies
            sessions = [kv.session() for _ in range(20)]
            results: dict[tuple[int, int], bytes | None] = {}

            async def writer(n: int) -> None:
                for k in range(5):
                    results[(n, k)] = await sessions[n].put(f"s{n}", b"%d" % k)

            async with trio.open_nursery() as nursery:
                for n in range(20):
                    nursery.start_soon(writer, n)
            assert server.connections == connections, "a session opened its own connection"
            assert driver.readies - readies < 60, "100 writes were not batched"
            for n in range(20):  # each session's writes applied in order, exactly once
                assert results[(n, 0)] is None
                assert [results[(n, k)] for k in range(1, 5)] == [b"0", b"1", b"2", b"3"]
                assert await sessions[n].get(f"s{n}") == b"4"
        assert len({s.client_id for s in sessions}) == 20


async def test_concurrent_first_requests_dial_once() -> None:
    configs = cluster_configs(size=1)
    async with running_nodes(configs) as nodes:
        await wait_leader(nodes)
        server = nodes[1].server
        assert server is not None
        async with KvClient(endpoints(configs)) as kv:
            async with trio.open_nursery() as nursery:
                for n in range(10):
                    nursery.start_soon(kv.put, f"k{n}", b"v")
            assert server.connections == 1


async def _silent_server(task_status: trio.TaskStatus[str]) -> None:
    """Accepts connections and never answers (a hung node)."""
    port = free_ports(1)[0]
    listeners = await trio.open_tcp_listeners(port, host="127.0.0.1")

    async def hold(stream: trio.SocketStream) -> None:
        async with stream:
            await trio.sleep_forever()

    task_status.started(f"127.0.0.1:{port}")
    await trio.serve_listeners(hold, listeners)


async def test_attempt_deadline_moves_on_from_a_hung_node() -> None:
    configs = cluster_configs(size=1)
    async with trio.open_nursery() as nursery:
        hung = await nursery.start(_silent_server)
        async with running_nodes(configs) as nodes:
            await wait_leader(nodes)
            async with KvClient([hung, *endpoints(configs)], attempt_timeout_s=0.2) as kv:
                start = trio.current_time()
                assert await kv.put("k", b"v") is None
                assert 0.2 <= trio.current_time() - start < 2.0
                assert kv.leader == endpoints(configs)[0]
            async with KvClient([hung], timeout_s=0.5, attempt_timeout_s=0.2) as kv:
                start = trio.current_time()
                with pytest.raises(ClientTimeout, match=r"no answer within 0.5s \(last: "):
                    await kv.put("k", b"v")
                assert trio.current_time() - start < 1.5
        nursery.cancel_scope.cancel()
