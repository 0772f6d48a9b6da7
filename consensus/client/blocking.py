"""A blocking key-value client for programs that do not use Trio.

::

    with BlockingKvClient(["127.0.0.1:8001"]) as kv:
        kv.put("x", b"1")
        print(kv.get("x"))

Every operation of :class:`KvClient` is here, with the same typed results.
A background thread runs a Trio loop holding one :class:`KvClient`; each call is handed
to it with ``trio.from_thread.run`` and blocks until it returns. Thread-safe.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import trio

from statemachines.kv_commands import (
    Compare,
    CondResult,
    DeleteResult,
    KeyValue,
    LeaseResult,
    PutResult,
    RangeResult,
    TxnBranchOp,
    TxnOp,
    TxnResult,
    WatchEvent,
    WatchResult,
)

from .kv import KvClient
from .protocol import Consistency

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

    def put(self, key: str, value: bytes, *, lease: int = 0) -> bytes | None:
        return self._run(functools.partial(self._client.put, lease=lease), key, value)

    def put_kv(self, key: str, value: bytes, *, lease: int = 0) -> PutResult:
        return self._run(functools.partial(self._client.put_kv, lease=lease), key, value)

    def grant_lease(self, ttl_ms: int) -> LeaseResult:
        return self._run(self._client.grant_lease, ttl_ms)

    def keep_alive(self, lease_id: int) -> LeaseResult:
        return self._run(self._client.keep_alive, lease_id)

    def revoke_lease(self, lease_id: int) -> LeaseResult:
        return self._run(self._client.revoke_lease, lease_id)

    def watch_once(
        self, key: str, *, prefix: bool = False, from_revision: int = 0, limit: int = 0
    ) -> WatchResult:
        call = functools.partial(
            self._client.watch_once, prefix=prefix, from_revision=from_revision, limit=limit
        )
        return self._run(call, key)

    def watch(
        self, key: str, *, prefix: bool = False, from_revision: int = 0, poll_s: float = 0.1
    ) -> Iterator[WatchEvent]:
        """:meth:`KvClient.watch` for threads: the changes from ``from_revision`` on, for as
        long as the caller iterates (each poll blocks the calling thread only)."""
        next_revision = from_revision
        while True:
            result = self.watch_once(key, prefix=prefix, from_revision=next_revision)
            yield from result.events
            next_revision = max(next_revision, result.next_revision)
            if not result.more:
                time.sleep(poll_s)

    def get(self, key: str, *, consistency: Consistency = "linearizable") -> bytes | None:
        return self._run(functools.partial(self._client.get, consistency=consistency), key)

    def get_kv(self, key: str, *, consistency: Consistency = "linearizable") -> KeyValue | None:
        return self._run(functools.partial(self._client.get_kv, consistency=consistency), key)

    def range(
        self,
        start: str,
        end: str | None = None,
        *,
        prefix: bool = False,
        limit: int = 0,
        consistency: Consistency = "linearizable",
    ) -> RangeResult:
        call = functools.partial(
            self._client.range, prefix=prefix, limit=limit, consistency=consistency
        )
        return self._run(call, start, end)

    def delete(self, key: str) -> DeleteResult:
        return self._run(self._client.delete, key)

    def cas(
        self,
        key: str,
        new: bytes,
        *,
        expected_value: bytes | None = None,
        expected_version: int | None = None,
        expected_mod_revision: int | None = None,
    ) -> CondResult:
        call = functools.partial(
            self._client.cas,
            expected_value=expected_value,
            expected_version=expected_version,
            expected_mod_revision=expected_mod_revision,
        )
        return self._run(call, key, new)

    def put_if_absent(self, key: str, value: bytes, *, lease: int = 0) -> CondResult:
        return self._run(functools.partial(self._client.put_if_absent, lease=lease), key, value)

    def delete_if(
        self,
        key: str,
        *,
        expected_value: bytes | None = None,
        expected_version: int | None = None,
        expected_mod_revision: int | None = None,
    ) -> CondResult:
        call = functools.partial(
            self._client.delete_if,
            expected_value=expected_value,
            expected_version=expected_version,
            expected_mod_revision=expected_mod_revision,
        )
        return self._run(call, key)

    def txn(
        self,
        compare: Iterable[Compare] = (),
        success: Iterable[TxnBranchOp | TxnOp] = (),
        failure: Iterable[TxnBranchOp | TxnOp] = (),
    ) -> TxnResult:
        return self._run(self._client.txn, list(compare), list(success), list(failure))

    def close(self) -> None:
        if self._token is not None and self._stop is not None and not self._stop.is_set():
            stop = self._stop
            trio.from_thread.run_sync(stop.set, trio_token=self._token)
            self._thread.join()

    def __enter__(self) -> BlockingKvClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
