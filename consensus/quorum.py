"""Majority arithmetic: commit indexes and vote tallies. Pure and tiny on purpose.

Tested against a deliberately naive second implementation (``tests/test_quorum.py``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping

from .types import Index, NodeId


def majority(voters: int) -> int:
    """The smallest number of voters that is more than half of ``voters`` (>= 1)."""
    if voters < 1:
        raise ValueError(f"a quorum needs at least one voter, got {voters}")
    return voters // 2 + 1


def committed_index(match: Mapping[NodeId, Index], voters: Iterable[NodeId]) -> Index:
    """The largest index that a majority of ``voters`` have (missing voters count as 0).

    That is the majority-th largest match index: sort descending, take position
    ``majority - 1``.
    """
    indexes = sorted((match.get(v, 0) for v in voters), reverse=True)
    return indexes[majority(len(indexes)) - 1]


class VoteResult(enum.Enum):
    PENDING = "pending"
    WON = "won"
    LOST = "lost"


class VoteTally:
    """Votes of one election (or pre-election, or Paxos phase) among fixed ``voters``.

    A voter's first answer counts; later answers from it are ignored, so duplicated
    messages cannot change an outcome. Answers from non-voters are ignored.
    """

    __slots__ = ("_granted", "_rejected", "_voters")

    def __init__(self, voters: Iterable[NodeId]) -> None:
        self._voters = frozenset(voters)
        if not self._voters:
            raise ValueError("a vote needs at least one voter")
        self._granted: set[NodeId] = set()
        self._rejected: set[NodeId] = set()

    def record(self, voter: NodeId, granted: bool) -> None:
        if voter not in self._voters or voter in self._granted or voter in self._rejected:
            return
        (self._granted if granted else self._rejected).add(voter)

    @property
    def granted(self) -> frozenset[NodeId]:
        return frozenset(self._granted)

    def result(self) -> VoteResult:
        need = majority(len(self._voters))
        if len(self._granted) >= need:
            return VoteResult.WON
        if len(self._voters) - len(self._rejected) < need:
            return VoteResult.LOST
        return VoteResult.PENDING
