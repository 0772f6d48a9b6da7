"""Log compaction and InstallSnapshot in chunks (Raft paper section 7)."""

from __future__ import annotations

from consensus.core import Ready
from consensus.messages import AppendEntries, InstallSnapshot, InstallSnapshotResponse
from consensus.raft import RaftConfig
from consensus.types import Entry, HardState, Snapshot, SnapshotMeta

from .harness import Network, encode_entries, make_core, take

CHUNK = 16


def compacted_cluster() -> tuple[Network, Snapshot]:
    """Leader 1 compacted its log at 6; node 3 has only the first entry; 7 and 8 follow
    the snapshot. The leader has just learned (from a heartbeat) that 3 needs a snapshot
    and sent it the first chunk."""
    net = Network(config=RaftConfig(snapshot_chunk_bytes=CHUNK), seed=3)
    net.elect(1)
    net.partition([1, 2], [3])
    for i in range(5):
        net.propose(1, f"v{i}".encode())
    net.stabilize()
    snap = net.compact(1, 6)
    assert len(snap.data) > 3 * CHUNK
    net.propose(1, b"after-1")
    net.propose(1, b"after-2")
    net.stabilize()
    net.heal()
    net.tick(1, net.config.heartbeat_ticks)
    for _ in range(10):  # heartbeat, its answer, a probe, its rejection: snapshot
        net.process_all()
        if any(isinstance(m, InstallSnapshot) for m in net.inflight):
            return net, snap
        net.deliver()
    raise AssertionError("the leader never sent a snapshot")


def run_transfer(net: Network, lose_offset: int | None = None) -> list[InstallSnapshot]:
    """Step the cluster one delivery at a time; returns the chunks 3 was sent. The first
    chunk at ``lose_offset`` is lost, and the leader's heartbeat timer is ticked once the
    link is quiet so the leader notices."""
    chunks: list[InstallSnapshot] = []
    for _ in range(100):
        in_flight = [m for m in net.inflight if isinstance(m, InstallSnapshot)]
        assert len(in_flight) <= 1  # one chunk at a time
        chunks += in_flight
        lose = [m for m in in_flight if m.offset == lose_offset]
        if lose:
            net.drop(lambda m, lose=lose: m in lose)  # type: ignore[misc]
            lose_offset = None
        if not net.inflight:
            if net.status(3).last_index == net.status(1).last_index:
                return chunks
            net.tick(1, net.config.heartbeat_ticks)
        net.deliver()
        net.process_all()
    raise AssertionError("the snapshot transfer did not finish")


def test_a_lagging_follower_receives_the_snapshot_in_chunks() -> None:
    net, snap = compacted_cluster()
    chunks = run_transfer(net)
    assert [c.offset for c in chunks] == list(range(0, len(snap.data), CHUNK))
    assert all(len(c.data) <= CHUNK for c in chunks)
    assert b"".join(c.data for c in chunks) == snap.data
    assert [c.done for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert all(c.meta == snap.meta for c in chunks)
    assert net.nodes[3].applied == net.nodes[1].applied
    assert [e.data for e in net.log(3)] == [b"after-1", b"after-2"]


def test_a_lost_chunk_is_resumed_not_restarted() -> None:
    net, snap = compacted_cluster()
    chunks = run_transfer(net, lose_offset=CHUNK)
    offsets = [c.offset for c in chunks]
    assert offsets == [0, CHUNK, CHUNK, *range(2 * CHUNK, len(snap.data), CHUNK)]
    assert net.nodes[3].applied == net.nodes[1].applied


def test_a_follower_that_lost_its_partial_snapshot_makes_the_leader_start_over() -> None:
    net, snap = compacted_cluster()
    for _ in range(4):  # 3 stores chunks 0 and 16, the leader sends 32; 3 crashes
        net.deliver()
        net.process_all()
    assert [m.offset for m in net.inflight if isinstance(m, InstallSnapshot)] == [2 * CHUNK]
    net.crash(3)
    net.restart(3)
    chunks = run_transfer(net)
    assert [c.offset for c in chunks][:2] == [2 * CHUNK, 0]  # refused: offset 32 of nothing
    assert b"".join(c.data for c in chunks[1:]) == snap.data
    assert net.nodes[3].applied == net.nodes[1].applied


def test_the_ready_carries_the_snapshot_then_the_later_entries() -> None:
    core = make_core(2)
    image = [Entry(1, 1), Entry(2, 1, b"x"), Entry(3, 2, b"y")]
    snap = Snapshot(SnapshotMeta(3, 2, (1, 2, 3)), encode_entries(image))
    half = len(snap.data) // 2
    core.step(InstallSnapshot(1, 2, 2, snap.meta, 0, snap.data[:half], False))
    first = take(core)
    assert first.snapshot is None and first.messages == (
        InstallSnapshotResponse(2, 1, 2, 3, True, half),
    )
    core.step(InstallSnapshot(1, 2, 2, snap.meta, half, snap.data[half:], True))
    core.step(AppendEntries(1, 2, 2, 3, 2, (Entry(4, 2, b"z"),), 4))
    rd: Ready[HardState] = take(core)
    assert rd.snapshot == snap and rd.must_sync
    assert rd.committed == ()  # the state machine first installs the image
    assert rd.entries == (Entry(4, 2, b"z"),)
    assert rd.hard_state == HardState(2, None, 4)
    assert InstallSnapshotResponse(2, 1, 2, 3, True, len(snap.data), done=True) in rd.messages
    assert core.status().applied_index == 3
    rd = take(core)
    assert rd.snapshot is None and rd.committed == (Entry(4, 2, b"z"),)


def test_a_snapshot_the_follower_already_covers_keeps_its_later_entries() -> None:
    core = make_core(2)
    entries = (Entry(1, 1), Entry(2, 1), Entry(3, 1))
    core.step(AppendEntries(1, 2, 1, 0, 0, entries, 1))
    take(core)
    meta = SnapshotMeta(2, 1, (1, 2, 3))
    core.step(InstallSnapshot(1, 2, 1, meta, 0, b"img", True))
    rd = take(core)
    assert rd.snapshot is None and core.log.entries == list(entries)
    assert core.log.committed == 2
    # an older snapshot than the commit index is answered as done and ignored
    core.step(InstallSnapshot(1, 2, 1, SnapshotMeta(1, 1, (1, 2, 3)), 0, b"old", True))
    assert take(core).messages == (InstallSnapshotResponse(2, 1, 1, 1, True, 0, done=True),)
