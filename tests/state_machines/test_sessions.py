"""Exactly-once sessions: retries and duplicated deliveries, acknowledgements, expiry by
the proposers' clock, limits, and what is refused (never applied twice)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from statemachines.kv_commands import (
    KV_CODEC,
    CloseSession,
    Command,
    ErrorResult,
    Get,
    GetResult,
    KeyValue,
    KvConfig,
    Put,
    PutIfAbsent,
    PutResult,
    RegisterSession,
    SessionResult,
    Write,
)
from statemachines.sessions import SessionTable

from .replica import Replica


def put(sid: int, seq: int, ack: int, now: int, key: str = "k", value: bytes = b"v") -> bytes:
    return KV_CODEC.encode(Command(sid, seq, ack, now, Write.of(Put(key, value))))


def test_retried_command_returns_the_saved_result_and_applies_once() -> None:
    r = Replica()
    first = r.append(put(1, 1, 1, 2000, value=b"a"))
    r.append(put(0, 1, 1, 2000, value=b"other"))  # someone else writes in between
    again = r.append(put(1, 1, 1, 2001, value=b"a"))
    assert first == again == PutResult(1, None)
    assert r.read(Get("k")) == GetResult(2, KeyValue("k", b"other", 1, 2, 2))


def test_duplicated_delivery_of_a_whole_batch_is_idempotent() -> None:
    r = Replica()
    batch = [put(1, seq, 1, 2000, key=f"k{seq}") for seq in (1, 2, 3)]
    answers = [r.append(data) for data in batch]
    replay = [r.append(data) for data in (*batch, *reversed(batch))]
    assert replay == answers + answers[::-1]
    assert r.machine.revision == 3


@pytest.mark.parametrize(
    ("commands", "expected"),
    [
        # (session, seq, ack, now) -> the last command's result
        (
            [(1, 1, 1, 2000), (1, 2, 2, 2000), (1, 1, 1, 2000)],
            ErrorResult("session", "request 1 of session 1 was already acknowledged; not applied"),
        ),
        ([(1, 2, 1, 2000), (1, 1, 1, 2000)], PutResult(2, KeyValue("k", b"v", 1, 1, 1))),
        (
            [(7, 1, 1, 2000)],
            ErrorResult("session", "session 7 is unknown or expired; register a new session"),
        ),
        ([(1, 1, 2, 2000)], ErrorResult("session", "ack_seq 2 is above the command's seq 1")),
        (
            [(1, 1, 1, 2000), (0, 1, 1, 2000 + 60_001), (1, 2, 2, 1000)],
            ErrorResult("session", "session 1 is unknown or expired; register a new session"),
        ),
        (
            [(1, 1, 1, 1000 + 60_000), (1, 2, 2, 1000 + 120_000)],
            PutResult(2, KeyValue("k", b"v", 1, 1, 1)),
        ),
    ],
    ids=[
        "acknowledged-seq",
        "out-of-order-seqs",
        "unknown-session",
        "ack-above-seq",
        "expired-by-another-proposers-clock",
        "active-session-stays",
    ],
)
def test_session_rules(commands: list[tuple[int, int, int, int]], expected: object) -> None:
    r = Replica(KvConfig(session_timeout_ms=60_000, clock="proposer"))
    results = [r.append(put(*c)) for c in commands]
    assert results[-1] == expected
    refused = isinstance(expected, ErrorResult)
    applied = len(commands) - (1 if refused else 0)
    assert r.machine.revision == applied, "a refused command must not be applied"


def test_acknowledged_results_are_discarded() -> None:
    r = Replica()
    for seq in range(1, 6):
        r.append(put(1, seq, 1, 2000))
    assert sorted(r.machine.sessions.saved(1)) == [1, 2, 3, 4, 5]
    r.append(put(1, 6, 5, 2000))
    assert sorted(r.machine.sessions.saved(1)) == [5, 6]


def test_unacknowledged_results_are_bounded() -> None:
    r = Replica(KvConfig(session_results_max=2))
    r.append(put(1, 1, 1, 2000))
    r.append(put(1, 2, 1, 2000))
    assert r.append(put(1, 3, 1, 2000)) == ErrorResult(
        "limit",
        "session 1 holds 2 unacknowledged results (limit session_results_max=2)",
        "session_results_max",
    )
    assert r.machine.revision == 2
    assert r.append(put(1, 3, 2, 2000)) == PutResult(3, KeyValue("k", b"v", 1, 2, 2))


def test_registration_beyond_sessions_max_evicts_the_least_recently_active() -> None:
    r = Replica(KvConfig(sessions_max=2))  # session 1 registered at index 1
    assert r.append(KV_CODEC.encode(RegisterSession(2000))) == SessionResult(2)
    r.append(put(1, 1, 1, 2000))  # session 1 is now the most recent
    assert r.append(KV_CODEC.encode(RegisterSession(2000))) == SessionResult(4)
    assert 2 not in r.machine.sessions and 1 in r.machine.sessions and 4 in r.machine.sessions


def test_close_session() -> None:
    r = Replica()
    assert r.append(KV_CODEC.encode(CloseSession(1, 2000))) == SessionResult(1)
    assert r.append(KV_CODEC.encode(CloseSession(1, 2000))) == ErrorResult(
        "session", "session 1 is not open"
    )
    result = r.append(put(1, 1, 1, 2000))
    assert isinstance(result, ErrorResult) and result.kind == "session"


def test_clock_is_the_largest_now_ms_never_going_back() -> None:
    table = SessionTable(timeout_ms=10)
    table.register(1, 100)
    table.tick(50)
    assert table.clock_ms == 100
    table.tick(111)
    assert 1 not in table


@pytest.mark.parametrize(
    "bad",
    [
        None,
        [],
        [0],
        [0, [[1, 2]]],
        [-1, []],
        [5, [[1, 9, 0, []]]],
        [5, [[1, 2, 0, []], [2, 1, 0, []]]],
        [5, [[1, 2, 3, [[2, b"x"]]]]],
        [5, [[1, 2, 0, [[2, "x"]]]]],
    ],
)
def test_malformed_session_table_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="session"):
        SessionTable().load(bad)


@given(
    ops=st.lists(
        st.tuples(st.sampled_from("abc"), st.sampled_from([b"1", b"2"]), st.booleans()),
        min_size=1,
        max_size=12,
    ),
    deliveries=st.lists(st.integers(0, 11), max_size=30),
    ack_lag=st.integers(0, 3),
)
def test_retries_and_duplicates_apply_each_command_once(
    ops: list[tuple[str, bytes, bool]], deliveries: list[int], ack_lag: int
) -> None:
    """Commands of one session, with retries and duplicated deliveries of earlier ones
    mixed in anywhere: the store ends as if each command were applied once, and every
    repeat is answered with the first answer or refused as acknowledged."""
    writes = [PutIfAbsent(k, v) if conditional else Put(k, v) for k, v, conditional in ops]
    r = Replica()
    first: dict[int, object] = {}
    sent: list[bytes] = []
    extra = iter(deliveries)
    for seq, op in enumerate(writes, 1):
        data = KV_CODEC.encode(Command(1, seq, max(1, seq - ack_lag), 2000, Write.of(op)))
        sent.append(data)
        first[seq] = r.append(data)
        for _ in range(next(extra, 0) % 3):  # repeat some earlier commands now
            again = next(extra, 0) % len(sent)
            answer = r.append(sent[again])
            assert answer == first[again + 1] or (
                isinstance(answer, ErrorResult) and "already acknowledged" in answer.message
            )
    once = Replica(session=False)
    for op in writes:
        once.write(op)
    assert r.machine.data == once.machine.data
    assert r.machine.revision == once.machine.revision
