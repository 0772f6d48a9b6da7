"""The counter workload: cas-loop increments, reads, clean runs within bounds."""

from __future__ import annotations

from jepsen_lite.history.ops import EventType, Status
from jepsen_lite.runner.api import Invocation, TestSpec, Validity
from jepsen_lite.runner.workloads.counter import CAS_ATTEMPTS, KEY, CounterWorkload

from .drive import check_all, drive
from .fakes import LocalBackend, local_session


async def test_add_and_read() -> None:
    workload, kv = CounterWorkload(), local_session()
    assert (await workload.invoke(kv, Invocation("read"))).value == 0
    assert (await workload.invoke(kv, Invocation("add", None, 3))).type is EventType.OK
    assert (await workload.invoke(kv, Invocation("add", None, 2))).type is EventType.OK
    assert (await workload.invoke(kv, Invocation("read"))).value == 5


class Meddler(LocalBackend):
    """A store where another client bumps the counter before every cas."""

    meddling = False

    async def query(self, query: bytes, *, consistency: str = "linearizable") -> bytes:  # type: ignore[override]
        answer = await super().query(query)
        if not self.meddling:
            self.meddling = True
            other = local_session(self)
            current = await other.get(KEY)
            await other.put(KEY, str(int(current or b"0") + 100).encode())
            self.meddling = False
        return answer


async def test_add_gives_up_after_refused_attempts() -> None:
    backend = Meddler()
    done = await CounterWorkload().invoke(local_session(backend), Invocation("add", None, 1))
    assert done.type is EventType.FAIL and done.error == f"{CAS_ATTEMPTS} compare-and-sets refused"


async def test_clean_run_is_within_bounds() -> None:
    workload = CounterWorkload()
    history = await drive(workload, TestSpec(), 300, concurrency=6)
    adds = [op for op in history.operations if op.f == "add"]
    assert sum(op.status is Status.OK for op in adds) > 50
    result = check_all(workload, history)["counter"]
    assert result.validity is Validity.VALID, result
