"""In-process nodes over real TCP on 127.0.0.1 (one Trio program, real clock)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import trio

from consensus.runtime.config import NodeConfig, build_config
from consensus.runtime.local import free_ports
from consensus.runtime.node import Node
from statemachines.kv import KvStateMachine


def cluster_configs(
    size: int = 3, data_root: Path | None = None, **extra: object
) -> list[NodeConfig]:
    ports = free_ports(2 * size)
    peers = [f"{i}=127.0.0.1:{ports[2 * i - 2]}" for i in range(1, size + 1)]
    configs = []
    for i in range(1, size + 1):
        configs.append(
            build_config(
                node_id=i,
                cluster_id="t",
                listen=f"127.0.0.1:{ports[2 * i - 2]}",
                peers=[p for p in peers if not p.startswith(f"{i}=")],
                client_listen=f"127.0.0.1:{ports[2 * i - 1]}",
                data_dir=data_root / f"n{i}" if data_root else None,
                **extra,  # type: ignore[arg-type]
            )
        )
    return configs


def endpoints(configs: list[NodeConfig]) -> list[str]:
    return [str(c.client_listen) for c in configs]


@contextlib.asynccontextmanager
async def running_nodes(configs: list[NodeConfig]) -> AsyncIterator[dict[int, Node]]:
    nodes = {c.node_id: Node(c, KvStateMachine(), seed=c.node_id) for c in configs}
    async with trio.open_nursery() as nursery:
        for node in nodes.values():
            await nursery.start(node.run)
        yield nodes
        nursery.cancel_scope.cancel()


async def wait_leader(nodes: dict[int, Node], timeout_s: float = 10) -> int:
    with trio.fail_after(timeout_s):
        while True:
            leaders = [
                i for i, n in nodes.items() if n.log is not None and n.log.status().role == "leader"
            ]
            if len(leaders) == 1:
                return leaders[0]
            await trio.sleep(0.01)
