"""The unsafe cores lose acknowledged writes the way their designs say they do, and keep
them when nothing goes wrong (so it is the fault, not a bug, that loses them)."""

from __future__ import annotations

import pytest

from consensus.codec import WIRE
from consensus.core import Role
from consensus.errors import NotLeader
from consensus.unsafe.messages import LwwItem, LwwMark, LwwPull, LwwPullReply, PbAppend, PbItem
from statemachines.kv_commands import KV_CODEC, Cas, Command, ErrorResult, PutResult, Write
from statemachines.unsafe_kv import LwwKv, PrimaryBackupKv, unsafe_state_machine

from .harness import lww, primary_backup, put


def primary_of(box: object) -> int:
    cores = box.cores  # type: ignore[attr-defined]
    (primary,) = [n for n, c in cores.items() if c.role is Role.LEADER]
    return int(primary)


def test_primary_backup_replicates_and_backups_refuse_writes() -> None:
    box = primary_backup()
    box.tick(40)
    p = primary_of(box)
    ticket = box.cores[p].propose(put("k", b"a"))
    box.drain()
    assert isinstance(KV_CODEC.decode(box.answer(p, ticket) or b""), PutResult)
    assert all(box.get(n, "k") == b"a" for n in box.cores)
    backup = next(n for n in box.cores if n != p)
    with pytest.raises(NotLeader) as refused:
        box.cores[backup].propose(put("k", b"x"))
    assert refused.value.leader_hint == p
    snapshots = {box.stores[n].snapshot() for n in box.cores}
    assert len(snapshots) == 1


def test_primary_backup_discards_an_acknowledged_write_after_failover() -> None:
    box = primary_backup()
    box.tick(40)
    old = primary_of(box)
    box.cores[old].propose(put("k", b"a"))
    box.drain()
    box.isolate(old)
    ticket = box.cores[old].propose(put("k", b"lost"))
    box.drain()
    # acknowledged at once: the primary does not wait for any backup
    assert isinstance(KV_CODEC.decode(box.answer(old, ticket) or b""), PutResult)
    assert box.get(old, "k") == b"lost"
    box.tick(40, only=lambda n: n != old)  # the others promote one of themselves
    new = next(n for n, c in box.cores.items() if n != old and c.role is Role.LEADER)
    box.heal()
    box.tick(10)
    assert box.cores[old].role is Role.FOLLOWER and box.cores[old].primary == new
    assert [box.get(n, "k") for n in sorted(box.cores)] == [b"a", b"a", b"a"]
    assert len({box.stores[n].snapshot() for n in box.cores}) == 1


def test_lww_keeps_the_write_of_the_clock_that_runs_ahead() -> None:
    clocks = {1: 1_000_000 + 5_000, 2: 1_000_000, 3: 1_000_000}  # node 1 is 5 s ahead
    box = lww(clocks)
    box.drain()
    first = box.cores[1].propose(put("k", b"early"))
    box.drain()
    assert isinstance(KV_CODEC.decode(box.answer(1, first) or b""), PutResult)
    clocks[2] += 1_000  # a second later, by the correct clocks
    later = box.cores[2].propose(put("k", b"later"))
    box.drain()
    assert isinstance(KV_CODEC.decode(box.answer(2, later) or b""), PutResult)  # acknowledged
    box.cores[3].read_index(b"r")
    box.drain()
    assert (3, b"r") in box.reads
    # the later acknowledged write is gone everywhere: "last" by node 1's clock, not time
    assert [box.get(n, "k") for n in (1, 2, 3)] == [b"early", b"early", b"early"]


def test_lww_with_agreeing_clocks_keeps_the_later_write() -> None:
    clocks = {1: 1_000_000, 2: 1_000_000, 3: 1_000_000}
    box = lww(clocks)
    box.drain()
    box.cores[1].propose(put("k", b"early"))
    box.drain()
    for n in clocks:
        clocks[n] += 1_000
    box.cores[2].propose(put("k", b"later"))
    box.drain()
    assert [box.get(n, "k") for n in (1, 2, 3)] == [b"later", b"later", b"later"]


def test_lww_acknowledges_only_after_a_quorum_and_repairs_after_heal() -> None:
    clocks = {1: 1_000_000, 2: 1_000_000, 3: 1_000_000}
    box = lww(clocks)
    box.drain()
    box.isolate(1)
    ticket = box.cores[1].propose(put("k", b"v"))
    box.drain()
    assert box.answer(1, ticket) is None  # waits for W = 2
    box.tick(60)  # past write_timeout_ticks: failed, yet written at node 1 (as in Cassandra)
    term, _ = box.answers[(1, ticket.index)]
    assert term != ticket.term
    assert box.get(1, "k") == b"v" and box.get(2, "k") is None
    box.heal()
    box.tick(100)  # anti-entropy pulls
    assert [box.get(n, "k") for n in (1, 2, 3)] == [b"v", b"v", b"v"]


def test_lww_store_refuses_conditional_writes() -> None:
    store = LwwKv()
    cas = KV_CODEC.encode(Command(0, 0, 0, 0, Write.of(Cas("k", b"n", expected_value=b"o"))))
    clocks = {1: 1}
    box = lww(clocks)
    box.drain()
    ticket = box.cores[1].propose(cas)
    box.drain()
    result = KV_CODEC.decode(box.answer(1, ticket) or b"")
    assert isinstance(result, ErrorResult) and "no atomic read-modify-write" in result.message
    assert store.snapshot() == box.stores[1].snapshot()  # nothing applied


def test_stores_restore_their_snapshots() -> None:
    box = primary_backup()
    box.tick(40)
    p = primary_of(box)
    box.cores[p].propose(put("k", b"a"))
    box.drain()
    image = box.stores[p].snapshot()
    fresh = PrimaryBackupKv()
    fresh.restore(image)
    assert fresh.snapshot() == image
    with pytest.raises(ValueError, match="malformed"):
        LwwKv().restore(b"\x00")
    with pytest.raises(ValueError, match="not an unsafe protocol"):
        unsafe_state_machine("raft")


def test_unsafe_messages_cross_the_wire() -> None:
    item = LwwItem(1, 2, 3, 1_700_000_000_000, b"x")
    for message in (
        PbAppend(1, 2, 7, 3, 2, (PbItem(2, b"c"),)),
        LwwPull(1, 2, 5, (LwwMark(1, 2, 3),)),
        LwwPullReply(2, 1, 5, (item,), False),
    ):
        assert WIRE.decode(WIRE.encode(message)) == message


def test_lww_read_needs_a_quorum_and_is_dropped_without_one() -> None:
    box = lww({1: 1, 2: 1, 3: 1})
    box.drain()
    box.isolate(1)
    box.cores[1].read_index(b"r")
    box.tick(199)
    assert (1, b"r") not in box.reads
    dropped: list[bytes] = []
    box.cores[1].tick()
    while box.cores[1].has_ready():
        rd = box.cores[1].ready()
        dropped.extend(rd.dropped_reads)
        box.cores[1].advance(rd)
    assert dropped == [b"r"]


def test_primary_backup_resyncs_a_new_node_from_its_snapshot_and_recovers_from_one() -> None:
    import random

    from consensus.core import Recovered
    from consensus.types import HardState, Snapshot, SnapshotMeta
    from consensus.unsafe.primary_backup import PbConfig, PrimaryBackupCore

    box = primary_backup()
    box.tick(40)
    p = primary_of(box)
    for i in range(5):
        box.cores[p].propose(put(f"k{i}", b"v"))
    box.drain()
    core = box.cores[p]
    image = box.stores[p].snapshot()
    core.compact(Snapshot(SnapshotMeta(core.last_index, core.epoch, core.voters), image))
    assert core.base_pos == core.position and core.items == []
    core.propose(put("after", b"w"))
    box.drain()
    # a node that lost everything gets the image and what came after it
    backup = next(n for n in box.cores if n != p)
    box.cores[backup] = PrimaryBackupCore(
        backup, core.voters, random.Random(9), config=PbConfig(election_ticks=10)
    )
    box.stores[backup] = PrimaryBackupKv()
    box.tick(5)
    assert box.stores[backup].snapshot() == box.stores[p].snapshot()
    assert box.get(backup, "k3") == b"v" and box.get(backup, "after") == b"w"
    # a restart from a snapshot and the entries after it rebuilds the same history
    last = core.last_index
    recovered = Recovered(
        HardState(core.epoch, None, last),
        Snapshot(SnapshotMeta(last - 1, core.epoch, core.voters), image),
        (),
    )
    again = PrimaryBackupCore(p, core.voters, random.Random(1), recovered=recovered)
    assert again.base_pos == core.base_pos and again.role is Role.FOLLOWER
