"""The set workload: one key per element, paged final read, clean runs valid."""

from __future__ import annotations

from jepsen_lite.history.ops import Status
from jepsen_lite.runner.api import Invocation, TestSpec, Validity
from jepsen_lite.runner.workloads.set import SetWorkload, element_key
from statemachines.kv import KvStateMachine
from statemachines.kv_commands import KvConfig

from .drive import FailingAt, check_all, drive
from .fakes import LocalBackend, local_session


def test_element_keys_sort_as_numbers() -> None:
    assert sorted([element_key(10), element_key(9)]) == [element_key(9), element_key(10)]


async def test_final_read_pages_through_the_range_limit() -> None:
    backend = LocalBackend(KvStateMachine(KvConfig(range_limit_max=7)))
    workload, kv = SetWorkload(), local_session(backend)
    for element in range(30):
        await workload.invoke(kv, Invocation("add", None, element))
    await kv.put("set0", b"")  # just past the prefix: not an element
    read = await workload.invoke(kv, Invocation("read"))
    assert read.value == tuple(range(30))


async def test_clean_run_with_indefinite_adds_is_valid() -> None:
    backend = FailingAt({20: "after", 30: "after", 40: "after", 50: "before"})
    workload = SetWorkload()
    history = await drive(workload, TestSpec(), 200, backend=backend)
    assert sum(op.status is Status.INFO for op in history.operations) == 4
    result = check_all(workload, history)["set"]
    assert result.validity is Validity.VALID, result
    assert result.details["acknowledged"] == 196 and result.details["recovered"] == 3
    assert result.details["not_recovered"] == 1
