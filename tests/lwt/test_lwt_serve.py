"""``paxos-lwt`` served over real TCP: in-process nodes, the same Trio key-value client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

from consensus.client import KvClient
from consensus.client.kv import KvError
from consensus.runtime.config import NodeConfig, build_config
from consensus.runtime.local import free_ports
from consensus.runtime.node import Node, StartupError
from statemachines.kv import KvStateMachine
from statemachines.kv_commands import Put
from statemachines.kv_lwt import RANGE_REFUSED, STALE_REFUSED, TXN_REFUSED, KvRegisters


def configs(size: int = 3, data_root: Path | None = None) -> list[NodeConfig]:
    ports = free_ports(2 * size)
    peers = [f"{i}=127.0.0.1:{ports[2 * i - 2]}" for i in range(1, size + 1)]
    return [
        build_config(
            node_id=i,
            cluster_id="lwt",
            protocol="paxos-lwt",
            listen=f"127.0.0.1:{ports[2 * i - 2]}",
            peers=[p for p in peers if not p.startswith(f"{i}=")],
            client_listen=f"127.0.0.1:{ports[2 * i - 1]}",
            data_dir=data_root / f"n{i}" if data_root else None,
        )
        for i in range(1, size + 1)
    ]


@contextlib.asynccontextmanager
async def running(cfgs: list[NodeConfig]) -> AsyncIterator[dict[int, Node]]:
    nodes = {c.node_id: Node(c, KvRegisters(), seed=c.node_id) for c in cfgs}
    async with trio.open_nursery() as nursery:
        for node in nodes.values():
            await nursery.start(node.run)
        yield nodes
        nursery.cancel_scope.cancel()


async def test_every_node_coordinates_the_key_value_operations() -> None:
    cfgs = configs()
    eps = [str(c.client_listen) for c in cfgs]
    async with running(cfgs) as nodes:
        async with (
            KvClient([eps[0]]) as one,
            KvClient([eps[1]]) as two,
            KvClient([eps[2]]) as three,
        ):
            assert await one.put("k", b"v1") is None
            assert await two.get("k") == b"v1"
            assert await three.put("k", b"v2") == b"v1"
            cond = await one.cas("k", b"v3", expected_value=b"v1")
            assert not cond.applied and cond.kv is not None and cond.kv.value == b"v2"
            cond = await two.cas("k", b"v3", expected_version=2)
            assert cond.applied and cond.kv is not None and cond.kv.mod_revision == 3
            assert (await three.put_if_absent("k", b"x")).applied is False
            assert (await one.delete("k")).prev is not None
            assert await two.get("k") is None
            with pytest.raises(KvError, match="multi-key transactions are not offered"):
                await one.txn([], [Put("a", b"1")], [])
            with pytest.raises(KvError, match="range is not offered"):
                await two.range("a")
            with pytest.raises(KvError, match="stale reads are not offered"):
                await three.get("k", consistency="stale")
            status = await one.status(eps[1])
        assert status.protocol == "paxos-lwt" and status.leader is None
        for node in nodes.values():  # no node led: each served its own client
            assert node.log is not None and not node.log.is_leader()
    assert "one key" in TXN_REFUSED and "unordered" in RANGE_REFUSED and STALE_REFUSED


async def test_durable_registers_survive_a_restart_of_every_node(tmp_path: Path) -> None:
    cfgs = configs(data_root=tmp_path)
    eps = [str(c.client_listen) for c in cfgs]
    async with running(cfgs), KvClient(eps) as kv:
        for i in range(20):
            await kv.put(f"key-{i}", b"%d" % i)
        assert (await kv.cas("key-3", b"three", expected_value=b"3")).applied
    async with running(cfgs), KvClient(eps[::-1]) as kv:
        assert await kv.get("key-3") == b"three"
        assert await kv.get("key-19") == b"19"
        kv_pair = await kv.get_kv("key-5")
        assert kv_pair is not None and kv_pair.version == 1


async def test_a_data_dir_of_another_protocol_is_refused(tmp_path: Path) -> None:
    cfg = configs(size=1, data_root=tmp_path)[0]
    raft = build_config(
        node_id=1,
        cluster_id="lwt",
        listen=f"127.0.0.1:{free_ports(1)[0]}",
        data_dir=cfg.data_dir,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(Node(raft, KvStateMachine()).run)
        nursery.cancel_scope.cancel()
    with pytest.raises(StartupError, match="holds raft data, not paxos-lwt"):
        await Node(cfg, KvRegisters()).run()


async def test_consensus_serve_runs_the_registers_for_paxos_lwt() -> None:
    from consensus.cli.serve import serve

    cfg = configs(size=1)[0]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve, cfg)
        async with KvClient([str(cfg.client_listen)], timeout_s=5) as kv:
            assert await kv.put("k", b"v") is None
            with pytest.raises(KvError, match="multi-key transactions are not offered"):
                await kv.txn([], [Put("a", b"1")], [])
            assert (await kv.status(str(cfg.client_listen))).protocol == "paxos-lwt"
        nursery.cancel_scope.cancel()
