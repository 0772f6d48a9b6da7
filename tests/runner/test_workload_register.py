"""The register and cas-register workloads: seeded generators with independent keys,
invoke over a real session, and clean runs judged valid by their own checkers."""

from __future__ import annotations

import random

import pytest

from consensus.client.client import ClientError
from jepsen_lite.history.ops import EventType, Status
from jepsen_lite.runner.api import Invocation, TestSpec, Validity
from jepsen_lite.runner.workloads import workload_class
from jepsen_lite.runner.workloads.common import KeyPool, decode
from jepsen_lite.runner.workloads.register import CasRegisterWorkload, RegisterWorkload
from statemachines.kv import KvStateMachine
from statemachines.kv_commands import KvConfig

from .drive import FailingAt, check_all, drive
from .fakes import LocalBackend, local_session


def ops_of(workload: RegisterWorkload, spec: TestSpec, seed: int, n: int) -> list[Invocation]:
    generator = workload.generator(random.Random(seed), spec)
    out = []
    for i in range(n):
        op = generator.next(i % 3, 0.0)
        assert op is not None
        out.append(op)
    return out


def test_registry_builds_both_with_no_arguments() -> None:
    assert isinstance(workload_class("register")(), RegisterWorkload)
    assert isinstance(workload_class("cas-register")(), CasRegisterWorkload)


def test_generator_is_seeded() -> None:
    spec = TestSpec(keys=3, ops_per_key=10)
    a = ops_of(CasRegisterWorkload(), spec, 7, 200)
    assert a == ops_of(CasRegisterWorkload(), spec, 7, 200)
    assert a != ops_of(CasRegisterWorkload(), spec, 8, 200)
    assert {op.f for op in a} == {"read", "write", "cas"}


def test_keys_are_retired_after_ops_per_key() -> None:
    spec = TestSpec(keys=2, ops_per_key=5)
    ops = ops_of(RegisterWorkload(), spec, 1, 100)
    per_key: dict[object, int] = {}
    for op in ops:
        per_key[op.key] = per_key.get(op.key, 0) + 1
    assert max(per_key.values()) == 5
    partly_used = [k for k, n in per_key.items() if n < 5]
    assert len(partly_used) <= 2  # only the keys still live at the end
    assert len(per_key) >= 100 // 5
    counts: dict[object, int] = {}
    for op in ops:  # at no point are more than 2 keys started and not yet retired
        counts[op.key] = counts.get(op.key, 0) + 1
        assert len([k for k, n in counts.items() if n < 5]) <= 2


def test_values_are_unique_per_key() -> None:
    ops = ops_of(CasRegisterWorkload(), TestSpec(keys=2, ops_per_key=50), 3, 100)
    written = [
        (op.key, op.value if op.f == "write" else op.value[1]) for op in ops if op.f != "read"
    ]  # type: ignore[index]
    assert len(written) == len(set(written))


def test_key_pool_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError, match=r"keys must be >= 1 \(keys live at a time\), got 0"):
        KeyPool("k/", 0, 10)
    with pytest.raises(ValueError, match="keys must be >= 1"):
        workload_class("kv")().generator(random.Random(0), TestSpec(keys=0))
    with pytest.raises(ValueError, match="ops_per_key must be >= 1"):
        KeyPool("k/", 2, 0)


def test_decode() -> None:
    assert decode(None) is None
    assert decode(b"12") == 12
    assert decode(b"x1") == "x1"
    assert decode(b"\xff") == "b'\\xff'"


async def test_invoke_read_write_cas() -> None:
    workload = CasRegisterWorkload()
    kv = local_session()
    assert (await workload.invoke(kv, Invocation("read", "r/0"))).value is None
    put = await workload.invoke(kv, Invocation("cas", "r/0", (None, 1)))
    assert put.type is EventType.OK
    assert (await workload.invoke(kv, Invocation("write", "r/0", 2))).type is EventType.OK
    refused = await workload.invoke(kv, Invocation("cas", "r/0", (1, 3)))
    assert refused.type is EventType.FAIL and refused.error == "cas refused: the value was 2"
    swapped = await workload.invoke(kv, Invocation("cas", "r/0", (2, 3)))
    assert swapped.type is EventType.OK
    assert (await workload.invoke(kv, Invocation("read", "r/0"))).value == 3


async def test_store_refusal_is_fail() -> None:
    backend = LocalBackend(KvStateMachine(KvConfig(key_bytes_max=3)))
    done = await RegisterWorkload().invoke(local_session(backend), Invocation("write", "long", 1))
    assert done.type is EventType.FAIL and done.error is not None
    assert "refused by the store" in done.error


async def test_lost_connection_propagates() -> None:
    backend = LocalBackend()
    backend.fail_next.append(("after", ClientError("connection lost")))
    with pytest.raises(ClientError):
        await RegisterWorkload().invoke(local_session(backend), Invocation("write", "r/0", 1))


@pytest.mark.parametrize("name", ["register", "cas-register"])
async def test_clean_run_is_valid(name: str) -> None:
    workload = workload_class(name)()
    history = await drive(workload, TestSpec(keys=3, ops_per_key=30), 300, concurrency=5)
    results = check_all(workload, history)
    assert {n: r.validity for n, r in results.items()} == {
        "linearizable": Validity.VALID,
        "lost-writes": Validity.VALID,
    }, results
    finals = workload.final_invocations(TestSpec())
    assert len(finals) == len(workload.pool.issued) >= 10


async def test_run_with_indefinite_writes_is_valid() -> None:
    backend = FailingAt({n: "after" for n in (10, 20, 30, 40, 50)})
    workload = CasRegisterWorkload()
    history = await drive(workload, TestSpec(keys=2, ops_per_key=40), 120, backend=backend)
    assert any(op.status is Status.INFO for op in history.operations)
    results = check_all(workload, history)
    assert all(r.validity is Validity.VALID for r in results.values()), results


def test_every_registered_workload_is_shipped() -> None:
    from jepsen_lite.runner.workloads import WORKLOADS
    from jepsen_lite.runner.workloads.conformance import WORKLOAD_FACTORIES

    built = {factory().name: factory for factory in WORKLOAD_FACTORIES}
    assert set(built) == set(WORKLOADS)
    for name in WORKLOADS:
        assert type(workload_class(name)()) is built[name]
