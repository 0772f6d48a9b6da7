"""The harness itself: its checks must be able to fail, and its faults must be real."""

from __future__ import annotations

import pytest

from consensus.core import Role
from consensus.messages import AppendEntries, Heartbeat
from consensus.raft import RaftConfig
from consensus.types import Entry, EntryKind

from .harness import Network, between, decode_entries, encode_entries


def test_snapshot_data_round_trips() -> None:
    entries = [Entry(1, 1, b"", EntryKind.NOOP), Entry(2, 3, b"\x00:\n")]
    assert decode_entries(encode_entries(entries)) == entries


def test_two_different_entries_applied_at_one_index_are_caught() -> None:
    net = Network(config=RaftConfig(), seed=1)
    net.elect(1)
    node = net.nodes[2]
    with pytest.raises(AssertionError, match=r"^state machine safety: node 2 applied"):
        net._apply(node, Entry(1, 7, b"forged"))


def test_a_partition_loses_messages_across_it_only() -> None:
    net = Network(config=RaftConfig(), seed=1)
    net.elect(1)
    net.partition([1, 2], [3])
    net.send([Heartbeat(1, 2, 1, 0), Heartbeat(1, 3, 1, 0)])
    assert [ok for _, ok in net.deliver()] == [True, False]
    net.heal()
    net.send([Heartbeat(1, 3, 1, 0)])
    assert [ok for _, ok in net.deliver()] == [True]


def test_drop_by_link() -> None:
    net = Network(config=RaftConfig(), seed=1)
    net.send([Heartbeat(1, 2, 1, 0), Heartbeat(1, 3, 1, 0), Heartbeat(2, 3, 1, 0)])
    assert net.drop(between(1, 3)) == [Heartbeat(1, 3, 1, 0)]
    delivered = net.deliver(drop=between(2, 3))
    assert [(m.dst, ok) for m, ok in delivered] == [(2, True), (3, False)]
    assert net.status(2).leader == 1 and net.status(3).leader is None


def test_duplicate_delivery_keeps_the_message_in_flight() -> None:
    net = Network(config=RaftConfig(), seed=1)
    net.send([AppendEntries(1, 2, 1, 0, 0, (Entry(1, 1),), 0)])
    net.deliver_one(0, keep=True)
    assert len(net.inflight) == 1
    net.deliver_one(0)
    assert net.inflight == [] and net.log(2) == [Entry(1, 1)]


def test_crash_and_restart() -> None:
    net = Network(config=RaftConfig(), seed=1)
    net.elect(1)
    net.crash(2)
    with pytest.raises(AssertionError, match=r"^node 2 is down$"):
        net.core(2)
    net.send([Heartbeat(1, 2, 1, 0)])
    assert [ok for _, ok in net.deliver()] == [False]
    net.restart(2)
    assert net.status(2).role is Role.FOLLOWER and net.status(2).term == 1
    with pytest.raises(AssertionError, match=r"^node 2 is up$"):
        net.restart(2)
