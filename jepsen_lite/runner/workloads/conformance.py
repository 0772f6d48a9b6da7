"""Every shipped workload, generator and checker, typed as the :mod:`..api` protocols,
so that mypy proves they conform (and tests can iterate over them)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..api import Checker, Generator, Workload
from ..checkers.bank import BankChecker
from ..checkers.counter import CounterChecker
from ..checkers.list_append import ListAppendChecker
from ..checkers.lost_writes import LostWritesChecker
from ..checkers.revisions import RevisionChecker
from ..checkers.set import SetChecker
from .bank import BankGenerator, BankWorkload
from .counter import CounterGenerator, CounterWorkload
from .kv import KvGenerator, KvTxnWorkload
from .list_append import ListAppendGenerator, ListAppendWorkload
from .register import CasRegisterWorkload, RegisterGenerator, RegisterWorkload
from .set import SetGenerator, SetWorkload

WORKLOAD_FACTORIES: Sequence[Callable[[], Workload]] = (
    RegisterWorkload,
    CasRegisterWorkload,
    KvTxnWorkload,
    BankWorkload,
    SetWorkload,
    CounterWorkload,
    ListAppendWorkload,
)

CHECKER_FACTORIES: Sequence[Callable[[], Checker]] = (
    LostWritesChecker,
    SetChecker,
    CounterChecker,
    BankChecker,
    RevisionChecker,
    ListAppendChecker,
)


def generators(
    register: RegisterGenerator,
    kv: KvGenerator,
    bank: BankGenerator,
    set_: SetGenerator,
    counter: CounterGenerator,
    list_append: ListAppendGenerator,
) -> list[Generator]:
    """The shipped generators as :class:`~..api.Generator` (for mypy's sake)."""
    return [register, kv, bank, set_, counter, list_append]
