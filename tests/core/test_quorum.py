"""Quorum arithmetic against a deliberately naive second implementation."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consensus.quorum import VoteResult, VoteTally, committed_index, majority


def naive_committed(match: dict[int, int], voters: list[int]) -> int:
    """The largest index i such that more than half of the voters have match >= i."""
    best = 0
    for i in range(0, max([0, *match.values()]) + 1):
        if sum(1 for v in voters if match.get(v, 0) >= i) * 2 > len(voters):
            best = i
    return best


def naive_result(voters: list[int], answers: list[tuple[int, bool]]) -> VoteResult:
    first: dict[int, bool] = {}
    for voter, granted in answers:
        if voter in voters and voter not in first:
            first[voter] = granted
    yes = sum(1 for g in first.values() if g)
    no = sum(1 for g in first.values() if not g)
    # won if yes is a majority; lost if even all silent voters saying yes can't win
    if yes * 2 > len(voters):
        return VoteResult.WON
    if (len(voters) - no) * 2 <= len(voters):
        return VoteResult.LOST
    return VoteResult.PENDING


voter_sets = st.lists(st.integers(1, 9), min_size=1, max_size=7, unique=True)


@given(
    voter_sets.flatmap(
        lambda vs: st.tuples(st.just(vs), st.dictionaries(st.sampled_from(vs), st.integers(0, 50)))
    )
)
def test_committed_index_matches_naive(case: tuple[list[int], dict[int, int]]) -> None:
    voters, match = case
    assert committed_index(match, voters) == naive_committed(match, voters)


@given(
    voter_sets.flatmap(
        lambda vs: st.tuples(
            st.just(vs), st.lists(st.tuples(st.integers(0, 10), st.booleans()), max_size=20)
        )
    )
)
def test_vote_tally_matches_naive(case: tuple[list[int], list[tuple[int, bool]]]) -> None:
    voters, answers = case
    tally = VoteTally(voters)
    for voter, granted in answers:
        tally.record(voter, granted)
    assert tally.result() == naive_result(voters, answers)


def test_majority_of_small_clusters() -> None:
    assert [majority(n) for n in range(1, 8)] == [1, 2, 2, 3, 3, 4, 4]
    with pytest.raises(ValueError, match="at least one voter"):
        majority(0)


def test_duplicate_votes_do_not_change_the_outcome() -> None:
    tally = VoteTally([1, 2, 3])
    for _ in range(3):
        tally.record(1, True)
    assert tally.result() is VoteResult.PENDING
    tally.record(2, False)
    tally.record(2, True)  # a second, contradicting answer from 2 is ignored
    assert tally.result() is VoteResult.PENDING
    tally.record(3, True)
    assert tally.result() is VoteResult.WON


def test_every_split_of_five_voters() -> None:
    for yes in range(6):
        for no in range(6 - yes):
            tally = VoteTally(range(1, 6))
            for v, granted in itertools.chain(
                ((v, True) for v in range(1, 1 + yes)),
                ((v, False) for v in range(1 + yes, 1 + yes + no)),
            ):
                tally.record(v, granted)
            expected = (
                VoteResult.WON if yes >= 3 else VoteResult.LOST if no >= 3 else VoteResult.PENDING
            )
            assert tally.result() is expected, (yes, no)
