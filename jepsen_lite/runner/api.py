"""The contracts of a jepsen-lite test: what a workload, a checker, a fault schedule and an
environment are, and the test record that ties them together.

A *test* (:class:`TestSpec`) is plain data: a workload name, a nemesis (set of fault
kinds), a protocol, cluster size, client concurrency, a time limit and a seed. The runner
turns it into objects (a :class:`Workload`, a fault schedule of :class:`FaultWindow`, an
:class:`Environment`), runs it and writes a run folder. The same spec runs unchanged in
every environment whose :attr:`Environment.faults` cover its nemesis.

Determinism: everything random in a run (operations, keys, values, the fault schedule,
the simulated network and disk, the Trio scheduler in ``sim``) is drawn from
``random.Random`` instances derived from ``TestSpec.seed`` by :func:`derive_seed`, never
from the global ``random`` module, so in ``sim`` one seed replays a run byte for byte.

History: every invocation and completion the runner records is a
:class:`jepsen_lite.history.Event` with the environment's clock (``Cluster.now``) in
nanoseconds; fault starts and ends are events of the process ``"nemesis"`` (skipped by the
history loaders, as Jepsen's ``:nemesis`` events are).
"""

from __future__ import annotations

import enum
import hashlib
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

import attrs

from ..history.ops import EventType, History, Process, Value

if TYPE_CHECKING:
    from consensus.client.kv import KvSession

T = TypeVar("T")

NodeId = int

# -- operations -----------------------------------------------------------------------


@attrs.frozen(slots=True)
class Invocation:
    """One operation a generator asks a client process to perform (Jepsen's invoke):
    ``f`` names the function (``read``, ``write``, ``cas``, ``add``, ``txn``, ...), ``key``
    the object (``None`` for single-object workloads), ``value`` the argument."""

    f: str
    key: Value = None
    value: Value = None


@attrs.frozen(slots=True)
class Completion:
    """How an invocation ended, with Jepsen's meanings (see ``jepsen_lite.history.ops``):
    ``ok`` took effect once, ``fail`` certainly did not take effect, ``info`` unknown (the
    runner retires the process and a new process id takes its place). ``value`` is what
    the ok/fail completion carries (a read's result); ``error`` a short reason for people.
    """

    type: EventType
    value: Value = None
    error: str | None = None


# -- workloads ------------------------------------------------------------------------


class Generator(Protocol):
    """Produces the operations of one test. ``next(process, now)`` is called whenever a
    client process is free: it returns the next invocation for it, ``None`` when this
    process should wait ``pending_s`` seconds and ask again (rate limiting, phases), or
    raises ``StopIteration`` when the generator is exhausted. ``now`` is the seconds since
    the test started (environment time). Randomness comes only from the ``random.Random``
    the workload built the generator with."""

    pending_s: float

    def next(self, process: Process, now: float) -> Invocation | None: ...


class Workload(Protocol):
    """A workload: what operations clients run, how they map to the key-value API, and
    which checkers judge the history.

    ``generator(rng, spec)`` builds the operation stream for the main phase;
    ``final_invocations(spec)`` are run once after the cluster has healed (final reads of
    the set workload, for example), each by a fresh process, and must complete ``ok`` for
    the run to count as recovered. ``invoke(kv, op)`` performs one operation on an
    exactly-once session and returns its completion; it may raise: the runner turns a
    timeout or lost connection into ``info`` for writes (outcome unknown) and ``fail``
    for operations the workload declares read-only in ``read_only_fs``. ``checkers()``
    judge the whole history.
    """

    name: str
    read_only_fs: frozenset[str]

    def generator(self, rng: random.Random, spec: TestSpec) -> Generator: ...

    def final_invocations(self, spec: TestSpec) -> Sequence[Invocation]: ...

    async def invoke(self, kv: KvSession, op: Invocation) -> Completion: ...

    def checkers(self) -> Sequence[Checker]: ...


# -- checkers -------------------------------------------------------------------------


class Validity(enum.Enum):
    """A checker's three-valued answer. Only VALID is success; UNKNOWN (a budget ran out,
    or nothing could be checked) is never reported as valid."""

    VALID = "valid"
    INVALID = "invalid"
    UNKNOWN = "unknown"


@attrs.frozen(slots=True)
class CheckerResult:
    """One checker's verdict on a run. ``summary`` is one line for people (what was
    checked, what was found); ``details`` is JSON-encodable data for ``results.json``
    (counts, the anomalies found, a counterexample), stable per checker."""

    name: str
    validity: Validity
    summary: str
    details: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen(slots=True)
class RunFacts:
    """What a checker may look at besides the client history: the fault windows that
    ran, each node's final state-machine snapshot after heal (``None`` for a node that
    could not be read), the phase boundaries in environment seconds, and the
    environment's own verdicts (the simulator's core invariants in ``sim``)."""

    faults: tuple[FaultWindow, ...]
    snapshots: Mapping[NodeId, bytes | None]
    phases: Mapping[str, tuple[float, float]]
    invariant_violations: tuple[str, ...] = ()
    refused: Mapping[NodeId, str] = attrs.field(factory=dict)
    """Nodes that stayed down after heal because their recovery refused damaged storage
    (the right answer to an injected bit flip), with the reason; from the optional
    ``Cluster.refused_nodes()``."""


class Checker(Protocol):
    """Judges a paired history (nemesis events excluded) of one run."""

    name: str

    def check(self, history: History, facts: RunFacts) -> CheckerResult: ...


# -- faults ---------------------------------------------------------------------------

FAULT_KINDS: tuple[str, ...] = ("partition", "kill", "pause", "clock", "packet", "disk")
"""The nemesis names of ``--nemesis``; ``all`` means every kind the environment supports."""


@attrs.frozen(slots=True)
class Fault:
    """One fault to inject. ``kind`` is one of :data:`FAULT_KINDS`; ``shape`` refines it
    (``partition``: ``isolate-one``, ``isolate-leader``, ``halves``, ``majority-ring``,
    ``bridge``; ``clock``: ``fast``, ``slow``, ``jump``; ``packet``: ``loss``,
    ``duplicate``, ``delay``, ``reorder``; ``disk``: ``lose-unsynced``, ``torn-write``,
    ``bit-flip``); ``nodes`` the nodes it targets (resolved when it starts: a leader
    fault names the leader of that moment); ``params`` numbers such as a loss rate or a
    clock offset in milliseconds."""

    kind: str
    shape: str
    nodes: tuple[NodeId, ...] = ()
    params: Mapping[str, float] = attrs.field(factory=dict)


@attrs.frozen(slots=True)
class FaultWindow:
    """A fault that starts ``start_s`` seconds into the test and ends at ``end_s`` (every
    fault ends, at the latest when the heal phase begins)."""

    start_s: float
    end_s: float
    fault: Fault


# -- environments ---------------------------------------------------------------------


class Cluster(Protocol):
    """A running cluster as an environment exposes it to the runner and the nemesis.

    Fault methods apply a fault at once and return when it is in place; each has an
    inverse (``heal_network``, ``restart``, ``resume``, ``reset_clock``, ``packet(None)``).
    A method for a fault the environment does not support raises ``NotImplementedError``.
    Node ids are ``1..n``.
    """

    nodes: tuple[NodeId, ...]

    def now(self) -> float:
        """Environment seconds (virtual in ``sim``, monotonic in ``local``)."""
        ...

    def session(self) -> AbstractAsyncContextManager[KvSession]:
        """A new client with its own exactly-once session, connected to every node."""
        ...

    async def leader(self) -> NodeId | None:
        """The node that currently believes it leads (``None`` if none or unknown)."""
        ...

    async def partition(self, blocked: frozenset[tuple[NodeId, NodeId]]) -> None:
        """Drop every message on the directed links ``(src, dst)`` in ``blocked``
        (replacing any earlier partition)."""
        ...

    async def heal_network(self) -> None: ...

    async def packet(self, fault: Fault | None) -> None:
        """Loss / duplication / delay / reordering on every node-to-node link, or none."""
        ...

    async def kill(self, node: NodeId) -> None:
        """Crash ``node`` at once (SIGKILL; in ``sim``, unsynced writes may be lost)."""
        ...

    async def restart(self, node: NodeId) -> None: ...

    async def pause(self, node: NodeId) -> None:
        """Freeze ``node`` (SIGSTOP): it keeps its state but does nothing."""
        ...

    async def resume(self, node: NodeId) -> None: ...

    async def skew_clock(self, node: NodeId, offset_ms: float, rate: float) -> None:
        """Make ``node``'s clock read ``offset_ms`` ahead (negative: behind), running at
        ``rate`` times real speed."""
        ...

    async def reset_clock(self, node: NodeId) -> None: ...

    async def disk_fault(self, node: NodeId, fault: Fault) -> None:
        """Damage ``node``'s disk (simulation only); applied at its next crash/restart."""
        ...

    async def snapshots(self) -> Mapping[NodeId, bytes | None]:
        """Each node's state-machine snapshot once it has applied everything committed
        (for the convergence checker); ``None`` for a node that could not be read."""
        ...


class Environment(Protocol):
    """Where a test runs: ``sim`` (one process, virtual time) or ``local`` (real node
    processes on 127.0.0.1). ``run(spec, main)`` starts the cluster, calls
    ``main(cluster)`` inside Trio, and stops everything it started (every process, by
    pid, also on errors and Ctrl-C) before returning ``main``'s result.

    An environment may also define ``check_spec(spec) -> None``, raising ``ValueError``
    naming a bad option; ``prepare`` calls it before any run folder exists."""

    name: ClassVar[str]
    faults: ClassVar[frozenset[str]]

    def run(self, spec: TestSpec, run_dir: str, main: Callable[[Cluster], Awaitable[T]]) -> T: ...


# -- the test record ------------------------------------------------------------------


@attrs.frozen(slots=True)
class TestSpec:
    """A test, as plain data (what ``test.json`` in a run folder holds).

    ``rate`` is the offered load in operations per second over all clients (open loop),
    or ``None`` for closed loop (each process invokes as soon as its last operation
    completed). ``keys`` bounds the distinct keys and ``ops_per_key`` the operations on
    one key before the workload moves to a fresh one (Jepsen's ``independent``), which
    keeps each key's linearizability search small. ``recovery_s`` is the liveness bound
    after heal: new operations must succeed within it.

    ``schedule`` is an explicit fault schedule that the nemesis runs instead of drawing
    one from the seed (``None``, the default: draw it). ``jepsen-lite shrink`` uses it to
    run a seed with a subset of the faults that seed drew, clipped to a shorter time
    limit; every other random stream (workload, workers, network, scheduler) is still
    derived from ``seed`` as without it.
    """

    __test__: ClassVar[bool] = False  # not a pytest test class

    workload: str = "register"
    nemesis: frozenset[str] = frozenset(FAULT_KINDS)
    env: str = "sim"
    protocol: str = "raft"
    nodes: int = 5
    concurrency: int = 10
    time_limit_s: float = 60.0
    seed: int = 0
    rate: float | None = 50.0
    keys: int = 20
    ops_per_key: int = 100
    recovery_s: float = 10.0
    name: str = ""
    options: Mapping[str, Any] = attrs.field(factory=dict)
    schedule: tuple[FaultWindow, ...] | None = None

    @property
    def test_name(self) -> str:
        """The run folder's test name: ``name`` or ``<protocol>-<workload>-<nemesis>``."""
        if self.name:
            return self.name
        nemesis = "+".join(sorted(self.nemesis)) or "none"
        return f"{self.protocol}-{self.workload}-{nemesis}"


def derive_seed(seed: int, purpose: str) -> int:
    """A 64-bit seed for one purpose (``"generator"``, ``"nemesis"``, ``"network"``,
    ``"process-3"``...), stable across processes and Python versions."""
    digest = hashlib.sha256(f"{seed}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def derive_rng(seed: int, purpose: str) -> random.Random:
    """``random.Random(derive_seed(seed, purpose))``."""
    return random.Random(derive_seed(seed, purpose))
