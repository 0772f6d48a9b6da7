"""Leases: grant, attach keys, keep-alive, revoke, expiry by the store's clock at apply
time (identical on every replica), and leases in snapshots."""

from __future__ import annotations

import cbor2
import pytest

from consensus.types import Entry
from statemachines.kv import KvStateMachine
from statemachines.kv_commands import (
    KV_CODEC,
    Command,
    CondResult,
    ErrorResult,
    KvConfig,
    LeaseCommand,
    LeasedPut,
    LeaseGrant,
    LeaseKeepAlive,
    LeaseResult,
    LeaseRevoke,
    LeaseWrite,
    Put,
    PutResult,
    Watch,
    WatchResult,
    Write,
    decode_result,
)

PROPOSER = KvConfig(clock="proposer", lease_ttl_min_ms=1)
"""These tests drive the store's clock by the commands' ``now_ms`` (see
``test_leader_clock.py`` for the default, leader-ticked clock)."""


def _do(sm: KvStateMachine, op: object, now_ms: int) -> object:
    index = sm.applied_index + 1
    if isinstance(op, LeaseGrant | LeaseKeepAlive | LeaseRevoke | LeasedPut):
        record: object = LeaseCommand(0, index, index, now_ms, LeaseWrite.of(op))
    else:
        record = Command(0, index, index, now_ms, Write.of(op))  # type: ignore[arg-type]
    return decode_result(sm.apply(Entry(index, 1, KV_CODEC.encode(record))))


def _keys(sm: KvStateMachine) -> list[str]:
    return sorted(sm.data)


def test_grant_attach_and_expire_by_the_store_clock() -> None:
    sm = KvStateMachine(PROPOSER)
    grant = _do(sm, LeaseGrant(1000), now_ms=5000)
    assert grant == LeaseResult(1, 1000, 6000, 0)  # id: the entry's index
    assert isinstance(_do(sm, LeasedPut("a", b"1", 1), 5100), PutResult)
    assert isinstance(_do(sm, LeasedPut("b", b"2", 1), 5200), PutResult)
    _do(sm, Put("c", b"3"), 6000)  # the clock reaches the expiry, not past it
    assert _keys(sm) == ["a", "b", "c"] and sm.revision == 3
    _do(sm, Put("d", b"4"), 6001)  # past it: a and b go first, at one revision
    assert _keys(sm) == ["c", "d"] and sm.revision == 5
    events = decode_result(sm.query(KV_CODEC.encode(Watch("", True, 4))))
    assert isinstance(events, WatchResult)
    assert [(e.revision, e.type, e.kv.key) for e in events.events] == [
        (4, "delete", "a"),
        (4, "delete", "b"),
        (5, "put", "d"),
    ]
    gone = _do(sm, LeaseKeepAlive(1), 6002)
    assert isinstance(gone, ErrorResult) and gone.kind == "lease"


def test_keep_alive_extends_and_a_plain_put_detaches() -> None:
    sm = KvStateMachine(PROPOSER)
    _do(sm, LeaseGrant(1000), 0)
    _do(sm, LeasedPut("a", b"1", 1), 0)
    _do(sm, LeasedPut("b", b"1", 1), 0)
    _do(sm, Put("b", b"plain"), 0)  # no longer attached
    assert _do(sm, LeaseKeepAlive(1), 900) == LeaseResult(1, 1000, 1900, 3)
    _do(sm, Put("x", b""), 1500)  # alive: nothing expires
    assert _keys(sm) == ["a", "b", "x"]
    _do(sm, Put("x", b""), 1901)
    assert _keys(sm) == ["b", "x"]


def test_revoke_deletes_the_keys_at_one_revision_and_put_if_absent_with_lease() -> None:
    sm = KvStateMachine(PROPOSER)
    _do(sm, LeaseGrant(10_000), 0)
    taken = _do(sm, LeasedPut("lock", b"me", 1, if_absent=True), 0)
    assert isinstance(taken, CondResult) and taken.applied
    _do(sm, LeaseGrant(10_000), 0)  # lease 3
    again = _do(sm, LeasedPut("lock", b"other", 3, if_absent=True), 0)
    assert isinstance(again, CondResult) and not again.applied and again.kv is not None
    assert again.kv.value == b"me"
    assert _do(sm, LeaseRevoke(1), 0) == LeaseResult(1, 10_000, 0, 2)
    assert _keys(sm) == []
    retaken = _do(sm, LeasedPut("lock", b"other", 3, if_absent=True), 0)
    assert isinstance(retaken, CondResult) and retaken.applied
    unknown = _do(sm, LeasedPut("k", b"v", 99), 0)
    assert isinstance(unknown, ErrorResult) and unknown.kind == "lease"
    assert "k" not in sm.data


def test_lease_limits() -> None:
    sm = KvStateMachine(
        KvConfig(leases_max=1, lease_ttl_max_ms=100, lease_ttl_min_ms=1, clock="proposer")
    )
    too_long = _do(sm, LeaseGrant(101), 0)
    assert isinstance(too_long, ErrorResult) and too_long.limit == "lease_ttl_max_ms"
    zero = _do(sm, LeaseGrant(0), 0)
    assert isinstance(zero, ErrorResult) and zero.limit == "lease_ttl_max_ms"
    assert isinstance(_do(sm, LeaseGrant(100), 0), LeaseResult)
    full = _do(sm, LeaseGrant(100), 0)
    assert isinstance(full, ErrorResult) and full.limit == "leases_max"


def test_a_short_ttl_is_raised_to_the_minimum() -> None:
    sm = KvStateMachine(KvConfig(clock="proposer", lease_ttl_min_ms=1000))
    assert _do(sm, LeaseGrant(300), 0) == LeaseResult(1, 1000, 1000, 0)
    with pytest.raises(ValueError, match="lease_ttl_min_ms"):
        KvConfig(lease_ttl_min_ms=5000, lease_ttl_max_ms=4000)


def _log() -> list[object]:
    return [
        (LeaseGrant(500), 0),
        (LeasedPut("a", b"1", 1), 10),
        (LeaseGrant(2000), 20),
        (LeasedPut("b", b"2", 3), 30),
        (LeaseKeepAlive(3), 400),
        (Put("c", b"3"), 600),  # lease 1 expires here
        (LeasedPut("d", b"4", 3), 700),
        (Put("e", b"5"), 2500),  # lease 3 expires (kept alive at 400: until 2400)
    ]


@pytest.mark.parametrize("cut", range(9))
def test_replicas_agree_whether_restored_part_way_or_not(cut: int) -> None:
    full, lead, late = KvStateMachine(PROPOSER), KvStateMachine(PROPOSER), KvStateMachine(PROPOSER)
    steps = _log()
    answers = [_do(full, op, now) for op, now in steps]  # type: ignore[misc]
    for op, now in steps[:cut]:  # type: ignore[misc]
        _do(lead, op, now)
    late.restore(lead.snapshot())
    assert [_do(late, op, now) for op, now in steps[cut:]] == answers[cut:]  # type: ignore[misc]
    assert late.snapshot() == full.snapshot()
    assert _keys(full) == ["c", "e"]


def test_snapshot_holds_leases_and_restore_checks_them() -> None:
    sm = KvStateMachine(PROPOSER)
    _do(sm, LeaseGrant(500), 0)
    _do(sm, LeasedPut("a", b"1", 1), 0)
    image = cbor2.loads(sm.snapshot())
    assert image["version"] == 3 and image["leases"] == [[1, 500, 500, ["a"]]]
    for bad in ([[1, 500, 500, ["missing"]]], [[1, 0, 500, []]], [[1, 500, 500, ["a", "a"]]]):
        broken = dict(image, leases=bad)
        with pytest.raises(ValueError, match="lease"):
            KvStateMachine(PROPOSER).restore(cbor2.dumps(broken, canonical=True))
    old = {k: v for k, v in image.items() if k != "leases"}
    restored = KvStateMachine(PROPOSER)
    restored.restore(cbor2.dumps(dict(old, version=2), canonical=True))  # version 2 still reads
    assert restored.leases == {} and _keys(restored) == ["a"]
