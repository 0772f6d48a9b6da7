"""The simulator's membership nemesis (``consensus sim --membership``) with Raft.

Default suite: spare nodes, cluster operations, a handful of seeds of the membership sweep
(5 nodes, ``--faults all``, 10 virtual seconds), the planted "second change in flight"
bug at its known seed. ``slow``: the 1,000-seed campaign and the hunt for that seed.
"""

from __future__ import annotations

import random
from types import SimpleNamespace

import attrs
import pytest

from consensus.cli import main
from consensus.core import Ready, Role
from consensus.membership import ChangeKind, ConfChange, Membership, MembershipError
from consensus.messages import Message
from consensus.raft.log import RaftLog
from consensus.sim.cluster import Cluster
from consensus.sim.lwt_spec import LWT_SPEC
from consensus.sim.options import FaultOptions, SimConfig
from consensus.sim.raft_spec import RAFT_SPEC, RaftInvariants
from consensus.sim.simulation import Simulation, run_seed
from consensus.sim.violation import ONE_CHANGE_IN_FLIGHT, SINGLE_STEP_CHANGE, SimViolation
from consensus.types import Entry, EntryKind

from .planted import DEFAULT, second_change_in_flight

MEMBERSHIP = attrs.evolve(DEFAULT, membership=True)
"""``consensus sim --nodes 5 --faults all --time 10 --membership``."""
PLANTED_SEED = 0
"""The first seed of the membership sweep that catches ``second_change_in_flight``."""


class _Mailbox:
    """A lossless, instant network for a Cluster driven by hand."""

    def __init__(self) -> None:
        self.msgs: list[Message] = []

    def pump(self, cluster: Cluster) -> None:
        while self.msgs:
            cluster.deliver(self.msgs.pop(0))


def _cluster(spares: int = 2, snapshot_every: int = 0) -> tuple[Cluster, _Mailbox]:
    box = _Mailbox()
    cluster = Cluster(
        RAFT_SPEC,
        3,
        random.Random(7),
        box.msgs.append,
        spares=spares,
        snapshot_every_entries=snapshot_every,
    )
    return cluster, box


def _elect(cluster: Cluster, box: _Mailbox) -> int:
    for _ in range(200):
        for n in cluster.nodes:
            cluster.tick(n)
        box.pump(cluster)
        leaders = [n for n in cluster.nodes if cluster.core(n).status().role.value == "leader"]
        if leaders and cluster.core(leaders[0]).status().commit_index > 0:
            return leaders[0]
    raise AssertionError("no leader")


def test_spares_start_as_non_members_and_are_added_through_the_leader() -> None:
    cluster, box = _cluster()
    assert cluster.voters == (1, 2, 3) and cluster.nodes == (1, 2, 3, 4, 5)
    assert cluster.membership(4) == Membership.of([1, 2, 3])
    leader = _elect(cluster, box)
    assert cluster.members() == (1, 2, 3)
    cluster.propose_change(leader, ConfChange(ChangeKind.ADD_LEARNER, 4))
    with pytest.raises(MembershipError, match="one change at a time"):
        cluster.propose_change(leader, ConfChange(ChangeKind.ADD_LEARNER, 5))
    box.pump(cluster)
    assert cluster.members() == (1, 2, 3, 4)
    assert cluster.membership(4) == Membership.of([1, 2, 3], [4])
    assert cluster.membership(5) == Membership.of([1, 2, 3])  # still outside


def test_sim_snapshots_record_the_configuration_as_of_their_index() -> None:
    cluster, box = _cluster(spares=1, snapshot_every=3)
    leader = _elect(cluster, box)
    cluster.propose_change(leader, ConfChange(ChangeKind.ADD_LEARNER, 4))
    box.pump(cluster)
    for i in range(6):
        cluster.propose(leader, b"c%d" % i)
        box.pump(cluster)
    snapshot = cluster.host(leader).storage.recover().snapshot
    assert snapshot is not None and snapshot.meta.learners == (4,)
    assert snapshot.meta.voters == (1, 2, 3)


def test_membership_needs_a_reconfigurable_protocol() -> None:
    with pytest.raises(ValueError, match="protocol paxos-lwt cannot change its membership"):
        Simulation(LWT_SPEC, SimConfig(nodes=3, membership=True), 0)
    assert main(["sim", "--protocol", "paxos-lwt", "--membership", "--seeds", "0"]) == 2


def test_membership_option_is_shown_and_replayed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["sim", "--help"])
    assert "--membership" in capsys.readouterr().out
    config = SimConfig(nodes=3, membership=True, spares=2)
    assert config.total_nodes == 5 and SimConfig(nodes=3).total_nodes == 3
    assert "member/0.10s" in FaultOptions(membership_every_us=100_000).describe()


@pytest.mark.parametrize("seed", [2, 5, 9, 10])
def test_membership_sweep_seed(seed: int) -> None:
    r = run_seed(RAFT_SPEC, MEMBERSHIP, seed)
    assert r.ok, r.violation and r.violation.describe()
    assert r.faults.membership_every_us > 0 and r.changes + r.changes_refused > 0


def test_invariant_one_change_in_flight() -> None:
    a, b = Membership.of([1], [2]), Membership.of([1, 2])
    log = RaftLog(None, [Entry(1, 2, a.encode(), EntryKind.CONFIG)], 0)
    log.append(Entry(2, 2, b.encode(), EntryKind.CONFIG))
    leader = SimpleNamespace(role=Role.LEADER, term=2, log=log)
    with pytest.raises(SimViolation) as err:
        RaftInvariants().observe(1, leader, Ready(entries=tuple(log.entries)))
    assert err.value.invariant == ONE_CHANGE_IN_FLIGHT


def test_invariant_single_step_change() -> None:
    core = RAFT_SPEC.make_core(1, (1, 2, 3), random.Random(0), None)
    inv = RaftInvariants()
    one = Entry(1, 1, Membership.of([1, 2, 3], [4]).encode(), EntryKind.CONFIG)
    inv.observe(1, core, _committed(one))
    two = Entry(2, 1, Membership.of([1, 2, 5], [4]).encode(), EntryKind.CONFIG)  # 3 -> 5
    with pytest.raises(SimViolation) as err:
        inv.observe(1, core, _committed(two))
    assert err.value.invariant == SINGLE_STEP_CHANGE


def _committed(entry: Entry) -> Ready[object]:
    return Ready(committed=(entry,))


def test_planted_second_change_in_flight_is_found_at_its_seed() -> None:
    with second_change_in_flight():
        r = run_seed(RAFT_SPEC, MEMBERSHIP, PLANTED_SEED)
    assert r.violation is not None and r.violation.invariant == ONE_CHANGE_IN_FLIGHT


@pytest.mark.slow
def test_hunt_finds_the_planted_bug_first_at_its_seed() -> None:
    with second_change_in_flight():
        for seed in range(50):
            r = run_seed(RAFT_SPEC, MEMBERSHIP, seed)
            if r.violation is not None:
                assert seed == PLANTED_SEED
                assert r.violation.invariant == ONE_CHANGE_IN_FLIGHT
                return
    raise AssertionError("no seed of 0-49 caught the planted bug")


@pytest.mark.slow
def test_membership_campaign_1000_seeds() -> None:
    """``consensus sim --membership --seeds 0-999`` (5 nodes, all faults, 10 s)."""
    bad = []
    for seed in range(1000):
        r = run_seed(RAFT_SPEC, MEMBERSHIP, seed)
        if r.violation is not None:
            bad.append((seed, r.violation.describe()))
    assert not bad, bad
