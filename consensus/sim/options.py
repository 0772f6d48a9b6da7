"""The knobs of one simulated run: the cluster and workload (:class:`SimConfig`, chosen by
the user) and the faults (:class:`FaultOptions`, drawn from the seed).

Swarm testing: the user names the fault kinds a sweep may use; each seed then enables a
random non-empty subset of them, each with a random intensity. Different seeds thereby
explore different mixes (a run with only loss finds other bugs than a run with loss,
partitions and crashes together), and one seed still determines everything.

All times are integer microseconds of virtual time (``*_us``); rates are probabilities
per message.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Iterable

import attrs


class FaultKind(enum.Enum):
    PARTITION = "partition"
    LOSS = "loss"
    DUPLICATE = "duplicate"
    REORDER = "reorder"
    DELAY = "delay"
    CRASH = "crash"
    DISK = "disk"


FAULT_NAMES: tuple[str, ...] = tuple(k.value for k in FaultKind)


FAULT_LEGEND: tuple[tuple[str, str], ...] = (
    ("partition/Xs", "a partition of a random shape starts about every X seconds"),
    ("loss=P, dup=P", "each message is lost / delivered twice with probability P"),
    ("reorder<Xms", "each message gets up to X ms of extra delay, so messages overtake"),
    ("delay=P<Xms", "with probability P a message is slowed by up to X ms"),
    ("crash/Xs", "a random node crashes about every X seconds, losing unsynced data"),
    ("torn=P", "a crash lands between a leader's early send and its fsync"),
    ("disk(eio/Xs)", "state on a simulated disk; an fsync fails with EIO about every X s"),
    ("leader-crash=P", "a leader crashes after only some of its appends left"),
    ("reply-crash=P", "a node crashes right after a reply left while it had unsynced state"),
    ("deposed/Xs", "the leader is cut off, its clock slowed, a client kept pointed at it"),
    ("fsync<Xms", "a leader's fsync of a batch it replicates takes up to X ms"),
    ("sync-crash=P", "the leader crashes inside that fsync window"),
    ("corrupt=P", "a crash that writes back unsynced bytes flips a bit with probability P"),
    ("churn=P", "a new leader, or one that just learned of a commit, crashes mid-send"),
    ("churn<Xs", "churn only in the first X seconds"),
    ("member/Xs", "--membership: the leader is asked for a membership change about every X s"),
)
"""What each part of :meth:`FaultOptions.describe` means, for ``consensus sim``'s legend.
Keep it in step with ``describe``."""


def available_faults(disk: bool = True) -> tuple[FaultKind, ...]:
    """The kinds the simulator can inject; ``disk`` only for a protocol with a storage on
    a simulated disk (``ProtocolSpec.make_disk_storage``)."""
    return tuple(k for k in FaultKind if disk or k is not FaultKind.DISK)


def parse_faults(text: str, available: Iterable[FaultKind] | None = None) -> frozenset[FaultKind]:
    """``"all"``, ``"none"`` or a comma list of fault names -> the set of kinds.

    ``all`` means every kind in ``available``. Raises ``ValueError`` naming an unknown or
    unavailable kind.
    """
    allowed = tuple(available_faults() if available is None else available)
    words = [w.strip() for w in text.split(",")]
    if words == ["all"]:
        return frozenset(allowed)
    if words == ["none"]:
        return frozenset()
    kinds: set[FaultKind] = set()
    names = ", ".join(k.value for k in allowed)
    for word in words:
        if not word:
            raise ValueError(f"empty fault name in {text!r}; choose from: all, none, {names}")
        try:
            kind = FaultKind(word)
        except ValueError:
            raise ValueError(f"unknown fault {word!r}; choose from: all, none, {names}") from None
        if kind not in allowed:
            raise ValueError(f"fault {word!r} is not available here; choose from: {names}")
        kinds.add(kind)
    return frozenset(kinds)


def _at_least(minimum: int) -> Callable[[object, attrs.Attribute[int], int], None]:
    def check(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
        if value < minimum:
            raise ValueError(f"SimConfig.{attribute.name} must be >= {minimum}, got {value}")

    return check


@attrs.frozen(slots=True)
class SimConfig:
    """What the user chooses for a run (everything else comes from the seed).

    - ``nodes``: cluster size; node ids are 1..nodes.
    - ``duration_us``: length of the fault phase; the heal phase follows it.
    - ``faults``: the kinds the seed may enable (see :meth:`FaultOptions.draw`).
    - ``tick_interval_us``: each node ticks this often, give or take its drift
      (``tick_drift_max``, a fraction drawn per node in ``[-max, +max]``).
    - ``delay_us_min`` / ``delay_us_max``: the fault-free one-way message delay (at least
      1 us, so that every message hop advances virtual time: a message loop cannot spin
      forever at one instant).
    - ``clients``: closed-loop clients; each waits ``think_us_mean`` (exponential) between
      operations and gives up on one after ``client_timeout_us``. ``read_fraction`` of
      operations are read-index requests.
    - ``heal_limit_us``: after the heal the cluster must commit ``probes`` new proposals
      and converge within this much virtual time, or the run fails with ``liveness``.
    - ``link_queue_max``: messages in flight on one directed link; more are dropped.
    - budgets, so that a thrashing or looping seed fails with a reason instead of
      stalling a sweep: ``events_per_node_s_max`` events per node per virtual second of
      the run (fault phase plus heal limit) in total (``budget-exceeded``); within every
      ``progress_window_us`` of virtual time at most ``messages_per_node_window_max``
      messages per node plus ``messages_per_commit_max`` per newly applied index
      (``no-progress``); and ``wall_s_max`` seconds of real time per seed
      (``budget-exceeded``; 0 turns it off: a wall budget is the one check that does not
      replay exactly).
    - ``membership``: run the membership nemesis (``FaultOptions.membership_every_us``):
      ``spares`` more nodes (ids ``nodes+1..nodes+spares``) start as non-members with
      empty storage, and the leader is asked, at random intervals, to add a learner,
      promote one, remove a member (the leader itself too) or replace a node, while the
      other faults run. Only for protocols whose cores are
      :class:`~consensus.core.ReconfigurableCore`.
    """

    nodes: int = attrs.field(default=5, validator=_at_least(1))
    duration_us: int = attrs.field(default=10_000_000, validator=_at_least(0))
    faults: frozenset[FaultKind] = frozenset()
    tick_interval_us: int = attrs.field(default=10_000, validator=_at_least(1))
    tick_drift_max: float = 0.02
    delay_us_min: int = attrs.field(default=500, validator=_at_least(1))
    delay_us_max: int = attrs.field(default=3_000, validator=_at_least(0))
    clients: int = attrs.field(default=3, validator=_at_least(0))
    think_us_mean: int = attrs.field(default=20_000, validator=_at_least(1))
    client_timeout_us: int = attrs.field(default=500_000, validator=_at_least(1))
    read_fraction: float = 0.2
    heal_limit_us: int = attrs.field(default=10_000_000, validator=_at_least(1))
    probes: int = attrs.field(default=3, validator=_at_least(1))
    link_queue_max: int = attrs.field(default=1024, validator=_at_least(1))
    events_per_node_s_max: int = attrs.field(default=20_000, validator=_at_least(1))
    progress_window_us: int = attrs.field(default=1_000_000, validator=_at_least(1))
    messages_per_node_window_max: int = attrs.field(default=600, validator=_at_least(1))
    messages_per_commit_max: int = attrs.field(default=100, validator=_at_least(1))
    wall_s_max: float = 300.0
    membership: bool = False
    spares: int = attrs.field(default=2, validator=_at_least(0))

    @property
    def total_nodes(self) -> int:
        """Node ids in the run: the initial voters, plus the spares with ``membership``."""
        return self.nodes + (self.spares if self.membership else 0)

    def events_max(self) -> int:
        """The total event budget of one run."""
        seconds = (self.duration_us + self.heal_limit_us) / 1e6
        return max(100_000, int(self.events_per_node_s_max * self.total_nodes * seconds))

    def __attrs_post_init__(self) -> None:
        if self.delay_us_max < self.delay_us_min:
            raise ValueError(
                f"SimConfig.delay_us_max ({self.delay_us_max}) must be >= delay_us_min "
                f"({self.delay_us_min})"
            )
        if not 0.0 <= self.tick_drift_max < 0.5:
            raise ValueError(
                f"SimConfig.tick_drift_max must be in [0, 0.5), got {self.tick_drift_max}"
            )
        if not 0.0 <= self.read_fraction <= 1.0:
            raise ValueError(f"SimConfig.read_fraction must be in [0, 1], got {self.read_fraction}")


@attrs.frozen(slots=True)
class FaultOptions:
    """The faults of one run, drawn from its seed. A zero (or 0.0) knob is off.

    - ``loss_rate``: each message is lost with this probability.
    - ``duplicate_rate``: each message is delivered twice with this probability.
    - ``reorder_jitter_us``: when > 0, each message gets an extra uniform delay in
      ``[0, jitter)`` and links are not FIFO; when 0, every link delivers in send order.
    - ``spike_rate`` / ``spike_us_max``: a message is slowed by up to ``spike_us_max``
      with probability ``spike_rate`` (longer than an election timeout, often).
    - ``partition_every_us`` / ``partition_us_max``: a partition of a random shape starts
      on average every ``partition_every_us`` and lasts up to ``partition_us_max``.
    - ``crash_every_us`` / ``downtime_us_max``: a random node crashes on average every
      ``crash_every_us`` (losing what it had not synced) and restarts up to
      ``downtime_us_max`` later.
    - ``torn_crash_rate``: (with crashes on) a node that has sent a batch's
      ``early_messages`` crashes before persisting that batch with this probability.
    - ``disk``: nodes keep their state in the protocol's file-backed storage on a
      simulated disk; every crash then picks a random crash mode (power loss, torn or
      sector-scrambled write-back of unsynced bytes, or a process kill that loses
      nothing), and an fsync fails with EIO on average every ``fsync_fail_every_us``
      (the node stops, as it must, and is restarted like a crashed one).

    Targeted strategies (each drawn for half of the seeds whose kind is on, from a
    separate random stream, so the draws above stay as they were):

    - ``leader_crash_rate`` (crash): a leader that is about to send a durable batch's
      ``early_messages`` gets only a random minority of them out and crashes, and comes
      back within a few ticks: elections churn while entries are partially replicated
      (the Figure 8 situation of the Raft paper).
    - ``reply_crash_rate`` (crash): right after a batch's messages left a node while it
      holds persisted but unsynced state, the node crashes and restarts almost at once
      (a crash between a reply and the next fsync, then a second vote or promise).
    - ``deposed_every_us`` (partition): on average this often, the current leader is cut
      off from its peers (not from clients, who keep sending it their reads and writes)
      and its clock runs slow, so it believes it leads for longer while a new leader
      commits writes elsewhere.
    - ``fsync_us_max`` (crash or disk): a leader's fsync of a batch it replicates takes a
      uniform time up to this (its followers' acknowledgements arrive meanwhile);
      ``sync_crash_rate``: the leader crashes inside that window.
    - ``corrupt_rate`` (disk): a crash that writes back unsynced bytes also flips a bit in
      them (a torn, garbled tail the log's CRCs must catch).
    - ``churn_rate`` (crash; see :meth:`with_churn`): with this probability, a new
      leader's first replicated batch reaches its own disk and at most a minority of its
      followers before it crashes, and a leader that has just learned of a commit
      crashes before most of what follows leaves; either is back within a few ticks.
      Divergent uncommitted entries pile up at one index in successive terms: the Raft
      paper's Figure 8. Raft then sends one entry per AppendEntries (``tune``).
      ``churn_until_us``: when > 0, churn stops at this virtual time (the seeds drawn
      with churn but without periodic crashes: they commit again afterwards).
    - ``membership_every_us`` (``SimConfig.membership`` only, see :meth:`with_membership`):
      on average this often the nemesis asks the leader for one membership change.
    """

    loss_rate: float = 0.0
    duplicate_rate: float = 0.0
    reorder_jitter_us: int = 0
    spike_rate: float = 0.0
    spike_us_max: int = 0
    partition_every_us: int = 0
    partition_us_max: int = 0
    crash_every_us: int = 0
    downtime_us_max: int = 0
    torn_crash_rate: float = 0.0
    disk: bool = False
    fsync_fail_every_us: int = 0
    leader_crash_rate: float = 0.0
    reply_crash_rate: float = 0.0
    deposed_every_us: int = 0
    fsync_us_max: int = 0
    sync_crash_rate: float = 0.0
    corrupt_rate: float = 0.0
    churn_rate: float = 0.0
    churn_until_us: int = 0
    membership_every_us: int = 0

    def enabled(self) -> tuple[FaultKind, ...]:
        """The kinds this record turns on, in :class:`FaultKind` order."""
        on = {
            FaultKind.PARTITION: self.partition_every_us > 0,
            FaultKind.LOSS: self.loss_rate > 0,
            FaultKind.DUPLICATE: self.duplicate_rate > 0,
            FaultKind.REORDER: self.reorder_jitter_us > 0,
            FaultKind.DELAY: self.spike_rate > 0,
            FaultKind.CRASH: self.crash_every_us > 0,
            FaultKind.DISK: self.disk,
        }
        return tuple(k for k in FaultKind if on[k])

    def describe(self) -> str:
        """A short human summary, e.g. ``loss=0.12 partition/1.50s crash/0.80s``."""
        parts: list[str] = []
        if self.partition_every_us:
            parts.append(f"partition/{self.partition_every_us / 1e6:.2f}s")
        if self.loss_rate:
            parts.append(f"loss={self.loss_rate:.3f}")
        if self.duplicate_rate:
            parts.append(f"dup={self.duplicate_rate:.3f}")
        if self.reorder_jitter_us:
            parts.append(f"reorder<{self.reorder_jitter_us / 1e3:.1f}ms")
        if self.spike_rate:
            parts.append(f"delay={self.spike_rate:.3f}<{self.spike_us_max / 1e3:.0f}ms")
        if self.crash_every_us:
            parts.append(f"crash/{self.crash_every_us / 1e6:.2f}s")
        if self.torn_crash_rate:
            parts.append(f"torn={self.torn_crash_rate:.4f}")
        if self.disk:
            parts.append(f"disk(eio/{self.fsync_fail_every_us / 1e6:.2f}s)")
        if self.leader_crash_rate:
            parts.append(f"leader-crash={self.leader_crash_rate:.3f}")
        if self.reply_crash_rate:
            parts.append(f"reply-crash={self.reply_crash_rate:.3f}")
        if self.deposed_every_us:
            parts.append(f"deposed/{self.deposed_every_us / 1e6:.2f}s")
        if self.fsync_us_max:
            parts.append(f"fsync<{self.fsync_us_max / 1e3:.1f}ms")
        if self.sync_crash_rate:
            parts.append(f"sync-crash={self.sync_crash_rate:.3f}")
        if self.corrupt_rate:
            parts.append(f"corrupt={self.corrupt_rate:.2f}")
        if self.churn_rate:
            parts.append(f"churn={self.churn_rate:.3f}")
        if self.churn_until_us:
            parts.append(f"churn<{self.churn_until_us / 1e6:.2f}s")
        if self.membership_every_us:
            parts.append(f"member/{self.membership_every_us / 1e6:.2f}s")
        return " ".join(parts) or "none"

    @classmethod
    def draw(
        cls, rng: random.Random, requested: frozenset[FaultKind], tick_interval_us: int
    ) -> FaultOptions:
        """Swarm testing: enable a random non-empty subset of ``requested`` (each kind
        with probability 1/2, and one at random if that left none), with random
        intensities scaled to the tick (an election timeout is about 10-20 ticks).

        The draw order is fixed (every kind consumes its random numbers whether or not it
        was requested), so adding a kind to ``requested`` never changes how the others
        are drawn for the same seed.
        """
        kinds = list(FaultKind)
        coins = {k: rng.random() < 0.5 for k in kinds}
        pick = kinds[rng.randrange(len(kinds))]
        wanted = [k for k in kinds if k in requested]
        chosen = {k for k in wanted if coins[k]}
        if wanted and not chosen:
            chosen = {pick} if pick in requested else {wanted[0]}
        tick = tick_interval_us
        loss = rng.uniform(0.01, 0.3)
        dup = rng.uniform(0.01, 0.2)
        jitter = int(rng.uniform(0.1, 5.0) * tick)
        spike_rate = rng.uniform(0.005, 0.1)
        spike_max = int(rng.uniform(5, 300) * tick)
        part_every = int(rng.uniform(20, 500) * tick)
        part_max = int(rng.uniform(20, 500) * tick)
        crash_every = int(rng.uniform(20, 500) * tick)
        down_max = int(rng.uniform(1, 300) * tick)
        torn = rng.uniform(0.0005, 0.01)
        eio_every = int(rng.uniform(50, 1000) * tick)
        on = chosen.__contains__
        return cls(
            loss_rate=loss if on(FaultKind.LOSS) else 0.0,
            duplicate_rate=dup if on(FaultKind.DUPLICATE) else 0.0,
            reorder_jitter_us=jitter if on(FaultKind.REORDER) else 0,
            spike_rate=spike_rate if on(FaultKind.DELAY) else 0.0,
            spike_us_max=spike_max if on(FaultKind.DELAY) else 0,
            partition_every_us=part_every if on(FaultKind.PARTITION) else 0,
            partition_us_max=part_max if on(FaultKind.PARTITION) else 0,
            crash_every_us=crash_every if on(FaultKind.CRASH) else 0,
            downtime_us_max=down_max if on(FaultKind.CRASH) else 0,
            torn_crash_rate=torn if on(FaultKind.CRASH) else 0.0,
            disk=on(FaultKind.DISK),
            fsync_fail_every_us=eio_every if on(FaultKind.DISK) else 0,
        )

    def with_strategies(self, rng: random.Random, tick_interval_us: int) -> FaultOptions:
        """Add the targeted strategies (see the class docstring), each for half of the
        seeds whose fault kind is on. ``rng`` is a stream of its own: a fixed number of
        draws, whatever is on."""
        tick = tick_interval_us
        coins = [rng.random() < 0.5 for _ in range(5)]
        leader_crash = rng.uniform(0.02, 0.3)
        reply_crash = rng.uniform(0.01, 0.2)
        deposed_every = int(rng.uniform(50, 400) * tick)
        fsync_max = int(rng.uniform(0.2, 3.0) * tick)
        sync_crash = rng.uniform(0.005, 0.1)
        corrupt = rng.uniform(0.2, 1.0)
        crash = self.crash_every_us > 0
        return attrs.evolve(
            self,
            leader_crash_rate=leader_crash if crash and coins[0] else 0.0,
            reply_crash_rate=reply_crash if crash and coins[1] else 0.0,
            deposed_every_us=deposed_every if self.partition_every_us and coins[2] else 0,
            fsync_us_max=fsync_max if (crash or self.disk) and coins[3] else 0,
            sync_crash_rate=sync_crash if crash and coins[3] else 0.0,
            corrupt_rate=corrupt if self.disk and coins[4] else 0.0,
        )

    def with_membership(self, rng: random.Random, tick_interval_us: int) -> FaultOptions:
        """``membership_every_us`` for a run with ``SimConfig.membership``: a mean of 10
        to 100 ticks between change requests. ``rng`` is a stream of its own."""
        every = int(rng.uniform(10, 100) * tick_interval_us)
        return attrs.evolve(self, membership_every_us=every)

    def with_churn(
        self, rng: random.Random, tick_interval_us: int, crash_allowed: bool = True
    ) -> FaultOptions:
        """The strategies drawn after the others, from a stream of their own (so that
        the earlier draws and the core's knobs stay as they were): ``churn_rate``.

        Churn and reply crashes keep to different seeds (churn's crashes would end the
        reply-crash windows first): churn is drawn for every crash seed without reply
        crashes, for the whole fault phase; and, when ``crash_allowed`` (the sweep may
        crash nodes), for half of the seeds whose swarm draw left crashes off, for the
        first 300-600 ticks only (``churn_until_us``; churn commits little, and those
        seeds then commit again). Churn makes its own crashes: those seeds crash only
        leaders, right at their first appends or a commit."""
        churn = rng.uniform(0.6, 0.95)
        extra = rng.random() < 0.5
        until = int(rng.uniform(300, 600) * tick_interval_us)
        crash = self.crash_every_us > 0
        if crash and not self.reply_crash_rate:
            return attrs.evolve(self, churn_rate=churn)
        if crash_allowed and not crash and extra:
            return attrs.evolve(self, churn_rate=churn, churn_until_us=until)
        return self
