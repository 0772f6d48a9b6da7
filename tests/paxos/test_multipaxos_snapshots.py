"""Compaction: a core forgets chosen values a state-machine snapshot covers, and sends
the snapshot to a node that asks for them."""

from __future__ import annotations

import random

import pytest

from consensus.core import Role
from consensus.errors import InvariantViolation
from consensus.messages import Accepted, Ballot, CatchUp, Chosen, ChosenSnapshot, PaxosHardState
from consensus.messages.paxos import SnapshotChunk
from consensus.paxos import PaxosCore
from consensus.storage.base import Recovered
from consensus.types import Entry, Snapshot, SnapshotMeta

from .helpers import make_leader, new_core, of_type, out, take

B = Ballot(1, 1)
T = B.as_term()


def leader_with(n: int) -> PaxosCore:
    core = new_core(1)
    make_leader(core)
    for i in range(n):
        core.propose(b"v%d" % i)
    core.step(Accepted(2, 1, B, tuple(range(1, n + 1))))
    take(core)
    return core


def snap(index: int) -> Snapshot:
    return Snapshot(SnapshotMeta(index, T, (1, 2, 3)), b"image%d" % index)


def test_a_compacted_range_is_answered_with_the_snapshot() -> None:
    core = leader_with(5)
    core.compact(snap(3))
    core.step(CatchUp(3, 1, 2))
    # in chunks (one here: the image is smaller than snapshot_chunk_bytes)
    image = snap(3)
    assert of_type(out(take(core)), SnapshotChunk) == [
        SnapshotChunk(1, 3, image.meta, 5, 0, image.data, len(image.data))
    ]
    core.step(CatchUp(3, 1, 4))  # above the snapshot: values as usual
    (chosen,) = of_type(out(take(core)), Chosen)
    assert [e.index for e in chosen.entries] == [4, 5]


def test_compacting_beyond_the_applied_index_is_refused() -> None:
    core = new_core(1)
    make_leader(core)
    core.propose(b"x")
    with pytest.raises(InvariantViolation, match="beyond the applied index 0"):
        core.compact(snap(1))


def test_a_follower_installs_a_snapshot_then_resumes_after_it() -> None:
    core = new_core(2)
    core.step(ChosenSnapshot(1, 2, snap(3), 4))
    rd = take(core)
    assert rd.snapshot == snap(3) and rd.must_sync and rd.committed == ()
    assert rd.messages == (CatchUp(2, 1, 4),)  # it still lacks slot 4
    assert core.status().applied_index == 3
    core.step(Chosen(1, 2, (Entry(4, T, b"d"),), 4))
    assert take(core).committed == (Entry(4, T, b"d"),)


def test_an_old_snapshot_is_ignored() -> None:
    core = new_core(2)
    core.step(Chosen(1, 2, tuple(Entry(k, T, b"x") for k in (1, 2, 3)), 3))
    take(core)
    core.step(ChosenSnapshot(1, 2, snap(2), 3))
    assert take(core).snapshot is None


def test_a_leader_whose_proposals_a_snapshot_covers_steps_down() -> None:
    core = new_core(1)
    make_leader(core)
    core.propose(b"x")
    take(core)
    core.step(ChosenSnapshot(2, 1, snap(1), 1))
    assert core.status().role is Role.FOLLOWER
    assert take(core).snapshot == snap(1)


def test_a_node_restarted_from_a_snapshot_delivers_only_what_follows_it() -> None:
    rec = Recovered(PaxosHardState(B, 4, ()), snap(3), (Entry(4, T, b"d"),))
    core = PaxosCore(1, (1, 2, 3), random.Random(0), recovered=rec)
    assert core.status().applied_index == 3
    assert take(core).committed == (Entry(4, T, b"d"),)
