"""The client protocol's fault-injection requests: clock skew through the node's
``NodeClock`` and snapshot digests, served only with ``allow_fault_injection``."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator

import pytest
import trio

from consensus.cli import serve
from consensus.client import KvClient
from consensus.client.client import RequestRejected
from consensus.runtime.node import Node
from statemachines.kv import KvStateMachine

from .tcp_harness import cluster_configs, endpoints, wait_leader


@contextlib.asynccontextmanager
async def one_node(allow: bool) -> AsyncIterator[tuple[Node, str]]:
    configs = cluster_configs(1)
    node = Node(configs[0], KvStateMachine(), seed=1, allow_fault_injection=allow)
    async with trio.open_nursery() as nursery:
        await nursery.start(node.run)
        await wait_leader({1: node})
        yield node, endpoints(configs)[0]
        nursery.cancel_scope.cancel()


async def test_skew_changes_the_node_clock_and_reset_restores_it() -> None:
    async with one_node(True) as (node, endpoint), KvClient([endpoint]) as kv:
        assert node.log is not None
        reply = await kv.fault_control(endpoint, "skew", offset_ms=3_600_000, rate=2.0)
        assert node.log.clock.offset_ms == 3_600_000 and node.log.clock.rate == 2.0
        assert (reply.offset_ms, reply.rate) == (3_600_000, 2.0)
        # an hour ahead: far beyond any scheduling noise
        assert reply.clock_ms - time.time() * 1000 > 3_000_000
        assert node.log.clock.now_s() - time.time() > 3000
        read = await kv.fault_control(endpoint, "read")
        assert read.offset_ms == 3_600_000 and read.clock_ms >= reply.clock_ms
        reset = await kv.fault_control(endpoint, "reset")
        assert (reset.offset_ms, reset.rate) == (0.0, 1.0)
        assert abs(node.log.clock.now_s() - time.time()) < 60
        behind = await kv.fault_control(endpoint, "skew", offset_ms=-7_200_000)
        assert time.time() * 1000 - behind.clock_ms > 7_000_000


async def test_bad_values_are_refused_with_a_reason() -> None:
    async with one_node(True) as (node, endpoint), KvClient([endpoint]) as kv:
        with pytest.raises(RequestRejected, match="rate must be > 0"):
            await kv.fault_control(endpoint, "skew", rate=0.0)
        with pytest.raises(RequestRejected, match="must be finite"):
            await kv.fault_control(endpoint, "skew", offset_ms=float("nan"))
        with pytest.raises(RequestRejected, match="unknown action 'melt'"):
            await kv.fault_control(endpoint, "melt")
        assert node.log is not None and node.log.clock.rate == 1.0


async def test_snapshot_digest_is_the_sha256_of_the_snapshot() -> None:
    async with one_node(True) as (node, endpoint), KvClient([endpoint]) as kv:
        assert node.log is not None
        before = await kv.snapshot_digest(endpoint)
        await kv.put("x", b"1")
        after = await kv.snapshot_digest(endpoint)
        assert after.applied_index > before.applied_index
        assert after.digest != before.digest
        assert after.digest == hashlib.sha256(node.log.state_machine.snapshot()).digest()


async def test_refused_without_allow_fault_injection() -> None:
    async with one_node(False) as (node, endpoint), KvClient([endpoint]) as kv:
        with pytest.raises(RequestRejected, match="not started with --allow-fault-injection"):
            await kv.fault_control(endpoint, "skew", offset_ms=1000)
        with pytest.raises(RequestRejected, match="SnapshotDigestRequest refused"):
            await kv.snapshot_digest(endpoint)
        assert node.log is not None and node.log.clock.offset_ms == 0.0
        await kv.put("still", b"serving")


def test_serve_flag_is_off_unless_given() -> None:
    parser = argparse.ArgumentParser()
    serve.configure(parser)
    assert parser.parse_args(["--id", "1"]).allow_fault_injection is False
    assert parser.parse_args(["--allow-fault-injection"]).allow_fault_injection is True
