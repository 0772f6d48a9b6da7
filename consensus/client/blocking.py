"""A blocking key-value client for programs that do not use Trio.

::

    with BlockingKvClient(["127.0.0.1:8001"]) as kv:
        kv.put("x", b"1")
        print(kv.get("x"))

A background thread runs a Trio loop holding one :class:`KvClient`; each call is handed
to it with ``trio.from_thread.run`` and blocks until it returns. Thread-safe.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import trio

from .kv import KvClient

T = TypeVar("T")


class BlockingKvClient:
    def __init__(self, endpoints: Sequence[str], **options: Any) -> None:
        self._client = KvClient(endpoints, **options)
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="kv-client", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def _main(self) -> None:
        try:
            trio.run(self._serve)
        except BaseException as exc:  # report start-up failures to the caller
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        async with self._client:
            self._token = trio.lowlevel.current_trio_token()
            self._stop = trio.Event()
            self._ready.set()
            await self._stop.wait()

    def _run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        if self._token is None or self._stop is None or self._stop.is_set():
            raise RuntimeError("the client is closed")
        return trio.from_thread.run(fn, *args, trio_token=self._token)

    def put(self, key: str, value: bytes) -> bytes | None:
        return self._run(self._client.put, key, value)

    def get(self, key: str) -> bytes | None:
        return self._run(self._client.get, key)

    def close(self) -> None:
        if self._token is not None and self._stop is not None and not self._stop.is_set():
            stop = self._stop
            trio.from_thread.run_sync(stop.set, trio_token=self._token)
            self._thread.join()

    def __enter__(self) -> BlockingKvClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
