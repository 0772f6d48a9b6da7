"""examples/lock.py against in-process TCP nodes: a second holder waits for the first to
release, and takes over when the first dies (its lease expires)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import trio

from consensus.client import KvClient

from .tcp_harness import cluster_configs, endpoints, running_nodes, wait_leader

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _lock_module() -> Any:
    spec = importlib.util.spec_from_file_location("lock_example", EXAMPLES / "lock.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_lock_waits_for_release_and_for_a_dead_holders_lease() -> None:
    lock = _lock_module()
    configs = cluster_configs()
    async with running_nodes(configs) as nodes:
        await wait_leader(nodes)
        points = endpoints(configs)
        order: list[str] = []
        async with KvClient(points) as a, KvClient(points) as b:
            first_holds = trio.Event()

            async def holder_a() -> None:
                async with lock.locked(a, "job", ttl_ms=600):
                    order.append("a acquired")
                    first_holds.set()
                    while len(order) < 2:  # until b is seen waiting
                        await trio.sleep(0.05)
                    order.append("a releases")

            async def holder_b() -> None:
                await first_holds.wait()
                order.append("b waits")
                async with lock.locked(b, "job", ttl_ms=600):
                    order.append("b acquired")

            async with trio.open_nursery() as nursery:
                nursery.start_soon(holder_a)
                nursery.start_soon(holder_b)
            assert order == ["a acquired", "b waits", "a releases", "b acquired"]
            assert await a.get("locks/job") is None  # released: the key went with the lease

            # A holder that dies (no keep-alive, no release): its lease expires by the
            # leader's clock ticks.
            dead = (await a.grant_lease(300)).lease_id
            await lock.acquire(a, "job", dead)
            assert await b.get("locks/job") == str(dead).encode()
            async with lock.locked(b, "job", ttl_ms=600) as lease_id:
                assert await b.get("locks/job") == str(lease_id).encode()
            assert await b.get("locks/job") is None
        done = await trio.run_process(
            [sys.executable, str(EXAMPLES / "lock.py"), ",".join(points), "cli", "0"],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
        out = done.stdout.decode()
        assert done.returncode == 0, done.stderr
        assert out.startswith("acquired locks/cli (lease ") and "released" in out
