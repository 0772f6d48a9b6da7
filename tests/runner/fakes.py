"""A one-replica stand-in for a cluster, for runner tests that need a real key-value
store but no consensus: :class:`LocalBackend` applies each command to one
:class:`~statemachines.kv.KvStateMachine` at once (so every operation is linearizable),
and :func:`local_session` wraps it in a real :class:`~consensus.client.kv.KvSession`.

``fail_next`` makes the next calls raise a chosen exception before (``"before"``) or
after (``"after"``) the command is applied, to exercise the runner's ``fail`` / ``info``
handling.
"""

from __future__ import annotations

from collections.abc import Callable

import trio

from consensus.client.kv import KvSession
from consensus.client.protocol import Consistency
from consensus.types import Entry, EntryKind
from statemachines.kv import KvStateMachine


class LocalBackend:
    """``consensus.client.kv.Backend`` over one in-process state machine."""

    def __init__(self, machine: KvStateMachine | None = None) -> None:
        self.machine = machine or KvStateMachine()
        self.index = 0
        self.fail_next: list[tuple[str, BaseException]] = []
        """Queued failures: ``("before" | "after", exception)``, one per call."""

    async def propose(self, command: bytes) -> bytes:
        await trio.lowlevel.checkpoint()
        when, exc = self.fail_next.pop(0) if self.fail_next else ("", None)
        if exc is not None and when == "before":
            raise exc
        self.index += 1
        result = self.machine.apply(Entry(self.index, 1, command, EntryKind.NORMAL))
        if exc is not None:
            raise exc
        return result

    async def query(self, query: bytes, *, consistency: Consistency = "linearizable") -> bytes:
        await trio.lowlevel.checkpoint()
        if self.fail_next:
            raise self.fail_next.pop(0)[1]
        return self.machine.query(query)


def local_session(
    backend: LocalBackend | None = None, now_ms: Callable[[], int] = lambda: 0
) -> KvSession:
    """A real exactly-once session over ``backend`` (a fresh one by default)."""
    return KvSession(backend or LocalBackend(), now_ms=now_ms)
