"""A cheap proof of non-linearizability before the search: a read whose value no
sequence of the writes that could precede it produces.

The search (:mod:`jepsen_lite.checker.wgl`) must exhaust every configuration of a key
before it may answer "not linearizable"; on a hot key with many concurrent ``append``s
(states that keep growing) that is millions of configurations. Often the reason is
plain: a read returned a value that none of the writes invoked before the read returned
can make, in any order (a token nobody wrote, an element twice, a value never put).
Such a read is unreachable in every linearization, so the key is not linearizable, and
this module finds it in one pass over the key's operations.

:func:`unreachable_kv_read` is that check for the ``kv`` model (``put``/``append``/
``get``): a read's value must be ``base`` followed by appends, where ``base`` is the
initial value or a ``put`` invoked before the read returned, and the appended items come
from ``append``s invoked before it returned. For lists, the items after the base must be
a sub-multiset of those appends' items; for strings, the rest must split into appended
strings (each allowed more than once: a relaxation that keeps the check sound). Work per
read is bounded (:data:`WORK_MAX`); a read too costly to decide is skipped, never
declared unreachable.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from ..history.ops import UNKNOWN, Operation, Value, show

WORK_MAX = 200_000
"""Steps spent on one read before it is skipped (treated as reachable)."""


class _Writes:
    """The writes invoked so far: put values (and the initial value), appended items."""

    def __init__(self, initial: Value) -> None:
        self.bases: set[Value] = {initial}
        self.items: Counter[Value] = Counter()
        self.string_lengths: set[int] = set()
        self.base_lengths: set[int] = {len(initial)} if isinstance(initial, str) else set()
        self._sorted_lengths: list[int] | None = None  # string_lengths, sorted (a cache)

    def add(self, op: Operation) -> None:
        if op.f == "put":
            self.bases.add(op.input)
            if isinstance(op.input, str):
                self.base_lengths.add(len(op.input))
        elif op.f == "append":
            self.items[op.input] += 1
            if isinstance(op.input, str) and op.input and len(op.input) not in self.string_lengths:
                self.string_lengths.add(len(op.input))
                self._sorted_lengths = None

    def explains(self, value: Value) -> bool | None:
        """Whether some order of these writes can give ``value`` (``None``: too costly
        to say)."""
        if value in self.bases:
            return True
        if isinstance(value, tuple):
            return self._explains_list(value)
        if isinstance(value, str):
            return self._explains_string(value)
        return False

    def _explains_list(self, value: tuple[Value, ...]) -> bool | None:
        if len(value) ** 2 > WORK_MAX:
            return None
        for cut in range(len(value) + 1):
            head = value[:cut]
            if (cut == 0 and None in self.bases) or head in self.bases:
                rest = Counter(value[cut:])
                if all(self.items[item] >= n for item, n in rest.items()):
                    return True
        return False

    def _explains_string(self, value: str) -> bool | None:
        lengths = self._sorted_lengths
        if lengths is None:
            lengths = self._sorted_lengths = sorted(self.string_lengths)
        if len(value) * (len(lengths) + 1) > WORK_MAX:
            return None
        # reach[i]: value[:i] is a base followed by appended strings; only the reached
        # positions are visited (found by bytearray.find, not one Python step each)
        size = len(value)
        reach = bytearray(size + 1)
        for n in self.base_lengths:  # only prefixes as long as some base can be one
            if n <= size and value[:n] in self.bases:
                reach[n] = 1
        i = reach.find(1)
        while i >= 0:
            if i == size:
                return True
            for n in lengths:
                j = i + n
                if j <= size and not reach[j] and self.items[value[i:j]]:
                    reach[j] = 1
            i = reach.find(1, i + 1)
        return False


def unreachable_kv_read(initial: Value, ops: Sequence[Operation]) -> tuple[int, str] | None:
    """The first (by return) ``ok`` ``get`` of ``ops`` (one key's operations, in call
    order, ``fail`` ones removed) whose value no order of the writes invoked before it
    returned can produce: its index in ``ops`` and a sentence saying why. ``None`` when
    every read is reachable as far as this check can tell."""
    writes = _Writes(initial)
    by_call = [op for op in ops if op.f in ("put", "append")]
    reads = sorted(
        (i for i, op in enumerate(ops) if op.f == "get" and op.ret is not None),
        key=lambda i: ops[i].ret or 0,
    )
    admitted = 0
    for index in reads:
        read = ops[index]
        if read.output is UNKNOWN:
            continue
        assert read.ret is not None
        while admitted < len(by_call) and by_call[admitted].call < read.ret:
            writes.add(by_call[admitted])
            admitted += 1
        if writes.explains(read.output) is False:
            return index, (
                f"it read {show(read.output)}, which no order of the {admitted} puts and "
                f"appends invoked before it returned (from {show(initial)}) can produce"
            )
    return None
