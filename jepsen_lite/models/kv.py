"""A key-value map with ``get``/``put``/``append``, partitioned per key (each key is an
independent object, so P-compositionality applies).

- ``put v``: the key holds ``v``.
- ``get``: legal when its output equals the key's value (UNKNOWN output: always legal).
- ``append x``: a missing (``null``) value becomes ``[x]``, a list gets ``x`` appended, a
  string gets the string ``x`` concatenated (Porcupine's kv model); anything else makes
  the append impossible in that state.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from ..history.ops import UNKNOWN, Operation
from .base import KeyedModel, State


@attrs.frozen
class KvModel(KeyedModel):
    """A map from keys to values (initially ``null`` unless configured)."""

    name: ClassVar[str] = "kv"
    fs: ClassVar[frozenset[str]] = frozenset({"get", "put", "append"})

    def step(self, state: State, op: Operation) -> tuple[bool, State]:
        f = op.f
        if f == "get":
            out = op.output
            return (out is UNKNOWN or out == state), state
        if f == "put":
            return True, op.input
        item = op.input
        if state is None:
            return True, (item,)
        if isinstance(state, tuple):
            return True, (*state, item)
        if isinstance(state, str) and isinstance(item, str):
            return True, state + item
        return False, state
