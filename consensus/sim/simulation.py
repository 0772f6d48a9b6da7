"""One simulated run: a cluster, a network, clients and a nemesis on virtual time, all
determined by one seed.

The seed feeds one ``random.Random`` master, from which a fixed sequence of sub-seeds is
drawn: fault options, network, nemesis, workload, cores (one fresh stream per node start),
tick phases. The run:

1. fault phase, ``[0, duration)``: nodes tick, clients propose and read, the network
   delays/loses/duplicates/reorders, the nemesis partitions and crashes;
2. heal phase, from ``duration``: links restored, crashed nodes restarted, message faults
   off, clients stopped; a probe client must get ``probes`` proposals acknowledged and every
   node must apply the same log up to the same index within ``heal_limit_us``, else the run
   fails with ``liveness``. Every acknowledged proposal must then be applied everywhere.
   With ``SimConfig.membership``, "every node" means every member of the configuration
   of the leader of the highest term (removed nodes and spares never added drop out).

Safety is checked while the run goes (each ``Ready`` of each node, see :mod:`.cluster`); the
first violation ends the run. An exception escaping a core is reported as
``core-exception``. With ``trace`` the run writes one line per event; the same seed gives a
byte-identical trace in any process (nothing here hashes strings or iterates sets).
"""

from __future__ import annotations

import heapq
import random
import time
from typing import TextIO

import attrs

from .cluster import Cluster
from .events import (
    CHECK,
    CLIENT,
    DEADLINE,
    DELIVER,
    HEAL,
    KIND_NAMES,
    NEMESIS,
    PROGRESS,
    SYNC,
    TICK,
    Clock,
    EventQueue,
)
from .history import History
from .nemesis import Nemesis
from .network import NetworkStats, SimNetwork
from .options import FaultKind, FaultOptions, SimConfig
from .protocols import ProtocolSpec
from .violation import (
    BUDGET_EXCEEDED,
    CORE_EXCEPTION,
    LIVENESS,
    NO_PROGRESS,
    SimViolation,
    Violation,
)
from .workload import Workload


@attrs.frozen(slots=True)
class SimResult:
    """What one seed did. ``commits`` is the highest index any node applied (a core
    without a log: the operations it decided)."""

    seed: int
    protocol: str
    nodes: int
    faults: FaultOptions
    snapshot_every_entries: int
    commits: int
    acked: int
    reads: int
    elections: int
    messages: int
    events: int
    crashes: int
    storage_failures: int
    partitions: int
    end_us: int
    network: NetworkStats
    violation: Violation | None
    changes: int = 0
    """Membership changes the leader took (``SimConfig.membership``)."""
    changes_refused: int = 0
    """Membership changes asked for and refused (one in flight, not caught up, ...)."""

    @property
    def ok(self) -> bool:
        return self.violation is None


class Simulation:
    """Build with a spec, a config and a seed; :meth:`run` once."""

    def __init__(
        self,
        spec: ProtocolSpec,
        config: SimConfig,
        seed: int,
        trace: TextIO | None = None,
        faults: FaultOptions | None = None,
    ) -> None:
        """``faults`` replaces the options the seed would draw (for targeted runs)."""
        if config.membership and not spec.reconfigurable:
            raise ValueError(f"protocol {spec.name} cannot change its membership")
        self.spec = spec
        self.config = config
        self.seed = seed
        self._trace = trace
        master = random.Random(seed)
        options_rng, net_rng, nemesis_rng, workload_rng, cores_rng, ticks_rng, disk_rng = (
            random.Random(master.getrandbits(64)) for _ in range(7)
        )
        strategy_rng = random.Random(master.getrandbits(64))
        drawn = FaultOptions.draw(options_rng, config.faults, config.tick_interval_us)
        drawn = drawn.with_strategies(strategy_rng, config.tick_interval_us)
        tune_rng = random.Random(strategy_rng.getrandbits(64))
        drawn = drawn.with_churn(
            random.Random(strategy_rng.getrandbits(64)),
            config.tick_interval_us,
            FaultKind.CRASH in config.faults,
        )
        if config.membership:
            membership_rng = random.Random(master.getrandbits(64))
            drawn = drawn.with_membership(membership_rng, config.tick_interval_us)
        self.faults = drawn if faults is None else faults
        self.snapshot_every_entries = (
            options_rng.randrange(10, 500) if options_rng.random() < 0.5 else 0
        )
        self.clock = Clock()
        self.queue = EventQueue()
        self.network = SimNetwork(
            range(1, config.total_nodes + 1),
            net_rng,
            config,
            self.faults,
            self.queue,
            self.clock,
        )
        self.history = History(spec.term_text)
        make_disk = spec.make_disk_storage
        if self.faults.disk and make_disk is None:
            raise ValueError(f"protocol {spec.name} has no simulated disk: no disk faults")
        tune = spec.tune(tune_rng, self.faults) if spec.tune is not None else None
        self.cluster = Cluster(
            spec,
            config.nodes,
            cores_rng,
            self.network.send,
            history=self.history,
            snapshot_every_entries=self.snapshot_every_entries,
            make_storage=(
                (lambda: make_disk(random.Random(disk_rng.getrandbits(64))))
                if self.faults.disk and make_disk is not None
                else None
            ),
            tune=tune,
            spares=config.total_nodes - config.nodes,
        )
        self.workload = Workload(self.cluster, self.queue, self.clock, workload_rng, config)
        self.nemesis = Nemesis(
            self.cluster,
            self.network,
            self.queue,
            self.clock,
            nemesis_rng,
            self.faults,
            config.tick_interval_us,
        )
        self.nemesis.slow_clock = self._slow_clock
        self.nemesis.pin_clients = self.workload.pin
        tick = config.tick_interval_us
        drift = config.tick_drift_max
        self._periods = [tick]  # index 0 unused: node ids start at 1
        for node in self.cluster.nodes:
            period = max(1, round(tick * (1 + ticks_rng.uniform(-drift, drift))))
            self._periods.append(period)
            self.queue.push(ticks_rng.randrange(period), TICK, node)
        self._base_periods = list(self._periods)
        self.queue.push(config.duration_us, HEAL, None)
        self.queue.push(config.progress_window_us, PROGRESS, None)
        self._events_max = config.events_max()
        self._window_messages = 0
        self._window_applied = 0
        self._wall_started = time.monotonic()
        self.events = 0
        self._finished = False
        self.violation: Violation | None = None

    # -- the loop -------------------------------------------------------------------------
    def run(self) -> SimResult:
        if self._trace is not None:
            self._trace.write(
                f"# seed {self.seed} protocol {self.spec.name} nodes {self.config.nodes} "
                f"faults {self.faults.describe()} snapshot_every {self.snapshot_every_entries}\n"
            )
        try:
            if self._trace is None:
                self._loop()
            else:
                self._traced_loop(self._trace)
        except SimViolation as exc:
            self.violation = Violation(exc.invariant, exc.detail, self.clock.now_us)
        except Exception as exc:  # a core (or storage) broke its contract
            detail = f"{type(exc).__name__}: {exc}"
            self.violation = Violation(CORE_EXCEPTION, detail, self.clock.now_us)
        if self._trace is not None and self.violation is not None:
            self._trace.write(f"# violation {self.violation.describe()}\n")
        return self._result()

    def _loop(self) -> None:
        """The hot path: ticks and deliveries inline, everything else in :meth:`_other`."""
        heap = self.queue.heap
        queue = self.queue
        pop = heapq.heappop
        push = heapq.heappush
        clock = self.clock
        network = self.network
        inflight = network.inflight
        cut = network.cut
        stats = network.stats
        hosts = self.cluster.hosts
        drain = self.cluster.drain
        periods = self._periods
        events = self.events
        try:
            while True:
                now, _, kind, payload = pop(heap)
                clock.now_us = now
                events += 1
                if kind == DELIVER:
                    # SimNetwork.arrive and Cluster.deliver, inlined
                    src = payload.src
                    dst = payload.dst
                    inflight[src][dst] -= 1
                    if cut[src][dst]:
                        stats.cut += 1
                    else:
                        host = hosts[dst - 1]
                        core = host.core
                        if core is not None:
                            core.step(payload)
                            if core.has_ready():
                                drain(host, core)
                elif kind == TICK:
                    # Cluster.tick, inlined
                    host = hosts[payload - 1]
                    core = host.core
                    if core is not None:
                        core.tick()
                        if core.has_ready():
                            drain(host, core)
                    queue.seq += 1
                    push(heap, (now + periods[payload], queue.seq, TICK, payload))
                else:
                    self.events = events
                    self._other(kind, payload)
                    if self._finished:
                        break
        finally:
            self.events = events

    def _traced_loop(self, out: TextIO) -> None:
        """The same loop, writing one line per event."""
        heap = self.queue.heap
        while not self._finished:
            now, _, kind, payload = heapq.heappop(heap)
            self.clock.now_us = now
            self.events += 1
            if kind == DELIVER:
                if not self.network.arrive(payload):
                    what = "cut"
                elif not self.cluster.deliver(payload):
                    what = "down"
                else:
                    what = "ok"
                out.write(f"{now} deliver {what} {payload!r}\n")
            elif kind == TICK:
                self.cluster.tick(payload)
                self.queue.push(now + self._periods[payload], TICK, payload)
                out.write(f"{now} tick {payload}\n")
            else:
                out.write(f"{now} {KIND_NAMES[kind]} {self._other(kind, payload)}\n")

    def _other(self, kind: int, payload: object) -> str:
        if kind == CLIENT:
            assert isinstance(payload, tuple)
            return self.workload.fire(*payload)
        if kind == NEMESIS:
            assert isinstance(payload, tuple)
            return self.nemesis.fire(*payload)
        if kind == HEAL:
            return self._heal()
        if kind == CHECK:
            return self._check()
        if kind == SYNC:
            assert isinstance(payload, tuple)
            self.cluster.sync_done(*payload)
            return f"node {payload[0]}'s fsync done"
        if kind == PROGRESS:
            return self._progress()
        if kind == DEADLINE:
            self._finished = True
            raise SimViolation(LIVENESS, self._stuck())
        raise ValueError(f"unknown event kind {kind}")

    def _slow_clock(self, node: int, factor: int) -> None:
        self._periods[node] = self._base_periods[node] * factor

    # -- budgets --------------------------------------------------------------------------
    def _progress(self) -> str:
        """Once per window: fail a seed that thrashes or loops instead of stalling."""
        config = self.config
        self.queue.push(self.clock.now_us + config.progress_window_us, PROGRESS, None)
        messages = self.cluster.messages - self._window_messages
        done = self.history.applied_max + self.history.answers
        applied = done - self._window_applied
        self._window_messages = self.cluster.messages
        self._window_applied = done
        allowed = (
            config.messages_per_node_window_max * config.total_nodes
            + config.messages_per_commit_max * applied
        )
        if messages > allowed:
            raise SimViolation(
                NO_PROGRESS,
                f"{messages} messages in {config.progress_window_us / 1e6:g}s of virtual "
                f"time for {applied} new commits (budget {allowed})",
            )
        if self.events > self._events_max:
            raise SimViolation(
                BUDGET_EXCEEDED,
                f"{self.events} events, over the budget of {self._events_max} for this run",
            )
        wall = time.monotonic() - self._wall_started
        if config.wall_s_max and wall > config.wall_s_max:
            raise SimViolation(
                BUDGET_EXCEEDED, f"{wall:.0f}s of wall time, over the {config.wall_s_max:g}s budget"
            )
        return f"progress {messages} messages, {applied} commits"

    # -- the heal phase -------------------------------------------------------------------
    def _heal(self) -> str:
        what = self.nemesis.heal()
        self.network.calm()
        self.workload.heal()
        now = self.clock.now_us
        self.queue.push(now + self.config.tick_interval_us, CHECK, None)
        self.queue.push(now + self.config.heal_limit_us, DEADLINE, None)
        return what

    def _check(self) -> str:
        if self.workload.probes_acked >= self.config.probes:
            replicas = [h.replica for h in self.cluster.hosts]
            if self.config.membership:
                members = self.cluster.members()
                if members is None:
                    self.queue.push(self.clock.now_us + self.config.tick_interval_us, CHECK, None)
                    return "not converged: no leader"
                replicas = [self.cluster.host(n).replica for n in members]
            first = replicas[0]
            if all(r.applied == first.applied and r.hash == first.hash for r in replicas):
                self.history.check_acked(replicas)
                finish = getattr(self.cluster.invariants, "finish", None)
                if finish is not None:
                    finish()
                self._finished = True
                return f"converged at index {first.applied}"
        self.queue.push(self.clock.now_us + self.config.tick_interval_us, CHECK, None)
        return "not converged"

    def _stuck(self) -> str:
        parts = []
        for core in self.cluster.up_cores():
            st = core.status()
            parts.append(
                f"node {st.id} {st.role.value} term {st.term} leader {st.leader} "
                f"commit {st.commit_index} applied {st.applied_index} last {st.last_index}"
            )
        return (
            f"not converged {self.config.heal_limit_us / 1e6:g}s after the heal "
            f"({self.workload.probes_acked}/{self.config.probes} probes acknowledged): "
            + "; ".join(parts)
        )

    def _result(self) -> SimResult:
        return SimResult(
            seed=self.seed,
            protocol=self.spec.name,
            nodes=self.config.nodes,
            faults=self.faults,
            snapshot_every_entries=self.snapshot_every_entries,
            commits=self.history.applied_max + self.history.answered_ok,
            acked=len(self.history.acked) + self.history.answered_ok,
            reads=self.history.reads_done,
            elections=self.cluster.elections,
            messages=self.cluster.messages,
            events=self.events,
            crashes=self.nemesis.crashes,
            storage_failures=self.cluster.storage_failures,
            partitions=self.nemesis.partitions,
            end_us=self.clock.now_us,
            network=self.network.stats,
            violation=self.violation,
            changes=self.nemesis.changes,
            changes_refused=self.nemesis.changes_refused,
        )


def run_seed(
    spec: ProtocolSpec,
    config: SimConfig,
    seed: int,
    trace: TextIO | None = None,
    faults: FaultOptions | None = None,
) -> SimResult:
    """Simulate ``seed`` once (see the module docstring)."""
    return Simulation(spec, config, seed, trace, faults).run()
