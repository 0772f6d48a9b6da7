"""Lease reads (``consistency="lease"``): a Raft leader holding its read lease answers
without a read-index round; without a lease (Multi-Paxos, Raft without
``lease_reads``, a lease that ran out) the read runs the round, as a linearizable one
does. Over a simulated cluster, through the TCP client, and ``consensus kv``."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from consensus.client import KvClient
from consensus.client.kv import KvSession
from consensus.client.protocol import Consistency
from consensus.raft import RaftConfig
from consensus.runtime.config import ConfigError, build_config
from consensus.types import NodeId
from statemachines.kv import KvStateMachine

from .harness import SimCluster
from .tcp_harness import cluster_configs, endpoints, running_nodes, wait_leader
from .test_kv import LogBackend, kv

LEASE = RaftConfig(pre_vote=True, check_quorum=True, lease_reads=True)


class LeaderBackend(LogBackend):
    """Writes and reads at ``node`` (the leader), with the read mode asked for."""

    def __init__(self, cluster: SimCluster, node: NodeId) -> None:
        super().__init__(cluster)
        self.node = node

    async def query(self, query: bytes, *, consistency: Consistency = "linearizable") -> bytes:
        return await self.cluster.logs[self.node].query(query, consistency=consistency)


@pytest.mark.parametrize(
    ("protocol", "raft", "served_from_lease"),
    [("raft", LEASE, True), ("raft", RaftConfig(), False), ("multipaxos", None, False)],
)
async def test_a_lease_read_skips_the_read_round_only_while_a_raft_leader_holds_its_lease(
    protocol: str,
    raft: RaftConfig | None,
    served_from_lease: bool,
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        cluster = SimCluster(nursery, protocol=protocol, raft=raft, machine=KvStateMachine)
        await cluster.start_all()
        leader = await cluster.wait_leader()
        now = lambda: int(trio.current_time() * 1000)  # noqa: E731
        kv_ = KvSession(LeaderBackend(cluster, leader), now_ms=now)
        driver = cluster.logs[leader].driver
        await kv_.put("x", b"1")
        assert await kv_.get("x", consistency="lease") == b"1"  # may run a round
        rounds = driver.read_rounds
        for n in range(2, 12):
            await kv_.put("x", str(n).encode())
            assert await kv_.get("x", consistency="lease") == str(n).encode()
        taken = driver.read_rounds - rounds
        assert taken == (0 if served_from_lease else 10)
        assert await kv_.get("x") == b"11"  # linearizable: always a round
        assert driver.read_rounds == rounds + taken + 1
        if served_from_lease:
            # no read for longer than the lease: it runs out, the next lease read renews it
            await trio.sleep(2 * LEASE.lease_ticks * cluster.driver_config.tick_s)
            assert driver.lease_read_index() is None
            assert await kv_.get("x", consistency="lease") == b"11"
            assert driver.read_rounds == rounds + taken + 2
            assert driver.lease_read_index() is not None
        nursery.cancel_scope.cancel()


async def test_lease_reads_through_the_client_and_the_cli() -> None:
    configs = cluster_configs(lease_reads=True)
    assert all(c.lease_reads for c in configs)
    async with running_nodes(configs) as nodes:
        leader = await wait_leader(nodes)
        points = endpoints(configs)
        async with KvClient(points) as client:
            await client.put("k", b"v1")
            assert await client.get("k", consistency="lease") == b"v1"
            driver = nodes[leader].log.driver  # type: ignore[union-attr]
            rounds = driver.read_rounds
            for _ in range(5):
                assert await client.get("k", consistency="lease") == b"v1"
            listing = await client.range("", prefix=True, consistency="lease")
            assert [p.key for p in listing.kvs] == ["k"]
            # a lease read starts at most one round (when the lease had run out meanwhile)
            assert driver.read_rounds - rounds <= 1
        code, out, err = await kv(",".join(points), "get", "k", "--consistency", "lease")
        assert (code, out) == (0, "v1\n"), err


def test_lease_settings_in_the_cluster_file(tmp_path: Path) -> None:
    base = 'cluster_id = "c"\n[[nodes]]\nid = 1\npeer = "127.0.0.1:7001"\n'
    path = tmp_path / "cluster.toml"
    path.write_text("lease_reads = true\nlease_drift_max = 0.2\n" + base)
    config = build_config(config_file=path, node_id=1)
    assert config.lease_reads and config.lease_drift_max == 0.2
    assert not build_config(config_file=path, node_id=1, lease_reads=False).lease_reads
    for bad, message in [
        ("lease_drift_max = 1.5", "lease_drift_max must be in [0, 1)"),
        ('lease_drift_max = "x"', "lease_drift_max must be a number"),
        ('lease_reads = "yes"', "lease_reads"),
        ("lease_reads = true\nelection_ticks = 2\nheartbeat_ticks = 1", "too short"),
    ]:
        path.write_text(bad + "\n" + base)
        with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(")", r"\)")):
            build_config(config_file=path, node_id=1)
