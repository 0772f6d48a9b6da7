"""``paxos-lwt`` in the sim environment: its pieces, and what convergence means for it.

The node is built as for the log-based protocols (:mod:`.sim_host`), with the register
machine ``KvRegisters`` instead of ``KvStateMachine``, the ``LwtLog`` handle, and the
paxos-lwt stores (``LwtMemoryStorage``; ``LwtFileStorage`` on the simulated disk).

Convergence: the replicas of a leaderless register cluster are not byte-identical (a
node that missed the last round on a key still holds an older accepted state, and there
is no log to replay). What must agree is what each node *reads*: :func:`lwt_snapshots`
has every live node coordinate a linearizable read of every key any node holds a record
of, and its "snapshot" is the sorted list of what it read. Identical snapshots mean
every coordinator sees the same chosen state after heal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import trio

from consensus.errors import ConsensusError
from consensus.runtime.lwt_log import LwtLog
from consensus.storage.lwt_memory import LwtMemoryStorage
from consensus.storage.wal.lwt_file_storage import LwtFileStorage
from consensus.types import NodeId
from statemachines.kv_commands import KV_CODEC, Get, GetResult, decode_result
from statemachines.kv_lwt import KvRegisters

if TYPE_CHECKING:
    from .sim import SimCluster

PROTOCOL = "paxos-lwt"
READ_TIMEOUT_S = 2.0


def machine() -> KvRegisters:
    return KvRegisters()


def memory_store() -> LwtMemoryStorage:
    return LwtMemoryStorage()


def file_store_class() -> Any:
    return LwtFileStorage


def log_class(protocol: str) -> type[LwtLog] | None:
    """``LwtLog`` for ``paxos-lwt``, else None (the default handle)."""
    return LwtLog if protocol == PROTOCOL else None


def change(protocol: str) -> Any:
    """The core's change function for ``protocol`` (None for the log-based ones)."""
    return machine().change if protocol == PROTOCOL else None


async def lwt_snapshots(cluster: SimCluster) -> Mapping[NodeId, bytes | None]:
    """Each live node's reads of every key (module doc); ``None`` for a node that is
    down, paused, or could not read every key within ``snapshot_wait_s``."""
    keys: set[str] = set()
    for node in cluster.nodes:
        core = cluster.hosts[node].core
        if core is not None:
            keys.update(r.key[1:].decode() for r in core.inner.acceptor.records())
    result: dict[NodeId, bytes | None] = {}
    with trio.move_on_after(cluster.snapshot_wait_s):
        for node in cluster.nodes:
            result[node] = await _read_all(cluster, node, sorted(keys))
    return {node: result.get(node) for node in cluster.nodes}


async def _read_all(cluster: SimCluster, node: NodeId, keys: list[str]) -> bytes | None:
    host = cluster.hosts[node]
    seen = []
    for key in keys:
        log = host.log
        if log is None or host.paused:
            return None
        for _ in range(20):  # a round may give up under contention: read again
            try:
                raw = await log.query(KV_CODEC.encode(Get(key)), timeout_s=READ_TIMEOUT_S)
            except ConsensusError:
                await trio.sleep(0.01)
                continue
            found = decode_result(raw)
            assert isinstance(found, GetResult)
            seen.append(KV_CODEC.encode(found))
            break
        else:
            return None
    return b"".join(seen)
