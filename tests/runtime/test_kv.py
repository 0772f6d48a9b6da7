"""The key-value state machine as the runtime sees it: entries in, encoded results out.

The store's semantics are in ``tests/statemachines``; here: the StateMachine contract
(bad entries give error results, snapshots round-trip, garbage snapshots are refused).
"""

from __future__ import annotations

import pytest
import trio
import trio.testing

from consensus.client.kv import KvSession
from consensus.errors import NotLeader, ProposalDropped
from consensus.runtime.errors import OutcomeUnknown, Timeout
from consensus.types import Entry
from statemachines.kv import KvStateMachine
from statemachines.kv_commands import (
    KV_CODEC,
    Command,
    Delete,
    ErrorResult,
    Get,
    GetResult,
    KeyValue,
    Put,
    PutResult,
    RegisterSession,
    SessionResult,
    Write,
    compare,
    decode_result,
)

from .harness import SimCluster


def _apply(sm: KvStateMachine, index: int, record: object) -> object:
    return decode_result(sm.apply(Entry(index, 1, KV_CODEC.encode(record))))


def test_put_get_through_entries() -> None:
    sm = KvStateMachine()
    assert _apply(sm, 1, RegisterSession(now_ms=1)) == SessionResult(1)
    assert _apply(sm, 2, Command(1, 1, 1, 1, Write.of(Put("k", b"a")))) == PutResult(1, None)
    result = decode_result(sm.query(KV_CODEC.encode(Get("k"))))
    assert result == GetResult(1, KeyValue("k", b"a", 1, 1, 1))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff\x00garbage", "bad command at index 1: "),
        (KV_CODEC.encode(Get("k")), "Get is not a command"),
        (KV_CODEC.encode(GetResult(0, None)), "GetResult is not a command"),
    ],
)
def test_bad_entry_gives_error_result_not_exception(data: bytes, message: str) -> None:
    sm = KvStateMachine()
    result = decode_result(sm.apply(Entry(1, 1, data)))
    assert isinstance(result, ErrorResult) and result.kind == "bad-command"
    assert result.message.startswith(message)
    assert sm.revision == 0 and not sm.data


def test_old_format_put_is_refused_not_applied() -> None:
    old_put = b"\xda\x63\x73\x00\xc0" + bytes.fromhex("8401016b6b4176")  # tag 192
    sm = KvStateMachine()
    result = decode_result(sm.apply(Entry(1, 1, old_put)))
    assert isinstance(result, ErrorResult) and "unknown tag" in result.message


def test_snapshot_round_trip_keeps_data_and_sessions() -> None:
    sm = KvStateMachine()
    _apply(sm, 1, RegisterSession(now_ms=5))
    _apply(sm, 2, Command(1, 1, 1, 5, Write.of(Put("a", b"1"))))
    image = sm.snapshot()
    other = KvStateMachine()
    other.restore(image)
    assert other.snapshot() == image
    assert other.data == sm.data and other.revision == 1
    again = _apply(other, 3, Command(1, 1, 1, 6, Write.of(Put("a", b"1"))))
    assert again == PutResult(1, None), "the retry is answered from the restored session"


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (b"\xff\xff", "KV snapshot is not valid CBOR"),
        (b"\x01", "unknown format or version"),
    ],
)
def test_restore_rejects_garbage(image: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        KvStateMachine().restore(image)


class LogBackend:
    """The client's ``Backend`` over a simulated cluster: propose or query on whichever
    node leads now, retrying (with the same bytes) until there is an answer."""

    def __init__(self, cluster: SimCluster) -> None:
        self.cluster = cluster

    async def propose(self, command: bytes) -> bytes:
        while True:
            leader = await self.cluster.wait_leader()
            try:
                return await self.cluster.logs[leader].propose(command, timeout_s=1.0)
            except (NotLeader, ProposalDropped, Timeout, OutcomeUnknown, KeyError):
                await trio.sleep(0.05)

    async def query(self, query: bytes) -> bytes:
        while True:
            leader = await self.cluster.wait_leader()
            try:
                return await self.cluster.logs[leader].query(query)
            except (NotLeader, ProposalDropped, Timeout, KeyError):
                await trio.sleep(0.05)


@pytest.mark.parametrize("protocol", ["raft", "multipaxos"])
async def test_client_operations_over_a_simulated_cluster(
    protocol: str, autojump_clock: trio.testing.MockClock
) -> None:
    async with trio.open_nursery() as nursery:
        cluster = SimCluster(nursery, protocol=protocol, machine=KvStateMachine)
        await cluster.start_all()
        kv = KvSession(LogBackend(cluster), now_ms=lambda: int(trio.current_time() * 1000))
        assert await kv.put("x", b"1") is None
        assert (await kv.cas("x", b"2", expected_value=b"1")).applied
        failed = await kv.cas("x", b"3", expected_value=b"1")
        assert not failed.applied and failed.kv is not None and failed.kv.value == b"2"
        old = await cluster.wait_leader()
        await cluster.crash(old)  # the rest goes through a new leader
        done = await kv.txn(
            [compare("x", "version", "=", 2)], [Put("y", b"t"), Delete("x")], [Get("x")]
        )
        assert done.succeeded and done.revision == 3
        assert await kv.get("x") is None
        assert (await kv.put_if_absent("x", b"again")).applied
        listing = await kv.range("", None)
        assert [(p.key, p.value, p.version) for p in listing.kvs] == [
            ("x", b"again", 1),
            ("y", b"t", 1),
        ]
        await cluster.start(old)
        applied = max(log.status().applied_index for log in cluster.logs.values())
        while min(log.status().applied_index for log in cluster.logs.values()) < applied:
            await trio.sleep(0.01)
        images = {node: cluster.machines[node].snapshot() for node in cluster.ids}
        assert len(set(images.values())) == 1, "replicas applying one log must agree"
        nursery.cancel_scope.cancel()
