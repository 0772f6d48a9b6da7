"""The shared membership vocabulary: configurations, single-step changes, the entry payload."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consensus.membership import ChangeKind, ConfChange, Membership, MembershipError


def test_of_sorts_and_keeps_addresses() -> None:
    m = Membership.of([3, 1, 2], [5], {5: "h:5", 1: "h:1"})
    assert m.voters == (1, 2, 3)
    assert m.learners == (5,)
    assert m.addresses == ((1, "h:1"), (5, "h:5"))
    assert m.members == (1, 2, 3, 5)
    assert m.quorum() == 2
    assert m.address(5) == "h:5" and m.address(2) is None
    assert m.describe() == "voters [1, 2, 3] learners [5]"


@pytest.mark.parametrize(
    ("voters", "learners", "addresses", "message"),
    [
        ((), (), (), "at least one voter"),
        ((2, 1), (), (), "sorted and distinct"),
        ((1, 1), (), (), "sorted and distinct"),
        ((0,), (), (), ">= 1"),
        ((1, 2), (2,), (), "both voter and learner"),
        ((1,), (), ((2, "x"),), "non-members [2]"),
        ((1, 2), (), ((2, "x"), (1, "y")), "sorted by id"),
    ],
)
def test_invalid_configurations_are_refused(
    voters: tuple[int, ...],
    learners: tuple[int, ...],
    addresses: tuple[tuple[int, str], ...],
    message: str,
) -> None:
    with pytest.raises(MembershipError, match=re.escape(message)):
        Membership(voters, learners, addresses)


def test_of_refuses_duplicates() -> None:
    with pytest.raises(MembershipError, match="distinct"):
        Membership.of([1, 2, 2])


def test_the_operator_sequence_replaces_a_node() -> None:
    m = Membership.of([1, 2, 3])
    m = m.apply(ConfChange(ChangeKind.ADD_LEARNER, 4, "h:4"))
    assert (m.voters, m.learners, m.address(4)) == ((1, 2, 3), (4,), "h:4")
    m = m.apply(ConfChange(ChangeKind.PROMOTE, 4))
    assert (m.voters, m.learners) == ((1, 2, 3, 4), ())
    m = m.apply(ConfChange(ChangeKind.REMOVE, 1))
    assert (m.voters, m.learners, m.addresses) == ((2, 3, 4), (), ((4, "h:4"),))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (ConfChange(ChangeKind.ADD_LEARNER, 2), "already a voter"),
        (ConfChange(ChangeKind.ADD_LEARNER, 5), "already a learner"),
        (ConfChange(ChangeKind.PROMOTE, 1), "already a voter"),
        (ConfChange(ChangeKind.PROMOTE, 9), "not a learner"),
        (ConfChange(ChangeKind.REMOVE, 9), "not a member"),
    ],
)
def test_changes_that_do_not_apply_are_refused(change: ConfChange, message: str) -> None:
    with pytest.raises(MembershipError, match=message):
        Membership.of([1, 2], [5]).apply(change)


def test_the_last_voter_cannot_be_removed_but_a_learner_beside_it_can() -> None:
    m = Membership.of([1], [2])
    with pytest.raises(MembershipError, match="last voter"):
        m.apply(ConfChange(ChangeKind.REMOVE, 1))
    assert m.apply(ConfChange(ChangeKind.REMOVE, 2)) == Membership.of([1])


def test_conf_change_validates_and_describes() -> None:
    with pytest.raises(MembershipError, match=">= 1"):
        ConfChange(ChangeKind.REMOVE, 0)
    assert ConfChange(ChangeKind.ADD_LEARNER, 4, "h:4").describe() == "add-learner node 4 at h:4"


@pytest.mark.parametrize(
    "data", [b"", b"\xff", b"\x80", b"\x83\x80\x80\x81\x82\x01\x02", b"\x83\x81\x00\x80\x80"]
)
def test_decode_refuses_what_is_not_a_configuration(data: bytes) -> None:
    with pytest.raises(MembershipError):
        Membership.decode(data)


_ids = st.lists(st.integers(1, 50), unique=True, min_size=1, max_size=9)


@given(_ids, st.data())
def test_encode_round_trips_and_each_change_moves_one_voter_at_most(
    ids: list[int], data: st.DataObject
) -> None:
    split = data.draw(st.integers(1, len(ids)))
    voters, learners = ids[:split], ids[split:]
    addressed = data.draw(st.lists(st.sampled_from(ids), unique=True))
    m = Membership.of(voters, learners, {n: f"127.0.0.1:{7000 + n}" for n in addressed})
    assert Membership.decode(m.encode()) == m
    change = ConfChange(data.draw(st.sampled_from(ChangeKind)), data.draw(st.integers(1, 60)))
    try:
        after = m.apply(change)
    except MembershipError:
        return
    moved = set(m.voters) ^ set(after.voters)
    assert len(moved) <= 1
    assert _majorities_intersect(set(m.voters), set(after.voters))
    assert after.one_step_from(m)


def _majorities_intersect(old: set[int], new: set[int]) -> bool:
    """True iff every majority of ``old`` meets every majority of ``new``: disjoint ones
    exist iff the shared nodes can cover what each side needs beyond its own nodes."""
    shared = old & new
    need_old = max(0, len(old) // 2 + 1 - len(old - new))
    need_new = max(0, len(new) // 2 + 1 - len(new - old))
    return need_old + need_new > len(shared)


def test_the_intersection_check_can_fail() -> None:
    assert not _majorities_intersect({1, 2}, {3, 4})
    assert not _majorities_intersect({1, 2, 3}, {1, 2, 3, 4, 5})  # two voters added at once
    assert _majorities_intersect({1, 2, 3}, {1, 2, 3, 4})


def test_one_step_from_refuses_two_steps_and_no_step() -> None:
    old = Membership.of([1, 2, 3])
    assert not Membership.of([1, 2, 3, 4, 5]).one_step_from(old)  # two voters added
    assert not Membership.of([1, 2, 4]).one_step_from(old)  # a replacement is two steps
    assert not old.one_step_from(old)
