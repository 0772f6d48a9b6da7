"""The nemesis: which fault kinds a test uses, its fault schedule from the seed, and the
executor that applies the schedule to a running cluster.

**Kinds.** ``TestSpec.nemesis`` names kinds from :data:`~jepsen_lite.runner.api.FAULT_KINDS`,
or holds ``"all"``: every kind the environment supports. :func:`resolve_kinds` turns it
into the kinds to run, and a kind the environment does not support is a
:class:`NemesisError` before the run starts (never silently skipped).

**Schedule.** :func:`schedule` draws, per kind, a sequence of windows over the main phase
``[0, time_limit_s]``: a quiet gap, a fault, a gap, a fault... (gaps 3-10 s, faults 2-6 s
for a test of 30 s or more; both scaled down proportionally for shorter tests). Windows of
one kind never overlap; windows of different kinds may. Every window ends by the time
limit. Kinds that take a node down (``kill``, ``pause``, ``disk``) together never have
more than ``max_down`` windows open at once (``spec.options["max_down"]``, default the
largest minority ``(n - 1) // 2``, at least 1): a window that would exceed it is dropped,
so a majority stays up and the cluster can make progress. Shapes and parameters:

- ``partition``: ``isolate-one``, ``isolate-leader``, ``halves``, ``majority-ring``,
  ``bridge`` (see :mod:`jepsen_lite.runner.partitions`); when the test has clock faults
  too, every ``isolate-leader`` partition also slows the isolated leader's clock
  (param ``leader_clock_rate``, 0.01-0.05) for the partition's length: a *deposed leader*
  that keeps believing it leads while clients still reach it and a new leader commits
  elsewhere (where reads that skip confirming leadership go stale);
- ``kill`` / ``pause``: shape ``node`` (a node drawn now) or ``leader`` (one time in three:
  the leader when the window starts); ended by ``restart`` / ``resume``;
- ``clock``: one node; ``fast`` (rate 1.5-3, no offset), ``slow`` (rate 0.3-0.8),
  ``jump`` (offset +-0.5-5 s, rate 1); params ``offset_ms`` and ``rate``; ended by
  ``reset_clock``. With ``--option clock_drift_max=X`` (for checking lease reads within
  their bound) every slowed clock, a deposed leader's included, runs at ``sqrt(1 - X)``
  and every fast one at ``1 / sqrt(1 - X)`` (rounded inwards), so no two clocks differ by
  more than X;
- ``packet``: every link; ``loss`` / ``duplicate`` (``p`` 0.05-0.3), ``delay``
  (``delay_ms`` 5-50, ``jitter_ms`` up to the delay), ``reorder`` (``p`` 0.1-0.5,
  ``delay_ms`` 10-30, ``jitter_ms`` up to the delay); every packet fault carries all three
  params (0 where unused); ended by ``packet(None)``;
- ``disk``: ``lose-unsynced``, ``torn-write``, ``bit-flip``; applied as ``disk_fault``
  then ``kill``, ended by ``restart`` (where the damage shows). A node whose recovery
  refuses damaged data may stay down for good (the environment's choice, as a real node
  with a corrupt log would), so every disk fault of a test hits one *disk victim* drawn
  from the seed, which no kill or pause targets, and the other down kinds then keep to
  ``max(1, max_down - 1)`` open windows: with the victim dead for good, a majority still
  comes back at heal.

**Explicit schedules.** A test may carry its own windows (``TestSpec.schedule``, see
:mod:`.schedule_json`) instead: :func:`planned_schedule` then applies them as they are
and draws nothing (``jepsen-lite shrink`` runs subsets of a seed's drawn schedule so).

**Executor.** :class:`NemesisExecutor` applies each window's start and end through the
``Cluster`` methods at its environment time, and records a nemesis event for each (what
was actually done: which node, which links), through the ``record`` callback it is
given. Targets are resolved when a window starts: a ``leader`` fault names the leader of
that moment (or, with no leader, or one already down, a node drawn from the executor's
seeded generator among the nodes still up), and a drawn node that another fault already
took down is replaced the same way. :meth:`NemesisExecutor.heal` undoes whatever is still
in effect (the heal phase).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs
import trio

from .api import FAULT_KINDS, Cluster, Fault, FaultWindow, NodeId, TestSpec, derive_rng
from .partitions import blocked_links, links_json, plan_partition, shapes_for

DOWN_KINDS = frozenset({"kill", "pause", "disk"})
"""Fault kinds that take a node out of service for their window."""

CLOCK_SHAPES = ("fast", "slow", "jump")
PACKET_SHAPES = ("loss", "duplicate", "delay", "reorder")
DISK_SHAPES = ("lose-unsynced", "torn-write", "bit-flip")
NODE_SHAPES = ("node", "leader")


class NemesisError(ValueError):
    """A nemesis that cannot run: an unknown kind, or one the environment lacks."""


def resolve_kinds(
    nemesis: Iterable[str], supported: Iterable[str], env: str = ""
) -> frozenset[str]:
    """The fault kinds to run: ``nemesis`` itself, or with ``"all"`` every kind in
    ``supported`` (plus any others named). ``NemesisError`` for an unknown kind or a kind
    ``supported`` lacks, naming it and what the environment ``env`` supports."""
    names = frozenset(nemesis)
    supported_set = frozenset(supported) & frozenset(FAULT_KINDS)
    unknown = sorted(names - frozenset(FAULT_KINDS) - {"all"})
    if unknown:
        raise NemesisError(
            f"unknown nemesis {', '.join(unknown)}: choose from {', '.join(FAULT_KINDS)}, all, none"
        )
    kinds = names - {"all"}
    if "all" in names:
        kinds |= supported_set
    missing = [kind for kind in FAULT_KINDS if kind in kinds and kind not in supported_set]
    if missing:
        where = f"environment {env!r}" if env else "this environment"
        offered = ", ".join(k for k in FAULT_KINDS if k in supported_set) or "none"
        raise NemesisError(
            f"{where} does not support fault kind {', '.join(missing)} (it supports: {offered})"
        )
    return kinds


def _timing(time_limit_s: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """(gap range, duration range) in seconds for a main phase of ``time_limit_s``."""
    scale = min(1.0, time_limit_s / 30.0)
    return (3.0 * scale, 10.0 * scale), (2.0 * scale, 6.0 * scale)


def max_down(spec: TestSpec) -> int:
    """How many nodes the down kinds may hold down at once (see the module doc)."""
    value = spec.options.get("max_down")
    if value is None:
        return max(1, (spec.nodes - 1) // 2)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise NemesisError(f"option max_down must be a non-negative integer, got {value!r}")
    return value


def _fault(
    kind: str,
    nodes: Sequence[NodeId],
    rng: random.Random,
    victim: NodeId | None = None,
    clocks: bool = False,
    drift: float | None = None,
) -> Fault:
    """One fault of ``kind`` with its shape, targets and parameters drawn from ``rng``;
    ``victim`` is the disk victim (the target of disk faults, never of kill or pause);
    ``clocks``: clock faults are in the test (a deposed leader may get a slow clock);
    ``drift``: the ``clock_drift_max`` option, bounding every clock rate drawn."""
    if kind == "partition":
        shapes = shapes_for(len(nodes))
        if not shapes:
            raise NemesisError("partition faults need at least 2 nodes")
        shape = rng.choice(shapes)
        planned = plan_partition(shape, nodes, rng)
        slow = clocks and shape == "isolate-leader"
        rate = round(rng.uniform(0.01, 0.05), 3)
        if drift is not None:
            rate = _bounded_rate(drift, slow=True)
        params = {"leader_clock_rate": rate} if slow else {}
        return Fault(kind, shape, planned, params)
    if kind in ("kill", "pause"):
        if rng.random() < 1 / 3:
            return Fault(kind, "leader")
        others = [n for n in nodes if n != victim] or list(nodes)
        return Fault(kind, "node", (rng.choice(others),))
    if kind == "clock":
        shape = rng.choice(CLOCK_SHAPES)
        node = (rng.choice(nodes),)
        if shape == "fast":
            params = {"offset_ms": 0.0, "rate": round(rng.uniform(1.5, 3.0), 3)}
        elif shape == "slow":
            params = {"offset_ms": 0.0, "rate": round(rng.uniform(0.3, 0.8), 3)}
        else:
            jump = round(rng.uniform(500.0, 5000.0), 1)
            params = {"offset_ms": jump if rng.random() < 0.5 else -jump, "rate": 1.0}
        if drift is not None and shape != "jump":
            params["rate"] = _bounded_rate(drift, slow=shape == "slow")
        return Fault(kind, shape, node, params)
    if kind == "packet":
        shape = rng.choice(PACKET_SHAPES)
        p, delay, jitter = 0.0, 0.0, 0.0
        if shape in ("loss", "duplicate"):
            p = round(rng.uniform(0.05, 0.3), 3)
        elif shape == "delay":
            delay = round(rng.uniform(5.0, 50.0), 1)
            jitter = round(rng.uniform(0.0, delay), 1)
        else:
            p = round(rng.uniform(0.1, 0.5), 3)
            delay = round(rng.uniform(10.0, 30.0), 1)
            jitter = round(rng.uniform(0.0, delay), 1)
        return Fault(kind, shape, (), {"p": p, "delay_ms": delay, "jitter_ms": jitter})
    if kind == "disk":
        return Fault(kind, rng.choice(DISK_SHAPES), (victim if victim else rng.choice(nodes),))
    raise NemesisError(f"unknown fault kind {kind!r}")


def _bounded_rate(drift: float, slow: bool) -> float:
    """The rate of a slow (or fast) clock under ``clock_drift_max=drift``: ``sqrt(1 -
    drift)`` (or its inverse), so that any two clocks, one slowed and one sped up, are
    within ``drift`` of each other (the worst case the bound allows)."""
    low = math.sqrt(1.0 - drift)
    return math.ceil(low * 1000) / 1000 if slow else math.floor(1000 / low) / 1000


def clock_drift_max(spec: TestSpec) -> float | None:
    """``spec.options["clock_drift_max"]``: when set, every clock fault's rate (and a
    deposed leader's) stays within that fraction of every other clock's (see the module
    doc); ``NemesisError`` unless it is a number in [0, 1)."""
    value = spec.options.get("clock_drift_max")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise NemesisError(f"option clock_drift_max must be a number in [0, 1), got {value!r}")
    return float(value)


def schedule(
    spec: TestSpec, rng: random.Random, kinds: Iterable[str] | None = None
) -> tuple[FaultWindow, ...]:
    """The fault windows of ``spec``'s main phase, drawn from ``rng`` (see the module doc),
    sorted by start time. ``kinds`` defaults to ``spec.nemesis`` (``"all"`` read as every
    kind); pass :func:`resolve_kinds`'s answer to honour the environment."""
    chosen = frozenset(spec.nemesis if kinds is None else kinds)
    if "all" in chosen:
        chosen = frozenset(FAULT_KINDS)
    nodes = tuple(range(1, spec.nodes + 1))
    limit = spec.time_limit_s
    (gap_lo, gap_hi), (dur_lo, dur_hi) = _timing(limit)
    victim = random.Random(rng.getrandbits(64)).choice(nodes) if "disk" in chosen else None
    drift = clock_drift_max(spec)
    windows: list[FaultWindow] = []
    for kind in FAULT_KINDS:  # fixed order: the schedule does not depend on set order
        if kind not in chosen:
            continue
        kind_rng = random.Random(rng.getrandbits(64))
        t = kind_rng.uniform(0.5 * gap_lo, gap_hi)
        while t < limit:
            end = min(limit, t + kind_rng.uniform(dur_lo, dur_hi))
            fault = _fault(kind, nodes, kind_rng, victim, "clock" in chosen, drift)
            windows.append(FaultWindow(round(t, 3), round(end, 3), fault))
            t = end + kind_rng.uniform(gap_lo, gap_hi)
    windows.sort(key=lambda w: (w.start_s, FAULT_KINDS.index(w.fault.kind)))
    bound = max_down(spec)
    others = max(1, bound - 1) if victim is not None else bound
    return _limit_down(windows, bound, others)


def planned_schedule(spec: TestSpec, kinds: frozenset[str]) -> tuple[FaultWindow, ...]:
    """The windows a run of ``spec`` applies: its explicit ``spec.schedule`` when it has
    one (``NemesisError`` if a window's kind is not among ``kinds``, the resolved kinds),
    else :func:`schedule` drawn from ``derive_rng(spec.seed, "nemesis")``. An explicit
    schedule is applied as given (a subset of a drawn one keeps its ``max_down`` bound)."""
    if spec.schedule is None:
        return schedule(spec, derive_rng(spec.seed, "nemesis"), kinds)
    outside = sorted({w.fault.kind for w in spec.schedule} - kinds)
    if outside:
        raise NemesisError(
            f"the schedule has {', '.join(outside)} faults, which the nemesis "
            f"({', '.join(sorted(kinds)) or 'none'}) does not include"
        )
    return spec.schedule


def _limit_down(windows: Sequence[FaultWindow], bound: int, others: int) -> tuple[FaultWindow, ...]:
    """Drop down-kind windows that would have more than ``bound`` open at once, or more
    than ``others`` kill/pause windows."""
    kept: list[FaultWindow] = []
    for window in windows:
        kind = window.fault.kind
        if kind in DOWN_KINDS:
            open_now = [o for o in kept if o.fault.kind in DOWN_KINDS and o.end_s > window.start_s]
            not_disk = sum(1 for o in open_now if o.fault.kind != "disk")
            if len(open_now) >= bound or (kind != "disk" and not_disk >= others):
                continue
        kept.append(window)
    return tuple(kept)


@attrs.frozen(slots=True)
class AppliedFault:
    """What the executor did for one window: the planned window, the actual start and
    end (environment seconds since the test started; ``end_s`` is ``None`` until it
    ended), the nodes it acted on and, for partitions, the blocked links."""

    index: int
    window: FaultWindow
    start_s: float
    nodes: tuple[NodeId, ...]
    blocked: tuple[tuple[NodeId, NodeId], ...] = ()
    end_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``faults`` entry of ``results.json``."""
        fault = self.window.fault
        return {
            "index": self.index,
            "kind": fault.kind,
            "shape": fault.shape,
            "planned": [self.window.start_s, self.window.end_s],
            "start_s": round(self.start_s, 6),
            "end_s": None if self.end_s is None else round(self.end_s, 6),
            "nodes": list(self.nodes),
            "params": {k: fault.params[k] for k in sorted(fault.params)},
            "blocked": [list(link) for link in self.blocked],
        }


Recorder = Callable[[str, Mapping[str, Any]], None]
"""``record(f, value)``: write one nemesis event (``f`` is ``start``, ``end`` or ``heal``)."""


class NemesisExecutor:
    """Applies fault windows to ``cluster`` and keeps what is in effect (see the module
    doc). ``elapsed()`` gives environment seconds since the test started; ``record``
    writes nemesis events; ``rng`` resolves targets at run time."""

    def __init__(
        self,
        cluster: Cluster,
        elapsed: Callable[[], float],
        record: Recorder,
        rng: random.Random,
        kinds: frozenset[str],
    ) -> None:
        self.cluster = cluster
        self.elapsed = elapsed
        self.record = record
        self.rng = rng
        self.kinds = kinds
        self.applied: dict[int, AppliedFault] = {}
        self.killed: set[NodeId] = set()
        self.paused: set[NodeId] = set()
        self.skewed: set[NodeId] = set()
        self.partitioned = False
        self.packet_on = False
        self.finished = trio.Event()
        self.protected: frozenset[NodeId] = frozenset()
        """Disk victims: never the target of a kill or pause."""

    @property
    def active(self) -> tuple[AppliedFault, ...]:
        """The faults in effect now."""
        return tuple(a for a in self.applied.values() if a.end_s is None)

    def history(self) -> tuple[AppliedFault, ...]:
        """Every fault applied so far, in start order."""
        return tuple(self.applied[i] for i in sorted(self.applied))

    async def run(self, windows: Sequence[FaultWindow]) -> None:
        """Apply each window's start and end at its time (ends first at equal times);
        sets :attr:`finished` when the last one is done."""
        self.protected = frozenset(
            w.fault.nodes[0] for w in windows if w.fault.kind == "disk" and w.fault.nodes
        )
        steps: list[tuple[float, int, int]] = []
        for index, window in enumerate(windows):
            steps.append((window.start_s, 1, index))
            steps.append((window.end_s, 0, index))
        steps.sort()
        try:
            for at, is_start, index in steps:
                delay = at - self.elapsed()
                if delay > 0:
                    await trio.sleep(delay)
                if is_start:
                    await self.start(index, windows[index])
                elif index in self.applied:
                    await self.end(index)
        finally:
            self.finished.set()

    def _up(self) -> list[NodeId]:
        return [n for n in self.cluster.nodes if n not in self.killed and n not in self.paused]

    async def _target(self, fault: Fault) -> NodeId:
        """The node a single-node fault acts on now (see the module doc)."""
        up = self._up()
        if fault.kind != "disk":
            up = [n for n in up if n not in self.protected] or up
        if not up:
            raise RuntimeError("nemesis: every node is already down")
        if fault.shape == "leader":
            leader = await self.cluster.leader()
            if leader is not None and leader in up:
                return leader
        elif fault.nodes and fault.nodes[0] in up:
            return fault.nodes[0]
        return self.rng.choice(up)

    async def start(self, index: int, window: FaultWindow) -> AppliedFault:
        """Apply ``window``'s fault now and record a ``start`` event."""
        fault = window.fault
        cluster = self.cluster
        nodes: tuple[NodeId, ...] = ()
        blocked: tuple[tuple[NodeId, NodeId], ...] = ()
        if fault.kind == "partition":
            leader = None
            if fault.shape == "isolate-leader":
                leader = await cluster.leader()
                if leader is None:
                    leader = self.rng.choice(list(cluster.nodes))
            links = blocked_links(fault, cluster.nodes, leader)
            await cluster.partition(links)
            self.partitioned = True
            nodes = (leader,) if leader is not None else fault.nodes
            rate = fault.params.get("leader_clock_rate")
            if rate is not None and leader is not None:
                # a deposed leader whose clock runs slow believes it leads for longer
                await cluster.skew_clock(leader, 0.0, rate)
                self.skewed.add(leader)
            blocked = tuple(sorted(links))
        elif fault.kind == "packet":
            await cluster.packet(fault)
            self.packet_on = True
        elif fault.kind == "clock":
            node = fault.nodes[0]
            await cluster.skew_clock(node, fault.params["offset_ms"], fault.params["rate"])
            self.skewed.add(node)
            nodes = (node,)
        elif fault.kind in DOWN_KINDS:
            node = await self._target(fault)
            if fault.kind == "pause":
                await cluster.pause(node)
                self.paused.add(node)
            else:
                if fault.kind == "disk":
                    await cluster.disk_fault(node, fault)
                await cluster.kill(node)
                self.killed.add(node)
            nodes = (node,)
        else:
            raise NemesisError(f"unknown fault kind {fault.kind!r}")
        applied = AppliedFault(index, window, self.elapsed(), nodes, blocked)
        self.applied[index] = applied
        self.record("start", _event_value(applied))
        return applied

    async def end(self, index: int) -> AppliedFault:
        """Undo fault ``index`` now and record an ``end`` event."""
        applied = self.applied[index]
        fault = applied.window.fault
        cluster = self.cluster
        if fault.kind == "partition":
            await cluster.heal_network()
            self.partitioned = False
            if "leader_clock_rate" in fault.params and applied.nodes:
                await cluster.reset_clock(applied.nodes[0])
                self.skewed.discard(applied.nodes[0])
        elif fault.kind == "packet":
            await cluster.packet(None)
            self.packet_on = False
        elif fault.kind == "clock":
            await cluster.reset_clock(applied.nodes[0])
            self.skewed.discard(applied.nodes[0])
        elif fault.kind == "pause":
            await cluster.resume(applied.nodes[0])
            self.paused.discard(applied.nodes[0])
        else:  # kill, disk
            await cluster.restart(applied.nodes[0])
            self.killed.discard(applied.nodes[0])
        ended = attrs.evolve(applied, end_s=self.elapsed())
        self.applied[index] = ended
        self.record("end", _event_value(ended))
        return ended

    async def heal(self) -> list[str]:
        """Undo everything still in effect (the heal phase): the network (always, when
        partitions or packet faults are in the test), paused nodes, killed nodes, skewed
        clocks. Records one ``heal`` event listing the actions; returns them."""
        for index in [a.index for a in self.active]:
            await self.end(index)
        actions: list[str] = []
        if "partition" in self.kinds:
            await self.cluster.heal_network()
            actions.append("heal-network")
        if "packet" in self.kinds:
            await self.cluster.packet(None)
            actions.append("packet-none")
        for node in sorted(self.paused):
            await self.cluster.resume(node)
            actions.append(f"resume {node}")
        for node in sorted(self.killed):
            await self.cluster.restart(node)
            actions.append(f"restart {node}")
        for node in sorted(self.skewed):
            await self.cluster.reset_clock(node)
            actions.append(f"reset-clock {node}")
        self.paused.clear()
        self.killed.clear()
        self.skewed.clear()
        self.partitioned = self.packet_on = False
        self.record("heal", {"actions": actions})
        return actions


def _event_value(applied: AppliedFault) -> dict[str, Any]:
    """The value of a nemesis ``start`` / ``end`` event."""
    fault = applied.window.fault
    value: dict[str, Any] = {
        "window": applied.index,
        "kind": fault.kind,
        "shape": fault.shape,
        "nodes": list(applied.nodes),
    }
    if fault.params:
        value["params"] = {k: fault.params[k] for k in sorted(fault.params)}
    if applied.blocked:
        value["blocked"] = links_json(frozenset(applied.blocked))
    return value


def describe(window: FaultWindow) -> str:
    """A short label for a fault (``partition:halves``), for progress displays."""
    return f"{window.fault.kind}:{window.fault.shape}"


def total_fault_seconds(windows: Iterable[FaultWindow]) -> float:
    """The summed length of ``windows`` (for summaries)."""
    return math.fsum(w.end_s - w.start_s for w in windows)
