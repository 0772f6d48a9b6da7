"""Count network hops and messages of one uncontended operation, per protocol.

``python -m consensus.sim.round_trips [--nodes N]`` builds a fault-free simulated cluster
of each protocol (Raft, Multi-Paxos, ``paxos-lwt``) with a mailbox instead of a network,
lets Raft and Multi-Paxos elect a leader, warms each up with a few operations, then for
one write (a compare-and-set) and one linearizable read counts:

- ``hops``: message waves until the operation is answered at the node it was given to
  (each wave delivers every message in flight; a round trip is two hops). The client's
  own trip to that node is not counted: a leader-based protocol needs the client at the
  leader, ``paxos-lwt`` takes it at any node.
- ``messages``: every message sent until the cluster is quiet again (no ticks meanwhile,
  so periodic heartbeats are not counted, and neither is a commit a follower learns only
  from the next heartbeat).

Raft and Multi-Paxos propose opaque data (their state machine evaluates a cas when it
applies it) and read with a read-index round; ``paxos-lwt`` runs a full round for both.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable, Sequence

import attrs

from ..core import Role
from ..lwt import LwtOp, LwtOpKind
from ..lwt.ops import encode_op
from ..messages import Message
from .cluster import Cluster
from .lwt_spec import LWT_SPEC
from .paxos_spec import MULTIPAXOS_SPEC
from .protocols import ProtocolSpec
from .raft_spec import RAFT_SPEC


@attrs.frozen
class Count:
    protocol: str
    operation: str
    hops: int
    messages: int

    @property
    def round_trips(self) -> float:
        return self.hops / 2


class _Bench:
    def __init__(self, spec: ProtocolSpec, nodes: int, seed: int) -> None:
        self.mailbox: list[Message] = []
        self.cluster = Cluster(spec, nodes, random.Random(seed), self.mailbox.append)
        self.sent = 0

    def wave(self) -> None:
        batch, self.mailbox[:] = list(self.mailbox), []
        for msg in batch:
            self.cluster.deliver(msg)

    def quiet(self, limit: int = 100) -> None:
        for _ in range(limit):
            if not self.mailbox:
                return
            self.wave()
        raise RuntimeError("the cluster did not go quiet")

    def leader(self) -> int:
        """Tick until some node leads (Raft, Multi-Paxos); 1 for a leaderless protocol."""
        if self.cluster.spec is LWT_SPEC:
            return 1
        for _ in range(500):
            for node in self.cluster.voters:
                self.cluster.tick(node)
            self.quiet()
            for core in self.cluster.up_cores():
                if core.status().role is Role.LEADER:
                    return core.id
        raise RuntimeError("no leader elected")

    def measure(self, start: Callable[[Callable[[bool], None]], None]) -> tuple[int, int]:
        """(hops until answered, messages until quiet) of the operation ``start`` begins."""
        self.quiet()
        answered: list[bool] = []
        before = self.cluster.messages
        start(answered.append)
        hops = 0
        while not answered:
            if not self.mailbox:
                raise RuntimeError("the operation stalled without ticks")
            self.wave()
            hops += 1
        if answered != [True]:
            raise RuntimeError("the operation was not carried out")
        self.quiet()
        return hops, self.cluster.messages - before


def count(spec: ProtocolSpec, nodes: int, seed: int = 1) -> list[Count]:
    """The hops and messages of one cas and one read on ``spec`` (module doc)."""
    bench = _Bench(spec, nodes, seed)
    node = bench.leader()
    lwt = spec is LWT_SPEC
    cluster = bench.cluster

    def propose(data: bytes) -> Callable[[Callable[[bool], None]], None]:
        def start(done: Callable[[bool], None]) -> None:
            cluster.propose(node, data, done)

        return start

    def write(n: int) -> Callable[[Callable[[bool], None]], None]:
        if lwt:
            return propose(encode_op(LwtOp(LwtOpKind.CAS, b"key", b"v%d" % (n + 1), b"v%d" % n)))
        return propose(b"cas key v%d v%d" % (n, n + 1))

    def read(n: int) -> Callable[[Callable[[bool], None]], None]:
        if lwt:
            return propose(encode_op(LwtOp(LwtOpKind.GET, b"key")))

        def start(done: Callable[[bool], None]) -> None:
            cluster.read_index(node, b"read%d" % n, done)

        return start

    if lwt:
        bench.measure(propose(encode_op(LwtOp(LwtOpKind.PUT, b"key", b"v0"))))
    for n in range(3):  # warm up: a Multi-Paxos leader's first proposals finish its phase 1
        bench.measure(write(n))
    cas_hops, cas_messages = bench.measure(write(3))
    get_hops, get_messages = bench.measure(read(4))
    return [
        Count(spec.name, "cas", cas_hops, cas_messages),
        Count(spec.name, "get", get_hops, get_messages),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m consensus.sim.round_trips")
    parser.add_argument("--nodes", type=int, default=5, help="cluster size (default 5)")
    args = parser.parse_args(argv)
    if args.nodes < 1:
        print(f"round_trips: error: --nodes must be >= 1, got {args.nodes}", file=sys.stderr)
        return 2
    print(f"{'protocol':<11} {'op':<4} {'hops':>4} {'round trips':>11} {'messages':>8}")
    for spec in (RAFT_SPEC, MULTIPAXOS_SPEC, LWT_SPEC):
        for c in count(spec, args.nodes):
            print(
                f"{c.protocol:<11} {c.operation:<4} {c.hops:>4} {c.round_trips:>11g} "
                f"{c.messages:>8}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
