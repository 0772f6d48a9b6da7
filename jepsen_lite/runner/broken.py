"""Broken-core switches, for tests that prove a run finds bugs (test-only).

Each entry of :data:`BROKEN` names one safety rule of a real protocol core and maps to a
context manager that patches the core's code so that the rule is skipped, for as long as
the block runs, and restores the original function on exit (also on errors). Nothing in
``consensus`` can turn these on: only the sim environment applies one, when a test's
``options["broken"]`` names it (:func:`broken`).

- ``vote-without-log-check``: a Raft node grants its vote (and pre-vote) without Raft's
  election restriction (the candidate's log must be at least as up to date as the
  voter's), so a candidate missing committed entries can win and overwrite them.
- ``read-without-quorum``: a Raft leader answers a ReadIndex request with its commit index
  at once, without the heartbeat round that confirms it still leads, so a deposed leader
  cut off from the others serves stale reads.
- ``promise-ignores-accepted``: a Multi-Paxos proposer counts a promise but ignores the
  values the acceptor reports as accepted, so a new leader fills slots that may already
  have a chosen value with its own no-ops or proposals (phase 1 recovery skipped).

Switches patch module- or class-level functions, so they affect every core in the
process; the sim environment runs one test per process at a time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from consensus.messages import RequestVote
from consensus.messages import RequestVoteResponse as VoteResp
from consensus.paxos import proposer
from consensus.raft import election, replication
from consensus.raft.core import RaftCore
from consensus.types import NodeId


@contextlib.contextmanager
def _patched(owner: Any, name: str, value: Any) -> Iterator[None]:
    old = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, old)


# -- Raft: votes without the log up-to-date check --------------------------------------
def _vote_without_log_check(core: RaftCore, m: RequestVote) -> None:
    can_vote = (
        core.vote == m.src
        or (core.vote is None and core.leader is None)
        or (m.pre_vote and m.term > core.term)
    )
    if can_vote:  # BROKEN: no ``core.log.is_up_to_date(m.last_index, m.last_term)``
        if m.pre_vote:
            core.send(VoteResp(core.id, m.src, m.term, True, True))
        else:
            core.election_elapsed = 0
            core.vote = m.src
            core.send(VoteResp(core.id, m.src, core.term, True, False))
    else:
        core.send(VoteResp(core.id, m.src, core.term, False, m.pre_vote))


def vote_without_log_check() -> contextlib.AbstractContextManager[None]:
    return _patched(election, "handle_vote_request", _vote_without_log_check)


# -- Raft: ReadIndex answered without the heartbeat round ------------------------------
def _read_without_quorum(core: RaftCore, context: bytes, origin: NodeId) -> None:
    if core.log.term(core.log.committed) != core.term:
        if len(core.reads_before_commit) >= core.config.max_pending_reads:
            core.fail_read(context, origin)
        else:
            core.reads_before_commit.append((context, origin))
        return
    # BROKEN: no heartbeat round confirming that this node still leads.
    replication._answer_read(core, context, core.log.committed, origin)


def read_without_quorum() -> contextlib.AbstractContextManager[None]:
    return _patched(replication, "leader_read", _read_without_quorum)


# -- Multi-Paxos: phase 1 ignores what acceptors accepted ------------------------------
_promised = proposer.RangePhaseOne.promised


def _promised_ignoring_votes(
    self: proposer.RangePhaseOne, acceptor: NodeId, commit: int, votes: Iterable[Any]
) -> None:
    # BROKEN: the accepted values an acceptor reports are dropped (phase 1 recovery
    # skipped); only the proposer's own acceptor's votes are kept.
    own = self.ballot.node == acceptor
    _promised(self, acceptor, commit, votes if own else ())


def promise_ignores_accepted() -> contextlib.AbstractContextManager[None]:
    return _patched(proposer.RangePhaseOne, "promised", _promised_ignoring_votes)


BROKEN: dict[str, Callable[[], contextlib.AbstractContextManager[None]]] = {
    "vote-without-log-check": vote_without_log_check,
    "read-without-quorum": read_without_quorum,
    "promise-ignores-accepted": promise_ignores_accepted,
}
"""Every switch by name (see the module docstring)."""


def broken(name: str | None) -> contextlib.AbstractContextManager[None]:
    """The switch ``name`` as a context manager (a no-op for ``None``); ``ValueError``
    naming the choices for an unknown name."""
    if name is None:
        return contextlib.nullcontext()
    try:
        return BROKEN[name]()
    except KeyError:
        choices = ", ".join(sorted(BROKEN))
        raise ValueError(f"unknown broken-core switch {name!r}: choose one of {choices}") from None
