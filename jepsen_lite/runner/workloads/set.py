"""The ``set`` workload: unique adds, then a final read of the whole set after heal.

Each add writes its element as a key of its own under the prefix ``set/`` (``add 17``
puts ``set/0000000017``, empty value); a read lists the keys under the prefix. Why one
key per element rather than appending to one value with a cas loop: adds never contend
(a cas-append on one hot key makes concurrent adds refuse each other, so under load and
faults most adds would fail or time out, and each write would carry the whole set), and
a lost add is then a lost write of its own, not hidden inside a later overwrite.

History: ``add x`` (``x`` = 0, 1, 2, ... in generator order, key ``null``) and ``read``
(``ok`` value: the sorted array of elements). The generator only adds; the final
invocation is one read, paged through ranges of at most ``KvConfig.range_limit_max``
keys (pages are separate queries; after heal nothing else writes, so they see one
state, and an indefinite add that lands between pages may or may not be seen, which the
set checker allows). Checker: :class:`~jepsen_lite.runner.checkers.set.SetChecker`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from consensus.client.kv import KvSession

from ...history.ops import EventType, Process
from ..api import Checker, Completion, Invocation, TestSpec
from ..checkers.set import SetChecker
from .common import refusal_is_fail

PREFIX = "set/"
END = "set0"  # the first key after every key with prefix "set/" ('0' follows '/')
DIGITS = 10


def element_key(element: int) -> str:
    """The store key of ``element`` (zero-padded, so key order is element order)."""
    return f"{PREFIX}{element:0{DIGITS}d}"


class SetGenerator:
    """``add 0``, ``add 1``, ...: never exhausted, never waits."""

    pending_s: float = 0.0

    def __init__(self) -> None:
        self.next_element = 0

    def next(self, process: Process, now: float) -> Invocation | None:
        element = self.next_element
        self.next_element += 1
        return Invocation("add", None, element)


class SetWorkload:
    """Unique adds and a final read (see the module doc)."""

    name: str = "set"
    read_only_fs: frozenset[str] = frozenset({"read"})

    def generator(self, rng: random.Random, spec: TestSpec) -> SetGenerator:
        return SetGenerator()

    def final_invocations(self, spec: TestSpec) -> Sequence[Invocation]:
        return [Invocation("read")]

    async def invoke(self, kv: KvSession, op: Invocation) -> Completion:
        return await refusal_is_fail(self._invoke(kv, op))

    async def _invoke(self, kv: KvSession, op: Invocation) -> Completion:
        if op.f == "add" and isinstance(op.value, int):
            await kv.put(element_key(op.value), b"")
            return Completion(EventType.OK, op.value)
        if op.f == "read":
            return Completion(EventType.OK, tuple(await read_elements(kv)))
        raise ValueError(f"set workload: unknown operation {op.f!r} {op.value!r}")

    def checkers(self) -> Sequence[Checker]:
        return [SetChecker()]


async def read_elements(kv: KvSession) -> list[int | str]:
    """Every element under the prefix, page by page, in order (a key whose suffix is
    not a number is listed as its suffix text, which the checker reports unexpected)."""
    elements: list[int | str] = []
    start = PREFIX
    while True:
        page = await kv.range(start, END)
        for item in page.kvs:
            suffix = item.key[len(PREFIX) :]
            elements.append(int(suffix) if suffix.isdigit() else suffix)
        if not page.more or not page.kvs:
            return elements
        start = page.kvs[-1].key + "\x00"
