"""etcd as a benchmark :class:`~.target.Target`: a 3-member cluster of Debian's ``etcd``.

The cluster is what ``jepsen-lite``'s etcd environment starts
(:func:`jepsen_lite.runner.envs.etcd.open_etcd_cluster`): one ``etcd`` process per member
on 127.0.0.1, each on its own data dir under a temp dir, fsync on (etcd's default), the
members talking to each other directly (``peer_proxy=False``: no Python proxy in
between). Sessions are that environment's clients (:class:`~consensus.client.kv.KvSession` over
:class:`~jepsen_lite.runner.envs.etcd_backend.EtcdBackend`, etcd's v3 JSON API), pinned
to the members round robin; a write that lands on a follower is forwarded by etcd itself.

Contract (beyond :class:`~.target.Target`): ``start`` and ``stop`` must be called from
the same Trio task (the cluster's nursery lives between them); ``stop`` stops every
member by pid and removes the temp dir. Missing etcd: :class:`~.target.TargetUnavailable`.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from jepsen_lite.runner.api import TestSpec
from jepsen_lite.runner.envs.etcd import EtcdCluster, etcd_binary, open_etcd_cluster
from statemachines.kv_commands import Put, compare

from ..client.kv import KvSession
from .target import (
    BASIC_OPS,
    BenchClient,
    BenchSession,
    ReadMode,
    Target,
    TargetError,
    TargetUnavailable,
)

ETCD_MISSING = "etcd not found: apt-get install etcd-server"


class EtcdSession(BenchSession):
    """One etcd session (a :class:`KvSession` over the etcd backend)."""

    def __init__(self, kv: KvSession) -> None:
        self.kv = kv

    async def put(self, key: str, value: bytes) -> None:
        await self.kv.put(key, value)

    async def get(self, key: str, consistency: ReadMode = "linearizable") -> bytes | None:
        """``stale`` is etcd's serializable read; etcd has no lease reads (not in ``ops``)."""
        return await self.kv.get(key, consistency=consistency)

    async def cas(self, key: str, expected: bytes | None, value: bytes) -> bool:
        if expected is None:
            return (await self.kv.put_if_absent(key, value)).applied
        return (await self.kv.cas(key, value, expected_value=expected)).applied

    async def txn(
        self, compares: Sequence[tuple[str, bytes | None]], puts: Sequence[tuple[str, bytes]]
    ) -> bool:
        cmp = [
            compare(key, "exists", "=", False)
            if value is None
            else compare(key, "value", "=", value)
            for key, value in compares
        ]
        result = await self.kv.txn(cmp, [Put(k, v) for k, v in puts])
        return result.succeeded


class EtcdClient(BenchClient):
    """One connection's worth of sessions: each session has its own HTTP connection."""

    def __init__(self, target: EtcdTarget) -> None:
        self._target = target
        self._sessions: list[KvSession] = []

    def session(self) -> BenchSession:
        cluster = self._target.cluster
        if cluster is None:
            raise TargetError("etcd is not running")
        kv = KvSession(cluster.backend())
        self._sessions.append(kv)
        return EtcdSession(kv)

    async def aclose(self) -> None:
        for kv in self._sessions:
            await kv.close()
        self._sessions.clear()


class EtcdTarget(Target):
    """``nodes`` etcd members on 127.0.0.1 (see the module docstring)."""

    def __init__(self, nodes: int = 3) -> None:
        super().__init__("etcd", nodes, BASIC_OPS | {"get-stale"})
        self.cluster: EtcdCluster | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._dir: Path | None = None

    async def start(self) -> None:
        if etcd_binary() is None:
            raise TargetUnavailable(ETCD_MISSING)
        self._dir = Path(tempfile.mkdtemp(prefix="bench-etcd-"))
        spec = TestSpec(env="etcd", nodes=self.nodes, options={"log_level": "warn"})
        self._stack = contextlib.AsyncExitStack()
        try:
            self.cluster = await self._stack.enter_async_context(
                open_etcd_cluster(spec, self._dir, peer_proxy=False)
            )
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        stack, self._stack, self.cluster = self._stack, None, None
        try:
            if stack is not None:
                await stack.aclose()
        finally:
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir = None

    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[BenchClient]:
        client = EtcdClient(self)
        try:
            yield client
        finally:
            await client.aclose()

    def open_client(self) -> contextlib.AbstractAsyncContextManager[BenchClient]:
        return self._client()

    def pids(self) -> dict[str, int]:
        if self.cluster is None:
            return {}
        return dict(self.cluster.processes.pids())
