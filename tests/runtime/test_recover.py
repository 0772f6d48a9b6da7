"""Disaster recovery and the start-up refusals, on real data dirs (nodes in-process over
TCP): ``consensus recover`` brings a 3-node data set with 2 nodes destroyed back as a
1-voter cluster with every write the survivor had; a removed node and a data dir of
another cluster refuse to start."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import pytest
import trio

from consensus.cli import main
from consensus.client import KvClient
from consensus.membership import ChangeKind, ConfChange, Membership
from consensus.runtime.config import NodeConfig, build_config
from consensus.runtime.local import client_endpoints, write_cluster_file
from consensus.runtime.node import Node, StartupError, check_membership
from consensus.transport.tcp import Address
from statemachines.kv import KvStateMachine

from .tcp_harness import wait_leader


@contextlib.asynccontextmanager
async def nodes_of(cluster_file: Path, ids: list[int]) -> AsyncIterator[dict[int, Node]]:
    configs = [build_config(config_file=cluster_file, node_id=i) for i in ids]
    nodes = {c.node_id: Node(c, KvStateMachine(), seed=c.node_id) for c in configs}
    async with trio.open_nursery() as nursery:
        for node in nodes.values():
            await nursery.start(node.run)
        yield nodes
        nursery.cancel_scope.cancel()


async def test_recover_one_survivor_keeps_its_writes(tmp_path: Path) -> None:
    cluster_file = write_cluster_file(tmp_path, 3)
    eps = list(client_endpoints(cluster_file).values())
    async with nodes_of(cluster_file, [1, 2, 3]) as nodes:
        await wait_leader(nodes)
        async with KvClient(eps) as kv:
            for i in range(20):
                await kv.put(f"k{i}", str(i).encode())
        with trio.fail_after(10):  # node 1 has every write (a quorum may not include it)
            while nodes[1].log.status().applied_index < nodes[2].log.status().commit_index:  # type: ignore[union-attr]
                await trio.sleep(0.01)
    shutil.rmtree(tmp_path / "node-2")
    shutil.rmtree(tmp_path / "node-3")
    args = ["recover", "--config", str(cluster_file), "--id", "1"]
    assert main(args) == 1  # refused without --force, nothing changed
    assert not list(tmp_path.glob("node-1.before-recover-*"))
    assert main([*args, "--voters", "x"]) == 2
    assert main([*args, "--force"]) == 0
    assert len(list(tmp_path.glob("node-1.before-recover-*"))) == 1
    async with nodes_of(cluster_file, [1]) as nodes:
        assert await wait_leader(nodes) == 1
        assert nodes[1].log is not None
        assert nodes[1].log.membership() == Membership.of([1])
        async with KvClient([eps[0]]) as kv:
            for i in range(20):
                assert await kv.get(f"k{i}") == str(i).encode()
            await kv.put("after", b"yes")
            assert await kv.get("after") == b"yes"


async def test_removed_node_and_other_cluster_refuse_to_start(tmp_path: Path) -> None:
    cluster_file = write_cluster_file(tmp_path, 3)
    async with nodes_of(cluster_file, [1, 2, 3]) as nodes:
        leader = await wait_leader(nodes)
        log = nodes[leader].log
        assert log is not None
        with trio.fail_after(10):
            while True:  # the leader's no-op must commit first
                try:
                    removed = leader  # only a node that removes itself sees its removal
                    await log.change_membership(ConfChange(ChangeKind.REMOVE, removed))
                    break
                except Exception as exc:
                    if "yet" not in str(exc):
                        raise
                    await trio.sleep(0.02)
        assert not log.membership().is_member(removed)
    config = build_config(config_file=cluster_file, node_id=removed)
    with pytest.raises(StartupError, match=f"node {removed} was removed from the cluster"):
        await Node(config, KvStateMachine()).run()
    # a restart with --join is let through the check (it waits to be added back)
    check_membership(attrs.evolve(config, join=True), Membership.of([1, 2, 3]), "x")
    other = build_config(
        config_file=cluster_file, node_id=next(n for n in (1, 2, 3) if n != leader)
    )
    stranger = attrs.evolve(other, peers={7: Address("127.0.0.1", 1), 8: Address("127.0.0.1", 2)})
    with pytest.raises(StartupError, match="does not belong to this cluster file"):
        await Node(stranger, KvStateMachine()).run()


def _config(node: int, peers: list[int], join: bool = False) -> NodeConfig:
    return NodeConfig(
        node_id=node,
        cluster_id="c",
        listen=Address("127.0.0.1", 1),
        peers={p: Address("127.0.0.1", 1000 + p) for p in peers},
        join=join,
    )


def test_check_membership_rules() -> None:
    # the data wins: other nodes added or removed since the file was written
    check_membership(_config(1, [2, 3]), Membership.of([1, 2, 4]), "d")
    check_membership(_config(1, [2, 3]), Membership.of([1]), "d")  # after recover
    check_membership(_config(1, []), Membership.of([1, 2, 3]), "d")
    with pytest.raises(StartupError, match=r"node 2 was removed .* says voters \[1, 3\]"):
        check_membership(_config(2, [1, 3]), Membership.of([1, 3]), "d")
    with pytest.raises(StartupError, match="shares no other node"):
        check_membership(_config(1, [7, 8]), Membership.of([1, 2, 3]), "d")
    check_membership(_config(4, [1, 2, 3], join=True), Membership.of([1, 2, 3]), "d")


async def test_join_refused_for_a_protocol_without_membership() -> None:
    config = attrs.evolve(_config(3, [1, 2], join=True), protocol="paxos-lwt")
    with pytest.raises(StartupError, match="not supported by protocol paxos-lwt yet"):
        await Node(config, KvStateMachine()).run()
