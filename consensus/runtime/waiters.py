"""One-shot result cells that Trio tasks wait on, and the bookkeeping around them.

A :class:`Waiter` is resolved exactly once, with a value or an exception, by the driver's
Ready loop; the task that created it awaits :meth:`Waiter.wait`. :class:`AppliedWaits`
holds waiters until the applied index reaches a target (read barriers).
"""

from __future__ import annotations

import heapq
from typing import Generic, Protocol, TypeVar

import trio

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)


class Resolver(Protocol[T_contra]):
    """Anything resolved once with a value or an error (a :class:`Waiter`, or a server's
    pending reply): the driver calls exactly one of these, exactly once."""

    def set(self, value: T_contra) -> None: ...

    def fail(self, error: BaseException) -> None: ...


class Waiter(Generic[T]):
    __slots__ = ("_error", "_event", "_value")

    def __init__(self) -> None:
        self._event = trio.Event()
        self._value: T | None = None
        self._error: BaseException | None = None

    @property
    def done(self) -> bool:
        return self._event.is_set()

    def set(self, value: T) -> None:
        if not self._event.is_set():
            self._value = value
            self._event.set()

    def fail(self, error: BaseException) -> None:
        if not self._event.is_set():
            self._error = error
            self._event.set()

    async def wait(self) -> T:
        await self._event.wait()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


class AppliedWaits:
    """Waiters released when the applied index reaches their target."""

    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, Waiter[None]]] = []
        self._seq = 0

    def add(self, index: int, waiter: Waiter[None]) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (index, self._seq, waiter))

    def release(self, applied: int) -> None:
        heap = self._heap
        while heap and heap[0][0] <= applied:
            heapq.heappop(heap)[2].set(None)

    def fail_all(self, error: BaseException) -> None:
        for _, _, waiter in self._heap:
            waiter.fail(error)
        self._heap.clear()

    def __len__(self) -> int:
        return len(self._heap)
