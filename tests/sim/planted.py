"""Realistic bugs planted one at a time in the cores and storage (tests only).

Each :class:`Planted` is a context manager that patches one function of the real code
(and restores it on exit) plus the spec to simulate it with. None of this is reachable
from ``consensus``: the simulator's options cannot turn any of it on.

The classes are those of issue 10; :func:`hunt` runs the default sweep (``--faults all``,
5 nodes, 10 virtual seconds) over seeds until one fails.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import attrs

from consensus.cli.sim import faults_text
from consensus.core import Ready
from consensus.messages import AppendEntries, AppendEntriesResponse
from consensus.raft import RaftCore, follower, replication
from consensus.raft.core import RaftCore as _RaftCore
from consensus.sim.options import SimConfig, available_faults
from consensus.sim.paxos_spec import MULTIPAXOS_SPEC
from consensus.sim.protocols import ProtocolSpec
from consensus.sim.raft_spec import RAFT_SPEC
from consensus.sim.simulation import SimResult, run_seed
from consensus.storage.wal import records, recovery
from consensus.types import NodeId, ProposalTicket

DEFAULT = SimConfig(nodes=5, duration_us=10_000_000, faults=frozenset(available_faults()))
"""``consensus sim --nodes 5 --faults all --time 10``."""
LONG = attrs.evolve(DEFAULT, duration_us=30_000_000)
"""The same with ``--time 30``."""


def replay(spec: ProtocolSpec, config: SimConfig, seed: int) -> str:
    faults = faults_text(config.faults, available_faults())
    return (
        f"consensus sim --protocol {spec.name} --nodes {config.nodes} --seeds {seed} "
        f"--faults {faults} --time {config.duration_us / 1e6:g}"
    )


@attrs.frozen
class Found:
    result: SimResult
    replay: str


def hunt(spec: ProtocolSpec, seeds: Sequence[int], config: SimConfig = DEFAULT) -> Found | None:
    """The first seed of ``seeds`` whose run reports a violation, with its replay line."""
    for seed in seeds:
        result = run_seed(spec, config, seed)
        if result.violation is not None:
            return Found(result, replay(spec, config, seed))
    return None


@contextlib.contextmanager
def patched(owner: Any, name: str, value: Any) -> Iterator[None]:
    old = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, old)


# -- 1. Figure 8: commit an entry of an earlier term by counting its replicas ---------------
def _commit_any_term(core: _RaftCore) -> bool:
    log = core.log
    n = replication.committed_index({v: p.match for v, p in core.progress.items()}, core.voters)
    if n > log.committed:  # BUG: no ``log.term(n) == core.term``
        log.commit_to(n)
        return True
    return False


def figure8() -> contextlib.AbstractContextManager[None]:
    return patched(replication, "maybe_commit", _commit_any_term)


# -- 2. ReadIndex answered without its heartbeat round ---------------------------------------
def _read_without_round(core: _RaftCore, context: bytes, origin: NodeId) -> None:
    if core.log.term(core.log.committed) != core.term:
        core.reads_before_commit.append((context, origin))
        return
    replication._answer_read(core, context, core.log.committed, origin)  # BUG: no round


def unconfirmed_reads() -> contextlib.AbstractContextManager[None]:
    return patched(replication, "leader_read", _read_without_round)


# -- 3. a follower commits past what this AppendEntries verified ----------------------------
def _commit_past_verified(core: _RaftCore, m: AppendEntries) -> None:
    log = core.log
    if not follower.well_formed(m):
        return
    if m.prev_index < log.committed:
        core.send(AppendEntriesResponse(core.id, m.src, core.term, True, log.committed))
        return
    last_new = log.try_append(m.prev_index, m.prev_term, m.entries)
    if last_new is not None:
        log.commit_to(min(m.commit, log.last_index()))  # BUG: last_index, not last_new
        core.send(AppendEntriesResponse(core.id, m.src, core.term, True, last_new))
        return
    hint_index = log.conflict_hint(m.prev_index, m.prev_term)
    hint_term = log.term(hint_index) or 0
    core.send(
        AppendEntriesResponse(core.id, m.src, core.term, False, m.prev_index, hint_index, hint_term)
    )


def follower_overcommits() -> contextlib.AbstractContextManager[None]:
    return patched(follower, "handle_append", _commit_past_verified)


# -- 4. durable state not synced before the reply that vouches for it -----------------------
class _NoSyncWithoutEntries:
    """Asks for an fsync only when there are entries or a snapshot: a vote (Raft) or a
    promise (Paxos) is written, but the reply leaves before it is synced."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def ready(self) -> Ready[Any]:
        rd: Ready[Any] = self.inner.ready()
        if rd.must_sync and not rd.entries and rd.snapshot is None:
            accepted = getattr(rd.hard_state, "accepted", ())
            if not accepted:  # BUG: a term/vote/promise alone "needs no fsync"
                return attrs.evolve(rd, must_sync=False)
        return rd


def _wrap(spec: ProtocolSpec, wrapper: Callable[[Any], Any], name: str) -> ProtocolSpec:
    make = spec.make_core

    def make_core(node: NodeId, voters: tuple[NodeId, ...], rng: random.Random, rec: Any) -> Any:
        return wrapper(make(node, voters, rng, rec))

    return attrs.evolve(spec, name=f"{spec.name}+{name}", make_core=make_core)


UNSYNCED_VOTE = _wrap(RAFT_SPEC, _NoSyncWithoutEntries, "unsynced-vote")
UNSYNCED_PROMISE = _wrap(MULTIPAXOS_SPEC, _NoSyncWithoutEntries, "unsynced-promise")


# -- 5. recovery that trusts the disk: no CRC check -----------------------------------------
def _scan_without_crc(
    data: bytes,
    offset: int,
    start: int,
    record_bytes_max: int,
    visit: Callable[[int, int, memoryview], None],
) -> tuple[int, records.BadFrame | None, int | None]:
    view = memoryview(data)
    size = len(data)
    last_synced = None
    while offset < size:
        if size - offset >= records.HEADER_BYTES:
            _crc, length, synced = records.HEADER.unpack_from(data, offset)
            end = offset + records.HEADER_BYTES + length
            if 0 < length <= record_bytes_max and end <= size:  # BUG: CRC never checked
                visit(start, start + offset, view[offset + records.HEADER_BYTES : end])
                last_synced = synced
                offset = end
                continue
        return offset, records.BadFrame(offset, "short or bad header"), last_synced
    return offset, None, last_synced


def wal_without_crc() -> contextlib.AbstractContextManager[None]:
    return patched(recovery, "scan_frames", _scan_without_crc)


# -- 6. the leader counts its own copy before its own fsync ---------------------------------
_propose = _RaftCore.propose


def _propose_counting_self(self: RaftCore, data: bytes) -> ProposalTicket:
    ticket = _propose(self, data)
    # BUG: our copy is not on disk yet (advance() has not said so)
    if self.progress[self.id].acknowledged(self.log.last_index()):
        replication.maybe_commit(self)
    return ticket


def self_counted_early() -> contextlib.AbstractContextManager[None]:
    return patched(_RaftCore, "propose", _propose_counting_self)


# -- 7. a follower that takes entries it already holds for a conflict: the cluster thrashes --
def _refuse_held(core: _RaftCore, m: AppendEntries) -> None:
    log = core.log
    held = bool(m.entries) and all(log.term(e.index) == e.term for e in m.entries)
    if held and m.prev_index >= log.committed and log.term(m.prev_index) == m.prev_term:
        # BUG: "already there" is answered as a conflict at prev_index: the leader backs
        # off and sends the same entries again, for ever.
        core.send(
            AppendEntriesResponse(
                core.id, m.src, core.term, False, m.prev_index, m.prev_index, m.prev_term
            )
        )
        return
    _handle_append(core, m)


_handle_append = follower.handle_append


def thrashing_follower() -> contextlib.AbstractContextManager[None]:
    return patched(follower, "handle_append", _refuse_held)


# -- membership: the single-server rules -----------------------------------------------------
def second_change_in_flight() -> contextlib.AbstractContextManager[None]:
    """A leader takes a membership change while another is still uncommitted."""
    return patched(_RaftCore, "_uncommitted_change", lambda self: 0)


def change_before_own_term_commit() -> contextlib.AbstractContextManager[None]:
    """A new leader takes a membership change before an entry of its term committed
    (the single-server bug: an earlier leader's uncommitted change may be in its log)."""
    return patched(_RaftCore, "_committed_in_term", lambda self: True)
