"""Each node in its own process over TCP, replicating a counter; a client drives them.

Run it::

    python examples/tcp_processes.py

The parent picks free ports on 127.0.0.1, starts three child processes (this same file
with ``node ID PORTS...``), each running a :class:`consensus.runtime.node.Node` with the
``Counter`` state machine over the TCP transport, then uses the Trio client library to
increment the counter and read it back from every node, and finally stops the children
with SIGTERM (a leader hands over leadership first).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import trio

from consensus.client import Client
from consensus.runtime.config import build_config
from consensus.runtime.local import free_ports, wait_port
from consensus.runtime.logs import configure_logging
from consensus.runtime.node import Node

sys.path.insert(0, str(Path(__file__).parent))
from counter_cluster import Counter


async def serve_node(node: int, ports: list[int]) -> None:
    """Child process: run node ``node`` until SIGTERM."""
    import signal

    peers = [f"{i}=127.0.0.1:{ports[2 * i - 2]}" for i in (1, 2, 3) if i != node]
    config = build_config(
        node_id=node,
        cluster_id="counter",
        peers=peers,
        listen=f"127.0.0.1:{ports[2 * node - 2]}",
        client_listen=f"127.0.0.1:{ports[2 * node - 1]}",
    )
    server = Node(config, Counter())
    with trio.open_signal_receiver(signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(server.run)
            async for _ in signals:
                await server.stop()
                nursery.cancel_scope.cancel()


async def drive(endpoints: list[str]) -> int:
    """Parent process: increment through the leader, read from every node."""
    async with Client(endpoints) as client:
        for _ in range(5):
            total = int(await client.propose(b"1"))
        print(f"counter is {total}; leader is at {client.leader}")
    for endpoint in endpoints:
        async with Client([endpoint]) as one:
            print(f"  {endpoint} reads {int(await one.query(b''))}")
    return total


def main() -> int:
    ports = free_ports(6)
    children = [
        subprocess.Popen([sys.executable, __file__, "node", str(i), *map(str, ports)])
        for i in (1, 2, 3)
    ]
    endpoints = [f"127.0.0.1:{ports[2 * i - 1]}" for i in (1, 2, 3)]
    try:
        for endpoint in endpoints:
            if not wait_port(endpoint, 10):
                raise SystemExit(f"node at {endpoint} did not start")
        return trio.run(drive, endpoints)
    finally:
        for child in children:
            child.terminate()  # SIGTERM: graceful stop
        deadline = time.monotonic() + 5
        for child in children:
            child.wait(max(0.1, deadline - time.monotonic()))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "node":
        configure_logging("warning")
        trio.run(serve_node, int(sys.argv[2]), [int(p) for p in sys.argv[3:]])
    else:
        main()
