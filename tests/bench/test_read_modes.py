"""Benchmark reads in three modes: which targets have which, and one real raft cluster
with leases on answering all three (real processes, fsync on, ~3 s wall)."""

from __future__ import annotations

import argparse

import trio

from consensus.bench.local_target import local_target
from consensus.bench.report import BenchReport
from consensus.bench.suites.local import run_matrix
from consensus.bench.workload import parse_mix


def test_each_target_lists_the_read_modes_it_has() -> None:
    assert "get-lease" in local_target("raft", 3, lease_reads=True).ops
    assert "get-lease" not in local_target("raft", 3).ops  # leases off: not offered
    assert "get-lease" not in local_target("multipaxos", 3, lease_reads=True).ops
    assert "get-stale" in local_target("multipaxos", 3).ops
    lwt = local_target("paxos-lwt", 3, lease_reads=True).ops
    assert {"get-lease", "get-stale", "txn"}.isdisjoint(lwt)


def test_a_mix_with_a_mode_the_target_lacks_is_skipped_before_anything_starts() -> None:
    report = BenchReport(argv=[])
    args = argparse.Namespace(
        seconds=0.1, quick=True, local_warmup=0.0, runs=1, local_mix="get-lease", local_clients=1
    )
    made = [local_target("multipaxos", 3, lease_reads=True)]
    targets = [("multipaxos", 3, lambda: made[0])]
    trio.run(run_matrix, args, report, "local", parse_mix("get-lease"), targets)
    assert made[0].cluster is None  # never started
    assert [s["why"] for s in report.to_json()["skipped"]] == ["multipaxos has no get-lease"]


def test_raft_with_leases_answers_every_read_mode() -> None:
    async def main() -> None:
        target = local_target("raft", 3, lease_reads=True)
        await target.start()
        try:
            async with target.open_client() as client:
                s = client.session()
                await s.put("a", b"1")
                assert await s.get("a") == b"1"
                assert await s.get("a", "lease") == b"1"
                with trio.fail_after(10):
                    while await s.get("a", "stale") != b"1":  # a follower may lag a little
                        await trio.sleep(0.02)
        finally:
            await target.stop()
        assert target.pids() == {}

    trio.run(main)
