"""The bank workload: setup first (others held back until it completed), transfers as
multi-key transactions, whole-bank reads; clean runs keep the total."""

from __future__ import annotations

import random

import pytest

from consensus.client.client import ClientError
from jepsen_lite.history.ops import EventType, Status
from jepsen_lite.runner.api import Invocation, TestSpec, Validity
from jepsen_lite.runner.workloads.bank import SETUP_RETRY_S, BankWorkload

from .drive import check_all, drive
from .fakes import LocalBackend, local_session


async def test_setup_gates_the_generator() -> None:
    workload = BankWorkload()
    generator = workload.generator(random.Random(1), TestSpec(options={"accounts": 3}))
    setup = generator.next(0, 0.0)
    assert setup == Invocation("write", None, (10, 10, 10))
    assert generator.next(1, 0.5) is None  # held back while the setup runs
    kv = local_session()
    assert (await workload.invoke(kv, setup)).type is EventType.OK
    following = generator.next(1, 1.0)
    assert following is not None and following.f in ("txn", "read")
    again = await workload.invoke(kv, setup)
    assert again.type is EventType.FAIL and again.error == "the accounts exist already"


async def test_setup_is_handed_out_again_after_an_error_or_a_timeout() -> None:
    workload = BankWorkload()
    generator = workload.generator(random.Random(1), TestSpec())
    setup = generator.next(0, 0.0)
    assert setup is not None
    backend = LocalBackend()
    backend.fail_next.append(("before", ClientError("no leader")))
    with pytest.raises(ClientError):
        await workload.invoke(local_session(backend), setup)
    assert generator.next(1, 0.1) == setup
    assert generator.next(2, 0.2) is None
    assert generator.next(2, 0.2 + SETUP_RETRY_S + 1) == setup  # no outcome in time


async def test_transfer_and_read() -> None:
    workload = BankWorkload()
    workload.generator(random.Random(1), TestSpec(options={"accounts": 2, "balance": 3}))
    kv = local_session()
    assert (await workload.invoke(kv, Invocation("read"))).value == (None, None)
    await workload.invoke(kv, Invocation("write", None, (3, 3)))
    moved = await workload.invoke(kv, Invocation("txn", None, (0, 1, 2)))
    assert moved.type is EventType.OK
    broke = await workload.invoke(kv, Invocation("txn", None, (0, 1, 2)))
    assert broke.type is EventType.FAIL and broke.error == "insufficient funds (1)"
    assert (await workload.invoke(kv, Invocation("read"))).value == (1, 5)


def test_bad_options_are_one_line_errors() -> None:
    with pytest.raises(ValueError, match="option 'accounts' must be an integer from 2 to 1000"):
        BankWorkload().generator(random.Random(0), TestSpec(options={"accounts": 1}))


async def test_clean_run_keeps_the_total() -> None:
    workload = BankWorkload()
    history = await drive(workload, TestSpec(), 300, concurrency=6)
    transfers = [op for op in history.operations if op.f == "txn"]
    assert any(op.status is Status.OK for op in transfers)
    assert any(op.status is Status.FAIL for op in transfers)  # concurrent ones refused
    result = check_all(workload, history)["bank"]
    assert result.validity is Validity.VALID, result
    assert result.details["total"] == 50 and result.details["full_reads"] > 10
