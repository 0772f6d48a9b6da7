"""Paper rules of each role of the leaderless per-key Paxos core, and its contract."""

from __future__ import annotations

import random

import pytest

from consensus.errors import ProposalDropped
from consensus.lwt import LwtAcceptor, LwtConfig, LwtCore, LwtOp, LwtOpKind, LwtStatus
from consensus.lwt.coordinator import Operation, Promised, choose
from consensus.lwt.ops import encode_op
from consensus.messages.lwt import (
    LwtAccept,
    LwtAccepted,
    LwtNack,
    LwtPrepare,
    LwtPromise,
)
from consensus.messages.paxos import ZERO_BALLOT, Ballot
from consensus.types import ProposalTicket

from .harness import Net, cas, get, put

K = b"k"


# -- acceptor -----------------------------------------------------------------------------
def test_no_promise_below_the_promised_ballot() -> None:
    acc = LwtAcceptor()
    assert not isinstance(acc.prepare(K, Ballot(5, 1)), Ballot)
    assert acc.prepare(K, Ballot(4, 2)) == Ballot(5, 1)
    assert acc.prepare(K, Ballot(5, 0)) == Ballot(5, 1)
    assert acc.record(K).promised == Ballot(5, 1)


def test_accept_only_at_or_above_the_promised_ballot() -> None:
    acc = LwtAcceptor()
    acc.prepare(K, Ballot(5, 1))
    assert acc.accept(K, Ballot(4, 3), b"x", Ballot(4, 3), ZERO_BALLOT) == Ballot(5, 1)
    assert acc.record(K).value is None
    assert acc.accept(K, Ballot(5, 1), b"y", Ballot(5, 1), ZERO_BALLOT) is None
    assert acc.accept(K, Ballot(6, 2), b"z", Ballot(6, 2), Ballot(5, 1)) is None
    rec = acc.record(K)
    assert (rec.promised, rec.accepted, rec.value) == (Ballot(6, 2), Ballot(6, 2), b"z")
    assert acc.accept(K, Ballot(5, 1), b"y", Ballot(5, 1), ZERO_BALLOT) == Ballot(6, 2)


def test_promise_returns_the_accepted_pair() -> None:
    acc = LwtAcceptor()
    acc.accept(K, Ballot(3, 1), b"v", Ballot(3, 1), ZERO_BALLOT)
    rec = acc.prepare(K, Ballot(7, 2))
    assert not isinstance(rec, Ballot)
    assert (rec.promised, rec.accepted, rec.value, rec.writer) == (
        Ballot(7, 2),
        Ballot(3, 1),
        b"v",
        Ballot(3, 1),
    )


def test_core_acceptor_answers_with_promise_nack_and_accepted() -> None:
    core = LwtCore(2, (1, 2, 3), random.Random(0))
    core.step(LwtPrepare(1, 2, K, Ballot(4, 1)))
    rd = core.ready()
    assert rd.must_sync and rd.hard_state is not None
    assert rd.hard_state.records[0].promised == Ballot(4, 1)
    assert rd.messages == (LwtPromise(2, 1, K, Ballot(4, 1), ZERO_BALLOT, None, ZERO_BALLOT),)
    core.advance(rd)
    core.step(LwtPrepare(3, 2, K, Ballot(3, 3)))
    core.step(LwtAccept(3, 2, K, Ballot(3, 3), b"x", Ballot(3, 3), ZERO_BALLOT))
    core.step(LwtAccept(1, 2, K, Ballot(4, 1), b"y", Ballot(4, 1), ZERO_BALLOT))
    rd = core.ready()
    assert rd.messages == (
        LwtNack(2, 3, K, Ballot(3, 3), Ballot(4, 1)),
        LwtNack(2, 3, K, Ballot(3, 3), Ballot(4, 1)),
        LwtAccepted(2, 1, K, Ballot(4, 1)),
    )
    assert rd.must_sync and rd.hard_state is not None
    assert rd.hard_state.records[0].value == b"y"


# -- the coordinator's value choice --------------------------------------------------------
def _operation(op: LwtOp, ballot: Ballot) -> Operation:
    operation = Operation(ProposalTicket(1, 0), op)
    operation.ballot = ballot
    return operation


def test_highest_accepted_ballot_wins() -> None:
    promises = [
        Promised(Ballot(2, 1), b"old", Ballot(2, 1)),
        Promised(Ballot(5, 3), b"new", Ballot(5, 3)),
        Promised(ZERO_BALLOT, None, ZERO_BALLOT),
    ]
    choice = choose(_operation(LwtOp(LwtOpKind.GET, K), Ballot(9, 2)), promises)
    assert (choice.value, choice.writer, choice.base, choice.seen) == (
        b"new",
        Ballot(5, 3),
        Ballot(5, 3),
        b"new",
    )
    assert not choice.wrote
    write = choose(_operation(LwtOp(LwtOpKind.CAS, K, b"z", b"new"), Ballot(9, 2)), promises)
    assert write.wrote and write.held and write.value == b"z" and write.writer == Ballot(9, 2)
    miss = choose(_operation(LwtOp(LwtOpKind.CAS, K, b"z", b"old"), Ballot(9, 2)), promises)
    assert not miss.wrote and not miss.held and miss.value == b"new"


def test_own_write_found_later_is_answered_not_redone() -> None:
    operation = _operation(LwtOp(LwtOpKind.PUT, K, b"mine"), Ballot(9, 2))
    operation.writes[Ballot(7, 2)] = b"before"
    operation.first_write = Ballot(7, 2)
    adopted = [Promised(Ballot(8, 1), b"mine", Ballot(7, 2))]
    choice = choose(operation, adopted)
    assert (choice.value, choice.writer, choice.seen, choice.wrote) == (
        b"mine",
        Ballot(7, 2),
        b"before",
        False,
    )
    overwritten = [Promised(Ballot(8, 1), b"other", Ballot(8, 1))]
    assert choose(operation, overwritten).unknown
    untouched = [Promised(Ballot(6, 1), b"other", Ballot(6, 1))]
    redo = choose(operation, untouched)
    assert redo.wrote and redo.writer == Ballot(9, 2) and redo.seen == b"other"


# -- whole rounds ---------------------------------------------------------------------------
def test_uncontended_operation_takes_two_round_trips() -> None:
    net = Net(3)
    ticket = net.propose(1, put(K, b"a"))
    assert {type(m) for m in net.mailbox} == {LwtPrepare}
    net.deliver_round()  # prepares out
    net.deliver_round()  # promises back
    assert {type(m) for m in net.mailbox} == {LwtAccept}
    net.deliver_round()  # accepts out
    assert net.outcome(1, ticket) is None
    net.deliver_round()  # acceptances back
    outcome = net.outcome(1, ticket)
    assert outcome is not None and outcome.status is LwtStatus.DONE and outcome.applied


def test_failed_cas_is_still_a_round_and_linearized() -> None:
    net = Net(3)
    net.run(1, put(K, b"a"))
    ticket = net.propose(2, cas(K, b"zz", b"b"))
    net.deliver_round()
    net.deliver_round()
    accepts = [m for m in net.mailbox if isinstance(m, LwtAccept)]
    assert accepts and all(m.value == b"a" and m.writer == Ballot(1, 1) for m in accepts)
    assert net.outcome(2, ticket) is None  # no answer before a majority accepted
    net.deliver_all()
    outcome = net.outcome(2, ticket)
    assert outcome is not None and outcome.status is LwtStatus.DONE
    assert outcome.applied is False and outcome.value == b"a"
    assert all(net.core(n).record(K).value == b"a" for n in (1, 2, 3))


def test_every_operation_kind() -> None:
    net = Net(3)
    assert net.run(1, LwtOp(LwtOpKind.PUT_IF_ABSENT, K, b"a")).applied is True
    assert net.run(2, LwtOp(LwtOpKind.PUT_IF_ABSENT, K, b"b")).applied is False
    assert net.run(3, LwtOp(LwtOpKind.DELETE_IF, K, None, b"x")).applied is False
    assert net.run(3, LwtOp(LwtOpKind.DELETE_IF, K, None, b"a")).applied is True
    assert net.run(1, get(K)).value is None
    assert net.run(2, put(K, b"c")).value is None
    assert net.run(1, LwtOp(LwtOpKind.DELETE, K)).value == b"c"
    assert net.run(3, get(K)).value is None


def test_minority_down_still_decides_and_majority_down_times_out() -> None:
    net = Net(5, config=LwtConfig(max_attempts=3))
    net.crash(4)
    net.crash(5)
    assert net.run(1, put(K, b"a")).status is LwtStatus.DONE
    net.crash(3)
    outcome = net.run(1, get(K))
    assert outcome.status is LwtStatus.TIMEOUT and outcome.applied is False
    assert outcome.attempts == 3


def test_duelling_coordinators_converge_with_backoff() -> None:
    net = Net(3, seed=7)
    tickets = [(n, net.propose(n, put(K, b"v%d" % n))) for n in (1, 2, 3)]
    for _ in range(400):
        # Interleave: deliver one message from each coordinator's queue in turn.
        for msg in list(net.mailbox)[:3]:
            if msg in net.mailbox:
                net.deliver(msg)
        net.tick()
        if all(net.outcome(n, t) is not None for n, t in tickets):
            break
    outcomes = [net.outcome(n, t) for n, t in tickets]
    assert all(o is not None for o in outcomes)  # every duel ends, within the bound
    done = [o for o in outcomes if o is not None and o.status is LwtStatus.DONE]
    assert done and all(o.applied for o in done)
    assert max(o.attempts for o in outcomes if o is not None) > 1  # they did collide
    # Whoever gave up said it might have written (applied=None), never "done".
    assert all(o.applied is None for o in outcomes if o is not None and o not in done)
    final = net.run(1, get(K)).value
    assert final in {b"v1", b"v2", b"v3"}
    assert net.run(2, get(K)).value == final


def test_contended_at_the_bound() -> None:
    config = LwtConfig(max_attempts=2, backoff_base_ticks=1, backoff_cap_ticks=1)
    net = Net(3, config=config)
    ticket = net.propose(1, put(K, b"a"))
    for _ in range(50):
        # Nodes 2 and 3 always promise a rival's higher ballot before node 1's prepare
        # lands (the rival of node 2 is node 3 and the other way round).
        for msg in [m for m in net.mailbox if isinstance(m, LwtPrepare) and m.src == 1]:
            for dst in (2, 3):
                rival = 5 - dst
                high = Ballot(net.core(1).status().term // 2**16 + 5, rival)
                net.core(dst).step(LwtPrepare(rival, dst, K, high))
                net.drain(dst)
            net.deliver(msg)
        net.mailbox = [m for m in net.mailbox if m.dst == 1]
        net.deliver_all()
        net.tick(1)
        if net.outcome(1, ticket) is not None:
            break
    outcome = net.outcome(1, ticket)
    assert outcome is not None and outcome.status is LwtStatus.CONTENDED
    assert outcome.applied is False and outcome.attempts == 2


def test_nothing_replies_before_persistence() -> None:
    # The harness raises PersistenceBroken on any reply ahead of its record; here we
    # also check the rule positively on every batch of a busy run.
    net = Net(3, seed=3)
    for i in range(20):
        net.propose(1 + i % 3, put(b"k%d" % (i % 2), b"v%d" % i))
    net.settle()
    vouching = 0
    for _node, rd in net.batches:
        if any(isinstance(m, LwtPromise | LwtAccepted) for m in rd.messages) or rd.results:
            vouching += 1
            assert rd.hard_state is None or rd.must_sync
    assert vouching > 0


def test_ballots_stay_unique_across_a_crash() -> None:
    net = Net(3, config=LwtConfig(ballot_reserve=4))
    for i in range(6):
        net.run(1, put(K, b"%d" % i))
    used = {m.ballot for _n, rd in net.batches for m in rd.messages if isinstance(m, LwtPrepare)}
    net.crash(1)
    net.restart(1)
    ticket = net.propose(1, put(K, b"after"))
    fresh = [m.ballot for m in net.mailbox if isinstance(m, LwtPrepare)]
    assert fresh and all(b not in used and b > max(used) for b in fresh)
    net.settle()
    assert net.outcome(1, ticket) is not None


def test_crash_at_every_sync_of_a_round() -> None:
    for crash_at in range(1, 30):
        net = Net(3, seed=crash_at)
        net.run(2, put(K, b"a"))
        start = len(net.batches)

        def before_sync(node: int, batch: int, at: int = start + crash_at) -> bool:
            return batch == at

        net.before_sync = before_sync
        net.propose(1, cas(K, b"a", b"b"))
        net.deliver_all()
        net.before_sync = None
        for node in (1, 2, 3):
            if net.cores[node] is None:
                net.restart(node)
        net.settle()
        value = net.run(3, get(K)).value
        assert value in {b"a", b"b"}
        again = net.run(2, get(K)).value
        assert again == value  # a decided value never changes back


def test_bad_input_is_a_one_line_error() -> None:
    core = LwtCore(1, (1, 2, 3), random.Random(0))
    with pytest.raises(ValueError, match="not an encoded paxos-lwt operation"):
        core.propose(b"junk")
    with pytest.raises(ValueError, match="put needs a value"):
        encode_op(LwtOp(LwtOpKind.PUT, K))
    with pytest.raises(ValueError, match="not one of the voters"):
        LwtCore(4, (1, 2, 3), random.Random(0))
    with pytest.raises(ProposalDropped):
        core.read_index(b"r")


def test_queue_bound_drops_proposals() -> None:
    core = LwtCore(1, (1, 2, 3), random.Random(0), LwtConfig(max_pending=2))
    core.propose(encode_op(put(K, b"a")))
    core.propose(encode_op(put(b"j", b"a")))
    with pytest.raises(ProposalDropped):
        core.propose(encode_op(put(K, b"b")))


# -- forgetting deleted keys ----------------------------------------------------------------
def test_purge_only_forgets_the_tombstone_at_exactly_that_ballot() -> None:
    acc = LwtAcceptor()
    acc.accept(K, Ballot(3, 1), b"v", Ballot(3, 1), ZERO_BALLOT)
    assert not acc.purge(K, Ballot(3, 1))  # not a tombstone
    acc.accept(K, Ballot(4, 1), None, Ballot(4, 1), Ballot(3, 1))
    assert not acc.purge(K, Ballot(3, 1))  # another ballot
    acc.prepare(K, Ballot(5, 2))
    assert not acc.purge(K, Ballot(4, 1))  # promised higher since: a round is running
    acc.accept(K, Ballot(5, 2), None, Ballot(4, 1), Ballot(4, 1))
    assert acc.purge(K, Ballot(5, 2))
    assert len(acc) == 0 and acc.floor == Ballot(5, 2)
    # A forgotten key counts as promised at the floor, with nothing accepted.
    assert acc.prepare(K, Ballot(5, 1)) == Ballot(5, 2)
    assert acc.prepare(b"other", Ballot(4, 9)) == Ballot(5, 2)
    rec = acc.prepare(K, Ballot(6, 1))
    assert not isinstance(rec, Ballot) and rec.accepted == ZERO_BALLOT and rec.value is None


def test_deleted_keys_are_forgotten_everywhere_and_memory_stays_bounded() -> None:
    net = Net(3)
    for i in range(30):
        key = b"key%d" % i
        net.run(1 + i % 3, put(key, b"v"))
        net.run(1 + (i + 1) % 3, LwtOp(LwtOpKind.DELETE, key))
    for node in (1, 2, 3):
        assert len(net.core(node).acceptor) == 0
        assert net.storage[node].keys == 0
    assert net.run(2, get(b"key7")).value is None
    net.run(3, put(b"key7", b"again"))
    assert net.run(1, get(b"key7")).value == b"again"
    net.crash(2)
    net.restart(2)  # the floor survives: no ballot below it is promised again
    assert net.core(2).acceptor.floor == net.storage[2].recover().hard_state.floor  # type: ignore[union-attr]
    assert net.run(2, get(b"key7")).value == b"again"


def test_a_key_is_kept_while_some_node_missed_the_tombstone() -> None:
    net = Net(3)
    net.run(1, put(K, b"v"))
    ticket = net.propose(1, LwtOp(LwtOpKind.DELETE, K))
    net.deliver_all(keep=lambda m: m.dst != 3 and m.src != 3)  # node 3 hears nothing
    outcome = net.outcome(1, ticket)
    assert outcome is not None and outcome.status is LwtStatus.DONE
    assert net.core(3).record(K).value == b"v"
    assert len(net.core(1).acceptor) == 1 and len(net.core(2).acceptor) == 1


def test_a_refusal_from_a_minority_does_not_fail_the_attempt() -> None:
    net = Net(5)
    net.core(5).step(LwtPrepare(4, 5, K, Ballot(50, 4)))  # node 5 is ahead for this key
    net.drain(5)
    net.mailbox.clear()
    ticket = net.propose(1, put(K, b"a"))
    net.deliver_round()
    net.deliver_round()  # four promises and one refusal: phase 2 starts anyway
    assert any(isinstance(m, LwtAccept) for m in net.mailbox)
    net.settle()
    outcome = net.outcome(1, ticket)
    assert outcome is not None and outcome.status is LwtStatus.DONE and outcome.attempts == 1


def test_apply_runs_the_change_function_on_the_highest_accepted_value() -> None:
    seen: list[bytes | None] = []

    def append(command: bytes, current: bytes | None) -> tuple[bool, bool, bytes | None]:
        seen.append(current)
        return True, True, (current or b"") + command

    net = Net(3, change=append)
    first = net.run(1, LwtOp(LwtOpKind.APPLY, K, b"a"))
    assert first.ok and first.value is None
    assert net.run(2, LwtOp(LwtOpKind.APPLY, K, b"b")).value == b"a"  # another coordinator
    assert net.run(3, get(K)).value == b"ab"
    assert seen == [None, b"a"]
    with pytest.raises(ValueError, match="needs a core with a change function"):
        LwtCore(1, (1, 2, 3), random.Random(0)).propose(encode_op(LwtOp(LwtOpKind.APPLY, K, b"x")))
