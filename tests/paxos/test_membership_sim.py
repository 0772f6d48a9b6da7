"""Multi-Paxos under the simulator's membership nemesis (``consensus sim --protocol
multipaxos --membership``): a few seeds in the default suite, the membership invariants
on their own, and the 1,000-seed campaign behind ``slow``."""

from __future__ import annotations

import random

import attrs
import pytest

from consensus.core import Ready
from consensus.errors import InvariantViolation
from consensus.membership import Membership
from consensus.messages import Ballot, PaxosHardState
from consensus.paxos import PaxosCore, leader
from consensus.sim.options import SimConfig, available_faults
from consensus.sim.paxos_spec import MULTIPAXOS_SPEC, MultiPaxosInvariants, one_step
from consensus.sim.simulation import run_seed
from consensus.sim.violation import ONE_CHANGE_IN_FLIGHT, SINGLE_STEP_CHANGE
from consensus.types import Entry, EntryKind

from .helpers import make_leader, take

MEMBERSHIP = SimConfig(
    nodes=5, duration_us=10_000_000, faults=frozenset(available_faults()), membership=True
)
"""``consensus sim --protocol multipaxos --nodes 5 --faults all --time 10 --membership``."""


@pytest.mark.parametrize("seed", [0, 3, 7])
def test_membership_sweep_seed(seed: int) -> None:
    r = run_seed(MULTIPAXOS_SPEC, MEMBERSHIP, seed)
    assert r.ok, r.violation and r.violation.describe()
    assert r.faults.membership_every_us > 0 and r.changes > 0


def test_three_nodes_with_spares_sweep_seed() -> None:
    r = run_seed(MULTIPAXOS_SPEC, attrs.evolve(MEMBERSHIP, nodes=3), 1)
    assert r.ok, r.violation and r.violation.describe()
    assert r.changes > 0


def config(slot: int, m: Membership) -> Entry:
    return Entry(slot, 7, m.encode(), EntryKind.CONFIG)


def test_invariant_single_step_change() -> None:
    assert one_step(Membership.of([1, 2, 3]), Membership.of([1, 2, 3], [4]))
    assert not one_step(Membership.of([1, 2, 3]), Membership.of([1, 2, 4]))
    core = PaxosCore(1, (1, 2, 3), random.Random(0))
    inv = MultiPaxosInvariants()
    inv.observe(1, core, Ready(committed=(config(1, Membership.of([1, 2, 3], [4])),)))
    core.learn(config(1, Membership.of([1, 2, 3], [4])))
    take(core)
    with pytest.raises(InvariantViolation) as err:
        inv.observe(1, core, Ready(committed=(config(2, Membership.of([1, 2, 5], [4])),)))
    assert SINGLE_STEP_CHANGE in str(err.value)


def test_invariant_one_change_in_flight() -> None:
    core = PaxosCore(1, (1, 2, 3), random.Random(0))
    make_leader(core)
    lead = core.lead
    assert lead is not None
    b = lead.ballot
    for slot in (1, 2):  # a broken leader: two changes at once
        m = Membership.of([1, 2, 3], [3 + slot])
        leader.propose_entry(core, Entry(slot, b.as_term(), m.encode(), EntryKind.CONFIG))
    rd = core.ready()
    with pytest.raises(InvariantViolation) as err:
        MultiPaxosInvariants().observe(1, core, rd)
    assert ONE_CHANGE_IN_FLIGHT in str(err.value)
    assert isinstance(rd.hard_state, PaxosHardState) and rd.hard_state.promised == Ballot(1, 1)


@pytest.mark.slow
def test_membership_campaign_1000_seeds() -> None:
    """``consensus sim --protocol multipaxos --membership --seeds 0-999`` (5 nodes, all
    faults, 10 s)."""
    bad = []
    for seed in range(1000):
        r = run_seed(MULTIPAXOS_SPEC, MEMBERSHIP, seed)
        if r.violation is not None:
            bad.append((seed, r.violation.describe()))
    assert not bad, bad
