"""The etcd backend: the mapping of our commands onto etcd's gateway requests, the HTTP
client, and (with etcd installed) the same script of operations giving the same results
on a one-member etcd as on our own store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from consensus.client.client import ClientTimeout
from consensus.client.kv import KvError, KvSession
from consensus.transport.tcp import Address
from jepsen_lite.runner.api import TestSpec
from jepsen_lite.runner.envs.etcd import open_etcd_cluster
from jepsen_lite.runner.envs.etcd_backend import (
    EtcdBackend,
    b64,
    compare_body,
    key_value,
    prefix_end,
    range_body,
)
from jepsen_lite.runner.envs.etcd_http import EtcdApiError, HttpConnection
from jepsen_lite.runner.envs.etcd_proxy import EtcdPeerProxy
from statemachines.kv_commands import Get, Range, compare

from .etcd_script import kv_script
from .etcd_support import needs_etcd
from .fakes import local_session


def test_prefix_ranges_end_after_the_last_key_with_the_prefix() -> None:
    assert prefix_end(b"a/") == b"a0"
    assert prefix_end(b"a\xff") == b"b"
    assert prefix_end(b"\xff\xff") == b"\0"
    assert range_body(Range.of_prefix("c/")) == {
        "key": b64("c/"),
        "range_end": b64("c0"),
        "limit": "1000",
    }
    assert range_body(Range.of_prefix(""))["key"] == b64(b"\0")
    assert range_body(Range("k"), serializable=True)["range_end"] == b64(b"\0")
    assert range_body(Get("k"), serializable=True) == {"key": b64("k"), "serializable": True}


def test_exists_compares_become_create_revision_compares() -> None:
    def target(cmp: dict[str, Any]) -> tuple[str, str, str]:
        return cmp["target"], cmp["result"], cmp["create_revision"]

    assert target(compare_body(compare("k", "exists", "=", True))) == ("CREATE", "GREATER", "0")
    assert target(compare_body(compare("k", "exists", "!=", True))) == ("CREATE", "EQUAL", "0")
    assert target(compare_body(compare("k", "exists", "=", False))) == ("CREATE", "EQUAL", "0")
    assert target(compare_body(compare("k", "exists", "!=", False))) == ("CREATE", "GREATER", "0")
    assert compare_body(compare("k", "mod_revision", "<", 7)) == {
        "key": b64("k"),
        "target": "MOD",
        "result": "LESS",
        "mod_revision": "7",
    }


def test_key_values_decode_with_etcd_leaving_zero_fields_out() -> None:
    kv = key_value({"key": b64("k"), "create_revision": "4", "mod_revision": "9", "version": "3"})
    assert (kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version) == (
        "k",
        b"",
        4,
        9,
        3,
    )


def test_the_peer_proxy_knows_the_sender_by_its_headers() -> None:
    proxy = EtcdPeerProxy({1: Address("127.0.0.1", 1), 2: Address("127.0.0.1", 2)})
    proxy._addresses = {1: Address("127.0.0.1", 5001), 2: Address("127.0.0.1", 5002)}
    proxy.member_ids["abc"] = 2
    assert proxy.sender({"x-peerurls": "http://127.0.0.1:5001"}) == 1
    assert proxy.sender({"x-server-from": "ABC"}) == 2
    assert proxy.sender({}) is None


async def _serve_once(response: bytes, task_status: trio.TaskStatus[int]) -> None:
    """A one-connection HTTP server that reads one request and sends ``response``."""
    (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    task_status.started(listener.socket.getsockname()[1])
    async with listener:
        stream = await listener.accept()
        async with stream:
            data = b""
            while b"\r\n\r\n" not in data:
                data += await stream.receive_some(4096)
            if response:
                await stream.send_all(response)
            await trio.sleep_forever()


@pytest.mark.parametrize(
    "response",
    [
        b'HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\n{"count":"2"}',
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5\r\n{"cou\r\n8\r\nnt":"2"}\r\n0\r\n\r\n',
    ],
)
async def test_the_http_client_reads_sized_and_chunked_bodies(response: bytes) -> None:
    async with trio.open_nursery() as nursery:
        port = await nursery.start(_serve_once, response)
        conn = HttpConnection("127.0.0.1", port)
        assert await conn.post("/v3/kv/range", {}, 5.0) == {"count": "2"}
        assert not conn.closed  # kept alive
        await conn.aclose()
        nursery.cancel_scope.cancel()


async def test_the_http_client_raises_etcd_errors_and_timeouts() -> None:
    error = b'{"error":"etcdserver: no","message":"etcdserver: no","code":14}'
    answer = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: %d\r\n\r\n%s" % (
        len(error),
        error,
    )
    async with trio.open_nursery() as nursery:
        port = await nursery.start(_serve_once, answer)
        conn = HttpConnection("127.0.0.1", port)
        with pytest.raises(EtcdApiError, match=r"etcd error 14 .*etcdserver: no") as info:
            await conn.post("/v3/kv/put", {}, 5.0)
        assert info.value.code == 14
        port = await nursery.start(_serve_once, b"")
        silent = HttpConnection("127.0.0.1", port)
        with pytest.raises(ClientTimeout, match=r"within 0\.2 s"):
            await silent.post("/v3/kv/put", {}, 0.2)
        assert silent.closed  # a late answer must never be read as the next one's
        nursery.cancel_scope.cancel()


async def test_a_backend_with_no_member_to_connect_to_times_out() -> None:
    (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listener.socket.getsockname()[1]
    await listener.aclose()  # nobody listens there now
    moves: list[tuple[int, int]] = []
    members = [("127.0.0.1", port), ("127.0.0.1", port)]
    backend = EtcdBackend(members, timeout_s=2.0, on_failover=lambda a, b: moves.append((a, b)))
    with pytest.raises(ClientTimeout, match="no etcd member accepted a connection"):
        await backend.post("/v3/kv/range", {})
    assert moves == [(0, 1), (1, 0)] and backend.home == 0


async def test_sessions_are_local_and_leases_and_watches_are_refused() -> None:
    """Nothing here reaches a member (there is none listening on port 9)."""
    kv = KvSession(EtcdBackend([("127.0.0.1", 9)], timeout_s=0.5))
    with pytest.raises(KvError, match="the etcd backend does not map leases"):
        await kv.grant_lease(1000)
    assert kv.session_id == 1  # registered without etcd
    with pytest.raises(KvError, match="the etcd backend does not map watches"):
        await kv.watch_once("k")
    await kv.close()
    assert kv.session_id is None


def _shift(value: Any, by: int) -> Any:
    """``value`` with every revision raised by ``by`` (etcd's empty store is at 1)."""
    if isinstance(value, tuple):
        return tuple(_shift(v, by) for v in value)
    if attrs.has(type(value)):
        changes = {}
        for field in attrs.fields(type(value)):
            item = getattr(value, field.name)
            if field.name in ("revision", "create_revision", "mod_revision"):
                changes[field.name] = item + by
            else:
                changes[field.name] = _shift(item, by)
        return attrs.evolve(value, **changes)
    return value


@needs_etcd
async def test_etcd_gives_our_store_s_results(tmp_path: Path) -> None:
    """Every operation the backend maps, on one etcd member and on our own store: the
    same results, revisions counted from etcd's 1 instead of our 0."""
    ours = await kv_script(local_session())
    spec = TestSpec(env="etcd", nodes=1)
    async with open_etcd_cluster(spec, tmp_path) as cluster, cluster.session() as kv:
        theirs = await kv_script(kv)
        with pytest.raises(KvError, match="etcd refused it: etcdserver: key is not provided"):
            await kv.get("")  # our store has an empty key; etcd refuses one
    assert len(theirs) == len(ours) == 29
    for n, (mine, etcd) in enumerate(zip(ours, theirs, strict=True)):
        assert _shift(mine, 1) == etcd, f"operation {n} of the script"
