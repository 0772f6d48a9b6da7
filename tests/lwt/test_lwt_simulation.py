"""``paxos-lwt`` in the simulator: seeded runs under swarm-drawn faults with every
invariant on, and proofs that the checks catch broken cores."""

from __future__ import annotations

import pytest

from consensus.lwt import LwtCore, coordinator
from consensus.lwt.acceptor import LwtAcceptor
from consensus.messages.lwt import LwtPurge, LwtRecord
from consensus.messages.paxos import Ballot
from consensus.sim.lwt_spec import LWT_SPEC, LwtInvariants
from consensus.sim.options import SimConfig, available_faults
from consensus.sim.protocols import protocols
from consensus.sim.simulation import SimResult, Simulation

ALL = frozenset(available_faults(disk=False))


def run(seed: int, config: SimConfig) -> tuple[SimResult, LwtInvariants]:
    sim = Simulation(LWT_SPEC, config, seed)
    result = sim.run()
    invariants = sim.cluster.invariants
    assert isinstance(invariants, LwtInvariants)
    return result, invariants


def test_paxos_lwt_is_registered_with_the_simulator() -> None:
    assert protocols()["paxos-lwt"] is LWT_SPEC


def test_seeds_with_all_faults_stay_safe_linearizable_and_live() -> None:
    config = SimConfig(nodes=5, duration_us=3_000_000, faults=ALL)
    checked = 0
    for seed in range(12):
        result, invariants = run(seed, config)
        assert result.violation is None, f"seed {seed}: {result.violation.describe()}"
        assert invariants.lin_unknown == 0
        checked += invariants.checked_ops
        assert result.acked > 0
    assert checked > 12 * 40


def test_the_same_seed_replays_identically() -> None:
    config = SimConfig(nodes=3, duration_us=1_000_000, faults=ALL)
    assert run(5, config)[0] == run(5, config)[0]


def test_the_checker_catches_a_coordinator_that_takes_the_lowest_accepted_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = coordinator.choose

    def lowest(
        operation: coordinator.Operation, promises: list[coordinator.Promised], change: object
    ) -> object:
        low = min(promises, key=lambda p: (p.accepted.round, p.accepted.node))
        return real(operation, [low], change)  # type: ignore[arg-type]

    monkeypatch.setattr("consensus.lwt.core.choose", lowest)
    config = SimConfig(nodes=5, duration_us=2_000_000, faults=ALL)
    found = {
        result.violation.invariant
        for result in (run(seed, config)[0] for seed in range(6))
        if result.violation is not None
    }
    assert found & {"chosen-state-lost", "linearizable"}


def test_the_checker_catches_a_promise_without_the_accepted_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = LwtAcceptor.prepare

    def amnesic(self: LwtAcceptor, key: bytes, ballot: Ballot) -> LwtRecord | Ballot:
        found = real(self, key, ballot)
        return found if isinstance(found, Ballot) else LwtRecord(key, found.promised)

    monkeypatch.setattr(LwtAcceptor, "prepare", amnesic)
    config = SimConfig(nodes=3, duration_us=2_000_000, faults=frozenset())
    found = {
        result.violation.invariant
        for result in (run(seed, config)[0] for seed in range(4))
        if result.violation is not None
    }
    assert found & {"chosen-state-lost", "linearizable"}, found


@pytest.mark.slow
def test_a_thousand_seeds_on_five_nodes() -> None:
    config = SimConfig(nodes=5, duration_us=10_000_000, faults=ALL)
    failed = []
    for seed in range(1000):
        result, invariants = run(seed, config)
        if result.violation is not None or invariants.lin_unknown:
            failed.append(f"seed {seed}: {result.violation}")
    assert not failed, "\n".join(failed)


def test_the_checker_catches_a_purge_after_only_a_majority(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def hasty(self: LwtCore, key: bytes, ballot: Ballot, acks: set[int]) -> None:
        if len(acks) < self._quorum or (key, ballot) not in self._tombstones:
            return
        del self._tombstones[(key, ballot)]
        for peer in self._peers:
            self._messages.append(LwtPurge(self._id, peer, key, ballot))
        self.acceptor.purge(key, ballot)

    monkeypatch.setattr(LwtCore, "_maybe_purge", hasty)
    config = SimConfig(nodes=5, duration_us=3_000_000, faults=ALL)
    found = {
        result.violation.invariant
        for result in (run(seed, config)[0] for seed in range(12))
        if result.violation is not None
    }
    assert found & {"chosen-state-lost", "linearizable"}, found
