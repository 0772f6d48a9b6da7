"""Membership with real node processes (LocalCluster): a 4th node joins, is added and
promoted, node 1 is removed, writes continue; the CLI over the same cluster; every
process is stopped by its pid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio

from consensus.cli import main
from consensus.client import KvClient
from consensus.runtime.local import LocalCluster, write_cluster_file


async def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``consensus ARGS`` in a worker thread (it runs its own Trio loop)."""
    capsys.readouterr()
    code = await trio.to_thread.run_sync(main, list(args))
    out, err = capsys.readouterr()
    return code, out, err


async def test_add_promote_remove_with_processes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = LocalCluster(write_cluster_file(tmp_path, 3))
    cluster.start_all()
    try:
        async with KvClient([cluster.endpoints[n] for n in (1, 2, 3)]) as kv:
            await kv.put("a", b"1")
        cluster.start_joiner(4)
        await cluster.member_add(4)
        reply = await cluster.member_promote(4)
        assert [(m.node_id, m.role) for m in reply.members][-1] == (4, "voter")
        reply = await cluster.member_remove(1)
        assert [m.node_id for m in reply.members] == [2, 3, 4]
        assert cluster.stop_node(1) is not None
        endpoints = [cluster.endpoints[n] for n in (2, 3, 4)]
        async with KvClient(endpoints) as kv:
            await kv.put("b", b"2")
            assert await kv.get("a") == b"1"
            with trio.fail_after(10):  # node 4 serves what it learnt
                while await kv.get("b", consistency="stale") != b"2":
                    await trio.sleep(0.05)
        eps = ",".join(endpoints)
        code, out, err = await _cli(capsys, "member", "list", "--endpoints", eps, "--json")
        assert code == 0, err
        listed = json.loads(out)
        assert [(m["id"], m["role"]) for m in listed["members"]] == [
            (2, "voter"),
            (3, "voter"),
            (4, "voter"),
        ]
        code, out, err = await _cli(capsys, "member", "promote", "2", "--endpoints", eps)
        assert code == 1 and "refused: node 2 is already a voter" in err, err
        code, out, err = await _cli(capsys, "status", "--endpoints", eps)
        assert code == 0, err
        assert "voters [2, 3, 4]" in out and "match index: 2=" in out
    finally:
        codes = cluster.stop_all()
    assert all(code is not None for code in codes.values())
