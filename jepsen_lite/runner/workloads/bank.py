"""The ``bank`` workload: transfers between accounts in multi-key transactions, and
reads of every account at once; the total never changes.

Accounts are the store keys ``bank/0`` .. ``bank/<N-1>`` (``N`` =
``spec.options["accounts"]``, default 5), each starting at
``spec.options["balance"]`` (default 10).

Setup: the generator's first operation is the setup, ``write [b0, b1, ...]`` (the
initial balances): one transaction that creates every account if none exists (compare
``version = 0`` on each, then put each). It is ``ok`` when it created them, ``fail``
when they existed already (it is idempotent). Until a setup has completed the generator
holds the other processes back (``None``, retry in :attr:`BankGenerator.pending_s`);
a setup that failed, raised, or has not completed within :data:`SETUP_RETRY_S` seconds
is handed out again. (The generator learns the outcome through state it shares with
the workload that built it, as a Jepsen generator sees completions.)

Transfers, ``txn [from, to, amount]`` (amount 1..5): read both accounts (two
linearizable gets), then one transaction comparing both accounts' ``mod_revision`` with
what was read and writing both new balances. ``fail`` (nothing written) when the
comparison failed (a concurrent transfer), an account is absent, or ``from`` holds less
than ``amount`` (transfers never make a balance negative).

Reads, ``read``: one range over the prefix (one query, so one revision); the ``ok``
value is the array of balances in account order, ``null`` for an absent account. The
final invocation is one read. Checker: :class:`~jepsen_lite.runner.checkers.bank.BankChecker`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import attrs

from consensus.client.kv import KvSession
from statemachines.kv_commands import Put, compare

from ...history.ops import EventType, Process, Value
from ..api import Checker, Completion, Invocation, TestSpec
from ..checkers.bank import BankChecker
from ..checkers.kv_values import as_int
from .common import decode, encode, refusal_is_fail

PREFIX = "bank/"
SETUP_RETRY_S = 10.0
"""A setup handed out this long ago without an outcome is handed out again."""
AMOUNT_MAX = 5
EXISTS = "the accounts exist already"


def account_key(account: int) -> str:
    return f"{PREFIX}{account}"


@attrs.define
class SetupState:
    """Shared by a :class:`BankWorkload` and its generator: ``done`` once a setup
    completed (either way); ``handed_out_at`` the generator time of the pending one."""

    done: bool = False
    handed_out_at: float | None = None


def _options(spec: TestSpec) -> tuple[int, int]:
    accounts = spec.options.get("accounts", 5)
    balance = spec.options.get("balance", 10)
    for name, value, low, high in (("accounts", accounts, 2, 1000), ("balance", balance, 0, None)):
        bad = isinstance(value, bool) or not isinstance(value, int) or value < low
        if bad or (high is not None and value > high):
            limits = f"from {low} to {high}" if high is not None else f">= {low}"
            raise ValueError(f"bank workload: option {name!r} must be an integer {limits}")
    return accounts, balance


class BankGenerator:
    """Setup first, then transfers (60%) and reads (see the module doc)."""

    pending_s: float = 0.1

    def __init__(self, rng: random.Random, accounts: int, balance: int, setup: SetupState) -> None:
        self.rng = rng
        self.accounts = accounts
        self.balance = balance
        self.setup = setup

    def next(self, process: Process, now: float) -> Invocation | None:
        setup = self.setup
        if not setup.done:
            stale = setup.handed_out_at is not None and now - setup.handed_out_at > SETUP_RETRY_S
            if setup.handed_out_at is None or stale:
                setup.handed_out_at = now
                return Invocation("write", None, (self.balance,) * self.accounts)
            return None
        if self.rng.random() < 0.6:
            source, target = self.rng.sample(range(self.accounts), 2)
            return Invocation("txn", None, (source, target, self.rng.randint(1, AMOUNT_MAX)))
        return Invocation("read")


class BankWorkload:
    """Transfers and whole-bank reads (see the module doc)."""

    name: str = "bank"
    read_only_fs: frozenset[str] = frozenset({"read"})

    def __init__(self) -> None:
        self.setup = SetupState()
        self.accounts = 5

    def generator(self, rng: random.Random, spec: TestSpec) -> BankGenerator:
        self.accounts, balance = _options(spec)
        self.setup = SetupState()
        return BankGenerator(rng, self.accounts, balance, self.setup)

    def final_invocations(self, spec: TestSpec) -> Sequence[Invocation]:
        return [Invocation("read")]

    async def invoke(self, kv: KvSession, op: Invocation) -> Completion:
        if op.f != "write":
            return await refusal_is_fail(self._invoke(kv, op))
        try:
            completion = await refusal_is_fail(self._set_up(kv, op.value))
        except BaseException:
            self.setup.handed_out_at = None  # outcome unknown: hand it out again
            raise
        if completion.type is EventType.OK or completion.error == EXISTS:
            self.setup.done = True
        else:
            self.setup.handed_out_at = None
        return completion

    async def _set_up(self, kv: KvSession, value: Value) -> Completion:
        assert isinstance(value, tuple)
        keys = [account_key(i) for i in range(len(value))]
        result = await kv.txn(
            [compare(key, "version", "=", 0) for key in keys],
            [Put(key, encode(as_int(b) or 0)) for key, b in zip(keys, value, strict=True)],
        )
        if result.succeeded:
            return Completion(EventType.OK, value)
        return Completion(EventType.FAIL, value, EXISTS)

    async def _invoke(self, kv: KvSession, op: Invocation) -> Completion:
        if op.f == "read":
            return Completion(EventType.OK, await self._read(kv))
        if op.f == "txn" and isinstance(op.value, tuple):
            source, target, amount = op.value
            assert isinstance(source, int) and isinstance(target, int)
            assert isinstance(amount, int)
            return await self._transfer(kv, source, target, amount, op.value)
        raise ValueError(f"bank workload: unknown operation {op.f!r} {op.value!r}")

    async def _read(self, kv: KvSession) -> tuple[Value, ...]:
        page = await kv.range(PREFIX, prefix=True)
        found = {item.key: decode(item.value) for item in page.kvs}
        return tuple(found.get(account_key(i)) for i in range(self.accounts))

    async def _transfer(
        self, kv: KvSession, source: int, target: int, amount: int, value: Value
    ) -> Completion:
        src, dst = account_key(source), account_key(target)
        a, b = await kv.get_kv(src), await kv.get_kv(dst)
        if a is None or b is None:
            return Completion(EventType.FAIL, value, "an account is absent (no setup yet)")
        have, other = decode(a.value), decode(b.value)
        if not isinstance(have, int) or not isinstance(other, int):
            return Completion(EventType.FAIL, value, "a balance is not an integer")
        if have < amount:
            return Completion(EventType.FAIL, value, f"insufficient funds ({have})")
        result = await kv.txn(
            [
                compare(src, "mod_revision", "=", a.mod_revision),
                compare(dst, "mod_revision", "=", b.mod_revision),
            ],
            [Put(src, encode(have - amount)), Put(dst, encode(other + amount))],
        )
        if result.succeeded:
            return Completion(EventType.OK, value)
        return Completion(EventType.FAIL, value, "an account changed concurrently")

    def checkers(self) -> Sequence[Checker]:
        return [BankChecker()]
