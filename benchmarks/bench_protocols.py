"""Raft vs Multi-Paxos: messages and message delays per command, and recovery after a
leader crash, measured in the simulator's ``Cluster`` on a lock-step network.

The network model is deliberately simple so that the numbers count protocol steps, not
noise: time advances in *rounds*; in each round every message in flight arrives (one
message delay, no loss), and every ``ROUNDS_PER_TICK`` rounds every live node ticks
(default 5: a 10 ms tick over 2 ms links). Both protocols run their library defaults
(election timeout 10-20 ticks, heartbeat every tick; Raft with pre-vote and check-quorum,
Paxos with its lease). Figures are means over ``--seeds`` seeds.

Scenarios:

- ``steady, one at a time``: one client proposes at the leader and waits until the leader
  applied it (acknowledged) before the next. Reports message delays from proposal to
  acknowledgement (a round trip is two delays), and messages per command: all of them,
  and without heartbeats (heartbeats are a cost per tick, not per command).
- ``steady, pipelined``: one new command per round, 200 rounds; messages per command.
- Multi-Paxos runs twice: with its default ``announce_commit=False`` (the commit index
  rides on the next Accept or heartbeat, as in Raft) and with ``True`` (a ``Commit``
  message as soon as the commit index moves).
- ``leader crash``: in the steady state the leader crashes; a client retries its command
  at whichever node leads, every round, until it is acknowledged. Reports the ticks from
  the crash to that first commit, the messages sent meanwhile, and the message delays of
  the first command a new leader takes.

Run: ``python benchmarks/bench_protocols.py [--seeds 20] [--rounds-per-tick 5]``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from collections import Counter
from collections.abc import Callable
from typing import Any

import attrs

from consensus.core import Role
from consensus.errors import ConsensusError
from consensus.messages import (
    Heartbeat,
    HeartbeatResponse,
    Message,
    PaxosHeartbeat,
    PaxosHeartbeatAck,
)
from consensus.paxos import PaxosConfig, PaxosCore
from consensus.sim.cluster import Cluster
from consensus.sim.paxos_spec import MULTIPAXOS_SPEC
from consensus.sim.protocols import ProtocolSpec
from consensus.sim.raft_spec import RAFT_SPEC
from consensus.types import NodeId


def _announcing_paxos(
    node: NodeId, voters: tuple[NodeId, ...], rng: random.Random, rec: Any
) -> Any:
    return PaxosCore(node, voters, rng, PaxosConfig(announce_commit=True), rec)


ANNOUNCING_PAXOS_SPEC = attrs.evolve(MULTIPAXOS_SPEC, make_core=_announcing_paxos)
"""Multi-Paxos whose leader sends a ``Commit`` as soon as its commit index moves
(``announce_commit=True``), instead of letting it ride on its next Accept or heartbeat."""

HEARTBEATS = (Heartbeat, HeartbeatResponse, PaxosHeartbeat, PaxosHeartbeatAck)
ROUNDS_LIMIT = 20_000


class Bench:
    """One cluster on the lock-step network."""

    def __init__(self, spec: ProtocolSpec, nodes: int, seed: int, rounds_per_tick: int) -> None:
        self.mailbox: list[Message] = []
        self.sent: Counter[type] = Counter()
        self.cluster = Cluster(spec, nodes, random.Random(seed), self._send)
        self.rounds_per_tick = rounds_per_tick
        self.round_no = 0
        self.ticks = 0

    def _send(self, msg: Message) -> None:
        self.sent[type(msg)] += 1
        self.mailbox.append(msg)

    def messages(self, heartbeats: bool = True) -> int:
        return sum(n for t, n in self.sent.items() if heartbeats or t not in HEARTBEATS)

    def step(self) -> None:
        """One round: every message in flight arrives; nodes tick every few rounds."""
        batch, self.mailbox = self.mailbox, []
        for msg in batch:
            self.cluster.deliver(msg)
        self.round_no += 1
        if self.round_no % self.rounds_per_tick == 0:
            self.ticks += 1
            for node in self.cluster.voters:
                self.cluster.tick(node)

    def leader(self) -> NodeId | None:
        for core in self.cluster.up_cores():
            if core.status().role is Role.LEADER:
                return core.id
        return None

    def run_until(self, done: Callable[[], bool]) -> int:
        """Step until ``done()``; returns the rounds it took."""
        start = self.round_no
        while not done():
            if self.round_no - start > ROUNDS_LIMIT:
                raise RuntimeError(f"no progress in {ROUNDS_LIMIT} rounds")
            self.step()
        return self.round_no - start

    def commit_one(self, data: bytes) -> int:
        """Propose at the leader and wait for the acknowledgement: the message delays."""
        acked: list[bool] = []
        node = self.leader()
        assert node is not None
        self.cluster.propose(node, data, acked.append)
        return self.run_until(lambda: bool(acked))

    def settle(self) -> None:
        """Elect a leader and commit a few commands (past any election no-op)."""
        self.run_until(lambda: self.leader() is not None)
        for i in range(3):
            self.commit_one(b"warm%d" % i)
        for _ in range(2 * self.rounds_per_tick):
            self.step()


def steady_sequential(spec: ProtocolSpec, nodes: int, seed: int, rpt: int) -> dict[str, float]:
    b = Bench(spec, nodes, seed, rpt)
    b.settle()
    before, before_nohb = b.messages(), b.messages(heartbeats=False)
    commands = 50
    delays = [b.commit_one(b"s%d" % i) for i in range(commands)]
    return {
        "delays": statistics.mean(delays),
        "msgs": (b.messages() - before) / commands,
        "msgs_nohb": (b.messages(heartbeats=False) - before_nohb) / commands,
    }


def steady_pipelined(spec: ProtocolSpec, nodes: int, seed: int, rpt: int) -> dict[str, float]:
    b = Bench(spec, nodes, seed, rpt)
    b.settle()
    leader = b.leader()
    assert leader is not None
    acked: list[bool] = []
    before, before_nohb = b.messages(), b.messages(heartbeats=False)
    commands = 200
    for i in range(commands):
        b.cluster.propose(leader, b"p%d" % i, acked.append)
        b.step()
    b.run_until(lambda: len(acked) == commands)
    assert all(acked)
    return {
        "msgs": (b.messages() - before) / commands,
        "msgs_nohb": (b.messages(heartbeats=False) - before_nohb) / commands,
    }


def leader_crash(spec: ProtocolSpec, nodes: int, seed: int, rpt: int) -> dict[str, float]:
    b = Bench(spec, nodes, seed, rpt)
    b.settle()
    old = b.leader()
    assert old is not None
    # crash at a random moment of the tick cycle
    for _ in range(random.Random(seed).randrange(rpt)):
        b.step()
    b.cluster.crash(old)
    crash_round, crash_msgs = b.round_no, b.messages()
    acked: list[bool] = []
    pending = False
    while not acked:
        node = b.leader()
        if node is not None and not pending:
            try:
                b.cluster.propose(node, b"after-crash", acked.append)
                pending = True
            except ConsensusError:
                pass
        b.step()
        if acked and not acked[0]:  # proposal dropped by a deposed leader: retry
            acked.clear()
            pending = False
        if b.round_no - crash_round > ROUNDS_LIMIT:
            raise RuntimeError("no commit after the leader crash")
    recovery_rounds = b.round_no - crash_round
    first = b.commit_one(b"first-new")
    return {
        "ticks": recovery_rounds / rpt,
        "msgs": float(b.messages() - crash_msgs),
        "first_delays": float(first),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--rounds-per-tick", type=int, default=5)
    args = parser.parse_args(argv)
    rpt = args.rounds_per_tick
    specs = [
        ("raft", RAFT_SPEC),
        ("multipaxos", MULTIPAXOS_SPEC),
        ("multipaxos, announce_commit", ANNOUNCING_PAXOS_SPEC),
    ]
    rows = []
    for nodes in (3, 5):
        for name, spec in specs:
            seeds = range(args.seeds)
            seq = [steady_sequential(spec, nodes, s, rpt) for s in seeds]
            pipe = [steady_pipelined(spec, nodes, s, rpt) for s in seeds]
            crash = [leader_crash(spec, nodes, s, rpt) for s in seeds]

            def mean(rows: list[dict[str, float]], key: str) -> float:
                return statistics.mean(r[key] for r in rows)

            ticks = [r["ticks"] for r in crash]
            rows.append(
                (
                    name,
                    nodes,
                    mean(seq, "delays"),
                    mean(seq, "msgs"),
                    mean(seq, "msgs_nohb"),
                    mean(pipe, "msgs"),
                    mean(pipe, "msgs_nohb"),
                    statistics.mean(ticks),
                    min(ticks),
                    max(ticks),
                    mean(crash, "msgs"),
                    mean(crash, "first_delays"),
                )
            )
    print(f"lock-step network, {rpt} message delays per tick, means over {args.seeds} seeds\n")
    print(
        "| protocol | nodes | delays/cmd (seq) | msgs/cmd (seq) | msgs/cmd w/o hb (seq) "
        "| msgs/cmd (pipelined) | w/o hb (pipelined) | crash->commit ticks (min-max) "
        "| msgs crash->commit | delays, 1st cmd of new leader |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r[0]} | {r[1]} | {r[2]:.2f} | {r[3]:.2f} | {r[4]:.2f} | {r[5]:.2f} "
            f"| {r[6]:.2f} | {r[7]:.1f} ({r[8]:.1f}-{r[9]:.1f}) | {r[10]:.0f} | {r[11]:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
