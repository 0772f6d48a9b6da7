"""A cluster of real node processes on one host, for ``consensus cluster``, tests and
benchmarks.

:func:`write_cluster_file` picks free ports and writes ``DIR/cluster.toml``;
:class:`LocalCluster` starts one ``consensus serve`` process per node (logging to
``DIR/node-ID.log``), waits for their client ports, and can kill, restart and stop them.
It can also grow the cluster: :meth:`LocalCluster.start_joiner` appends a ``join = true``
node to ``cluster.toml`` and starts it as a joiner; ``member_add`` / ``member_promote`` /
``member_remove`` change the membership through the client protocol; ``stop_node`` stops
one node process by its pid.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from ..storage.fs import OsFileSystem
from ..storage.fs._os import OsFileLock
from ..storage.wal.data_dir import lock_holder
from .config import ConfigError, build_config, read_toml

if TYPE_CHECKING:
    from ..client.protocol import MemberReply

CLUSTER_FILE = "cluster.toml"
CLUSTER_LOCK = "cluster.lock"
_MAIN = "import sys; from consensus.cli import main; sys.exit(main(sys.argv[1:]))"


class ClusterDirBusy(Exception):
    """Another running ``consensus cluster`` holds the directory's lock file."""


def lock_cluster_dir(data_dir: Path) -> OsFileLock:
    """Take ``data_dir/cluster.lock`` (creating ``data_dir``), recording this pid in it;
    held until released or this process exits. ``ClusterDirBusy`` naming the lock file and
    the pid holding it when another process has it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    lock_path = str(data_dir / CLUSTER_LOCK)
    try:
        return OsFileLock(lock_path)
    except BlockingIOError:
        holder = lock_holder(OsFileSystem(), lock_path)
        raise ClusterDirBusy(
            f"{data_dir} is in use by another running cluster "
            f"(lock {lock_path} is held{holder or ' by another process'})"
        ) from None


def describe_exits(codes: dict[int, int | None]) -> str:
    """A human summary of node exit statuses: ``3 nodes, all exited 0`` when they agree,
    else one clause per node: ``node 1 exited 0, node 2 killed by SIGKILL``."""

    def one(code: int | None) -> str:
        if code is None:
            return "still running"
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exited {code}"

    statuses = {one(c) for c in codes.values()}
    if len(codes) > 1 and len(statuses) == 1:
        return f"{len(codes)} nodes, all {statuses.pop()}"
    return ", ".join(f"node {n} {one(c)}" for n, c in sorted(codes.items())) or "no nodes"


PORTS_LOCAL = range(20000, 32768)
"""Where :func:`free_ports` picks ports: below Linux's default ephemeral range
(32768-60999), so that no outgoing connection of this or an earlier run (a TIME-WAIT
socket, a client's or a peer dialer's local port) can have taken a port between the
moment it is picked and the moment a node binds it, nor when a cluster restarts on the
ports of its ``cluster.toml``."""


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct ports of :data:`PORTS_LOCAL` on ``host`` that were free a moment
    ago (each could be bound with ``SO_REUSEADDR`` and listened on, as a node does).
    The search starts at a random place in the range, so concurrent callers rarely
    collide. ``OSError`` if the range has fewer than ``count`` free ports."""
    socks: list[socket.socket] = []
    size = len(PORTS_LOCAL)
    start = random.SystemRandom().randrange(size)
    try:
        for i in range(size):
            if len(socks) == count:
                break
            port = PORTS_LOCAL[(start + i) % size]
            s = socket.socket()
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((host, port))
                s.listen()
            except OSError:
                s.close()
                continue
            socks.append(s)
        if len(socks) < count:
            raise OSError(
                f"only {len(socks)} of the {count} ports asked for are free on {host} "
                f"in {PORTS_LOCAL.start}-{PORTS_LOCAL.stop - 1}"
            )
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def write_cluster_file(
    data_dir: Path,
    nodes: int,
    *,
    protocol: str = "raft",
    cluster_id: str = "local",
    host: str = "127.0.0.1",
    extra: str = "",
    durable: bool = True,
) -> Path:
    """Write ``data_dir/cluster.toml`` for ``nodes`` nodes on free ports of ``host``
    (each node with a data dir under ``data_dir`` when ``durable``)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    ports = free_ports(2 * nodes, host)
    lines = [f'cluster_id = "{cluster_id}"', f'protocol = "{protocol}"', extra, ""]
    for i in range(1, nodes + 1):
        lines += [
            "[[nodes]]",
            f"id = {i}",
            f'peer = "{host}:{ports[2 * i - 2]}"',
            f'client = "{host}:{ports[2 * i - 1]}"',
            f'data_dir = "node-{i}"' if durable else "",
            "",
        ]
    path = data_dir / CLUSTER_FILE
    path.write_text("\n".join(lines))
    return path


def client_endpoints(cluster_file: Path) -> dict[int, str]:
    """Every node's client endpoint, by node id. The whole file is checked as each node's
    ``consensus serve`` would check it; ``ConfigError`` says what is wrong and where."""
    ids = build_config_ids(cluster_file)
    endpoints: dict[int, str] = {}
    for node in ids:
        try:
            config = build_config(config_file=cluster_file, node_id=node)
        except ConfigError as exc:
            text = str(exc)
            if str(cluster_file) in text:
                raise
            raise ConfigError(f"{cluster_file}, node {node}: {text}") from None
        if config.client_listen is None:
            raise ConfigError(f"{cluster_file}: node {node} has no client address")
        endpoints[node] = str(config.client_listen)
    return endpoints


def build_config_ids(cluster_file: Path) -> list[int]:
    """The node ids a cluster file lists (``ConfigError`` if it cannot say)."""
    doc = read_toml(cluster_file, str(cluster_file))
    nodes = doc.get("nodes")
    if not isinstance(nodes, list) or not nodes:
        raise ConfigError(f"{cluster_file}: needs at least one [[nodes]] table")
    ids = [n.get("id") if isinstance(n, dict) else None for n in nodes]
    for i, nid in enumerate(ids):
        if not isinstance(nid, int) or isinstance(nid, bool):
            raise ConfigError(f"{cluster_file}: nodes[{i}].id must be an integer")
    return [int(n) for n in ids if isinstance(n, int)]


def wait_port(endpoint: str, timeout_s: float) -> bool:
    host, _, port = endpoint.rpartition(":")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, int(port)), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
    return False


class LocalCluster:
    """Node processes for the cluster described by ``cluster_file``."""

    def __init__(
        self, cluster_file: Path, *, log_level: str = "info", extra_args: tuple[str, ...] = ()
    ) -> None:
        self.cluster_file = cluster_file
        self.data_dir = cluster_file.parent
        self.endpoints = client_endpoints(cluster_file)
        self.log_level = log_level
        self.extra_args = extra_args
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    def log_path(self, node: int) -> Path:
        return self.data_dir / f"node-{node}.log"

    def start(self, node: int) -> subprocess.Popen[bytes]:
        cmd = [
            sys.executable,
            "-c",
            _MAIN,
            "serve",
            "--config",
            str(self.cluster_file),
            "--id",
            str(node),
            "--log-level",
            self.log_level,
            *self.extra_args,
        ]
        with open(self.log_path(node), "ab") as log:
            proc = subprocess.Popen(
                cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
            )
        self.processes[node] = proc
        return proc

    def start_all(self, timeout_s: float = 15.0) -> None:
        for node in self.endpoints:
            self.start(node)
        self.wait_ready(list(self.endpoints), timeout_s)

    def wait_ready(self, nodes: list[int], timeout_s: float = 15.0) -> None:
        """Wait until every node's client port accepts; ``RuntimeError`` with the log tail
        of a node that exited or never opened its port."""
        for node in nodes:
            ok = wait_port(self.endpoints[node], timeout_s)
            proc = self.processes[node]
            code = proc.poll()
            if not ok or code is not None:
                lines = self.log_path(node).read_text(errors="replace").splitlines()
                tail = "\n".join(lines[-20:])
                why = (
                    f"{describe_exits({node: code})} before opening its client port"
                    if code is not None
                    else f"node {node} did not open its client port within {timeout_s:g} s"
                )
                where = f"last lines of {self.log_path(node)}" if lines else "its log is empty"
                raise RuntimeError(f"{why}; {where}:\n{tail}" if lines else f"{why}; {where}")

    def peer_address(self, node: int) -> str:
        """The peer address of ``node`` as the cluster file gives it."""
        doc = read_toml(self.cluster_file, str(self.cluster_file))
        for entry in doc.get("nodes", []):
            if isinstance(entry, dict) and entry.get("id") == node:
                return str(entry["peer"])
        raise KeyError(f"node {node} is not in {self.cluster_file}")

    def add_node_to_file(self, node: int, host: str = "127.0.0.1") -> str:
        """Append node ``node`` (``join = true``, free ports of ``host``, a data dir when
        the other nodes have one) to the cluster file; return its peer address. The
        running nodes do not read it: the data wins (they learn the node's address from
        the ``member add`` that adds it)."""
        if node in self.endpoints:
            raise ValueError(f"node {node} is already in {self.cluster_file}")
        peer_port, client_port = free_ports(2, host)
        durable = "data_dir" in self.cluster_file.read_text()
        lines = [
            "",
            "[[nodes]]",
            f"id = {node}",
            f'peer = "{host}:{peer_port}"',
            f'client = "{host}:{client_port}"',
            f'data_dir = "node-{node}"' if durable else "",
            "join = true",
            "",
        ]
        with open(self.cluster_file, "a") as f:
            f.write("\n".join(lines))
        self.endpoints[node] = f"{host}:{client_port}"
        return f"{host}:{peer_port}"

    def start_joiner(self, node: int, timeout_s: float = 15.0) -> subprocess.Popen[bytes]:
        """Add ``node`` to the cluster file as a joiner, start its process and wait for its
        client port. It is not a member until :meth:`member_add`."""
        self.add_node_to_file(node)
        proc = self.start(node)
        self.wait_ready([node], timeout_s)
        return proc

    async def _member(self, action: str, node: int, timeout_s: float) -> MemberReply:
        from ..client import ChangeRefused, Client

        endpoints = [e for n, e in sorted(self.endpoints.items()) if self._running(n)]
        with trio.fail_after(timeout_s):
            async with Client(endpoints, timeout_s=timeout_s) as client:
                while True:
                    try:
                        if action == "add":
                            return await client.member_add(node, self.peer_address(node))
                        if action == "promote":
                            return await client.member_promote(node)
                        return await client.member_remove(node)
                    except ChangeRefused as exc:
                        # not yet: a new leader's no-op, a learner still catching up
                        if "yet" not in str(exc) and "behind" not in str(exc):
                            raise
                    await trio.sleep(0.05)

    def _running(self, node: int) -> bool:
        proc = self.processes.get(node)
        return proc is not None and proc.poll() is None

    async def member_add(self, node: int, timeout_s: float = 15.0) -> MemberReply:
        """Add ``node`` as a learner at its peer address (retried while the cluster is
        not ready for it); ``ChangeRefused`` when it does not apply."""
        return await self._member("add", node, timeout_s)

    async def member_promote(self, node: int, timeout_s: float = 15.0) -> MemberReply:
        """Promote learner ``node`` (retried while it catches up)."""
        return await self._member("promote", node, timeout_s)

    async def member_remove(self, node: int, timeout_s: float = 15.0) -> MemberReply:
        """Remove member ``node``."""
        return await self._member("remove", node, timeout_s)

    def stop_node(self, node: int, timeout_s: float = 5.0) -> int | None:
        """SIGTERM node ``node``'s process by its pid, wait, SIGKILL if it lingers;
        return its exit code."""
        proc = self.processes[node]
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        return proc.returncode

    def kill(self, node: int, sig: int = signal.SIGKILL) -> None:
        proc = self.processes[node]
        if proc.poll() is None:
            os.kill(proc.pid, sig)
            proc.wait()

    def stop_all(self, timeout_s: float = 5.0) -> dict[int, int | None]:
        """SIGTERM every node, wait, SIGKILL stragglers; returns exit codes."""
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for proc in self.processes.values():
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return {n: p.returncode for n, p in self.processes.items()}


async def find_leader(endpoints: list[str], timeout_s: float = 10.0) -> int:
    """The node id of a node that reports itself leader (asking each endpoint's status in
    turn, every 20 ms); ``RuntimeError`` if none does within ``timeout_s``."""
    import trio

    from ..client import Client, ClientError

    deadline = trio.current_time() + timeout_s
    async with Client(endpoints, timeout_s=0.5, attempt_timeout_s=0.5) as client:
        while trio.current_time() < deadline:
            for endpoint in endpoints:
                try:
                    st = await client.status(endpoint)
                except ClientError:
                    continue
                if st.role == "leader":
                    return st.node_id
            await trio.sleep(0.02)
    raise RuntimeError(f"no leader among {', '.join(endpoints)} within {timeout_s:g} s")
