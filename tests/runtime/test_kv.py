"""The key-value store as the runtime sees it: entries in, encoded results out; the
client over a simulated cluster; ``consensus kv`` against in-process TCP nodes.

The store's semantics are in ``tests/state_machines``; here: the StateMachine contract
(bad entries give error results, snapshots round-trip, garbage snapshots are refused).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest
import trio
import trio.testing

from consensus.cli.kv import parse_txn
from consensus.client import BlockingKvClient
from consensus.client.kv import KvSession
from consensus.client.protocol import Consistency
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
from .tcp_harness import cluster_configs, endpoints, running_nodes, wait_leader


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

    async def query(self, query: bytes, *, consistency: Consistency = "linearizable") -> bytes:
        while True:
            leader = await self.cluster.wait_leader()
            try:
                return await self.cluster.logs[leader].query(query, consistency=consistency)
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


CLI = [sys.executable, "-c", "import sys; from consensus.cli import main; sys.exit(main())"]


async def kv(points: str, *args: str, stdin: bytes = b"") -> tuple[int, str, str]:
    command = [*CLI, "kv", "--endpoints", points, *args]
    done = await trio.run_process(
        command, stdin=stdin, capture_stdout=True, capture_stderr=True, check=False
    )
    return done.returncode, done.stdout.decode(), done.stderr.decode()


TXN = json.dumps(
    {
        "compare": [{"key": "a", "target": "value", "op": "=", "value": "3"}],
        "success": [{"put": {"key": "t", "value": "yes"}}, {"get": {"key": "a"}}],
        "failure": [{"get": {"key": "a"}}],
    }
).encode()

TXN_FAILING = json.dumps(
    {"compare": [{"key": "a", "target": "version", "op": ">", "value": 100}]}
).encode()

# (arguments, exit status, stdout or JSON fields expected), in order, on one cluster
SCRIPT: list[tuple[list[str], int, str | dict[str, object]]] = [
    (["put", "a", "1"], 0, "OK (revision 1)\n"),
    (["put", "a", "2"], 0, "OK (revision 2, was 1)\n"),
    (["get", "a"], 0, "2\n"),
    (["get", "missing"], 1, ""),
    (["cas", "a", "2", "3"], 0, "APPLIED (revision 3)\n"),
    (
        ["cas", "a", "2", "4"],
        1,
        "NOT APPLIED: a = 3  (version 3, created at revision 1, modified at 3)\n",
    ),
    (["cas", "a", "9", "--expected-version", "2", "--json"], 1, {"applied": False}),
    (["cas", "a", "3", "--expected-mod-revision", "3"], 0, "APPLIED (revision 4)\n"),
    (["put-if-absent", "b", "x"], 0, "APPLIED (revision 5)\n"),
    (["--json", "put-if-absent", "b", "y"], 1, {"applied": False, "revision": 5}),
    (
        ["range", ""],
        0,
        "a = 3  (version 4, created at revision 1, modified at 4)\n"
        "b = x  (version 1, created at revision 5, modified at 5)\n(2 keys at revision 5)\n",
    ),
    (
        ["delete-if", "b", "y"],
        1,
        "NOT APPLIED: b = x  (version 1, created at revision 5, modified at 5)\n",
    ),
    (["delete-if", "b", "--expected-version", "1", "--json"], 0, {"applied": True}),
    (["delete", "b", "--json"], 0, {"revision": 6}),
    (
        ["txn", "-"],
        0,
        "SUCCEEDED (revision 7)\nOK (revision 7)\n"
        "a = 3  (version 4, created at revision 1, modified at 4)\n",
    ),
    (["txn", "-", "--json"], 1, {"succeeded": False, "revision": 7}),
]


async def test_every_operation_through_the_cli() -> None:
    configs = cluster_configs()
    async with running_nodes(configs) as nodes:
        await wait_leader(nodes)
        points = ",".join(endpoints(configs))
        for args, status, expected in SCRIPT:
            stdin = (TXN_FAILING if "--json" in args else TXN) if "txn" in args else b""
            code, out, err = await kv(points, *args, stdin=stdin)
            assert code == status, f"{args}: exit {code}, stderr {err!r}"
            if isinstance(expected, str):
                assert out == expected, args
            else:
                fields = json.loads(out)
                assert {k: fields[k] for k in expected} == expected, args


@pytest.mark.parametrize("op", [["get", "k"], ["put", "k", "v"]])
async def test_no_node_reachable_is_one_line_exit_2(op: list[str]) -> None:
    code, out, err = await kv("127.0.0.1:1,127.0.0.1:2", "--timeout", "1", *op)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err and "ExceptionGroup" not in err
    assert err.startswith(
        "consensus kv: error: no answer within 1s from 127.0.0.1:1, 127.0.0.1:2 (last: 127.0.0.1:"
    )


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("[", "not JSON"),
        ('{"other": []}', "must be an object with compare"),
        ('{"success": [{"jump": {}}]}', r"success\[0\]: unknown op 'jump'"),
        (
            '{"compare": [{"key": "a", "target": "colour", "op": "=", "value": 1}]}',
            "unknown compare target",
        ),
        (
            '{"compare": [{"key": "a", "target": "version", "op": "~", "value": 1}]}',
            "unknown compare operator",
        ),
        ('{"failure": [{"put": {"key": "a"}}]}', r"failure\[0\]: 'value' must be str"),
    ],
)
def test_bad_txn_files_are_refused_with_a_reason(doc: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_txn(doc)


def test_txn_file_parses_to_the_vocabulary() -> None:
    compares, success, failure = parse_txn(TXN.decode())
    assert compares == [compare("a", "value", "=", b"3")]
    assert success == [Put("t", b"yes"), Get("a")] and failure == [Get("a")]


def test_cli_timeout_bounds_the_whole_command() -> None:
    # A node that accepts and never answers: the command still ends near --timeout.
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen()
        port = hung.getsockname()[1]
        started = time.monotonic()
        done = subprocess.run(
            [*CLI, "kv", "--endpoints", f"127.0.0.1:{port}", "--timeout", "1.5", "put", "k", "v"],
            capture_output=True,
            check=False,
        )
        elapsed = time.monotonic() - started
    assert done.returncode == 2 and b"no answer within 1.5s" in done.stderr
    assert elapsed < 10, "the command ran far past its --timeout"


async def test_blocking_client_exposes_every_operation_with_typed_results() -> None:
    configs = cluster_configs(size=1)
    async with running_nodes(configs) as nodes:
        await wait_leader(nodes)

        def use_blocking() -> list[object]:
            with BlockingKvClient(endpoints(configs)) as kv:
                return [
                    kv.put("a", b"1"),
                    kv.put_kv("a", b"2").revision,
                    kv.cas("a", b"3", expected_version=2).applied,
                    kv.cas("a", b"4", expected_value=b"2").applied,
                    kv.put_if_absent("b", b"x").applied,
                    kv.delete_if("b", expected_mod_revision=4).applied,
                    kv.txn([compare("a", "value", "=", b"3")], [Put("c", b"t")]).succeeded,
                    [p.key for p in kv.range("", prefix=True).kvs],
                    kv.delete("c").prev is not None,
                    kv.get_kv("a"),
                    kv.get("c"),
                ]

        results = await trio.to_thread.run_sync(use_blocking)
        assert results == [
            None,
            2,
            True,
            False,
            True,
            True,
            True,
            ["a", "c"],
            True,
            KeyValue("a", b"3", 1, 3, 3),
            None,
        ]


async def test_leases_through_the_cli() -> None:
    configs = cluster_configs()
    async with running_nodes(configs) as nodes:
        await wait_leader(nodes)
        points = ",".join(endpoints(configs))
        code, out, err = await kv(points, "lease", "grant", "60000", "--json")
        assert code == 0, err
        granted = json.loads(out)
        lease_id = granted["lease_id"]
        assert granted["ttl_ms"] == 60000 and lease_id >= 1
        assert (await kv(points, "put", "held", "1", "--lease", str(lease_id)))[0] == 0
        code, out, _ = await kv(points, "lease", "keep-alive", str(lease_id))
        assert code == 0 and out.startswith(f"lease {lease_id}: TTL 60000 ms, until ")
        assert (await kv(points, "get", "held"))[1] == "1\n"
        assert (await kv(points, "lease", "revoke", str(lease_id)))[0] == 0
        assert (await kv(points, "get", "held"))[0] == 1  # the key went with the lease
        code, out, err = await kv(points, "lease", "keep-alive", str(lease_id))
        assert code == 2 and out == ""
        assert err == (
            f"consensus kv: error: refused by the store (lease): lease {lease_id} is "
            "unknown, expired or revoked\n"
        )
        code, _, err = await kv(points, "put", "k", "v", "--lease", "-3")
        assert code == 2 and "a lease id is an integer >= 1, got -3" in err


async def test_blocking_client_leases_and_watch() -> None:
    configs = cluster_configs(size=1)
    async with running_nodes(configs) as nodes:
        await wait_leader(nodes)

        def use_blocking() -> list[object]:
            with BlockingKvClient(endpoints(configs)) as kv:
                start = kv.put_kv("w", b"0").revision + 1
                lease = kv.grant_lease(1000)  # kept by nobody: ends ~1 s later
                kv.put("w", b"1", lease=lease.lease_id)
                assert kv.put_if_absent("v", b"x", lease=lease.lease_id).applied
                kv.keep_alive(lease.lease_id)
                events = kv.watch("", prefix=True, from_revision=start, poll_s=0.05)
                seen = [(next(events).type, next(events).type)]
                gone = sorted((e.type, e.kv.key) for e in (next(events), next(events)))
                return [lease.ttl_ms, seen, gone, kv.get("w"), kv.get("v")]

        with trio.fail_after(30):
            results = await trio.to_thread.run_sync(use_blocking)
        assert results == [1000, [("put", "put")], [("delete", "v"), ("delete", "w")], None, None]
