"""The store's clock in ``"leader"`` mode (the default): only ClockTick entries move it,
by the leader's elapsed time, capped per tick; the clocks that commands carry are
ignored, so a client whose clock is far ahead expires nobody's session or lease."""

from __future__ import annotations

import pytest

from consensus.types import Entry
from statemachines.kv import KvStateMachine
from statemachines.kv_commands import (
    KV_CODEC,
    ClockTick,
    Command,
    ErrorResult,
    KvConfig,
    LeaseCommand,
    LeasedPut,
    LeaseGrant,
    LeaseWrite,
    Put,
    PutResult,
    Write,
)

from .replica import Replica

CONFIG = KvConfig(session_timeout_ms=60_000, clock_step_max_ms=10_000)


def _tick(r: Replica, elapsed_ms: int) -> None:
    entry = Entry(len(r.log) + 1, 1, KV_CODEC.encode(ClockTick(elapsed_ms)))
    r.log.append(entry)
    assert r.machine.apply(entry) == b""  # a tick answers nothing


def _put(r: Replica, sid: int, seq: int, now_ms: int) -> object:
    return r.append(KV_CODEC.encode(Command(sid, seq, seq, now_ms, Write.of(Put("k", b"v")))))


def test_a_client_clock_far_ahead_expires_nothing() -> None:
    r = Replica(CONFIG)  # registers session 1
    _put(r, 0, 1, 10**12)  # a sessionless write stamped 30 years ahead
    assert isinstance(_put(r, 1, 1, 1000), PutResult)  # session 1 is alive
    assert r.machine.sessions.clock_ms == 0


def test_ticks_expire_an_idle_session_on_every_replica_alike() -> None:
    r = Replica(CONFIG)
    for _ in range(6):
        _tick(r, 10_000)
    assert isinstance(_put(r, 1, 1, 0), PutResult)  # 60 s idle: not past the timeout
    for _ in range(7):
        _tick(r, 10_000)
    expired = _put(r, 1, 2, 0)
    assert isinstance(expired, ErrorResult) and "unknown or expired" in expired.message
    replay = KvStateMachine(CONFIG)
    for entry in r.log:
        replay.apply(entry)
    assert replay.snapshot() == r.machine.snapshot()


@pytest.mark.parametrize(("elapsed", "advance"), [(25_000, 10_000), (0, 0), (7, 7)])
def test_one_tick_moves_the_clock_by_at_most_the_step(elapsed: int, advance: int) -> None:
    r = Replica(CONFIG, session=False)
    _tick(r, 3)
    _tick(r, elapsed)
    assert r.machine.sessions.clock_ms == 3 + advance


def test_a_negative_tick_is_a_bad_command_that_moves_nothing() -> None:
    r = Replica(CONFIG, session=False)
    _tick(r, 3)
    answer = r.machine.apply(Entry(99, 1, KV_CODEC.encode(ClockTick(-5))))
    assert b"bad command" in answer and r.machine.sessions.clock_ms == 3


def test_leases_expire_by_ticks_without_any_other_traffic() -> None:
    r = Replica(CONFIG, session=False)
    grant = r.append(KV_CODEC.encode(LeaseCommand(0, 1, 1, 0, LeaseWrite.of(LeaseGrant(1000)))))
    lease_id = grant.lease_id  # type: ignore[union-attr]
    r.append(
        KV_CODEC.encode(LeaseCommand(0, 2, 2, 0, LeaseWrite.of(LeasedPut("a", b"1", lease_id))))
    )
    _tick(r, 900)
    assert "a" in r.machine.data
    _tick(r, 200)
    assert "a" not in r.machine.data and not r.machine.leases


def test_proposer_mode_ignores_ticks_and_a_ticking_node_proposes_nothing() -> None:
    leader = KvStateMachine(CONFIG)
    assert KV_CODEC.decode(leader.clock_command(250) or b"") == ClockTick(250)
    proposer = Replica(KvConfig(clock="proposer"), session=False)
    assert proposer.machine.clock_command(250) is None
    _tick(proposer, 5_000)
    assert proposer.machine.sessions.clock_ms == 0


def test_a_bad_clock_setting_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match=r"KvConfig\.clock must be 'leader' or 'proposer'"):
        KvConfig(clock="wall")
