"""Raft's safety properties under a hostile network, checked with Hypothesis.

A :class:`RuleBasedStateMachine` drives a :class:`~.harness.Network` of 3-5 cores with
random ticks, deliveries, drops, duplicates, proposals, compactions, partitions, crashes
and restarts (messages are also reordered, since any in-flight message may be delivered
next). After every step :class:`SafetyChecker` checks the properties of Figure 3 of the
Raft paper:

- election safety: at most one leader per term, over the whole history;
- log matching: two logs holding an entry with the same index and term are identical up
  to it;
- leader completeness: an entry committed anywhere is in the log of every leader of a
  later term;
- state machine safety: no two nodes apply different entries at one index (checked by the
  harness at every apply, across crashes).

At the end it heals everything and requires the cluster to elect a leader and commit a
new entry on every node (liveness).

Hypothesis tends to spend many examples on near-degenerate programs (the same rule 60
times), so the same actions and checks also run as a seeded, weighted random walk
(:func:`random_walk`), which covers far more ground per second. On failure both print a
reproduction: keep it as a regression test below.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
from collections.abc import Callable

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from consensus.core import Role
from consensus.errors import NotLeader, ProposalDropped
from consensus.messages import AppendEntries, Message, RequestVoteResponse
from consensus.raft import RaftConfig, RaftCore
from consensus.types import Entry, NodeId

from .harness import Network, decode_entries

STEPS = 60
EXAMPLES = int(os.environ.get("RAFT_PROPERTY_EXAMPLES", "60"))
"""Default-suite budget; ``TestSlowRaftCluster`` (``-m slow``) runs ``SLOW_EXAMPLES``."""
SLOW_EXAMPLES = 150


def entry_at(core: RaftCore, index: int) -> Entry | None:
    """The entry at ``index`` in the core's log or in the snapshot it compacted into."""
    log = core.log
    if index > log.snapshot_index:
        return log.entry(index) if index <= log.last_index() else None
    if core.snapshot is None:
        return None
    image = decode_entries(core.snapshot.data)
    return image[index - 1] if index <= len(image) else None


class SafetyChecker:
    """Raft's safety properties, checked against the whole history of one network."""

    def __init__(self, net: Network) -> None:
        self.net = net
        self.leader_of_term: dict[int, NodeId] = {}
        self.committed: dict[int, tuple[Entry, int]] = {}  # index -> (entry, term seen)
        self.votes: dict[tuple[NodeId, int], NodeId] = {}  # (voter, term) -> candidate
        net.observers.append(self.one_vote_per_term)

    def check(self) -> None:
        self.election_safety()
        self.log_matching()
        self.leader_completeness()
        self.state_machines_agree()
        self.committed_is_durable_on_a_quorum()

    def one_vote_per_term(self, m: Message) -> None:
        """Every vote a node grants, across its crashes: at most one per term."""
        if isinstance(m, RequestVoteResponse) and m.granted and not m.pre_vote:
            first = self.votes.setdefault((m.src, m.term), m.dst)
            assert first == m.dst, f"node {m.src} voted for {first} and {m.dst} in {m.term}"

    def committed_is_durable_on_a_quorum(self) -> None:
        """Whatever a node holds as committed is on the disks of a majority (the must_sync
        contract: nobody acknowledges an entry before it is durable)."""
        net = self.net
        durable = {v: net.nodes[v].storage.recover() for v in net.voters}
        for v in net.up():
            log = net.core(v).log
            c = log.committed
            if c <= log.snapshot_index:
                continue
            e = log.entry(c)
            holders = 0
            for rec in durable.values():
                snap = rec.snapshot.meta.index if rec.snapshot else 0
                pos = c - snap - 1
                if c <= snap or (pos < len(rec.entries) and rec.entries[pos] == e):
                    holders += 1
            assert holders >= len(net.voters) // 2 + 1, (
                f"node {v} holds {e} committed, but only {holders} nodes stored it"
            )

    def election_safety(self) -> None:
        for v in self.net.leaders():
            term = self.net.core(v).term
            first = self.leader_of_term.setdefault(term, v)
            assert first == v, f"term {term} has two leaders: {first} and {v}"

    def log_matching(self) -> None:
        logs = {v: self.net.core(v).log for v in self.net.up()}
        for a, b in itertools.combinations(sorted(logs), 2):
            la, lb = logs[a], logs[b]
            lo = max(la.snapshot_index, lb.snapshot_index) + 1
            hi = min(la.last_index(), lb.last_index())
            matched = False
            for i in range(hi, lo - 1, -1):
                ea, eb = la.entry(i), lb.entry(i)
                if matched:
                    assert ea == eb, f"logs of {a} and {b} differ at {i} below a match"
                elif ea.term == eb.term:
                    assert ea == eb, f"{a} and {b} hold different entries {ea}, {eb}"
                    matched = True

    def leader_completeness(self) -> None:
        net = self.net
        for v in net.up():
            core = net.core(v)
            log = core.log
            for i in range(log.snapshot_index + 1, log.committed + 1):
                e = log.entry(i)
                seen = self.committed.get(i)
                if seen is None:
                    self.committed[i] = (e, core.term)
                else:
                    assert seen[0] == e, f"node {v} committed {e} at {i}, earlier {seen[0]}"
                    if core.term < seen[1]:
                        self.committed[i] = (e, core.term)
        # An entry seen committed by a node at term t was committed at a term <= t, so
        # every leader of term >= t must hold it.
        for v in net.leaders():
            core = net.core(v)
            for i, (e, term) in self.committed.items():
                if core.term >= term:
                    assert entry_at(core, i) == e, (
                        f"leader {v} of term {core.term} lacks {e}, committed by term {term}"
                    )

    def state_machines_agree(self) -> None:
        for node in self.net.nodes.values():
            for e in node.applied:
                assert self.net.applied_at[e.index] == e


def require_liveness(net: Network, rounds_max: int = 300) -> None:
    """Heal and restart everything; a leader must commit a new entry on every node."""
    net.heal()
    net.inflight.clear()
    for v in net.voters:
        if not net.nodes[v].up:
            net.restart(v)
    for _ in range(rounds_max):
        net.run_ticks(1)
        top = max(net.core(v).term for v in net.voters)
        leaders = [v for v in net.leaders() if net.core(v).term == top]
        if leaders and not any(e.data == b"final" for e in net.log(leaders[0])):
            with contextlib.suppress(ProposalDropped):
                net.propose(leaders[0], b"final")
        if all(any(e.data == b"final" for e in net.nodes[v].applied) for v in net.voters):
            return
    raise AssertionError(
        "no progress after healing: " + "; ".join(str(net.status(v)) for v in net.voters)
    )


class Actions:
    """What the network and its nodes can be made to do. Node and message arguments are
    taken modulo what exists, so any integer is a valid choice."""

    def __init__(
        self,
        size: int,
        seed: int,
        pre_vote: bool,
        check_quorum: bool,
        election_ticks: int = 3,
        max_entries_per_msg: int = 2,
    ) -> None:
        config = RaftConfig(
            election_ticks=election_ticks,
            heartbeat_ticks=1,
            pre_vote=pre_vote,
            check_quorum=check_quorum,
            max_inflight_msgs=3,
            max_entries_per_msg=max_entries_per_msg,
            snapshot_chunk_bytes=24,
        )
        self.net = Network(range(1, size + 1), config, seed, msgs_max=48)
        self.checker = SafetyChecker(self.net)
        self.counter = itertools.count()
        self.snapshots_installed = 0

    def _node(self, i: int) -> NodeId:
        return self.net.voters[i % len(self.net.voters)]

    def settle(self) -> None:
        for v in self.net.up():
            self.snapshots_installed += sum(
                rd.snapshot is not None for rd in self.net.process_ready(v)
            )

    def run(self, n: int) -> None:
        """``n`` ticks of ordinary life: every live node ticks, every message arrives
        (unless the partition stops it)."""
        for _ in range(n):
            for v in self.net.up():
                self.net.tick(v)
            self.settle()
            self.net.deliver()
            self.settle()

    def tick(self, i: int, n: int) -> None:
        v = self._node(i)
        if self.net.nodes[v].up:
            for _ in range(n):
                self.net.tick(v)
                self.settle()

    def deliver(self, k: int, keep: bool = False) -> None:
        """Deliver in-flight message k (any of them: the network reorders); ``keep``
        leaves a copy in flight (duplication)."""
        if self.net.inflight:
            self.net.deliver_one(k % len(self.net.inflight), keep)
            self.settle()

    def drop(self, k: int) -> None:
        if self.net.inflight:
            self.net.inflight.pop(k % len(self.net.inflight))

    def deliver_to(self, i: int) -> None:
        """Deliver every in-flight message to one node (i = 5: to every node)."""
        v = self._node(i)
        self.net.deliver(None if i == 5 else lambda m: m.dst == v)
        self.settle()

    def partition(self, cut: set[int]) -> None:
        """Cut the nodes in ``cut`` off from the rest (an empty cut heals)."""
        side = {self._node(i) for i in cut}
        if side:
            self.net.partition(side, set(self.net.voters) - side)
        else:
            self.net.heal()

    def propose(self, i: int, on_leader: bool) -> None:
        v = self._node(i)
        leaders = self.net.leaders()
        if on_leader and leaders:
            v = leaders[i % len(leaders)]
        if not self.net.nodes[v].up:
            return
        core = self.net.core(v)
        try:
            ticket = core.propose(f"c{next(self.counter)}".encode())
        except NotLeader:
            assert core.role is not Role.LEADER
        except ProposalDropped:
            assert core.role is Role.LEADER
        else:
            assert core.role is Role.LEADER and ticket.term == core.term
        self.settle()

    def compact(self, i: int) -> None:
        v = self._node(i)
        node = self.net.nodes[v]
        if node.up and node.applied:
            last = node.applied[-1].index
            if last > self.net.core(v).log.snapshot_index:
                self.net.compact(v, last)

    def crash(self, i: int, leader: bool = False) -> None:
        """Crash node i (with ``leader``: the i-th current leader, if any)."""
        leaders = self.net.leaders()
        v = leaders[i % len(leaders)] if leader and leaders else self._node(i)
        if self.net.nodes[v].up:
            self.net.crash(v)

    def restart(self, i: int) -> None:
        down = [v for v in self.net.voters if not self.net.nodes[v].up]
        if down:
            self.net.restart(down[i % len(down)])
            self.settle()


# -- Hypothesis -----------------------------------------------------------------------------
def _bucket(n: int) -> str:
    return "0" if n == 0 else "1-3" if n <= 3 else "4-10" if n <= 10 else ">10"


class RaftCluster(RuleBasedStateMachine):
    act: Actions

    @initialize(
        size=st.integers(3, 5),
        seed=st.integers(0, 2**16),
        pre_vote=st.booleans(),
        check_quorum=st.booleans(),
    )
    def setup(self, size: int, seed: int, pre_vote: bool, check_quorum: bool) -> None:
        self.act = Actions(size, seed, pre_vote, check_quorum, max_entries_per_msg=1)

    @rule()
    def run_one_tick(self) -> None:
        """The only rule without arguments: Hypothesis's simplest programs repeat it,
        so even those elect leaders."""
        self.act.run(1)

    @rule(n=st.integers(1, 8))
    def run(self, n: int) -> None:
        self.act.run(n)

    @rule(i=st.integers(0, 4), n=st.integers(1, 4))
    def tick(self, i: int, n: int) -> None:
        self.act.tick(i, n)

    @rule(k=st.integers(0, 1000))
    def deliver(self, k: int) -> None:
        self.act.deliver(k)

    @rule(k=st.integers(0, 1000))
    def duplicate(self, k: int) -> None:
        self.act.deliver(k, keep=True)

    @rule(k=st.integers(0, 1000))
    def drop(self, k: int) -> None:
        self.act.drop(k)

    @rule(i=st.integers(0, 5))
    def deliver_to(self, i: int) -> None:
        self.act.deliver_to(i)

    @rule(cut=st.sets(st.integers(0, 4), max_size=2))
    def partition(self, cut: set[int]) -> None:
        self.act.partition(cut)

    @rule(i=st.integers(0, 4), on_leader=st.booleans())
    def propose(self, i: int, on_leader: bool) -> None:
        self.act.propose(i, on_leader)

    @rule(i=st.integers(0, 4))
    def compact(self, i: int) -> None:
        self.act.compact(i)

    @rule(i=st.integers(0, 4), leader=st.booleans())
    def crash(self, i: int, leader: bool) -> None:
        self.act.crash(i, leader)

    @rule(i=st.integers(0, 4))
    def restart(self, i: int) -> None:
        self.act.restart(i)

    @invariant()
    def safe(self) -> None:
        self.act.checker.check()

    def teardown(self) -> None:
        act = getattr(self, "act", None)
        if act is None:
            return
        event(f"terms: {_bucket(max(act.checker.leader_of_term, default=0))}")
        event(f"committed before healing: {_bucket(len(act.checker.committed))}")
        event(f"snapshots installed: {_bucket(act.snapshots_installed)}")
        require_liveness(act.net)


RaftCluster.TestCase.settings = settings(
    max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None
)
TestRaftCluster = RaftCluster.TestCase


class SlowRaftCluster(RaftCluster):
    """The same machine with the full example budget (``-m slow``)."""


SlowRaftCluster.TestCase.settings = settings(
    max_examples=SLOW_EXAMPLES, stateful_step_count=STEPS, deadline=None
)
TestSlowRaftCluster = pytest.mark.slow(SlowRaftCluster.TestCase)


# -- the seeded random walk ---------------------------------------------------------------
Step = tuple[str, Callable[[Actions, random.Random], None]]
WALK: list[tuple[float, Step]] = [
    (3, ("run", lambda a, r: a.run(r.randint(1, 6)))),
    (3, ("tick", lambda a, r: a.tick(r.randrange(5), r.randint(1, 3)))),
    (6, ("deliver", lambda a, r: a.deliver(r.randrange(1000)))),
    (1, ("duplicate", lambda a, r: a.deliver(r.randrange(1000), keep=True))),
    (2, ("drop", lambda a, r: a.drop(r.randrange(1000)))),
    (3, ("deliver_to", lambda a, r: a.deliver_to(r.randrange(6)))),
    (0.5, ("partition", lambda a, r: a.partition(set(r.sample(range(5), r.randint(0, 2)))))),
    (3, ("propose", lambda a, r: a.propose(r.randrange(5), r.random() < 0.7))),
    (0.5, ("compact", lambda a, r: a.compact(r.randrange(5)))),
    (0.3, ("crash", lambda a, r: a.crash(r.randrange(5)))),
    (0.3, ("crash_leader", lambda a, r: a.crash(r.randrange(5), leader=True))),
    (0.6, ("restart", lambda a, r: a.restart(r.randrange(5)))),
]


def random_walk(seed: int, steps: int = 300) -> Actions:
    """Weighted random actions from one seed, checking safety after each; then liveness.

    Swarm testing: the seed also draws the cluster's knobs and how often each action
    happens (some walks never crash, some drop half the messages...)."""
    rng = random.Random(seed)
    act = Actions(
        size=rng.choice([3, 4, 5]),
        seed=seed,
        pre_vote=rng.random() < 0.5,
        check_quorum=rng.random() < 0.5,
        election_ticks=rng.choice([3, 4, 6]),
        max_entries_per_msg=rng.choice([1, 2, 4]),
    )
    weights = [w * (1 if i < 2 else rng.choice([0, 0.5, 1, 2])) for i, (w, _) in enumerate(WALK)]
    done: list[str] = []
    for _ in range(steps):
        ((name, fn),) = rng.choices([s for _, s in WALK], weights)
        done.append(name)
        try:
            fn(act, rng)
            act.checker.check()
        except AssertionError as e:
            raise AssertionError(
                f"random_walk(seed={seed}) failed at step {len(done)} ({name}): {e}"
            ) from e
    require_liveness(act.net)
    return act


@pytest.mark.parametrize("seed", range(40))
def test_random_walk(seed: int) -> None:
    """Safety after every step, then liveness (a new entry applied on every node)."""
    random_walk(seed)


@pytest.mark.slow
@pytest.mark.parametrize("block", range(20))
def test_random_walk_many_seeds(block: int) -> None:
    for seed in range(1000 + block * 100, 1100 + block * 100):
        random_walk(seed)


def test_the_checker_follows_figure_8_on_three_nodes() -> None:
    """Figure 8 of the Raft paper on three nodes, with the checker after every step. The
    core stays safe; a core that committed 2@1 by counting replicas in (c) fails leader
    completeness in (d) (checked by hand against such a mutant), which the random walks
    rarely reach by chance."""
    config = RaftConfig(pre_vote=False, check_quorum=False, max_entries_per_msg=1)
    net = Network((1, 2, 3), config)
    checker = SafetyChecker(net)

    def rounds(n: int) -> None:
        for _ in range(n):
            net.process_all()
            checker.check()
            net.deliver()
        net.process_all()
        checker.check()

    net.elect(1)  # term 1: 1@1 on everyone
    # (a) leader 1 appends 2@1 "e", which reaches nobody, and crashes
    net.propose(1, b"e")
    net.process_all()
    net.drop()
    net.crash(1)
    # (b) 3 wins term 2 with 2's vote; its noop 2@2 reaches nobody; it crashes
    net.campaign(3)
    rounds(2)
    assert (net.status(3).role, net.status(3).term) == (Role.LEADER, 2)
    net.process_all()
    net.drop()
    net.crash(3)
    # (c) 1 restarts, loses term 2 (2 voted for 3), wins term 3 with 2's vote, and gets
    # 2@1 onto 2 -- but not its noop 3@3
    net.restart(1)
    net.campaign(1)
    rounds(2)
    net.campaign(1)
    rounds(2)
    assert (net.status(1).role, net.status(1).term) == (Role.LEADER, 3)
    rounds(4)  # 2 rejects prev=2@1, is probed at 1@1, stores 2@1 and acknowledges it
    (last,) = net.inflight
    assert isinstance(last, AppendEntries) and last.prev_index == 2
    net.drop()  # the append carrying 3@3 is lost
    assert [e.term for e in net.log(2)] == [1, 1]
    assert net.status(1).commit_index == 1  # 2@1 is on a majority, but not of term 3
    # (d) 1 crashes; 3 returns, loses term 3 (2 voted for 1), wins term 4 with 2's vote,
    # and overwrites 2@1 on 2: safe only because nobody committed it
    net.drop()
    net.crash(1)
    net.restart(3)
    net.campaign(3)
    rounds(2)
    net.campaign(3)
    rounds(10)
    assert (net.status(3).role, net.status(3).term) == (Role.LEADER, 4)
    assert [e.term for e in net.log(2)] == [1, 2, 4]
