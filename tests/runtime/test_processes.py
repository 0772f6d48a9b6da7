"""Real node processes on 127.0.0.1: SIGKILL of the leader, restart from the data dir,
SIGTERM with leadership transfer, refusal to start. Few and slowish by nature."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trio

from consensus.cli.status import collect
from consensus.client import KvClient
from consensus.runtime.local import LocalCluster, write_cluster_file


async def _statuses(cluster: LocalCluster) -> dict[int, dict[str, object]]:
    endpoints = [cluster.endpoints[n] for n in sorted(cluster.endpoints)]
    rows = await collect(endpoints, 0.5)
    return {n: row for n, row in zip(sorted(cluster.endpoints), rows, strict=True)}


async def _leader(cluster: LocalCluster, among: set[int], timeout_s: float = 10) -> int:
    with trio.fail_after(timeout_s):
        while True:
            rows = await _statuses(cluster)
            leaders = [n for n in among if rows[n]["role"] == "leader"]
            if len(leaders) == 1:
                return leaders[0]
            await trio.sleep(0.05)


async def test_sigkill_leader_then_restart_catches_up(tmp_path: Path) -> None:
    cluster = LocalCluster(write_cluster_file(tmp_path, 3))
    cluster.start_all()
    endpoints = [cluster.endpoints[n] for n in (1, 2, 3)]
    try:
        leader = await _leader(cluster, {1, 2, 3})
        async with KvClient(endpoints, attempt_timeout_s=0.5) as kv:
            for i in range(20):
                await kv.put(f"k{i}", b"before")
            cluster.kill(leader, signal.SIGKILL)
            killed_at = time.monotonic()
            await kv.put("k0", b"after")
            unavailable_s = time.monotonic() - killed_at
            survivors = {1, 2, 3} - {leader}
            new = await _leader(cluster, survivors)
            for i in range(1, 20):
                await kv.put(f"k{i}", b"after")
        # default election timeout is 10-20 ticks of 10 ms; allow generous slack on a
        # shared machine, this is a liveness check, not a benchmark
        assert unavailable_s < 3.0, f"writes unavailable for {unavailable_s:.2f}s"
        cluster.start(leader)
        cluster.wait_ready([leader])
        with trio.fail_after(15):
            while True:
                rows = await _statuses(cluster)
                if rows[leader]["applied_index"] == rows[new]["commit_index"] and (
                    rows[leader]["leader"] == new
                ):
                    break
                await trio.sleep(0.05)
        async with KvClient([cluster.endpoints[leader]]) as only_restarted:
            assert await only_restarted.get("k19") == b"after"
            assert await only_restarted.get("k0") == b"after"
    finally:
        cluster.stop_all()


async def test_sigterm_hands_over_leadership_and_exits_cleanly(tmp_path: Path) -> None:
    cluster = LocalCluster(write_cluster_file(tmp_path, 3))
    cluster.start_all()
    try:
        leader = await _leader(cluster, {1, 2, 3})
        async with KvClient(list(cluster.endpoints.values())) as kv:
            await kv.put("x", b"1")
        proc = cluster.processes[leader]
        proc.send_signal(signal.SIGTERM)
        assert await trio.to_thread.run_sync(proc.wait, 10) == 0
        log = cluster.log_path(leader).read_text()
        assert '"transferred_leadership": true' in log
        assert '"event": "node stopped"' in log
        await _leader(cluster, {1, 2, 3} - {leader}, timeout_s=5)
    finally:
        cluster.stop_all()


def _serve(*args: str) -> subprocess.CompletedProcess[str]:
    main = "import sys; from consensus.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", main, "serve", *args], capture_output=True, text=True, timeout=30
    )


def test_serve_refuses_bad_config_and_foreign_data_dir(tmp_path: Path) -> None:
    result = _serve("--id", "1", "--cluster-id", "c")
    assert result.returncode == 2
    assert "consensus serve: error: missing --listen" in result.stderr
    path = write_cluster_file(tmp_path, 2)
    bad_kv = tmp_path / "bad-kv.toml"
    bad_kv.write_text(path.read_text() + "\n[kv]\nsessions_max = -1\n")
    refused = _serve("--config", str(bad_kv), "--id", "1")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr == "consensus serve: error: [kv]: KvConfig.sessions_max must be >= 1\n"
    (tmp_path / "node-1").mkdir()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        first = _serve("--config", str(path), "--id", "2", "--listen", f"127.0.0.1:{port}")
    assert first.returncode == 1
    assert f"cannot listen for peers on 127.0.0.1:{port}: Address already in use" in first.stderr
    assert first.stderr.count("Address already in use") == 1  # said once, not also logged
    cluster = LocalCluster(path)
    cluster.start(1)
    try:
        cluster.wait_ready([1])
        cluster.stop_all()
        wrong = _serve("--config", str(path), "--id", "2", "--data-dir", str(tmp_path / "node-1"))
        assert wrong.returncode == 1
        assert "belongs to cluster 'local' node 1, not cluster 'local' node 2" in wrong.stderr
        assert wrong.stderr.count("belongs to cluster") == 1
    finally:
        cluster.stop_all()


async def test_cluster_command_starts_serves_and_stops(tmp_path: Path) -> None:
    main = "import sys; from consensus.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen(
        [sys.executable, "-c", main, "cluster", "--nodes", "3", "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = await trio.to_thread.run_sync(proc.stdout.readline)
        endpoints = line.strip().split(",")
        assert len(endpoints) == 3 and all(e.startswith("127.0.0.1:") for e in endpoints)
        async with KvClient(endpoints) as kv:
            await kv.put("via", b"cluster")
            assert await kv.get("via") == b"cluster"
        # a second cluster on the same directory is refused at once, naming the lock
        # file and the pid holding it, and announces nothing
        second = await trio.to_thread.run_sync(
            lambda: subprocess.run(
                [
                    sys.executable,
                    "-c",
                    main,
                    "cluster",
                    "--nodes",
                    "3",
                    "--data-dir",
                    str(tmp_path),
                ],
                capture_output=True,
                text=True,
                timeout=30,
                stdin=subprocess.DEVNULL,
            )
        )
        assert second.returncode == 1
        assert second.stdout == ""
        assert second.stderr == (
            f"consensus cluster: error: {tmp_path} is in use by another running cluster "
            f"(lock {tmp_path / 'cluster.lock'} is held by pid {proc.pid})\n"
        )
        proc.send_signal(signal.SIGTERM)
        assert await trio.to_thread.run_sync(proc.wait, 15) == 0
        assert proc.stderr is not None
        err = proc.stderr.read()
        assert "# 3 nodes up;" in err
        assert err.endswith("# stopped: 3 nodes, all exited 0\n")
        for endpoint in endpoints:  # every node process is gone
            host, port = endpoint.split(":")
            with pytest.raises(OSError), socket.create_connection((host, int(port)), 0.5):
                pass
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_cluster_command_exits_when_every_node_died(tmp_path: Path) -> None:
    main = "import sys; from consensus.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen(
        [sys.executable, "-c", main, "cluster", "--nodes", "2", "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = await trio.to_thread.run_sync(proc.stdout.readline)
        assert len(line.strip().split(",")) == 2
        # each node's data dir lock names the node's pid
        pids = [int((tmp_path / f"node-{n}" / "LOCK").read_text()) for n in (1, 2)]
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        assert await trio.to_thread.run_sync(proc.wait, 30) == 1
        err = proc.stderr.read()
        assert "# node 1 killed by SIGKILL\n" in err and "# node 2 killed by SIGKILL\n" in err
        assert err.endswith(
            "consensus cluster: error: every node exited: 2 nodes, all killed by SIGKILL\n"
        )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cluster_command_refuses_a_bad_cluster_file(tmp_path: Path) -> None:
    main = "import sys; from consensus.cli import main; sys.exit(main(sys.argv[1:]))"
    path = tmp_path / "cluster.toml"
    cases = {
        "x = [": f"{path} is not valid TOML: ",
        '[[nodes]]\nid = 1\npeer = "127.0.0.1:20001"\n': f"{path}, node 1: missing --cluster-id",
        'cluster_id = "c"\n[[nodes]]\nid = "one"\n': f"{path}: nodes[0].id must be an integer",
    }
    for text, expected in cases.items():
        path.write_text(text)
        result = subprocess.run(
            [sys.executable, "-c", main, "cluster", "--data-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 2, result.stderr
        assert result.stdout == ""
        assert result.stderr.startswith(f"consensus cluster: error: {expected}"), result.stderr
        assert result.stderr.count("\n") == 1  # one line, no traceback
