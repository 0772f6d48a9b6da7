"""Each workload's checkers find a planted store bug in a run: stale reads (a replica
answering queries without a read barrier) and acknowledged writes rolled back."""

from __future__ import annotations

import pytest

from jepsen_lite.runner.api import TestSpec, Validity
from jepsen_lite.runner.workloads import workload_class

from .drive import RollsBack, StaleReads, check_all, drive


@pytest.mark.parametrize("name", ["register", "cas-register", "kv"])
async def test_stale_reads_are_found(name: str) -> None:
    workload = workload_class(name)()
    history = await drive(workload, TestSpec(keys=2, ops_per_key=40), 150, backend=StaleReads(3))
    results = check_all(workload, history)
    assert results["linearizable"].validity is Validity.INVALID, results
    assert results["linearizable"].details["counterexample"]["operation"].startswith("read")
    if name == "kv":
        assert results["revisions"].validity is Validity.INVALID
        assert "real-time" in {a["kind"] for a in results["revisions"].details["found"]}


@pytest.mark.parametrize("name", ["register", "kv"])
async def test_rolled_back_writes_are_found(name: str) -> None:
    workload = workload_class(name)()
    spec = TestSpec(keys=2, ops_per_key=1000)
    history = await drive(workload, spec, 120, backend=RollsBack({20, 30}), concurrency=1)
    results = check_all(workload, history)
    assert results["linearizable"].validity is Validity.INVALID, results


async def test_set_lost_add_is_found() -> None:
    workload = workload_class("set")()
    history = await drive(workload, TestSpec(), 100, backend=RollsBack({50}))
    result = check_all(workload, history)["set"]
    assert result.validity is Validity.INVALID and len(result.details["lost"]) == 1


async def test_counter_lost_increment_is_found() -> None:
    workload = workload_class("counter")()
    history = await drive(workload, TestSpec(), 200, backend=RollsBack({30}))
    result = check_all(workload, history)["counter"]
    assert result.validity is Validity.INVALID and "is below" in result.summary


async def test_bank_stale_read_of_the_empty_bank_is_found() -> None:
    workload = workload_class("bank")()
    history = await drive(workload, TestSpec(), 200, backend=StaleReads(2), concurrency=4)
    result = check_all(workload, history)["bank"]
    # each stale read is one old state, so totals hold; but the reads right after the
    # setup see no account although the setup had completed
    assert result.validity is Validity.INVALID, result
    assert "every account absent after the accounts existed" in result.summary
