"""Hypothesis stateful test: the state machine against a plain Python model of the
store (a dict and a counter), with snapshots and restores in between."""

from __future__ import annotations

from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from statemachines.kv_commands import (
    Cas,
    CondResult,
    Delete,
    DeleteIf,
    DeleteResult,
    ErrorResult,
    Get,
    GetResult,
    KeyValue,
    Put,
    PutIfAbsent,
    PutResult,
    Range,
    RangeResult,
    Txn,
    TxnBranchOp,
    TxnResponse,
    TxnResult,
    compare,
)

from .replica import Replica

KEYS = st.sampled_from(["a", "ab", "b", "c"])
VALUES = st.sampled_from([b"", b"1", b"2"])
SMALL_INTS = st.integers(0, 4)
EXPECT = st.sampled_from(["expected_value", "expected_version", "expected_mod_revision"])
TARGETS = st.sampled_from(["value", "version", "create_revision", "mod_revision", "exists"])
OPS = st.sampled_from(["=", "!=", "<", ">"])


class Model:
    """The store's semantics, written as plainly as possible."""

    def __init__(self) -> None:
        self.data: dict[str, tuple[bytes, int, int, int]] = {}  # value, create, mod, version
        self.revision = 0

    def kv(self, key: str) -> KeyValue | None:
        if key not in self.data:
            return None
        return KeyValue(key, *self.data[key])

    def set(self, key: str, value: bytes, revision: int) -> None:
        old = self.data.get(key)
        if old is None:
            self.data[key] = (value, revision, revision, 1)
        else:
            self.data[key] = (value, old[1], revision, old[3] + 1)

    def meta(self, key: str, what: str) -> int:
        kv = self.kv(key)
        if kv is None:
            return 0
        return {
            "version": kv.version,
            "create_revision": kv.create_revision,
            "mod_revision": kv.mod_revision,
        }[what]

    def matches(self, key: str, expect: str, operand: Any) -> bool:
        kv = self.kv(key)
        if expect == "expected_value":
            return kv is not None and kv.value == operand
        return self.meta(key, expect.removeprefix("expected_")) == operand

    def holds(self, key: str, target: str, op: str, operand: Any) -> bool:
        kv = self.kv(key)
        if target == "exists":
            return ((kv is not None) == operand) == (op == "=")
        if target == "value":
            if kv is None:
                return False
            have = kv.value
        else:
            have = self.meta(key, target)
        return {
            "=": have == operand,
            "!=": have != operand,
            "<": have < operand,
            ">": have > operand,
        }[op]

    def range(self, start: str, end: str | None, prefix: bool, revision: int) -> RangeResult:
        keys = sorted(
            k
            for k in self.data
            if (k.startswith(start) if prefix else start <= k and (end is None or k < end))
        )
        kvs = tuple(KeyValue(k, *self.data[k]) for k in keys[:1000])
        return RangeResult(revision, kvs, len(keys) > 1000)


def _operand(target: str, draw_value: bytes, draw_int: int, draw_bool: bool) -> Any:
    if target == "value":
        return draw_value
    if target == "exists":
        return draw_bool
    return draw_int


BRANCH_OP = st.one_of(
    st.builds(Get, KEYS),
    st.builds(Put, KEYS, VALUES),
    st.builds(Delete, KEYS),
    st.builds(Range.of_prefix, st.sampled_from(["", "a", "b"])),
)


class KvMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.replica = Replica()
        self.model = Model()

    @rule(key=KEYS, value=VALUES)
    def put(self, key: str, value: bytes) -> None:
        self.model.revision += 1
        expected = PutResult(self.model.revision, self.model.kv(key))
        self.model.set(key, value, self.model.revision)
        assert self.replica.write(Put(key, value)) == expected

    @rule(key=KEYS)
    def delete(self, key: str) -> None:
        prev = self.model.kv(key)
        if prev is not None:
            self.model.revision += 1
            del self.model.data[key]
        assert self.replica.write(Delete(key)) == DeleteResult(self.model.revision, prev)

    @rule(key=KEYS, new=VALUES, expect=EXPECT, value=VALUES, number=SMALL_INTS)
    def cas(self, key: str, new: bytes, expect: str, value: bytes, number: int) -> None:
        operand: Any = value if expect == "expected_value" else number
        got = self.replica.write(Cas(key, new, **{expect: operand}))
        m = self.model
        if m.matches(key, expect, operand):
            prev = m.kv(key)
            m.revision += 1
            m.set(key, new, m.revision)
            assert got == CondResult(True, m.revision, m.kv(key), prev)
        else:
            assert got == CondResult(False, m.revision, m.kv(key), None)

    @rule(key=KEYS, value=VALUES)
    def put_if_absent(self, key: str, value: bytes) -> None:
        got = self.replica.write(PutIfAbsent(key, value))
        m = self.model
        if m.kv(key) is None:
            m.revision += 1
            m.set(key, value, m.revision)
            assert got == CondResult(True, m.revision, m.kv(key), None)
        else:
            assert got == CondResult(False, m.revision, m.kv(key), None)

    @rule(key=KEYS, expect=EXPECT, value=VALUES, number=SMALL_INTS)
    def delete_if(self, key: str, expect: str, value: bytes, number: int) -> None:
        operand: Any = value if expect == "expected_value" else number
        got = self.replica.write(DeleteIf(key, **{expect: operand}))
        m = self.model
        prev = m.kv(key)
        if prev is not None and m.matches(key, expect, operand):
            m.revision += 1
            del m.data[key]
            assert got == CondResult(True, m.revision, None, prev)
        else:
            assert got == CondResult(False, m.revision, prev, None)

    @rule(
        compares=st.lists(
            st.tuples(KEYS, TARGETS, OPS, VALUES, SMALL_INTS, st.booleans()), max_size=3
        ),
        success=st.lists(BRANCH_OP, max_size=4),
        failure=st.lists(BRANCH_OP, max_size=4),
    )
    def txn(
        self, compares: list[Any], success: list[TxnBranchOp], failure: list[TxnBranchOp]
    ) -> None:
        cmps = []
        for key, target, op, value, number, flag in compares:
            if target == "exists" and op in ("<", ">"):
                op = "="
            cmps.append((key, target, op, _operand(target, value, number, flag)))
        got = self.replica.write(Txn([compare(*c) for c in cmps], success, failure))
        m = self.model
        for branch in (success, failure):
            written = [op.key for op in branch if isinstance(op, Put | Delete)]
            if len(written) != len(set(written)):
                assert isinstance(got, ErrorResult) and got.kind == "txn"
                return
        succeeded = all(m.holds(*c) for c in cmps)
        branch = success if succeeded else failure
        rev = m.revision + 1
        wrote = False
        responses = []
        for op in branch:
            if isinstance(op, Put):
                responses.append(TxnResponse(put=PutResult(rev, m.kv(op.key))))
                m.set(op.key, op.value, rev)
                wrote = True
            elif isinstance(op, Delete):
                prev = m.kv(op.key)
                if prev is not None:
                    del m.data[op.key]
                    wrote = True
                responses.append(TxnResponse(delete=DeleteResult(rev, prev)))
            elif isinstance(op, Get):
                responses.append(TxnResponse(get=GetResult(rev, m.kv(op.key))))
            else:
                responses.append(TxnResponse(range=m.range(op.start, op.end, op.prefix, rev)))
        if wrote:
            m.revision = rev
        else:
            responses = [_rev(r, m.revision) for r in responses]
        assert got == TxnResult(succeeded, m.revision, tuple(responses))

    @rule(key=KEYS)
    def get(self, key: str) -> None:
        assert self.replica.read(Get(key)) == GetResult(self.model.revision, self.model.kv(key))

    @rule(
        start=st.sampled_from(["", "a", "ab", "b"]),
        end=st.sampled_from([None, "ab", "c"]),
        prefix=st.booleans(),
    )
    def range(self, start: str, end: str | None, prefix: bool) -> None:
        op = Range.of_prefix(start) if prefix else Range(start, end)
        expected = self.model.range(start, None if prefix else end, prefix, self.model.revision)
        assert self.replica.read(op) == expected

    @rule()
    def snapshot_and_restore(self) -> None:
        image = self.replica.machine.snapshot()
        fresh = Replica(session=False)
        fresh.machine.restore(image)
        assert fresh.machine.snapshot() == image
        self.replica.machine = fresh.machine  # carry on with the restored replica

    @invariant()
    def same_data(self) -> None:
        machine = self.replica.machine
        assert machine.revision == self.model.revision
        assert {
            k: (kv.value, kv.create_revision, kv.mod_revision, kv.version)
            for k, kv in machine.data.items()
        } == self.model.data


def _rev(response: TxnResponse, revision: int) -> TxnResponse:
    if response.get is not None:
        return TxnResponse(get=GetResult(revision, response.get.kv))
    if response.range is not None:
        return TxnResponse(range=RangeResult(revision, response.range.kvs, response.range.more))
    if response.delete is not None:
        return TxnResponse(delete=DeleteResult(revision, response.delete.prev))
    return response


KvMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestKvAgainstModel = KvMachine.TestCase
