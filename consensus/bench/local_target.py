"""Our protocols as a :class:`~consensus.bench.target.Target`: N real ``consensus serve``
processes on one host, durable storage (fsync on), a temporary data dir.

:class:`LocalTarget` writes a cluster file on free ports (``write_cluster_file``), starts
the nodes (``LocalCluster``), and returns from :meth:`LocalTarget.start` once a put has
been acknowledged. Clients are :class:`~consensus.client.KvClient` connections to every
node's client port; a session is a :class:`~consensus.client.KvSession` (exactly-once).

Roles: for ``raft`` and ``multipaxos`` :meth:`LocalTarget.pids` labels the node that last
reported itself leader ``"leader"`` and the others ``"follower-1"``, ... (the leader is
found by asking every node's status at start, after a kill and after a restart);
``paxos-lwt`` is leaderless, so its labels are ``"node-ID"`` and :meth:`kill_leader`
kills node 1 (any node would do: every node coordinates). ``paxos-lwt`` has no multi-key
transactions: :func:`local_target` gives it a :class:`LwtTarget`, whose :attr:`ops` lack
``txn``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import trio

from statemachines.kv_commands import Put, compare

from ..client import ClientError, KvClient, KvSession
from ..client.kv import KvError
from ..runtime.local import LocalCluster, find_leader, write_cluster_file
from .target import BenchClient, BenchSession, ReadMode, Target, TargetError

PROTOCOLS: tuple[str, ...] = ("raft", "multipaxos", "paxos-lwt")


class LocalSession(BenchSession):
    """One exactly-once :class:`KvSession`; a :class:`KvError` (a definite refusal) is
    raised as :class:`TargetError`."""

    def __init__(self, session: KvSession) -> None:
        self._s = session

    async def put(self, key: str, value: bytes) -> None:
        try:
            await self._s.put(key, value)
        except KvError as exc:
            raise TargetError(str(exc)) from exc

    async def get(self, key: str, consistency: ReadMode = "linearizable") -> bytes | None:
        try:
            return await self._s.get(key, consistency=consistency)
        except KvError as exc:
            raise TargetError(str(exc)) from exc

    async def cas(self, key: str, expected: bytes | None, value: bytes) -> bool:
        try:
            if expected is None:
                result = await self._s.put_if_absent(key, value)
            else:
                result = await self._s.cas(key, value, expected_value=expected)
        except KvError as exc:
            raise TargetError(str(exc)) from exc
        return bool(result.applied)

    async def txn(
        self, compares: Sequence[tuple[str, bytes | None]], puts: Sequence[tuple[str, bytes]]
    ) -> bool:
        conds = [
            compare(k, "exists", "=", False) if v is None else compare(k, "value", "=", v)
            for k, v in compares
        ]
        try:
            result = await self._s.txn(conds, [Put(k, v) for k, v in puts])
        except KvError as exc:
            raise TargetError(str(exc)) from exc
        return bool(result.succeeded)


class LocalClient(BenchClient):
    """One :class:`KvClient` (one connection per node it talks to)."""

    def __init__(self, kv: KvClient) -> None:
        self._kv = kv

    def session(self) -> BenchSession:
        return LocalSession(self._kv.session())

    async def aclose(self) -> None:
        """Nothing to do: the connection closes when ``open_client()``'s context exits."""


class LocalTarget(Target):
    """``nodes`` processes of ``protocol`` (one of :data:`PROTOCOLS`), see the module doc.

    ``data_dir``: where the cluster lives (default: a temporary directory, removed by
    :meth:`stop`). ``attempt_timeout_s`` bounds one client try at one node, so that a
    killed leader is given up on quickly (it bounds how finely unavailability is seen).
    """

    def __init__(
        self,
        protocol: str,
        nodes: int,
        *,
        data_dir: Path | None = None,
        attempt_timeout_s: float = 0.5,
        log_level: str = "warning",
        lease_reads: bool = False,
    ) -> None:
        if protocol not in PROTOCOLS or (protocol == "paxos-lwt") != isinstance(self, LwtTarget):
            raise ValueError(
                f"use local_target() for {protocol!r}; protocols: {', '.join(PROTOCOLS)}"
            )
        ops = {"put", "get", "get-stale", "cas", "txn"}
        if protocol == "paxos-lwt":
            ops = {"put", "get", "cas"}
        elif protocol == "raft" and lease_reads:
            ops.add("get-lease")
        super().__init__(protocol, nodes, frozenset(ops))
        self.lease_reads = lease_reads and protocol == "raft"
        self.protocol = protocol
        self._data_dir = data_dir
        self._tmp: str | None = None
        self.attempt_timeout_s = attempt_timeout_s
        self.log_level = log_level
        self.cluster: LocalCluster | None = None
        self.endpoints: list[str] = []
        self.leader: int | None = None
        self.killed: int | None = None

    @property
    def leaderless(self) -> bool:
        return self.protocol == "paxos-lwt"

    async def start(self) -> None:
        if self._data_dir is None:
            self._tmp = tempfile.mkdtemp(prefix=f"bench-local-{self.protocol}-")
            data_dir = Path(self._tmp)
        else:
            data_dir = self._data_dir
        path = write_cluster_file(
            data_dir,
            self.nodes,
            protocol=self.protocol,
            cluster_id="bench",
            durable=True,
            extra="lease_reads = true" if self.lease_reads else "",
        )
        self.cluster = LocalCluster(path, log_level=self.log_level)
        self.endpoints = [self.cluster.endpoints[n] for n in sorted(self.cluster.endpoints)]
        try:
            await trio.to_thread.run_sync(self.cluster.start_all)
            await self.refresh_roles()
            async with KvClient(self.endpoints, timeout_s=15) as kv:
                await kv.put("bench-ready", b"1")
        except (RuntimeError, ClientError) as exc:
            await self.stop()
            raise TargetError(f"{self.protocol} x{self.nodes} did not start: {exc}") from exc

    async def refresh_roles(self) -> None:
        """Ask the nodes who leads now (no-op for leaderless ``paxos-lwt``)."""
        if not self.leaderless:
            self.leader = await find_leader(self.endpoints, timeout_s=15.0)

    async def stop(self) -> None:
        if self.cluster is not None:
            cluster, self.cluster = self.cluster, None
            await trio.to_thread.run_sync(cluster.stop_all)
        if self._tmp is not None:
            tmp, self._tmp = self._tmp, None
            shutil.rmtree(tmp, ignore_errors=True)

    def open_client(self) -> AbstractAsyncContextManager[BenchClient]:
        return self._client()

    @asynccontextmanager
    async def _client(self) -> AsyncIterator[BenchClient]:
        async with KvClient(
            self.endpoints,
            timeout_s=30.0,
            attempt_timeout_s=self.attempt_timeout_s,
            connect_timeout_s=0.3,
        ) as kv:
            yield LocalClient(kv)

    def pids(self) -> dict[str, int]:
        if self.cluster is None:
            return {}
        live = {n: p.pid for n, p in self.cluster.processes.items() if p.poll() is None}
        if self.leaderless or self.leader not in live:
            return {f"node-{n}": pid for n, pid in sorted(live.items())}
        out = {"leader": live[self.leader]}
        followers = sorted(n for n in live if n != self.leader)
        for i, n in enumerate(followers, 1):
            out[f"follower-{i}"] = live[n]
        return out

    async def counters(self) -> dict[str, float]:
        """Each live node's status counters (messages and frame bytes sent to peers,
        storage fsyncs), summed; ``{}`` if a node does not answer (no figure is better
        than a wrong one)."""
        if self.cluster is None:
            return {}
        live = [
            self.cluster.endpoints[n]
            for n, p in sorted(self.cluster.processes.items())
            if p.poll() is None
        ]
        totals = {"messages": 0.0, "bytes": 0.0, "fsyncs": 0.0}
        async with KvClient(live, timeout_s=2.0, attempt_timeout_s=1.0) as kv:
            for endpoint in live:
                try:
                    st = await kv.status(endpoint)
                except ClientError:
                    return {}
                totals["messages"] += st.messages_sent
                totals["bytes"] += st.bytes_sent
                totals["fsyncs"] += st.fsyncs
        return totals

    async def kill_leader(self) -> None:
        if self.cluster is None:
            raise TargetError("not started")
        if self.killed is not None:
            raise TargetError(f"node {self.killed} is still down")
        victim = 1 if self.leaderless else await find_leader(self.endpoints)
        self.cluster.kill(victim)
        self.killed = victim
        self.leader = None

    async def restart_killed(self) -> None:
        """Restart the killed node; return once its applied index reaches the commit
        index another node reported just before (or after 10 s, with ``TargetError``)."""
        if self.cluster is None or self.killed is None:
            return
        node, self.killed = self.killed, None
        self.cluster.start(node)
        await trio.to_thread.run_sync(self.cluster.wait_ready, [node])
        await self.refresh_roles()
        if self.leaderless:
            return  # no log to catch up: each key's state is read by a majority round
        async with KvClient(self.endpoints, timeout_s=2.0, attempt_timeout_s=0.5) as kv:
            assert self.leader is not None
            target = (await kv.status(self.cluster.endpoints[self.leader])).commit_index
            with trio.move_on_after(10.0) as scope:
                while True:
                    try:
                        st = await kv.status(self.cluster.endpoints[node])
                        if st.applied_index >= target:
                            break
                    except ClientError:
                        pass
                    await trio.sleep(0.05)
        if scope.cancelled_caught:
            raise TargetError(f"node {node} did not catch up within 10 s")


class LwtTarget(LocalTarget):
    """``paxos-lwt``: no multi-key transactions, every read a majority round (no lease or
    stale reads)."""


def local_target(protocol: str, nodes: int, **kwargs: Any) -> LocalTarget:
    """The target for ``protocol`` (:class:`LwtTarget` for ``paxos-lwt``); keyword
    arguments as :class:`LocalTarget`'s."""
    cls = LwtTarget if protocol == "paxos-lwt" else LocalTarget
    return cls(protocol, nodes, **kwargs)
