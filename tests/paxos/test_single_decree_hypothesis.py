"""Single-decree Paxos is safe under any schedule: whatever the interleaving, loss,
duplication and reordering of messages, and whatever crashes and restarts of acceptors
(a restart rebuilds a node from what its storage synced), at most one value is chosen.

Every node proposes its own value at the start, so proposers duel from the first step;
the schedule then decides which message is delivered (or duplicated, or dropped) next,
when nodes tick (retrying with higher ballots), crash and restart. "Chosen" is judged
from the outside: a value is chosen once a majority of acceptors voted for it in one
ballot (votes are read from every batch a node emits, synced or not: a vote that a crash
takes back may already have been counted by a proposer). Every value a node learns must
be that one value too.

Two drivers share the state machine: Hypothesis (rules, with a minimal failing program on
failure) and a seeded "swarm" schedule fuzzer (each seed draws its own mix of actions),
which covers many more schedules per second. Their power was measured by breaking the
code on purpose; see docs/paxos.md.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import settings, target
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from consensus.errors import ProposalDropped
from consensus.messages import Ballot, Message
from consensus.paxos import InstanceConfig, SinglePaxos
from consensus.quorum import majority
from consensus.storage.paxos_memory import PaxosMemoryStorage
from consensus.types import Entry

N = 3
IDS = tuple(range(1, N + 1))
CONFIG = InstanceConfig(retry_ticks_min=8, retry_ticks_max=16)
node_ids = st.sampled_from(IDS)
skips = st.integers(0, 3)


class SingleDecreeSafety(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.rng = random.Random(0)
        self.storage = {i: PaxosMemoryStorage() for i in IDS}
        self.nodes: dict[int, SinglePaxos | None] = {
            i: SinglePaxos(i, IDS, random.Random(i), CONFIG) for i in IDS
        }
        self.network: list[Message] = []
        self.votes: dict[Ballot, tuple[Entry, set[int]]] = {}
        self.chosen: set[Entry] = set()
        self.learned: set[Entry] = set()
        for i in IDS:
            self._propose(i, f"v{i}".encode())

    # -- the driver -----------------------------------------------------------------------
    def _flush(self, i: int) -> None:
        node = self.nodes[i]
        if node is None:
            return
        store = self.storage[i]
        while node.has_ready():
            rd = node.ready()
            if rd.hard_state is not None:
                for vote in rd.hard_state.accepted:
                    self._vote(i, vote.ballot, vote.entry)
            store.persist(rd.hard_state, rd.entries, rd.snapshot)
            if rd.must_sync:
                store.sync()
            self.network.extend(rd.messages)
            self.learned.update(rd.committed)
            node.advance(rd)

    def _vote(self, i: int, ballot: Ballot, entry: Entry) -> None:
        value, voters = self.votes.setdefault(ballot, (entry, set()))
        assert value == entry, f"ballot {ballot} carried {value} and {entry}"
        voters.add(i)
        if len(voters) >= majority(N):
            self.chosen.add(entry)

    def _propose(self, i: int, data: bytes) -> None:
        node = self.nodes[i]
        if node is not None and node.chosen is None:
            try:
                node.propose(data)
            except ProposalDropped as exc:
                assert "already proposing" in str(exc)
            self._flush(i)

    def _pick(self, dst: int, skip: int) -> int | None:
        """Position of the ``skip``-th oldest in-flight message to ``dst`` (the youngest
        if fewer are in flight), None if there is none."""
        found = None
        for pos, msg in enumerate(self.network):
            if msg.dst == dst:
                found = pos
                if skip == 0:
                    break
                skip -= 1
        return found

    def _deliver(self, dst: int, skip: int, keep: bool) -> None:
        pos = self._pick(dst, skip)
        if pos is None:
            return
        msg = self.network[pos] if keep else self.network.pop(pos)
        node = self.nodes[dst]
        if node is not None:
            node.step(msg)
            self._flush(dst)

    def _down(self) -> list[int]:
        return [i for i in IDS if self.nodes[i] is None]

    # -- rules (delivery has three, so it happens about as often as everything else) --------
    @rule(dst=node_ids)
    def deliver(self, dst: int) -> None:
        """Deliver the oldest message in flight to ``dst``."""
        self._deliver(dst, 0, False)

    @rule(dst=node_ids, skip=skips)
    def deliver_later_one(self, dst: int, skip: int) -> None:
        """Deliver a younger message to ``dst`` before older ones (reordering)."""
        self._deliver(dst, skip, False)

    @rule(dst=node_ids, skip=skips)
    def duplicate(self, dst: int, skip: int) -> None:
        """Deliver a message to ``dst`` and leave a copy in flight."""
        self._deliver(dst, skip, True)

    @rule(dst=node_ids, skip=skips)
    def drop(self, dst: int, skip: int) -> None:
        pos = self._pick(dst, skip)
        if pos is not None:
            self.network.pop(pos)

    @rule(i=node_ids, times=st.integers(1, 8))
    def tick(self, i: int, times: int) -> None:
        node = self.nodes[i]
        if node is not None:
            for _ in range(times):
                node.tick()
            self._flush(i)

    @precondition(lambda self: len(self._down()) < N)
    @rule(i=node_ids)
    def crash(self, i: int) -> None:
        """Power cut: what the node persisted without syncing is lost."""
        if self.nodes[i] is not None:
            self.storage[i].crash()
            self.nodes[i] = None

    @precondition(lambda self: bool(self._down()))
    @rule(pick=st.integers(0, N - 1), propose=st.booleans())
    def restart(self, pick: int, propose: bool) -> None:
        """Rebuild a crashed node from its storage; it may propose again."""
        down = self._down()
        i = down[pick % len(down)]
        rec = self.storage[i].recover()
        self.nodes[i] = SinglePaxos(i, IDS, random.Random(self.rng.random()), CONFIG, rec)
        if propose:
            self._propose(i, f"r{i}".encode())

    # -- the property ---------------------------------------------------------------------
    @invariant()
    def at_most_one_value_is_chosen(self) -> None:
        assert len(self.chosen) <= 1, f"chosen: {self.chosen}"
        known: set[Any] = self.learned | {
            n.chosen for n in self.nodes.values() if n is not None and n.chosen is not None
        }
        assert len(known | self.chosen) <= 1, f"chosen {self.chosen}, learned {known}"

    def teardown(self) -> None:
        # Steer the search towards schedules where several ballots got votes for several
        # values: the states in which a second value could slip in.
        target(float(len({entry for entry, _ in self.votes.values()})), label="values voted")
        target(float(len(self.votes)), label="ballots voted")


SingleDecreeSafety.TestCase.settings = settings(
    max_examples=100, stateful_step_count=60, deadline=None
)
TestSingleDecreeSafety = SingleDecreeSafety.TestCase


class SlowSingleDecreeSafety(SingleDecreeSafety):
    pass


SlowSingleDecreeSafety.TestCase.settings = settings(
    max_examples=5000, stateful_step_count=80, deadline=None
)
TestSlowSingleDecreeSafety = pytest.mark.slow(SlowSingleDecreeSafety.TestCase)


def fuzz(seed: int, steps: int) -> SingleDecreeSafety:
    """Run one seeded swarm schedule; raises AssertionError on a violation."""
    rng = random.Random(seed)
    weights = [rng.random() for _ in range(7)]
    sm = SingleDecreeSafety()
    for _ in range(steps):
        action = rng.choices(range(7), weights)[0]
        dst, skip = rng.choice(IDS), rng.randrange(4)
        if action == 0:
            sm.deliver(dst)
        elif action == 1:
            sm.deliver_later_one(dst, skip)
        elif action == 2:
            sm.duplicate(dst, skip)
        elif action == 3:
            sm.drop(dst, skip)
        elif action == 4:
            sm.tick(dst, rng.randint(1, 8))
        elif action == 5 and sm._down() != list(IDS):
            sm.crash(dst)
        elif action == 6 and sm._down():
            sm.restart(rng.randrange(N), rng.random() < 0.5)
        sm.at_most_one_value_is_chosen()
    return sm


def test_swarm_schedules_never_choose_two_values() -> None:
    chosen_runs = 0
    for seed in range(500):
        sm = fuzz(seed, steps=100)
        chosen_runs += bool(sm.chosen)
    assert chosen_runs > 100  # the schedules do reach decisions, not just noise


@pytest.mark.slow
def test_many_more_swarm_schedules_never_choose_two_values() -> None:
    for seed in range(500, 60_000):
        fuzz(seed, steps=150)
