"""What a system under benchmark implements, so that one harness drives them all.

A :class:`Target` is a running cluster: our protocols as real ``consensus serve``
processes (``raft``, ``multipaxos``, ``paxos-lwt``), or a peer such as etcd. The harness
starts it, opens clients, drives a workload (closed or open loop, an operation mix over a
key space), reads the CPU time of each process by pid, optionally kills the leader, and
stops it. Nothing here knows a workload; nothing in a workload knows a target.

Contract:

- ``start()`` returns once a write can be acknowledged; ``stop()`` stops every process the
  target started, by pid, and is safe to call more than once or after a failed start.
- ``open_client()`` is one connection (or what stands for it); ``client.session()`` is one
  logical client on it (exactly-once session where the target has them). Several sessions
  may share a connection: that is how "64 clients on one connection" is measured.
- A session's operations raise :class:`TargetError` on a definite failure and any other
  exception on an indefinite one; the harness counts both as errors, never as successes.
- ``ops`` names the operations the target supports (a subset of ``put``, ``get``,
  ``get-lease``, ``get-stale``, ``cas``, ``txn``); a mix asking for one it lacks is
  skipped with that reason.
- ``pids()`` maps a label (``"leader"``, ``"follower-2"``, ``"node-3"``) to a live pid,
  for CPU accounting; labels say the role at the time of the call.
- ``await counters()`` returns cumulative per-cluster counters where the target exposes
  them (``messages``, ``bytes``, ``fsyncs``, summed over nodes), else ``{}``; the
  workload turns their change over the window into ``messages_per_op``,
  ``bytes_per_op`` and ``fsyncs_per_op``.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Literal


class TargetError(Exception):
    """A definite failure of one operation, or a target that cannot start (message says why)."""


class TargetUnavailable(Exception):
    """The target cannot run on this machine (not installed, ...); the message says how to
    get it. The harness records it as skipped and goes on."""


BASIC_OPS = frozenset({"put", "get", "cas", "txn"})
"""What every key-value target has: puts, linearizable gets, compare-and-set, transactions."""

ReadMode = Literal["linearizable", "lease", "stale"]
"""How a benchmark ``get`` reads (the workload's ``get``, ``get-lease``, ``get-stale``)."""


class BenchSession(abc.ABC):
    """One logical client. Keys are ``str``; values are ``bytes``."""

    @abc.abstractmethod
    async def put(self, key: str, value: bytes) -> None: ...

    @abc.abstractmethod
    async def get(self, key: str, consistency: ReadMode = "linearizable") -> bytes | None:
        """A read: ``linearizable`` (a read barrier), ``lease`` (served from a Raft
        leader's read lease, linearizable within the clock-drift bound) or ``stale``
        (whatever the answering node has applied). A target lists in ``Target.ops`` the
        modes it has (``get``, ``get-lease``, ``get-stale``); it is asked for no other."""

    @abc.abstractmethod
    async def cas(self, key: str, expected: bytes | None, value: bytes) -> bool:
        """Set ``key`` to ``value`` if it holds ``expected`` (None: absent); True if it did."""

    async def txn(
        self, compares: Sequence[tuple[str, bytes | None]], puts: Sequence[tuple[str, bytes]]
    ) -> bool:
        """If every key holds its expected value, apply all puts atomically; True if it did."""
        raise TargetError("this target has no multi-key transactions")


class BenchClient(abc.ABC):
    """One connection to a target."""

    @abc.abstractmethod
    def session(self) -> BenchSession: ...

    @abc.abstractmethod
    async def aclose(self) -> None: ...


class Target(abc.ABC):
    """A running cluster under benchmark (see the module docstring for the contract)."""

    def __init__(self, name: str, nodes: int, ops: frozenset[str] = BASIC_OPS) -> None:
        self.name = name
        self.nodes = nodes
        self.ops = ops

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def stop(self) -> None: ...

    @abc.abstractmethod
    def open_client(self) -> AbstractAsyncContextManager[BenchClient]: ...

    @abc.abstractmethod
    def pids(self) -> dict[str, int]: ...

    async def counters(self) -> dict[str, float]:
        """Cumulative ``messages``, ``bytes`` (sent between nodes) and ``fsyncs``, summed
        over the live nodes; ``{}`` for a target that does not expose them."""
        return {}

    async def kill_leader(self) -> None:
        """SIGKILL the leader (the harness times the first write that succeeds after)."""
        raise TargetError(f"{self.name}: leader kill is not supported")

    async def restart_killed(self) -> None:
        """Restart what :meth:`kill_leader` killed and wait until it has caught up."""
        raise TargetError(f"{self.name}: restart is not supported")
