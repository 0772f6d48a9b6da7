"""SinglePaxos: one instance composed of the acceptor, proposer and learner rules."""

from __future__ import annotations

import random

import pytest

from consensus.errors import ProposalDropped
from consensus.messages import Accept, Ballot, Chosen, Nack, PaxosHardState, Prepare, Promise
from consensus.paxos import InstanceConfig, SinglePaxos
from consensus.types import Entry

from .helpers import Net, of_type, out, take


def instance(n: int = 3, seed: int = 0) -> tuple[Net, dict[int, SinglePaxos]]:
    ids = tuple(range(1, n + 1))
    nodes = {i: SinglePaxos(i, ids, random.Random(seed * 10 + i)) for i in ids}
    return Net(dict(nodes)), nodes


def test_a_lone_proposer_gets_its_value_chosen_and_everyone_learns_it() -> None:
    net, nodes = instance()
    ticket = nodes[1].propose(b"x")
    net.run()
    want = Entry(1, ticket.term, b"x")
    assert ticket.index == 1 and ticket.term == Ballot(1, 1).as_term()
    assert all(node.chosen == want for node in nodes.values())
    assert all(net.committed[i] == [want] for i in nodes)


def test_the_prepare_leaves_with_the_self_promise_synced_in_the_same_ready() -> None:
    _, nodes = instance()
    nodes[1].propose(b"x")
    rd = take(nodes[1])
    assert rd.must_sync
    assert rd.hard_state == PaxosHardState(Ballot(1, 1), 0, ())
    assert [type(m) for m in rd.messages] == [Prepare, Prepare]


def test_a_promise_and_its_hard_state_leave_in_one_synced_ready() -> None:
    _, nodes = instance()
    nodes[2].step(Prepare(1, 2, Ballot(1, 1), 1))
    rd = take(nodes[2])
    assert rd.must_sync and rd.hard_state is not None
    assert rd.hard_state.promised == Ballot(1, 1)
    assert of_type(out(rd), Promise) == [Promise(2, 1, Ballot(1, 1), 1, 0, ())]


def test_a_later_proposer_adopts_the_voted_value_with_its_origin_term() -> None:
    net, nodes = instance()
    first = nodes[1].propose(b"x")
    net.run(drop=lambda m: isinstance(m, Chosen))  # 2 and 3 voted for x, only 1 knows
    assert nodes[1].chosen is not None and nodes[3].chosen is None
    nodes[3].propose(b"y")
    net.run(drop=lambda m: m.dst == 1)  # 3 must find x through phase 1 with node 2
    assert nodes[3].chosen == Entry(1, first.term, b"x")
    assert nodes[2].chosen == Entry(1, first.term, b"x")


def test_a_nack_makes_the_proposer_jump_past_the_promised_ballot() -> None:
    _, nodes = instance()
    nodes[1].propose(b"x")
    take(nodes[1])
    nodes[1].step(Nack(2, 1, Ballot(1, 1), Ballot(7, 3)))
    assert not take(nodes[1]).messages  # it backs off first
    for _ in range(InstanceConfig().retry_ticks_max):
        nodes[1].tick()
    prepares = of_type(take(nodes[1]).messages, Prepare)
    assert prepares and prepares[0].ballot == Ballot(8, 1)


def test_a_node_that_knows_the_chosen_value_answers_with_it() -> None:
    net, nodes = instance()
    ticket = nodes[1].propose(b"x")
    net.run()
    nodes[2].step(Accept(3, 2, Ballot(9, 3), (Entry(1, 5, b"z"),), 0))
    assert of_type(take(nodes[2]).messages, Chosen) == [
        Chosen(2, 3, (Entry(1, ticket.term, b"x"),), 1)
    ]


def test_duelling_proposers_still_choose_exactly_one_value() -> None:
    net, nodes = instance(5, seed=3)
    for i in nodes:
        nodes[i].propose(f"v{i}".encode())
    for _ in range(200):
        net.run()
        if all(node.chosen is not None for node in nodes.values()):
            break
        for i in nodes:
            net.tick(i)
    values = {node.chosen for node in nodes.values()}
    assert len(values) == 1 and None not in values


def test_proposing_twice_is_refused() -> None:
    _, nodes = instance()
    nodes[1].propose(b"x")
    with pytest.raises(ProposalDropped, match="node 1 is already proposing"):
        nodes[1].propose(b"y")


def test_proposing_after_a_value_is_chosen_is_refused() -> None:
    net, nodes = instance()
    nodes[1].propose(b"x")
    net.run()
    with pytest.raises(ProposalDropped, match="a value is already chosen"):
        nodes[2].propose(b"y")


def test_a_restarted_acceptor_keeps_its_synced_promise_and_vote() -> None:
    net, nodes = instance()
    nodes[1].propose(b"x")
    net.run()
    store = net.storage[2]
    again = SinglePaxos(2, (1, 2, 3), random.Random(0), recovered=store.recover())
    assert again.acceptor_state == nodes[2].acceptor_state
    assert again.chosen is None  # learning needs no fsync: a crash may forget it
    store.sync()
    again = SinglePaxos(2, (1, 2, 3), random.Random(0), recovered=store.recover())
    assert again.chosen == nodes[2].chosen is not None


def test_bad_membership_is_refused() -> None:
    with pytest.raises(ValueError, match=r"node 4 is not among the acceptors \[1, 2, 3\]"):
        SinglePaxos(4, (1, 2, 3), random.Random(0))
    with pytest.raises(ValueError, match="acceptors must be distinct"):
        SinglePaxos(1, (1, 1, 2), random.Random(0))
    with pytest.raises(ValueError, match="retry_ticks_min < retry_ticks_max"):
        InstanceConfig(5, 5)
