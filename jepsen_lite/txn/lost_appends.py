"""Lost appends: an acknowledged append that a later transaction's read does not see.

Lists only grow, so under strict serializability a read of key ``k`` that began after a
transaction appending ``v`` to ``k`` had committed must contain ``v``. A cycle search
cannot say so when ``v`` is never read at all (an acknowledged write lost outright):
nothing places ``v`` in the key's version order, so no dependency edge points at it.
This check does, per key, in one sweep (``O(n log n)``).

Every read of a key in a prefix-compatible history (each read a prefix of the longest)
is ``longest[:len(read)]``, so a read contains ``v`` exactly when ``v``'s position in
the longest list is below the read's length. Sweeping the reads in call order while
admitting the appends that completed before each call, a read is short of an admitted
append when the largest admitted position (infinite for a value no read ever saw) is at
or past its length. Keys whose reads disagree are left to the ``incompatible-order``
anomaly. Only strict serializability forbids the result (``lost-append``): a
serializable store may order the read before the append.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..history.ops import Value, show
from .list_append import Anomaly, show_list
from .model import Txn

NAME = "lost-append"


def lost_appends(txns: Sequence[Txn]) -> list[Anomaly]:
    """One :class:`Anomaly` per acknowledged ``(key, value)`` that a read beginning after
    it committed did not see (the first such read), in key order of first appearance."""
    reads: dict[Value, list[tuple[int, int, tuple[Value, ...]]]] = {}
    appends: dict[Value, list[tuple[int, int, Value]]] = {}
    for t in txns:
        if not t.committed:
            continue
        for op in t.ops:
            if op.f == "append":
                assert t.ret is not None
                appends.setdefault(op.key, []).append((t.ret, t.id, op.value))
            elif op.value is not None:
                assert isinstance(op.value, tuple)
                reads.setdefault(op.key, []).append((t.call, t.id, op.value))
    found: list[Anomaly] = []
    for key, seen in reads.items():
        longest = max((values for _, _, values in seen), key=len)
        if any(longest[: len(values)] != values for _, _, values in seen):
            continue
        position = {value: i for i, value in enumerate(longest)}
        done = sorted(appends.get(key, ()), key=lambda item: item[0])
        reported: set[Value] = set()
        admitted = 0
        worst: tuple[float, int, Value] | None = None  # (position, writer, value)
        for call, reader, values in sorted(seen, key=lambda item: item[0]):
            while admitted < len(done) and done[admitted][0] < call:
                _, writer, value = done[admitted]
                admitted += 1
                where = position.get(value, math.inf)
                if worst is None or where > worst[0]:
                    worst = (where, writer, value)
            if worst is None or worst[0] < len(values) or worst[2] in reported:
                continue
            _, writer, value = worst
            reported.add(value)
            never = "no read ever saw it" if worst[0] == math.inf else "later reads do"
            found.append(
                Anomaly(
                    NAME,
                    (writer, reader),
                    (
                        f"T{writer} appended {show(value)} to {show(key)} and committed "
                        f"before T{reader} began, yet T{reader} read {show(key)} as "
                        f"{show_list(values)} without it ({never})",
                    ),
                )
            )
    return found
