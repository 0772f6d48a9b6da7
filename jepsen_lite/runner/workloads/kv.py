"""The ``kv`` workload: the key-value API with conditional writes and multi-key
transactions on a small set of independent keys (``kv/<n>``, ``max(3, min(spec.keys,
8))`` live at a time, each retired after ``spec.ops_per_key`` operations touched it).

Operations and their history (values are integers unique per key; every ``ok`` carries
the store revision ``R`` from the result, which the revision checker orders by):

========================  ==================  ===================================
operation                 invoke value        ``ok`` value
========================  ==================  ===================================
get ``k``                 ``null``            ``[v, mod_revision, R]`` (``v`` null,
                                              ``mod_revision`` 0 when absent)
put ``k`` = v             ``v``               ``[v, R, true]``
delete ``k``              ``null``            ``[null, R, deleted]`` (false: the key
                                              was absent, nothing written)
cas ``k`` x → v           ``[x, v]``          ``[v, R, true]``; refused: ``fail``
put-if-absent ``k`` = v   ``[null, v]``       as cas
txn                       ``[compares,        ``[succeeded, R, reads]``
                          success, failure]``
========================  ==================  ===================================

``f`` is ``read`` (get), ``write`` (put; delete is ``write null``) and ``cas`` (a cas
expecting ``null`` is put-if-absent), so the single-key operations are those of the
cas-register model; a transaction is ``f = txn``, key ``null``: ``compares`` is
``[[k, x], ...]`` (one or two keys; ``x`` null means "absent", compared as ``version =
0``, else ``value = x``), ``success`` and ``failure`` are ``[[k, v], ...]`` puts. Both
branches first get every compared key, then put; ``reads`` is ``[[k, v,
mod_revision], ...]`` for the compared keys, as the branch's gets saw them (the state
before the transaction's own puts).

Gets are served as ``--option read_consistency=linearizable|lease|stale`` says (default
linearizable; a transaction's gets are in the log whatever the option).

Checkers: linearizability per key (cas-register model) of the single-key operations and
of each transaction's per-key projection (:func:`register_ops`), lost writes on the
final reads of every key, and :class:`~jepsen_lite.runner.checkers.revisions.RevisionChecker`
for what crosses keys (a transaction's atomicity at one revision, its branch).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import attrs

from consensus.client.kv import KvError, KvSession
from consensus.client.protocol import Consistency
from statemachines.kv_commands import Compare, ErrorResult, Get, GetResult, Put, compare

from ...history.ops import UNKNOWN, EventType, Operation, Process, Status, Value
from ...models import CasRegisterModel
from ..api import Checker, Completion, Invocation, TestSpec
from ..checkers.kv_values import Pairs, as_int, txn_input, txn_output
from ..checkers.linearizable import LinearizableChecker
from ..checkers.lost_writes import LostWritesChecker
from ..checkers.revisions import RevisionChecker
from .common import KeyPool, UniqueValues, decode, encode, read_consistency, refusal_is_fail

MIX: tuple[tuple[str, float], ...] = (
    ("get", 3.0),
    ("put", 2.0),
    ("cas", 1.5),
    ("put-if-absent", 0.5),
    ("delete", 0.5),
    ("txn", 2.5),
)


class KvGenerator:
    """Seeded single-key operations and transactions (see the module doc)."""

    pending_s: float = 0.0

    def __init__(self, rng: random.Random, pool: KeyPool) -> None:
        self.rng = rng
        self.pool = pool
        self.values = UniqueValues()
        self.kinds = [k for k, _ in MIX]
        self.weights = [w for _, w in MIX]

    def next(self, process: Process, now: float) -> Invocation | None:
        kind = self.rng.choices(self.kinds, self.weights)[0]
        if kind == "txn":
            return self._txn()
        key = self.pool.pick(self.rng)
        if kind == "get":
            return Invocation("read", key)
        if kind == "put":
            return Invocation("write", key, self.values.fresh(key))
        if kind == "delete":
            return Invocation("write", key, None)
        expected = None if kind == "put-if-absent" else self.values.recent(self.rng, key)
        return Invocation("cas", key, (expected, self.values.fresh(key)))

    def _txn(self) -> Invocation:
        rng = self.rng
        keys = self.pool.pick_distinct(rng, 3)
        compared = keys[: rng.randint(1, min(2, len(keys)))]
        compares = tuple((k, self.values.recent(rng, k)) for k in compared)
        success = tuple((k, self.values.fresh(k)) for k in rng.sample(keys, rng.randint(1, 2)))
        failure = tuple((k, self.values.fresh(k)) for k in rng.sample(keys, rng.randint(0, 1)))
        return Invocation("txn", None, (compares, success, failure))


def _compare(key: str, expected: Value) -> Compare:
    if expected is None:
        return compare(key, "version", "=", 0)
    assert isinstance(expected, int)
    return compare(key, "value", "=", encode(expected))


class KvTxnWorkload:
    """Single-key operations and transactions (see the module doc)."""

    name: str = "kv"
    read_only_fs: frozenset[str] = frozenset({"read"})

    def __init__(self) -> None:
        self.pool: KeyPool | None = None
        self.consistency: Consistency = "linearizable"

    def generator(self, rng: random.Random, spec: TestSpec) -> KvGenerator:
        if spec.keys < 1:
            raise ValueError(f"keys must be >= 1 (keys live at a time), got {spec.keys}")
        self.consistency = read_consistency(spec)
        self.pool = KeyPool("kv/", max(3, min(spec.keys, 8)), spec.ops_per_key)
        return KvGenerator(rng, self.pool)

    def final_invocations(self, spec: TestSpec) -> Sequence[Invocation]:
        """A get of every key handed out so far."""
        issued = self.pool.issued if self.pool is not None else []
        return [Invocation("read", key) for key in issued]

    async def invoke(self, kv: KvSession, op: Invocation) -> Completion:
        return await refusal_is_fail(self._invoke(kv, op))

    async def _invoke(self, kv: KvSession, op: Invocation) -> Completion:
        value = op.value
        if op.f == "txn":
            return await self._txn(kv, value)
        key = str(op.key)
        if op.f == "read":
            result = await kv.read(Get(key), self.consistency)
            if isinstance(result, ErrorResult):
                raise KvError(result)
            assert isinstance(result, GetResult)
            item = result.kv
            if item is None:
                return Completion(EventType.OK, (None, 0, result.revision))
            return Completion(
                EventType.OK, (decode(item.value), item.mod_revision, result.revision)
            )
        if op.f == "write" and value is None:
            deleted = await kv.delete(key)
            return Completion(EventType.OK, (None, deleted.revision, deleted.prev is not None))
        if op.f == "write" and isinstance(value, int):
            put = await kv.put_kv(key, encode(value))
            return Completion(EventType.OK, (value, put.revision, True))
        if op.f == "cas" and isinstance(value, tuple) and len(value) == 2:
            expected, new = value
            assert isinstance(new, int)
            if expected is None:
                cond = await kv.put_if_absent(key, encode(new))
            else:
                assert isinstance(expected, int)
                cond = await kv.cas(key, encode(new), expected_value=encode(expected))
            if cond.applied:
                return Completion(EventType.OK, (new, cond.revision, True))
            found = decode(cond.kv.value) if cond.kv is not None else None
            return Completion(EventType.FAIL, (found, cond.revision), f"cas refused: found {found}")
        raise ValueError(f"kv workload: unknown operation {op.f!r} {value!r}")

    async def _txn(self, kv: KvSession, value: Value) -> Completion:
        spec = txn_input(value)
        if spec is None:
            raise ValueError(f"kv workload: malformed txn {value!r}")
        keys = [str(key) for key, _ in spec.compares]
        gets = [Get(k) for k in keys]

        def puts(branch: Pairs) -> list[Put]:
            return [Put(str(key), encode(as_int(new) or 0)) for key, new in branch]

        result = await kv.txn(
            [_compare(str(key), expected) for key, expected in spec.compares],
            [*gets, *puts(spec.success)],
            [*gets, *puts(spec.failure)],
        )
        reads: list[Value] = []
        for key, response in zip(keys, result.responses, strict=False):
            got = response.get
            assert got is not None, "a branch starts with the gets of the compared keys"
            item = got.kv
            reads.append(
                (key, None, 0) if item is None else (key, decode(item.value), item.mod_revision)
            )
        return Completion(EventType.OK, (result.succeeded, result.revision, tuple(reads)))

    def checkers(self) -> Sequence[Checker]:
        return [
            LinearizableChecker(CasRegisterModel(), register_ops),
            LostWritesChecker(project=register_ops),
            RevisionChecker(),
        ]


def register_ops(op: Operation) -> list[Operation]:
    """The cas-register operations ``op`` stands for, per key (see the module doc).

    ``read``: the value read (revisions dropped); ``write`` and ``cas`` as they are. An
    ``ok`` txn: for each compared key, a ``read`` of the value its get saw, or a ``cas
    [seen, new]`` when the taken branch also put that key; a ``write`` for each other key
    the branch put. An ``info`` (or pending) txn: an open ``write`` of each put of
    either branch (it may have taken effect, either way, or not at all). A ``fail`` txn
    stands for nothing.
    """
    if op.f == "read":
        read = op.output
        if op.status is Status.OK and isinstance(read, tuple) and read:
            return [attrs.evolve(op, output=read[0])]
        return [op]
    if op.f != "txn" or op.status is Status.FAIL:
        return [op] if op.f != "txn" else []
    spec = txn_input(op.input)
    if spec is None:
        return []
    out = txn_output(op.output) if op.status is Status.OK else None
    if out is None:  # indefinite (or a malformed ok, which the revision checker reports)
        return [
            attrs.evolve(
                op, f="write", key=key, input=new, output=UNKNOWN, status=Status.INFO, ret=None
            )
            for key, new in (*spec.success, *spec.failure)
        ]
    taken = dict(spec.success if out.succeeded else spec.failure)
    seen = {read.key: read.value for read in out.reads}
    projected: list[Operation] = []
    for key, _ in spec.compares:
        if key in taken:
            new = taken.pop(key)
            projected.append(attrs.evolve(op, f="cas", key=key, input=(seen.get(key), new)))
        else:
            projected.append(attrs.evolve(op, f="read", key=key, input=None, output=seen.get(key)))
    projected.extend(
        attrs.evolve(op, f="write", key=key, input=new, output=None) for key, new in taken.items()
    )
    return projected
