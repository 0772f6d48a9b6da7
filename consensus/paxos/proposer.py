"""The proposer's phase 1: choosing ballots and the value a ballot may propose.

The rule (Lamport's P2c): a proposer that has promises from a majority for ballot ``b``
must propose, in ``b``, the value of the highest-ballot vote any of them reported; only if
none reported a vote may it propose its own. :class:`PhaseOne` applies it to one instance;
:class:`RangePhaseOne` to every slot from ``first_slot`` on at once (Multi-Paxos, where a
promise reports votes for the whole open range and the acceptor's commit index stands for
the chosen slots below it).
"""

from __future__ import annotations

from collections.abc import Iterable

from ..messages import AcceptedRecord, Ballot
from ..quorum import VoteResult, VoteTally
from ..types import Entry, Index, NodeId


def next_ballot(node: NodeId, above: Ballot) -> Ballot:
    """The smallest ballot of ``node`` above ``above``: round ``above.round + 1``."""
    return Ballot(above.round + 1, node)


def highest(votes: Iterable[AcceptedRecord | None]) -> AcceptedRecord | None:
    """The vote with the highest ballot, or None if there is none."""
    best: AcceptedRecord | None = None
    for vote in votes:
        if vote is not None and (best is None or vote.ballot > best.ballot):
            best = vote
    return best


class PhaseOne:
    """Phase 1 of ``ballot`` over one instance among ``acceptors``.

    Each acceptor's first answer counts (duplicates are ignored), so the outcome does not
    depend on message duplication.
    """

    __slots__ = ("_highest", "_tally", "ballot")

    def __init__(self, ballot: Ballot, acceptors: Iterable[NodeId]) -> None:
        self.ballot = ballot
        self._tally = VoteTally(acceptors)
        self._highest: AcceptedRecord | None = None

    def promised(self, acceptor: NodeId, vote: AcceptedRecord | None) -> None:
        if acceptor in self._tally.granted:
            return
        self._tally.record(acceptor, True)
        if acceptor in self._tally.granted:
            self._highest = highest((self._highest, vote))

    def refused(self, acceptor: NodeId) -> None:
        self._tally.record(acceptor, False)

    def result(self) -> VoteResult:
        return self._tally.result()

    def value(self, own: Entry) -> Entry:
        """What this ballot must propose: the highest reported vote's value, else ``own``."""
        return self._highest.entry if self._highest is not None else own


class RangePhaseOne:
    """Phase 1 of ``ballot`` for every slot from ``first_slot`` on (Multi-Paxos).

    Collects, per slot, the highest vote reported, and the highest commit index reported
    (with who reported it: that node can send the chosen values up to it).
    """

    __slots__ = ("_tally", "ballot", "first_slot", "max_commit", "max_commit_node", "votes")

    def __init__(self, ballot: Ballot, acceptors: Iterable[NodeId], first_slot: Index) -> None:
        self.ballot = ballot
        self.first_slot = first_slot
        self._tally = VoteTally(acceptors)
        self.votes: dict[Index, AcceptedRecord] = {}
        self.max_commit: Index = first_slot - 1
        self.max_commit_node: NodeId | None = None

    def promised(self, acceptor: NodeId, commit: Index, votes: Iterable[AcceptedRecord]) -> None:
        if acceptor in self._tally.granted:
            return
        self._tally.record(acceptor, True)
        if acceptor not in self._tally.granted:
            return  # not a voter, or it refused earlier
        if commit > self.max_commit:
            self.max_commit, self.max_commit_node = commit, acceptor
        for vote in votes:
            if vote.slot < self.first_slot:
                continue
            old = self.votes.get(vote.slot)
            if old is None or vote.ballot > old.ballot:
                self.votes[vote.slot] = vote

    def refused(self, acceptor: NodeId) -> None:
        self._tally.record(acceptor, False)

    def result(self) -> VoteResult:
        return self._tally.result()

    @property
    def granted(self) -> frozenset[NodeId]:
        return self._tally.granted

    def frontier(self) -> Index:
        """The last slot anything may have been chosen at before this ballot: the highest
        reported commit or vote."""
        return max(self.max_commit, max(self.votes, default=0))
