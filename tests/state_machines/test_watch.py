"""Watch: the bounded history of applied changes, answered by ``query(Watch(...))``."""

from __future__ import annotations

import pytest

from consensus.types import Entry
from statemachines.kv import KvStateMachine
from statemachines.kv_commands import (
    KV_CODEC,
    Command,
    Compacted,
    Delete,
    ErrorResult,
    KeyValue,
    KvConfig,
    Put,
    Txn,
    Watch,
    WatchEvent,
    WatchResult,
    Write,
    compare,
    decode_result,
)

from .test_snapshots import random_log


def _write(sm: KvStateMachine, op: object) -> None:
    index = sm.applied_index + 1
    command = Command(0, index, index, 10, Write.of(op))  # type: ignore[arg-type]
    sm.apply(Entry(index, 1, KV_CODEC.encode(command)))


def _watch(sm: KvStateMachine, *args: object, **kw: object) -> object:
    return decode_result(sm.query(KV_CODEC.encode(Watch(*args, **kw))))  # type: ignore[arg-type]


def _store(config: KvConfig | None = None) -> KvStateMachine:
    sm = KvStateMachine(config or KvConfig())
    _write(sm, Put("a", b"1"))  # revision 1
    _write(sm, Put("b", b"2"))  # 2
    _write(sm, Put("a", b"3"))  # 3
    _write(sm, Delete("a"))  # 4
    _write(sm, Delete("a"))  # absent: not a write, no event
    _write(sm, Txn([compare("b", "exists", "=", True)], [Put("ab", b"t"), Delete("b")]))  # 5
    return sm


def test_events_carry_revision_type_key_value_and_metadata() -> None:
    sm = _store()
    result = _watch(sm, "a", from_revision=1)
    assert result == WatchResult(
        5,
        (
            WatchEvent(1, "put", KeyValue("a", b"1", 1, 1, 1)),
            WatchEvent(3, "put", KeyValue("a", b"3", 1, 3, 2)),
            WatchEvent(4, "delete", KeyValue("a", b"3", 1, 3, 2)),  # as it was
        ),
        6,
        False,
    )


def test_prefix_watch_sees_a_transaction_in_op_order_at_one_revision() -> None:
    sm = _store()
    result = _watch(sm, "", prefix=True, from_revision=5)
    assert isinstance(result, WatchResult)
    assert [(e.revision, e.type, e.kv.key) for e in result.events] == [
        (5, "put", "ab"),
        (5, "delete", "b"),
    ]
    everything = _watch(sm, "a", prefix=True, from_revision=2)
    assert isinstance(everything, WatchResult)
    assert [(e.revision, e.kv.key) for e in everything.events] == [(3, "a"), (4, "a"), (5, "ab")]


def test_from_now_and_from_the_future_answer_where_to_continue() -> None:
    sm = _store()
    assert _watch(sm, "a") == WatchResult(5, (), 6, False)  # from_revision 0: from now on
    assert _watch(sm, "a", from_revision=9) == WatchResult(5, (), 9, False)
    assert _watch(sm, "zzz", from_revision=1) == WatchResult(5, (), 6, False)


def test_limit_stops_between_revisions_and_says_more() -> None:
    sm = _store()
    first = _watch(sm, "", prefix=True, from_revision=1, limit=2)
    assert isinstance(first, WatchResult) and first.more and first.next_revision == 3
    assert [e.revision for e in first.events] == [1, 2]
    # A revision's events are never split: the limit may be passed by one revision's worth.
    last = _watch(sm, "", prefix=True, from_revision=4, limit=2)
    assert isinstance(last, WatchResult) and not last.more
    assert [e.revision for e in last.events] == [4, 5, 5] and last.next_revision == 6
    refused = _watch(sm, "a", from_revision=1, limit=10_000)
    assert isinstance(refused, ErrorResult) and refused.limit == "watch_events_max"


def test_old_revisions_are_compacted_with_the_oldest_still_served() -> None:
    sm = _store(KvConfig(watch_history_revisions=2))
    assert len(sm.history) == 2 and sm.oldest_watch_revision == 4
    assert _watch(sm, "a", from_revision=3) == Compacted(5, 4)
    assert _watch(sm, "a", from_revision=1) == Compacted(5, 4)
    kept = _watch(sm, "a", prefix=True, from_revision=4)
    assert isinstance(kept, WatchResult) and [e.revision for e in kept.events] == [4, 5]


def test_after_restore_the_watch_is_served_from_the_snapshot_revision_on() -> None:
    full = _store()
    restored = KvStateMachine()
    restored.restore(full.snapshot())
    assert restored.oldest_watch_revision == 6
    assert _watch(restored, "a", from_revision=5) == Compacted(5, 6)
    assert _watch(restored, "a", from_revision=6) == WatchResult(5, (), 6, False)
    for sm in (full, restored):
        _write(sm, Put("a", b"again"))
    assert _watch(restored, "a", from_revision=6) == _watch(full, "a", from_revision=6)
    assert restored.snapshot() == full.snapshot()  # the history is not in the image


@pytest.mark.parametrize("seed", range(3))
def test_replicas_give_identical_watch_answers(seed: int) -> None:
    log = random_log(seed)
    config = KvConfig(watch_history_revisions=50)
    a, b, late = KvStateMachine(config), KvStateMachine(config), KvStateMachine(config)
    cut = len(log) // 2
    for e in log:
        a.apply(e)
        b.apply(e)
    lead = KvStateMachine(config)
    for e in log[:cut]:
        lead.apply(e)
    late.restore(lead.snapshot())
    for e in log[cut:]:
        late.apply(e)
    assert a.snapshot() == b.snapshot() == late.snapshot()
    assert a.history == b.history
    assert len(a.history) == min(50, a.revision)
    for r in range(0, a.revision + 2):
        answer = _watch(a, "", prefix=True, from_revision=r)
        assert answer == _watch(b, "", prefix=True, from_revision=r)
        at_late = _watch(late, "", prefix=True, from_revision=r)
        if r == 0 or (r > lead.revision and r >= a.oldest_watch_revision):
            assert at_late == answer
        elif r <= lead.revision:  # before the snapshot it was restored from
            assert isinstance(at_late, Compacted) and at_late.oldest_revision > lead.revision
        if isinstance(answer, WatchResult) and r:
            revisions = [e.revision for e in answer.events]
            assert revisions == sorted(revisions) and all(x >= r for x in revisions)
