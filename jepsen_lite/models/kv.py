"""A key-value map with ``get``/``put``/``append``, partitioned per key (each key is an
independent object, so P-compositionality applies).

- ``put v``: the key holds ``v``.
- ``get``: legal when its output equals the key's value (UNKNOWN output: always legal).
- ``append x``: a missing (``null``) value becomes ``[x]``, a list gets ``x`` appended, a
  string gets the string ``x`` concatenated (Porcupine's kv model); anything else makes
  the append impossible in that state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import attrs

from ..history.ops import UNKNOWN, Operation, Value
from .base import KeyedModel, State
from .reachable import unreachable_kv_read


@attrs.frozen
class KvModel(KeyedModel):
    """A map from keys to values (initially ``null`` unless configured).
    ``prove_unreachable`` (default on) lets the checker answer at once for a read that no
    order of the writes before it explains (:mod:`.reachable`); off, only the search
    decides (for tests of the search itself)."""

    name: ClassVar[str] = "kv"
    fs: ClassVar[frozenset[str]] = frozenset({"get", "put", "append"})
    prove_unreachable: bool = True

    def step(self, state: State, op: Operation) -> tuple[bool, State]:
        f = op.f
        if f == "append":  # the common case of hard histories first: text appended
            item = op.input
            if isinstance(state, str) and isinstance(item, str):
                return True, state + item
        elif f == "get":
            out = op.output
            return (out is UNKNOWN or out == state), state
        else:
            return True, op.input  # put
        if state is None:
            return True, (item,)
        if isinstance(state, tuple):
            return True, (*state, item)
        return False, state

    def read_legal_in(self, op: Operation) -> tuple[bool, State]:
        """For a read-only ``op`` (a ``get``): ``(True, s)`` when ``step`` finds it legal
        exactly in the states equal to ``s``, ``(False, None)`` when legal in every state
        (its output unknown). The search uses it to force reads without calling ``step``."""
        out = op.output
        return (False, None) if out is UNKNOWN else (True, out)

    def resets(self, op: Operation) -> bool:
        """Whether ``op`` may replace the value rather than grow it: a ``put``. Every other
        operation leaves the state as it is (``get``) or extends it (``append``)."""
        return op.f == "put"

    def can_grow_to(self, state: State, value: State) -> bool:
        """Whether operations that do not reset (``append``/``get``) can take ``state`` to
        ``value``: a string or list only grows at its end, so ``state`` must be a prefix of
        ``value``. ``True`` when unsure (a missing value, other types): the search treats
        ``False`` as a proof that a pending read is unreachable, so it must be exact."""
        if isinstance(state, str):
            return isinstance(value, str) and value.startswith(state)
        if isinstance(state, tuple):
            return isinstance(value, tuple) and value[: len(state)] == state
        return True

    def unreachable(self, key: Value, ops: Sequence[Operation]) -> tuple[int, str] | None:
        """A read no order of the writes before it explains (see :mod:`.reachable`)."""
        if not self.prove_unreachable:
            return None
        return unreachable_kv_read(self.initial.value_for(key), ops)
