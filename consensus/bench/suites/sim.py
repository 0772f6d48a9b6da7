"""Suite ``sim``: the protocols in the simulator's ``Cluster`` on a lock-step network,
counting protocol steps per operation (messages, bytes, message delays, fsyncs) and the
unavailability after a leader crash. No wall clock is measured: the figures are
deterministic for a seed, and the spread over ``--runs`` comes from different seeds.

Network model, deliberately simple so that the figures count protocol steps, not noise:
time advances in *rounds*; in each round every message in flight arrives (one message
delay, no loss), and every ``--sim-rounds-per-tick`` rounds every live node ticks
(default 5: a ``--sim-tick-ms`` 10 ms tick over 2 ms links). Every protocol runs its
library defaults (Raft: election timeout 10-20 ticks, heartbeat every tick, pre-vote and
check-quorum; Multi-Paxos: the same timeouts, its lease, ``announce_commit=False``, or
``True`` as well with ``--sim-announce-commit``; paxos-lwt: ``LwtConfig()``).

Scenarios (the ``scenario`` param of a cell):

- ``steady``: one client proposes and waits until the proposing node acknowledged it
  (applied it; paxos-lwt: answered it) before the next, 50 commands. Raft and Multi-Paxos
  propose at the leader, paxos-lwt at node 1, all on one key (uncontended: one client).
  ``round_trips_per_op`` is message delays from proposal to acknowledgement / 2.
- ``pipelined``: one new command per round, 200 commands, then until all are
  acknowledged (paxos-lwt: a key per command, so they do not contend).
- ``leader-crash`` (Raft, Multi-Paxos): in the steady state the leader crashes at a
  random moment of the tick cycle; a client retries its command at whichever node leads,
  every round, until one is acknowledged. ``unavailable_ms`` is the ticks from the crash
  to that acknowledgement times ``--sim-tick-ms``. paxos-lwt has no leader: skipped.

Figures: ``messages_per_op`` (every message sent, heartbeats included: they cost per
tick, not per command; ``messages_per_op_no_hb`` without them), ``bytes_per_op`` (every
message encoded with :data:`consensus.codec.WIRE`, no frame header), ``fsyncs_per_op``
(``storage.sync()`` calls on every node: each is a ``Ready`` with ``must_sync``),
``round_trips_per_op`` / ``message_delays_per_op`` (steady); ``unavailable_ms``,
``unavailable_ticks``, ``messages_during_crash`` and ``first_op_round_trips`` (the first
command a new leader takes) for ``leader-crash``. Each run is the mean over one group of
``--sim-seeds`` seeds; run ``r`` uses seeds ``r*N .. r*N+N-1`` (plus ``--sim-seed-base``).
"""

from __future__ import annotations

import argparse
import random
import statistics
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from ...codec import WIRE
from ...core import Role
from ...errors import ConsensusError
from ...lwt import LwtOp, LwtOpKind
from ...lwt.ops import encode_op
from ...messages import (
    Heartbeat,
    HeartbeatResponse,
    Message,
    PaxosHeartbeat,
    PaxosHeartbeatAck,
)
from ...paxos import PaxosConfig, PaxosCore
from ...sim.cluster import Cluster
from ...sim.lwt_spec import LWT_SPEC
from ...sim.paxos_spec import MULTIPAXOS_SPEC
from ...sim.protocols import ProtocolSpec, SimStorage
from ...sim.raft_spec import RAFT_SPEC
from ...types import Entry, NodeId, Snapshot
from ..registry import positive_int
from ..report import BenchReport, Figures

SUITE = "sim"
DESCRIPTION = "protocols in the simulator: messages, bytes, round trips, fsyncs per operation"

HEARTBEATS = (Heartbeat, HeartbeatResponse, PaxosHeartbeat, PaxosHeartbeatAck)
ROUNDS_LIMIT = 20_000
STEADY_COMMANDS = 50
PIPELINED_COMMANDS = 200
SCENARIOS = ("steady", "pipelined", "leader-crash")


def _announcing_paxos(
    node: NodeId, voters: tuple[NodeId, ...], rng: random.Random, rec: Any
) -> Any:
    return PaxosCore(node, voters, rng, PaxosConfig(announce_commit=True), rec)


ANNOUNCING_PAXOS_SPEC = attrs.evolve(MULTIPAXOS_SPEC, make_core=_announcing_paxos)
"""Multi-Paxos whose leader sends a ``Commit`` as soon as its commit index moves
(``announce_commit=True``), instead of letting it ride on its next Accept or heartbeat."""

SPECS: dict[str, ProtocolSpec] = {
    "raft": RAFT_SPEC,
    "multipaxos": MULTIPAXOS_SPEC,
    "paxos-lwt": LWT_SPEC,
}


class CountingStorage:
    """A :class:`SimStorage` that counts its ``sync()`` calls (fsyncs), delegating all."""

    def __init__(self, inner: SimStorage, counter: list[int]) -> None:
        self._inner = inner
        self._counter = counter

    def persist(self, hard_state: Any, entries: Sequence[Entry], snapshot: Snapshot | None) -> None:
        self._inner.persist(hard_state, entries, snapshot)

    def sync(self) -> None:
        self._counter[0] += 1
        self._inner.sync()

    def recover(self) -> Any:
        return self._inner.recover()

    def compact(self, snapshot: Snapshot) -> None:
        self._inner.compact(snapshot)

    def crash(self) -> None:
        self._inner.crash()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class Bench:
    """One cluster on the lock-step network, counting what it sends and syncs."""

    def __init__(self, spec: ProtocolSpec, nodes: int, seed: int, rounds_per_tick: int) -> None:
        self.mailbox: list[Message] = []
        self.sent = 0
        self.sent_hb = 0
        self.bytes = 0
        self.fsyncs = [0]
        self.leaderless = spec is LWT_SPEC
        self.cluster = Cluster(
            spec,
            nodes,
            random.Random(seed),
            self._send,
            make_storage=lambda: CountingStorage(spec.make_storage(), self.fsyncs),
        )
        self.rounds_per_tick = rounds_per_tick
        self.round_no = 0

    def _send(self, msg: Message) -> None:
        self.sent += 1
        if isinstance(msg, HEARTBEATS):
            self.sent_hb += 1
        self.bytes += len(WIRE.encode(msg))
        self.mailbox.append(msg)

    def counters(self) -> tuple[int, int, int, int]:
        """(messages, messages without heartbeats, bytes, fsyncs) so far."""
        return self.sent, self.sent - self.sent_hb, self.bytes, self.fsyncs[0]

    def per_op(self, before: tuple[int, int, int, int], ops: int) -> Figures:
        now = self.counters()
        d = [(a - b) / ops for a, b in zip(now, before, strict=True)]
        return {
            "messages_per_op": d[0],
            "messages_per_op_no_hb": d[1],
            "bytes_per_op": d[2],
            "fsyncs_per_op": d[3],
        }

    def step(self) -> None:
        """One round: every message in flight arrives; nodes tick every few rounds."""
        batch, self.mailbox = self.mailbox, []
        for msg in batch:
            self.cluster.deliver(msg)
        self.round_no += 1
        if self.round_no % self.rounds_per_tick == 0:
            for node in self.cluster.voters:
                self.cluster.tick(node)

    def leader(self) -> NodeId | None:
        for core in self.cluster.up_cores():
            if core.status().role is Role.LEADER:
                return core.id
        return None

    def proposer(self) -> NodeId:
        """Where a client proposes: the leader, or node 1 for a leaderless protocol."""
        if self.leaderless:
            return 1
        node = self.leader()
        if node is None:
            raise RuntimeError("no leader to propose at")
        return node

    def run_until(self, done: Callable[[], bool]) -> int:
        """Step until ``done()``; returns the rounds it took."""
        start = self.round_no
        while not done():
            if self.round_no - start > ROUNDS_LIMIT:
                raise RuntimeError(f"no progress in {ROUNDS_LIMIT} rounds")
            self.step()
        return self.round_no - start

    def command(self, tag: bytes, key: bytes = b"k") -> bytes:
        if self.leaderless:
            return encode_op(LwtOp(LwtOpKind.PUT, key, tag))
        return tag

    def commit_one(self, tag: bytes) -> int:
        """Propose and wait for the acknowledgement: the message delays it took."""
        acked: list[bool] = []
        self.cluster.propose(self.proposer(), self.command(tag), acked.append)
        rounds = self.run_until(lambda: bool(acked))
        if not acked[0]:
            raise RuntimeError(f"command {tag!r} failed in the steady state")
        return rounds

    def settle(self) -> None:
        """Elect a leader and commit a few commands (past any election no-op)."""
        if not self.leaderless:
            self.run_until(lambda: self.leader() is not None)
        for i in range(3):
            self.commit_one(b"warm%d" % i)
        for _ in range(2 * self.rounds_per_tick):
            self.step()


def steady(spec: ProtocolSpec, nodes: int, seed: int, rpt: int) -> Figures:
    b = Bench(spec, nodes, seed, rpt)
    b.settle()
    before = b.counters()
    delays = [b.commit_one(b"s%d" % i) for i in range(STEADY_COMMANDS)]
    figures = b.per_op(before, STEADY_COMMANDS)
    mean_delays = statistics.mean(delays)
    figures["message_delays_per_op"] = mean_delays
    figures["round_trips_per_op"] = mean_delays / 2
    return figures


def pipelined(spec: ProtocolSpec, nodes: int, seed: int, rpt: int) -> Figures:
    b = Bench(spec, nodes, seed, rpt)
    b.settle()
    node = b.proposer()
    acked: list[bool] = []
    before = b.counters()
    start = b.round_no
    for i in range(PIPELINED_COMMANDS):
        b.cluster.propose(node, b.command(b"p%d" % i, key=b"p%d" % i), acked.append)
        b.step()
    b.run_until(lambda: len(acked) == PIPELINED_COMMANDS)
    if not all(acked):
        raise RuntimeError("a pipelined command failed in the steady state")
    figures = b.per_op(before, PIPELINED_COMMANDS)
    figures["rounds_per_op"] = (b.round_no - start) / PIPELINED_COMMANDS
    return figures


def leader_crash(spec: ProtocolSpec, nodes: int, seed: int, rpt: int) -> Figures:
    b = Bench(spec, nodes, seed, rpt)
    b.settle()
    old = b.proposer()
    for _ in range(random.Random(seed).randrange(rpt)):  # a random moment of the tick cycle
        b.step()
    b.cluster.crash(old)
    crash_round, crash_msgs = b.round_no, b.sent
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
    ticks = (b.round_no - crash_round) / rpt
    messages = float(b.sent - crash_msgs)
    first = b.commit_one(b"first-new")
    return {
        "unavailable_ticks": ticks,
        "messages_during_crash": messages,
        "first_op_round_trips": first / 2,
    }


SCENARIO_RUNS: dict[str, Callable[[ProtocolSpec, int, int, int], Figures]] = {
    "steady": steady,
    "pipelined": pipelined,
    "leader-crash": leader_crash,
}


def configure(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--sim-seeds", type=positive_int, default=None, help="seeds per run (default 10; --quick 2)"
    )
    group.add_argument("--sim-seed-base", type=int, default=0, help="first seed of run 0")
    group.add_argument(
        "--sim-rounds-per-tick", type=positive_int, default=5, help="message delays per tick"
    )
    group.add_argument(
        "--sim-tick-ms", type=float, default=10.0, help="ms per tick, for unavailable_ms"
    )
    group.add_argument(
        "--sim-announce-commit",
        action="store_true",
        help="also run Multi-Paxos with announce_commit=True",
    )


def _mean(rows: list[Figures]) -> Figures:
    return {k: float(statistics.mean(r[k] for r in rows)) for k in rows[0]}


def run(args: argparse.Namespace, report: BenchReport) -> None:
    """Add one cell per (protocol, nodes, scenario); one run per seed group."""
    quick = bool(getattr(args, "quick", False))
    runs = int(getattr(args, "runs", 1) or 1)
    protocols = list(getattr(args, "protocols", None) or SPECS)
    node_counts = list(getattr(args, "node_counts", None) or ([3] if quick else [3, 5, 7]))
    seeds = getattr(args, "sim_seeds", None) or (2 if quick else 10)
    base = int(getattr(args, "sim_seed_base", 0))
    rpt = int(getattr(args, "sim_rounds_per_tick", 5))
    tick_ms = float(getattr(args, "sim_tick_ms", 10.0))
    if rpt < 1 or seeds < 1:
        raise ValueError("--sim-rounds-per-tick and --sim-seeds must be at least 1")
    variants: list[tuple[str, ProtocolSpec, dict[str, bool]]] = []
    for protocol in protocols:
        if protocol not in SPECS:
            report.skip(SUITE, protocol, "not a protocol the simulator runs")
            continue
        variants.append((protocol, SPECS[protocol], {}))
        if protocol == "multipaxos" and getattr(args, "sim_announce_commit", False):
            variants.append((protocol, ANNOUNCING_PAXOS_SPEC, {"announce_commit": True}))
    if "paxos-lwt" in protocols:
        report.skip(SUITE, "paxos-lwt/leader-crash", "leaderless: there is no leader to crash")
    for nodes in node_counts:
        for protocol, spec, extra in variants:
            for scenario in SCENARIOS:
                if scenario == "leader-crash" and spec is LWT_SPEC:
                    continue
                suffix = ",announce" if extra else ""
                cell = report.cell(
                    SUITE,
                    f"{protocol}{suffix} n={nodes} {scenario}",
                    {"protocol": protocol, "nodes": nodes, "env": "sim", "scenario": scenario}
                    | extra,
                )
                fn = SCENARIO_RUNS[scenario]
                for r in range(runs):
                    group = range(base + r * seeds, base + (r + 1) * seeds)
                    figures = _mean([fn(spec, nodes, seed, rpt) for seed in group])
                    if "unavailable_ticks" in figures:
                        figures["unavailable_ms"] = figures["unavailable_ticks"] * tick_ms
                    cell.add_run(figures)
                cell.notes.append(
                    f"lock-step network, {rpt} message delays per tick, {tick_ms:g} ms tick; "
                    f"each run the mean over {seeds} seeds"
                )
