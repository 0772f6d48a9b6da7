"""Read/write registers, with and without compare-and-set (Knossos's ``register`` and
``cas-register``), one independent register per key.

- ``write v``: the register holds ``v``.
- ``read``: legal when its output equals the register's value; an UNKNOWN output (an
  ``info`` read, or a Knossos ``nil`` read from EDN) is always legal.
- ``cas [old new]`` (cas-register only): legal when the register holds ``old``; then it
  holds ``new``. A cas that did not take effect is a ``fail`` and never reaches ``step``.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from ..history.ops import UNKNOWN, Operation
from .base import KeyedModel, State


@attrs.frozen
class RegisterModel(KeyedModel):
    """A read/write register per key (initial value: ``null`` unless configured)."""

    name: ClassVar[str] = "register"
    fs: ClassVar[frozenset[str]] = frozenset({"read", "write"})
    lazy_open_ops: ClassVar[bool] = True  # see jepsen_lite.checker.wgl.lazy_open_ops

    def step(self, state: State, op: Operation) -> tuple[bool, State]:
        f = op.f
        if f == "read":
            out = op.output
            return (out is UNKNOWN or out == state), state
        if f == "write":
            return True, op.input
        expected, new = op.input  # type: ignore[misc,str-unpack]  # validate() checked it
        if expected == state:
            return True, new
        return False, state

    def read_only(self, op: Operation) -> bool:
        """Reads, and a cas whose new value is its expected one (a conditional read)."""
        f = op.f
        if f == "cas":
            value = op.input
            return isinstance(value, tuple) and len(value) == 2 and value[0] == value[1]
        return f == "read"

    def validate(self, op: Operation) -> Operation:
        op = super().validate(op)
        if op.f == "cas" and not (isinstance(op.input, tuple) and len(op.input) == 2):
            raise ValueError(f"a cas value must be [expected, new], got {op.input!r}")
        return op


@attrs.frozen
class CasRegisterModel(RegisterModel):
    """A register per key that also supports compare-and-set."""

    name: ClassVar[str] = "cas-register"
    fs: ClassVar[frozenset[str]] = frozenset({"read", "write", "cas"})
