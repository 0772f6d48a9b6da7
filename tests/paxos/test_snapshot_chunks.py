"""Chunked catch-up snapshots (``SnapshotChunk``, ``PaxosConfig.snapshot_chunk_bytes``):
the sender's and the receiver's rules on one core, then a lagging node catching up on a
snapshot of many chunks under reordering, duplication and loss on the hand-driven cluster
(every invariant checked)."""

from __future__ import annotations

import random

import pytest

from consensus.core import Role
from consensus.messages import Accepted, Ballot, CatchUp, Message
from consensus.messages.paxos import SnapshotChunk, SnapshotChunkRequest
from consensus.paxos import PaxosConfig, PaxosCore
from consensus.types import Snapshot, SnapshotMeta

from .cluster import PaxosCluster, isolate
from .helpers import make_leader, new_core, of_type, out, take

B = Ballot(1, 1)
T = B.as_term()
SMALL = PaxosConfig(snapshot_chunk_bytes=4)


def snap(index: int, data: bytes = b"0123456789abcdef!") -> Snapshot:
    return Snapshot(SnapshotMeta(index, T, (1, 2, 3)), data)


def chunks(s: Snapshot, size: int = 4, commit: int = 5, src: int = 1) -> list[SnapshotChunk]:
    return [
        SnapshotChunk(src, 2, s.meta, commit, off, s.data[off : off + size], len(s.data))
        for off in range(0, max(len(s.data), 1), size)
    ]


def compacted_leader(n: int = 5) -> PaxosCore:
    core = new_core(1, config=SMALL)
    make_leader(core)
    for i in range(n):
        core.propose(b"v%d" % i)
    core.step(Accepted(2, 1, B, tuple(range(1, n + 1))))
    take(core)
    core.compact(snap(3))
    return core


# -- the sender -------------------------------------------------------------------------------
def test_a_catch_up_below_the_snapshot_gets_its_first_chunk() -> None:
    core = compacted_leader()
    core.step(CatchUp(2, 1, 2))
    assert of_type(out(take(core)), SnapshotChunk) == [
        SnapshotChunk(1, 2, snap(3).meta, 5, 0, b"0123", 17)
    ]


def test_a_request_gets_the_chunk_at_its_offset_and_the_last_one_is_short() -> None:
    core = compacted_leader()
    core.step(SnapshotChunkRequest(2, 1, snap(3).meta, 8))
    assert of_type(out(take(core)), SnapshotChunk)[0].data == b"89ab"
    core.step(SnapshotChunkRequest(2, 1, snap(3).meta, 16))
    assert of_type(out(take(core)), SnapshotChunk)[0].data == b"!"


def test_a_request_for_another_snapshot_gets_the_current_one_from_offset_zero() -> None:
    core = compacted_leader()
    core.step(SnapshotChunkRequest(2, 1, snap(2).meta, 8))
    (chunk,) = of_type(out(take(core)), SnapshotChunk)
    assert (chunk.meta, chunk.offset) == (snap(3).meta, 0)


# -- the receiver -----------------------------------------------------------------------------
def test_chunks_are_reassembled_and_installed_only_when_complete() -> None:
    core = new_core(2, config=SMALL)
    parts = chunks(snap(3))
    assert len(parts) == 5
    for part in parts[:-1]:
        core.step(part)
        rd = take(core)
        assert rd.snapshot is None  # nothing installed yet
        end = part.offset + len(part.data)
        assert rd.messages == (SnapshotChunkRequest(2, 1, part.meta, end),)
    core.step(parts[-1])
    rd = take(core)
    assert rd.snapshot == snap(3) and rd.must_sync
    assert core.chosen.commit == 3 and core.incoming is None
    assert rd.messages == (CatchUp(2, 1, 4),)  # it still lacks slots 4 and 5


def test_duplicates_and_chunks_after_a_gap_are_dropped() -> None:
    core = new_core(2, config=SMALL)
    parts = chunks(snap(3))
    core.step(parts[0])
    take(core)
    core.step(parts[2])  # after a gap
    core.step(parts[0 + 1])
    core.step(parts[1])  # a duplicate
    rd = take(core)
    assert rd.messages == (SnapshotChunkRequest(2, 1, parts[0].meta, 8),)  # only for part 1
    assert core.incoming is not None and bytes(core.incoming.data) == b"01234567"


def test_the_first_chunk_again_resumes_where_the_reassembly_stands() -> None:
    core = new_core(2, config=SMALL)
    parts = chunks(snap(3))
    for part in parts[:3]:
        core.step(part)
    take(core)
    core.step(parts[0])  # a retried CatchUp's answer
    assert take(core).messages == (SnapshotChunkRequest(2, 1, parts[0].meta, 12),)
    for part in parts[3:]:
        core.step(part)
    assert take(core).snapshot == snap(3)


def test_the_first_chunk_of_another_snapshot_starts_over() -> None:
    core = new_core(2, config=SMALL)
    old = chunks(snap(3))
    new_snap = snap(4, b"ABCDEFGHIJ")
    new = chunks(new_snap, commit=6)
    core.step(old[0])
    core.step(old[1])
    core.step(new[1])  # another snapshot, not at offset 0: dropped
    assert core.incoming is not None and core.incoming.meta == snap(3).meta
    core.step(new[0])  # resets
    assert core.incoming is not None and bytes(core.incoming.data) == b"ABCD"
    core.step(old[2])  # the old one's chunks no longer fit
    for part in new[1:]:
        core.step(part)
    rd = take(core)
    assert rd.snapshot == new_snap and core.chosen.commit == 4


def test_an_empty_image_is_one_chunk() -> None:
    core = new_core(2, config=SMALL)
    (only,) = chunks(snap(3, b""))
    core.step(only)
    assert take(core).snapshot == snap(3, b"")


def test_a_snapshot_covering_nothing_new_is_not_installed() -> None:
    core = new_core(2, config=SMALL)
    for part in chunks(snap(3)):
        core.step(part)
    take(core)
    core.step(chunks(snap(2))[0])
    rd = take(core)
    assert rd.snapshot is None and core.incoming is None
    assert not of_type(out(rd), SnapshotChunkRequest)


def test_a_malformed_chunk_is_ignored() -> None:
    core = new_core(2, config=SMALL)
    core.step(SnapshotChunk(1, 2, snap(3).meta, 5, 0, b"too long", 3))
    assert core.incoming is None and not take(core).messages


# -- under faults, on the cluster ----------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
def test_a_lagging_node_catches_up_on_a_many_chunk_snapshot_under_faults(seed: int) -> None:
    # The simulator's state-machine image is 12 bytes: chunks of 2 bytes make 6 of them.
    c = PaxosCluster(config=PaxosConfig(snapshot_chunk_bytes=2), snapshot_every=5)
    c.elect(1)
    for i in range(12):
        c.sim.propose(1, b"v%d" % i)
        c.run(drop=isolate(3))
    c.tick_all(1, drop=isolate(3))
    assert c.core(1).chosen.base >= 10 and c.applied(3) == []
    rng = random.Random(seed)
    snapshot_traffic = 0

    def unreliable(msg: Message) -> bool:
        nonlocal snapshot_traffic
        if isinstance(msg, SnapshotChunk | SnapshotChunkRequest):
            snapshot_traffic += 1
            if rng.random() < 0.25:
                return True  # lost
            if rng.random() < 0.2:
                c.mailbox.append(msg)  # duplicated, later
        return False

    for _ in range(40 * c.core(1).config.election_ticks):
        for node in c.sim.voters:
            c.sim.tick(node)
        for _ in range(3):  # deliver in a random order, a few at a time
            rng.shuffle(c.mailbox)
            c.round(drop=unreliable)
        if c.applied(3) and c.core(3).chosen.commit >= c.core(1).chosen.commit:
            break
    c.run()
    assert c.core(3).chosen.commit >= 12
    assert c.core(3).chosen.base >= 10  # it installed a snapshot
    assert snapshot_traffic > 6  # which did travel in chunks
    assert c.core(1).status().role is Role.LEADER
    c.sim.propose(1, b"after")
    c.tick_all(3)
    assert c.applied(3)[-1].data == b"after"


# -- the simulator, every fault, snapshots of 6 chunks --------------------------------------------
class _CountingCore(PaxosCore):
    """Counts the snapshots received from peers (all of them came in chunks)."""

    installs = 0

    def install_snapshot(self, snapshot: Snapshot) -> None:
        _CountingCore.installs += 1
        super().install_snapshot(snapshot)


def chunked_sweep(seeds: range, nodes: int) -> tuple[list[str], int]:
    """Simulator seeds (every fault) with 2-byte chunks; the failures and the installs."""
    import attrs

    from consensus.sim.options import SimConfig, available_faults
    from consensus.sim.paxos_spec import MULTIPAXOS_SPEC
    from consensus.sim.simulation import run_seed

    config = PaxosConfig(snapshot_chunk_bytes=2)  # the simulator's 12-byte image: 6 chunks
    spec = attrs.evolve(
        MULTIPAXOS_SPEC,
        make_core=lambda node, voters, rng, rec: _CountingCore(node, voters, rng, config, rec),
    )
    faults = frozenset(available_faults(disk=True))
    before = _CountingCore.installs
    failures = []
    for seed in seeds:
        result = run_seed(spec, SimConfig(nodes=nodes, faults=faults), seed)
        if result.violation is not None:
            failures.append(f"seed {seed}: {result.violation.describe()}")
        elif result.acked == 0:
            failures.append(f"seed {seed}: nothing acknowledged")
    return failures, _CountingCore.installs - before


def test_a_simulated_seed_with_snapshots_in_six_chunks() -> None:
    failures, installs = chunked_sweep(range(8, 9), nodes=3)  # compacts every 13 entries
    assert failures == [] and installs > 0


@pytest.mark.slow
def test_three_hundred_simulated_seeds_with_snapshots_in_six_chunks() -> None:
    failures, installs = chunked_sweep(range(0, 300), nodes=3)
    assert failures == [] and installs > 0
