"""The kv workload: every operation over a real session, the per-key projection of
transactions, and clean runs judged valid by its three checkers."""

from __future__ import annotations

import random

from jepsen_lite.history.ops import EventType, Status
from jepsen_lite.runner.api import Invocation, TestSpec, Validity
from jepsen_lite.runner.workloads.kv import KvTxnWorkload, register_ops

from .drive import FailingAt, check_all, drive
from .fakes import local_session
from .histories import build


async def test_single_key_operations_carry_revisions() -> None:
    w, kv = KvTxnWorkload(), local_session()
    assert (await w.invoke(kv, Invocation("read", "kv/0"))).value == (None, 0, 0)
    assert (await w.invoke(kv, Invocation("write", "kv/0", 1))).value == (1, 1, True)
    assert (await w.invoke(kv, Invocation("read", "kv/0"))).value == (1, 1, 1)
    assert (await w.invoke(kv, Invocation("cas", "kv/0", (1, 2)))).value == (2, 2, True)
    refused = await w.invoke(kv, Invocation("cas", "kv/0", (None, 3)))
    assert refused.type is EventType.FAIL and refused.value == (2, 2)
    assert (await w.invoke(kv, Invocation("write", "kv/0", None))).value == (None, 3, True)
    assert (await w.invoke(kv, Invocation("write", "kv/0", None))).value == (None, 3, False)
    assert (await w.invoke(kv, Invocation("cas", "kv/0", (None, 4)))).value == (4, 4, True)


async def test_txn_branches_and_reads() -> None:
    w, kv = KvTxnWorkload(), local_session()
    await w.invoke(kv, Invocation("write", "kv/0", 1))
    txn = ((("kv/0", 1), ("kv/1", None)), (("kv/1", 5), ("kv/0", 2)), (("kv/2", 9),))
    done = await w.invoke(kv, Invocation("txn", None, txn))
    assert done.value == (True, 2, (("kv/0", 1, 1), ("kv/1", None, 0)))
    again = await w.invoke(kv, Invocation("txn", None, txn))
    assert again.value == (False, 3, (("kv/0", 2, 2), ("kv/1", 5, 2)))
    assert await kv.get("kv/2") == b"9"


def test_generator_mix_and_txn_shape() -> None:
    generator = KvTxnWorkload().generator(random.Random(5), TestSpec(keys=4, ops_per_key=50))
    ops = [generator.next(0, 0.0) for _ in range(400)]
    kinds = {op.f for op in ops if op is not None}
    assert kinds == {"read", "write", "cas", "txn"}
    for op in ops:
        assert op is not None
        if op.f == "txn":
            compares, success, failure = op.value  # type: ignore[misc]
            assert 1 <= len(compares) <= 2 and 1 <= len(success) <= 2 and len(failure) <= 1
            assert len({k for k, _ in success}) == len(success)


def test_projection_of_txns() -> None:
    txn = [[["a", 1], ["b", None]], [["a", 2], ["c", 3]], [["b", 4]]]
    history = build(
        [
            (0, "invoke", "txn", txn),
            (0, "ok", "txn", [True, 7, [["a", 1, 5], ["b", None, 0]]]),
            (1, "invoke", "txn", txn),
            (1, "info", "txn", txn),
            (2, "invoke", "txn", txn),
            (2, "fail", "txn", txn),
        ]
    )
    ok, info, fail = history.operations
    assert [(o.f, o.key, o.input, o.output) for o in register_ops(ok)] == [
        ("cas", "a", (1, 2), ok.output),
        ("read", "b", None, None),
        ("write", "c", 3, None),
    ]
    assert [(o.f, o.key, o.input, o.status) for o in register_ops(info)] == [
        ("write", "a", 2, Status.INFO),
        ("write", "c", 3, Status.INFO),
        ("write", "b", 4, Status.INFO),
    ]
    assert register_ops(fail) == []


async def test_clean_run_is_valid() -> None:
    workload = KvTxnWorkload()
    history = await drive(workload, TestSpec(keys=4, ops_per_key=60), 400, concurrency=6)
    assert any(op.f == "txn" and op.status is Status.OK for op in history.operations)
    results = check_all(workload, history)
    assert {n: r.validity for n, r in results.items()} == {
        "linearizable": Validity.VALID,
        "lost-writes": Validity.VALID,
        "revisions": Validity.VALID,
    }, results


async def test_run_with_indefinite_operations_is_valid() -> None:
    backend = FailingAt({n: "after" for n in range(10, 90, 10)})
    workload = KvTxnWorkload()
    history = await drive(workload, TestSpec(keys=3, ops_per_key=80), 200, backend=backend)
    assert sum(op.status is Status.INFO for op in history.operations) >= 4
    results = check_all(workload, history)
    assert all(r.validity is Validity.VALID for r in results.values()), results
