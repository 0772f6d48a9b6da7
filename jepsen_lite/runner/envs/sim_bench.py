"""Speed of the sim environment: virtual seconds per wall second.

``python -m jepsen_lite.runner.envs.sim_bench [--time 60] [--nodes 5] [--clients 10]
[--rate 50]`` runs, for raft and multipaxos with memory and disk storage, ``clients``
sessions doing an open-loop mix of puts and gets (``rate`` operations per second over
all clients) on 20 keys for ``time`` virtual seconds, and prints one line per setup: the
operations that completed and the ratio of virtual to wall time, and to the CPU time
of this process (less sensitive to other load on a shared machine). A benchmark, not a
test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import trio

from ..api import Cluster, TestSpec, derive_rng
from .sim import SimEnvironment


async def load(cluster: Cluster, seed: int, clients: int, rate: float, seconds: float) -> int:
    """Run the mix; the number of operations that completed ok."""
    done = 0

    async def client(k: int) -> None:
        nonlocal done
        rng = derive_rng(seed, f"bench-{k}")
        period = clients / rate
        async with cluster.session() as kv:
            while cluster.now() < seconds:
                key = f"k{rng.randrange(20)}"
                try:
                    if rng.random() < 0.5:
                        await kv.put(key, b"v" * 16)
                    else:
                        await kv.get(key)
                    done += 1
                except Exception:
                    pass
                await trio.sleep(rng.uniform(0, 2 * period))

    async with trio.open_nursery() as nursery:
        for k in range(clients):
            nursery.start_soon(client, k)
    return done


def measure(protocol: str, storage: str, args: argparse.Namespace) -> str:
    spec = TestSpec(
        protocol=protocol,
        nodes=args.nodes,
        seed=1,
        nemesis=frozenset(),
        options={"storage": storage},
    )

    async def main(cluster: Cluster) -> int:
        return await load(cluster, 1, args.clients, args.rate, args.time)

    with tempfile.TemporaryDirectory() as run_dir:
        start, cpu = time.perf_counter(), time.process_time()
        ops = SimEnvironment().run(spec, run_dir, main)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return (
        f"{protocol:10} {storage:6} {args.nodes} nodes {args.clients} clients: {ops} ops in "
        f"{args.time:g} virtual s, {wall:.2f} wall s ({args.time / wall:.1f}x real time), "
        f"{cpu:.2f} CPU s ({args.time / cpu:.1f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--time", type=float, default=60.0)
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--rate", type=float, default=50.0)
    args = parser.parse_args()
    for protocol in ("raft", "multipaxos"):
        for storage in ("memory", "disk"):
            print(measure(protocol, storage, args), flush=True)
    with open("/proc/loadavg", encoding="ascii") as f:
        print("load average:", f.read().strip())


if __name__ == "__main__":
    main()
