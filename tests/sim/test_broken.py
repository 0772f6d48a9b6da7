"""The checks can fail: deliberately broken protocols are caught, with the right name."""

from __future__ import annotations

from consensus.sim.options import FaultKind, SimConfig, available_faults
from consensus.sim.protocols import ProtocolSpec
from consensus.sim.simulation import SimResult, run_seed
from consensus.sim.violation import (
    ACKNOWLEDGED_LOST,
    CORE_EXCEPTION,
    ELECTION_SAFETY,
    LEADER_COMPLETENESS,
    LIVENESS,
    LOG_MATCHING,
    NO_PROGRESS,
    ONE_VOTE_PER_TERM,
    STALE_READ,
    STATE_MACHINE_SAFETY,
)

from . import broken

ALL = frozenset(available_faults())


def first_failure(
    spec: ProtocolSpec, config: SimConfig, seeds: range, safety_only: bool = False
) -> SimResult:
    """The first seed whose run fails (with ``safety_only``: fails something other than
    liveness or progress)."""
    for seed in seeds:
        result = run_seed(spec, config, seed)
        if result.violation is not None and not (
            safety_only and result.violation.invariant in (LIVENESS, NO_PROGRESS)
        ):
            return result
    raise AssertionError(f"{spec.name}: no seed in {seeds} was caught")


# A node that lost acknowledged entries can stall its leader's probing (a liveness
# failure, with a storm of retries): keep those runs short and their queues small.
CRASHY = SimConfig(
    nodes=3,
    duration_us=3_000_000,
    faults=frozenset({FaultKind.CRASH}),
    heal_limit_us=1_000_000,
    link_queue_max=32,
)
DURABILITY = (
    ONE_VOTE_PER_TERM,
    ELECTION_SAFETY,
    LOG_MATCHING,
    LEADER_COMPLETENESS,
    STATE_MACHINE_SAFETY,
    ACKNOWLEDGED_LOST,
    STALE_READ,  # a read answered from a log that forgot acknowledged entries
)


def test_corrupted_apply_is_caught() -> None:
    r = run_seed(
        broken.wrapped_raft(broken.CorruptsApplied), SimConfig(nodes=3, duration_us=2_000_000), 1
    )
    assert r.violation is not None
    assert r.violation.invariant in (STATE_MACHINE_SAFETY, ACKNOWLEDGED_LOST)
    assert "index 5" in r.violation.detail or "(5," in r.violation.detail


def test_two_leaders_in_one_term_are_caught() -> None:
    r = run_seed(broken.TWO_LEADERS, SimConfig(nodes=3, duration_us=1_000_000), 0)
    assert r.violation is not None
    assert r.violation.invariant == ELECTION_SAFETY
    assert r.violation.detail == "nodes 1 and 2 are both leaders of term 1"


def test_skipping_fsync_is_caught_with_crashes() -> None:
    spec = broken.wrapped_raft(broken.NeverSyncs)
    r = first_failure(spec, CRASHY, range(30), safety_only=True)
    assert r.violation is not None
    assert r.violation.invariant in DURABILITY


def test_disk_that_forgets_synced_state_is_caught() -> None:
    r = first_failure(broken.AMNESIA, CRASHY, range(30), safety_only=True)
    assert r.violation is not None
    assert r.violation.invariant in DURABILITY


def test_stale_reads_are_caught() -> None:
    r = first_failure(
        broken.wrapped_raft(broken.StaleReads), SimConfig(nodes=3, duration_us=2_000_000), range(5)
    )
    assert r.violation is not None
    assert r.violation.invariant == STALE_READ


def test_no_leader_is_a_liveness_failure() -> None:
    config = SimConfig(nodes=3, duration_us=500_000, heal_limit_us=1_000_000)
    for spec in (broken.NO_LEADER, broken.wrapped_raft(broken.NeverCampaigns)):
        r = run_seed(spec, config, 0)
        assert r.violation is not None
        assert r.violation.invariant == LIVENESS
        assert r.violation.detail.startswith(
            "not converged 1s after the heal (0/3 probes acknowledged)"
        )
        assert r.end_us == 1_500_000


def test_an_exception_from_a_core_is_reported() -> None:
    r = run_seed(broken.wrapped_raft(broken.Explodes), SimConfig(nodes=3, duration_us=2_000_000), 0)
    assert r.violation is not None
    assert r.violation.invariant == CORE_EXCEPTION
    assert r.violation.detail == "KeyError: 'boom'"


def test_healthy_protocols_pass_the_same_runs() -> None:
    config = SimConfig(nodes=3, duration_us=3_000_000, faults=ALL)
    for spec in (broken.wrapped_raft(broken.Wrapped),):
        for seed in range(5):
            assert run_seed(spec, config, seed).violation is None
