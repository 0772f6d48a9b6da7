"""Nodes over real TCP with the key-value store, the client library and the CLI pieces."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import trio

from consensus.cli import status as status_cli
from consensus.cli.serve import kv_config
from consensus.client import BlockingKvClient, ClientTimeout, KvClient
from consensus.runtime.config import ConfigError, build_config
from consensus.runtime.local import free_ports
from consensus.runtime.node import Node, StartupError
from statemachines.kv import KvStateMachine

from .tcp_harness import cluster_configs, endpoints, running_nodes, wait_leader


async def test_put_get_through_any_endpoint_follows_redirects() -> None:
    configs = cluster_configs()
    async with running_nodes(configs) as nodes:
        leader = await wait_leader(nodes)
        order = [i for i in (1, 2, 3) if i != leader] + [leader]
        follower_first = [str(configs[i - 1].client_listen) for i in order]
        async with KvClient(follower_first) as kv:
            assert await kv.put("k", b"v1") is None
            assert await kv.put("k", b"v2") == b"v1"
            assert kv.leader == str(configs[leader - 1].client_listen)
        for endpoint in endpoints(configs):  # a linearizable get from every node
            async with KvClient([endpoint]) as kv:
                assert await kv.get("k") == b"v2"
                assert await kv.get("nothing") is None


async def test_status_lists_roles_and_unreachable_nodes() -> None:
    configs = cluster_configs()
    dead = f"127.0.0.1:{free_ports(1)[0]}"
    async with running_nodes(configs) as nodes:
        leader = await wait_leader(nodes)
        async with KvClient(endpoints(configs)) as kv:
            await kv.put("x", b"1")
        rows = await status_cli.collect([*endpoints(configs), dead], 1.0)
    assert [r["id"] for r in rows[:3]] == [1, 2, 3]
    assert [r["role"] for r in rows[:3]].count("leader") == 1
    assert rows[leader - 1]["role"] == "leader"
    assert all(r["leader"] == leader for r in rows[:3])
    assert rows[leader - 1]["commit_index"] >= 2  # the leader's no-op and the put
    assert rows[3]["role"] == "unreachable" and rows[3]["id"] is None
    assert set(rows[0]) >= {"id", "role", "term", "leader", "commit_index", "applied_index"}


async def test_client_survives_leader_stop_and_retries() -> None:
    configs = cluster_configs()
    async with running_nodes(configs) as nodes:
        leader = await wait_leader(nodes)
        async with KvClient(endpoints(configs), timeout_s=10) as kv:
            await kv.put("a", b"1")
            await nodes[leader].stop()  # graceful: hands leadership over
            others = {i: n for i, n in nodes.items() if i != leader}
            new = await wait_leader(others)
            assert new != leader
            await kv.put("a", b"2")
            assert await kv.get("a") == b"2"


async def test_client_times_out_when_nobody_answers() -> None:
    dead = [f"127.0.0.1:{p}" for p in free_ports(2)]
    async with KvClient(dead, timeout_s=0.3) as kv:
        with pytest.raises(ClientTimeout, match=r"no answer within 0.3s \(last: 127.0.0.1:"):
            await kv.put("k", b"v")


async def test_blocking_client_from_a_thread() -> None:
    configs = cluster_configs()
    async with running_nodes(configs) as nodes:
        await wait_leader(nodes)

        def use_blocking() -> bytes | None:
            with BlockingKvClient(endpoints(configs)) as kv:
                kv.put("b", b"blocking")
                return kv.get("b")

        assert await trio.to_thread.run_sync(use_blocking) == b"blocking"


async def test_used_port_refuses_to_start_with_clear_message() -> None:
    configs = cluster_configs(size=1)
    async with running_nodes(configs):
        clash = Node(configs[0], KvStateMachine())
        with pytest.raises(StartupError, match=r"cannot listen for peers on 127.0.0.1:\d+: "):
            await clash.run()


async def test_data_dir_of_another_node_refused(tmp_path: Path) -> None:
    configs = cluster_configs(size=1, data_root=tmp_path)
    async with running_nodes(configs), KvClient(endpoints(configs)) as kv:
        await kv.put("k", b"v")
    ports = free_ports(2)
    other = build_config(
        node_id=2, cluster_id="t", listen=f"127.0.0.1:{ports[0]}", data_dir=tmp_path / "n1"
    )
    with pytest.raises(StartupError, match="belongs to cluster 't' node 1, not cluster 't' node 2"):
        await Node(other, KvStateMachine()).run()
    other_cluster = build_config(
        node_id=1, cluster_id="else", listen=f"127.0.0.1:{ports[0]}", data_dir=tmp_path / "n1"
    )
    with pytest.raises(StartupError, match="belongs to cluster 't' node 1, not cluster 'else'"):
        await Node(other_cluster, KvStateMachine()).run()


async def test_durable_single_node_restart_keeps_data(tmp_path: Path) -> None:
    configs = cluster_configs(size=1, data_root=tmp_path)
    async with running_nodes(configs), KvClient(endpoints(configs)) as kv:
        await kv.put("k", b"kept")
    async with running_nodes(configs) as nodes:
        assert nodes[1].durable
        async with KvClient(endpoints(configs)) as kv:
            assert await kv.get("k") == b"kept"


async def test_status_command_json(capsys: pytest.CaptureFixture[str]) -> None:
    configs = cluster_configs(size=1)
    async with running_nodes(configs) as nodes:
        await wait_leader(nodes)
        args = argparse.Namespace(
            endpoints=",".join(endpoints(configs)),
            timeout=1.0,
            json=True,
            tls_ca=None,
            tls_cert=None,
            tls_key=None,
        )
        code = await trio.to_thread.run_sync(status_cli.run, args)
    assert code == 0
    out = capsys.readouterr().out
    assert '"role": "leader"' in out and '"applied_index"' in out


def test_config_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="missing --listen"):
        build_config(node_id=1, cluster_id="c")
    with pytest.raises(ConfigError, match="--peer 'x' is not ID=HOST:PORT"):
        build_config(node_id=1, cluster_id="c", listen="h:1", peers=["x"])
    with pytest.raises(ConfigError, match="node 1 is listed as its own peer"):
        build_config(node_id=1, cluster_id="c", listen="h:1", peers=["1=h:2"])
    with pytest.raises(ConfigError, match="unknown protocol 'zab'"):
        build_config(node_id=1, cluster_id="c", listen="h:1", protocol="zab")
    bad = tmp_path / "c.toml"
    bad.write_text("cluster_id = 'c'\n[[nodes]]\nid = 1\npeer = 'h:1'\n")
    with pytest.raises(ConfigError, match=r"node 2 is not among the \[\[nodes\]\] \(ids 1\)$"):
        build_config(config_file=bad, node_id=2)
    bad.write_text("cluster_id = = 'c'")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        build_config(config_file=bad, node_id=1)
    with pytest.raises(ConfigError, match="cannot read config file"):
        build_config(config_file=tmp_path / "missing.toml", node_id=1)


def test_config_file_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "cluster.toml"
    path.write_text(
        'cluster_id = "demo"\ntick_ms = 5\n'
        '[[nodes]]\nid = 1\npeer = "127.0.0.1:7001"\nclient = "127.0.0.1:8001"\n'
        'data_dir = "d1"\n'
        '[[nodes]]\nid = 2\npeer = "127.0.0.1:7002"\nclient = "127.0.0.1:8002"\n'
    )
    config = build_config(config_file=path, node_id=1, protocol="raft")
    assert config.cluster_id == "demo" and config.tick_s == 0.005
    assert config.data_dir == tmp_path / "d1"
    assert str(config.listen) == "127.0.0.1:7001"
    assert {k: str(v) for k, v in config.peers.items()} == {2: "127.0.0.1:7002"}
    assert config.client_endpoints == {1: "127.0.0.1:8001", 2: "127.0.0.1:8002"}
    assert build_config(config_file=path, node_id=1, cluster_id="x").cluster_id == "x"


async def test_multipaxos_over_tcp() -> None:
    configs = cluster_configs(protocol="multipaxos")
    async with running_nodes(configs) as nodes:
        await wait_leader(nodes)
        async with KvClient(endpoints(configs)) as kv:
            await kv.put("p", b"axos")
            assert await kv.get("p") == b"axos"
        rows = await status_cli.collect(endpoints(configs), 1.0)
        assert {r["protocol"] for r in rows} == {"multipaxos"}


async def test_durable_multipaxos_restart_keeps_data(tmp_path: Path) -> None:
    configs = cluster_configs(size=3, data_root=tmp_path, protocol="multipaxos")
    async with running_nodes(configs) as nodes:
        await wait_leader(nodes)
        async with KvClient(endpoints(configs)) as kv:
            await kv.put("p", b"durable")
    async with running_nodes(configs) as nodes:
        assert all(node.durable for node in nodes.values())
        await wait_leader(nodes)
        async with KvClient(endpoints(configs)) as kv:
            assert await kv.get("p") == b"durable"


async def test_a_raft_data_dir_is_refused_to_multipaxos(tmp_path: Path) -> None:
    configs = cluster_configs(size=1, data_root=tmp_path)
    async with running_nodes(configs), KvClient(endpoints(configs)) as kv:
        await kv.put("k", b"v")
    (config,) = cluster_configs(size=1, data_root=tmp_path, protocol="multipaxos")
    with pytest.raises(StartupError, match="holds raft data, not multipaxos: refusing to open it"):
        await Node(config, KvStateMachine()).run()


async def test_mutual_tls_on_peer_and_client_ports(tmp_path: Path) -> None:
    import trustme

    from consensus.transport import TlsConfig

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    paths = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    cert.private_key_pem.write_to_path(str(paths["key"]))
    paths["cert"].write_bytes(b"".join(b.bytes() for b in cert.cert_chain_pems))
    configs = cluster_configs(tls_ca=paths["ca"], tls_cert=paths["cert"], tls_key=paths["key"])
    client_tls = TlsConfig(paths["ca"], paths["cert"], paths["key"]).client_context()
    async with running_nodes(configs) as nodes:
        await wait_leader(nodes)
        async with KvClient(endpoints(configs), tls=client_tls) as kv:
            await kv.put("secret", b"s")
            assert await kv.get("secret") == b"s"
        async with KvClient(endpoints(configs), timeout_s=0.5) as plain:  # no TLS: refused
            with pytest.raises(ClientTimeout):
                await plain.get("secret")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("value_bytes_max = 'big'", r"\[kv\]: value_bytes_max must be an integer, got 'big'"),
        ("colour = 1", r"\[kv\]: unknown setting 'colour' \(known: clock, clock_step_max_ms, "),
        ("txn_ops_max = 0", r"\[kv\]: KvConfig.txn_ops_max must be >= 1"),
        ("clock = 'wall'", r"\[kv\]: KvConfig.clock must be 'leader' or 'proposer'"),
    ],
)
def test_kv_settings_from_the_cluster_file(tmp_path: Path, table: str, message: str) -> None:
    path = tmp_path / "cluster.toml"
    nodes = '[[nodes]]\nid = 1\npeer = "127.0.0.1:7001"\n'
    path.write_text(f'cluster_id = "demo"\n[kv]\nvalue_bytes_max = 64\n{nodes}')
    assert kv_config(build_config(config_file=path, node_id=1)).value_bytes_max == 64
    path.write_text(f'cluster_id = "demo"\n[kv]\n{table}\n{nodes}')
    with pytest.raises(ConfigError, match=message):
        kv_config(build_config(config_file=path, node_id=1))
    path.write_text(f'cluster_id = "demo"\nkv = 3\n{nodes}')
    with pytest.raises(ConfigError, match=r"kv must be a table \(\[kv\]\), got 3"):
        build_config(config_file=path, node_id=1)
