"""A scripted sim run for the determinism test: ``python sim_script.py SEED PROTOCOL
[NEMESIS]`` prints one line per operation (virtual time, client, operation, result),
then the faults, the snapshots' digests and the invariant verdict.

Three clients do puts, gets and compare-and-sets on two keys while the nemesis
partitions the leader away, kills a node, restarts it and heals."""

from __future__ import annotations

import hashlib
import sys
import tempfile
from typing import Any, cast

import trio

from jepsen_lite.runner.api import Cluster, TestSpec, derive_rng
from jepsen_lite.runner.envs.sim import SimCluster, SimEnvironment


async def scripted(cluster: Cluster, seed: int, lines: list[str]) -> None:
    sim = cast(SimCluster, cluster)

    def note(text: str) -> None:
        lines.append(f"{cluster.now():.6f} {text}")

    async def client(k: int) -> None:
        rng = derive_rng(seed, f"script-client-{k}")
        async with cluster.session() as kv:
            for i in range(25):
                key = f"k{rng.randrange(2)}"
                op = rng.choice(["put", "get", "cas"])
                result: Any
                try:
                    if op == "put":
                        result = await kv.put(key, f"{k}-{i}".encode())
                    elif op == "get":
                        result = await kv.get(key)
                    else:
                        res = await kv.cas(key, f"{k}-{i}".encode(), expected_value=b"0-0")
                        result = res.applied
                except Exception as exc:
                    result = type(exc).__name__
                note(f"c{k} {op} {key} {result!r}")
                await trio.sleep(rng.uniform(0, 0.05))

    async def nemesis() -> None:
        await trio.sleep(0.3)
        leader = await cluster.leader()
        note(f"nemesis leader {leader}")
        if leader is not None:
            blocked = frozenset(
                (a, b) for a in cluster.nodes for b in cluster.nodes if a != b and leader in (a, b)
            )
            await cluster.partition(blocked)
            note("nemesis partition")
        await trio.sleep(0.5)
        await cluster.kill(2)
        note("nemesis kill 2")
        await trio.sleep(0.5)
        await cluster.heal_network()
        await cluster.restart(2)
        note("nemesis heal, restart 2")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(nemesis)
        for k in range(3):
            nursery.start_soon(client, k)
    snaps = await cluster.snapshots()
    for node, snap in sorted(snaps.items()):
        digest = None if snap is None else hashlib.sha256(snap).hexdigest()[:16]
        note(f"snapshot {node} {digest}")
    note(f"violations {sim.invariant_violations()!r} messages {sim.network._seq}")


def main(argv: list[str]) -> None:
    seed, protocol = int(argv[1]), argv[2]
    nemesis = frozenset(argv[3].split(",")) if len(argv) > 3 else frozenset()
    spec = TestSpec(protocol=protocol, nodes=3, seed=seed, nemesis=nemesis)
    lines: list[str] = []

    async def body(cluster: Cluster) -> None:
        await scripted(cluster, seed, lines)

    with tempfile.TemporaryDirectory() as run_dir:
        SimEnvironment().run(spec, run_dir, body)
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv)
