"""The invariant checks alone: each one passes on good input and fails on bad input."""

from __future__ import annotations

from typing import Any

import pytest

from consensus.core import Ready, Role
from consensus.messages import RequestVoteResponse
from consensus.sim.history import History, Replica
from consensus.sim.raft_spec import RaftInvariants
from consensus.sim.violation import SimViolation
from consensus.types import Entry, ProposalTicket, ReadState, Snapshot, SnapshotMeta

from .fake_core import FakeLog


def e(index: int, term: int, data: bytes = b"x") -> Entry:
    return Entry(index, term, data)


# -- History: generic checks ------------------------------------------------------------
def test_state_machine_safety() -> None:
    h = History()
    a, b = Replica(1), Replica(2)
    h.apply(a, e(1, 1, b"one"))
    h.apply(b, e(1, 1, b"one"))  # equal, not identical: fine
    h.apply(a, e(2, 1, b"two"))
    with pytest.raises(SimViolation, match=r"state-machine-safety: node 2 applied .* at index 2"):
        h.apply(b, e(2, 2, b"two"))
    with pytest.raises(SimViolation, match="state-machine-safety"):
        h.apply(b, e(2, 1, b"other"))


def test_apply_order() -> None:
    h = History()
    r = Replica(3)
    h.apply(r, e(1, 1))
    with pytest.raises(SimViolation, match="apply-order: node 3 applied index 3 after index 1"):
        h.apply(r, e(3, 1))
    with pytest.raises(SimViolation, match="apply-order: node 3 applied index 1 after index 1"):
        h.apply(r, e(1, 1))


def test_tickets_resolve_on_apply() -> None:
    h = History()
    r = Replica(1)
    outcomes: list[bool] = []
    h.proposed(1, ProposalTicket(1, 1), b"a", outcomes.append)
    h.proposed(1, ProposalTicket(2, 1), b"b", outcomes.append)
    h.apply(r, e(1, 1, b"a"))
    h.apply(r, e(2, 2, b"z"))  # another term won index 2: proposal dropped, no violation
    assert outcomes == [True, False]
    assert h.acked == {1: 1}
    assert h.acked_max == 1
    assert h.pending_tickets(1) == 0


def test_ticket_with_wrong_data_is_a_lost_acknowledgement() -> None:
    h = History()
    h.proposed(1, ProposalTicket(1, 1), b"mine", None)
    with pytest.raises(SimViolation, match=r"acknowledged-proposal-lost: node 1 applied \(1, 1\)"):
        h.apply(Replica(1), e(1, 1, b"theirs"))


def test_crash_forgets_pending_tickets() -> None:
    h = History()
    h.proposed(2, ProposalTicket(1, 1), b"a", None)
    h.forget(2)
    h.apply(Replica(2), e(1, 1, b"a"))
    assert h.acked == {}


def test_check_acked_after_heal() -> None:
    h = History()
    a, b = Replica(1), Replica(2)
    h.proposed(1, ProposalTicket(1, 1), b"a", None)
    h.apply(a, e(1, 1, b"a"))
    with pytest.raises(SimViolation, match="node 2 applied only up to 0 after the heal"):
        h.check_acked([a, b])
    h.apply(b, e(1, 1, b"a"))
    h.check_acked([a, b])


def test_stale_read() -> None:
    h = History()
    r = Replica(1)
    h.read_started(1, b"early", None)  # before anything was acknowledged
    h.proposed(1, ProposalTicket(1, 1), b"a", None)
    h.apply(r, e(1, 1, b"a"))
    done: list[bool] = []
    h.read_started(1, b"late", done.append)
    h.read_state(1, ReadState(b"early", 0))  # fine: started before the ack
    h.read_state(1, ReadState(b"late", 1))
    assert done == [True]
    h.read_started(1, b"stale", None)
    with pytest.raises(SimViolation, match=r"stale-read: node 1 answered read b'stale' at index 0"):
        h.read_state(1, ReadState(b"stale", 0))
    h.read_started(2, b"gone", done.append)
    h.read_dropped(2, b"gone")
    assert done == [True, False]


def test_snapshot_install_checks_the_image() -> None:
    h = History()
    a, b = Replica(1), Replica(2)
    h.proposed(2, ProposalTicket(2, 1), b"y", None)
    for entry in (e(1, 1, b"x"), e(2, 1, b"y")):
        h.apply(a, entry)
    good = Snapshot(SnapshotMeta(2, 1, (1, 2)), a.image())
    h.install(b, good)
    assert (b.applied, b.hash) == (a.applied, a.hash)
    assert h.acked == {2: 1}  # the snapshot covered node 2's ticket
    wrong_term = Snapshot(SnapshotMeta(2, 5, (1, 2)), a.image())
    with pytest.raises(SimViolation, match=r"snapshot-consistency: node 3 installed .* \(2, 5\)"):
        h.install(Replica(3), wrong_term)
    c = Replica(3)
    h.apply(c, e(1, 1, b"x"))
    bad_state = Snapshot(SnapshotMeta(1, 1, (1, 2)), Replica(9).image()[:8] + c.image()[8:])
    with pytest.raises(SimViolation, match="holding index 0"):
        h.install(Replica(4), bad_state)


# -- RaftInvariants -----------------------------------------------------------------------
class StubRaft:
    """What RaftInvariants reads from a core: role, term, log."""

    def __init__(self, role: Role, term: int, entries: list[Entry]) -> None:
        self.role = role
        self.term = term
        self.log = FakeLog(tuple(entries))


def ready(**kw: Any) -> Ready[Any]:
    return Ready(**kw)


def test_election_safety() -> None:
    inv = RaftInvariants()
    inv.observe(1, StubRaft(Role.LEADER, 2, []), ready())
    inv.observe(1, StubRaft(Role.LEADER, 2, []), ready())  # same leader again: fine
    inv.observe(2, StubRaft(Role.LEADER, 3, []), ready())
    with pytest.raises(
        SimViolation, match="election-safety: nodes 1 and 3 are both leaders of term 2"
    ):
        inv.observe(3, StubRaft(Role.LEADER, 2, []), ready())


def test_one_vote_per_term() -> None:
    inv = RaftInvariants()
    f = StubRaft(Role.FOLLOWER, 4, [])
    inv.observe(1, f, ready(messages=(RequestVoteResponse(1, 2, 4, True, True),)))
    inv.observe(1, f, ready(messages=(RequestVoteResponse(1, 3, 4, True, True),)))  # pre-votes
    inv.observe(1, f, ready(messages=(RequestVoteResponse(1, 2, 4, True),)))
    inv.observe(1, f, ready(messages=(RequestVoteResponse(1, 2, 4, True),)))  # repeated: fine
    inv.observe(1, f, ready(messages=(RequestVoteResponse(1, 3, 4, False),)))  # refusal
    with pytest.raises(SimViolation, match="one-vote-per-term: node 1 voted for node 3 in term 4"):
        inv.observe(1, f, ready(messages=(RequestVoteResponse(1, 3, 4, True),)))


def test_log_matching() -> None:
    inv = RaftInvariants()
    log = [e(1, 1), e(2, 1), e(3, 2)]
    inv.observe(1, StubRaft(Role.FOLLOWER, 2, log), ready(entries=tuple(log)))
    # node 2 writes (3, 2) after an entry of term 1: agrees
    inv.observe(2, StubRaft(Role.FOLLOWER, 2, log[:2]), ready(entries=(log[2],)))
    other = [e(1, 1), e(2, 2), e(3, 2)]
    with pytest.raises(
        SimViolation, match=r"log-matching: node 3 wrote entry \(3, 2\) after an entry of term 2"
    ):
        inv.observe(3, StubRaft(Role.FOLLOWER, 2, other), ready(entries=tuple(other)))
    with pytest.raises(SimViolation, match=r"log-matching: node 4 wrote .* same index and term"):
        inv.observe(4, StubRaft(Role.FOLLOWER, 2, []), ready(entries=(e(1, 1, b"other"),)))


def test_leader_completeness() -> None:
    inv = RaftInvariants()
    log = [e(1, 1), e(2, 1)]
    inv.observe(1, StubRaft(Role.FOLLOWER, 1, log), ready(committed=tuple(log)))
    inv.observe(2, StubRaft(Role.LEADER, 2, [*log, e(3, 2)]), ready())  # has both: fine
    with pytest.raises(
        SimViolation,
        match=r"leader-completeness: node 3 became leader of term 3 with term None at index 2, "
        r"where an entry of term 1 was committed in term 1",
    ):
        inv.observe(3, StubRaft(Role.LEADER, 3, log[:1]), ready())


def test_leader_completeness_spares_a_stale_election() -> None:
    """A candidate of term 4 that wins with late votes after a leader of term 5 committed
    entries need not hold them: they were committed in a later term."""
    inv = RaftInvariants()
    log = [e(1, 1), e(2, 5)]
    inv.observe(1, StubRaft(Role.LEADER, 5, log), ready(committed=tuple(log)))
    inv.observe(4, StubRaft(Role.LEADER, 4, log[:1]), ready())  # no violation
    with pytest.raises(SimViolation, match="node 6 became leader of term 6 with term 1 at index 2"):
        inv.observe(6, StubRaft(Role.LEADER, 6, [e(1, 1), e(2, 1)]), ready())


def test_recovered_log_is_checked_on_restart() -> None:
    inv = RaftInvariants()
    log = [e(1, 1), e(2, 1)]
    inv.observe(1, StubRaft(Role.FOLLOWER, 1, log), ready(entries=tuple(log)))
    inv.restarted(1, StubRaft(Role.FOLLOWER, 1, log))
    with pytest.raises(
        SimViolation, match=r"log-matching: node 2 recovered Entry\(index=2, term=1, data=b'bad'"
    ):
        inv.restarted(2, StubRaft(Role.FOLLOWER, 1, [e(1, 1), e(2, 1, b"bad")]))
