"""The simulated network, partitions and the event queue, each tested alone."""

from __future__ import annotations

import heapq
import random

import attrs
import pytest

from consensus.messages import Message
from consensus.quorum import majority
from consensus.sim.events import DELIVER, Clock, EventQueue
from consensus.sim.network import SimNetwork
from consensus.sim.options import FaultOptions, SimConfig
from consensus.sim.partitions import SHAPES, draw_partition


@attrs.frozen(slots=True)
class Num(Message):
    n: int


NO_FAULTS = FaultOptions()


def make_net(
    faults: FaultOptions = NO_FAULTS, nodes: int = 3, **config: int
) -> tuple[SimNetwork, EventQueue, Clock]:
    queue, clock = EventQueue(), Clock()
    cfg = SimConfig(nodes=nodes, **config)  # type: ignore[arg-type]
    net = SimNetwork(range(1, nodes + 1), random.Random(7), cfg, faults, queue, clock)
    return net, queue, clock


def drain(queue: EventQueue, net: SimNetwork) -> list[tuple[int, Message]]:
    """Pop every event; return (time, message) of each copy that arrives."""
    out = []
    while queue.heap:
        t, _, kind, msg = heapq.heappop(queue.heap)
        assert kind == DELIVER
        if net.arrive(msg):
            out.append((t, msg))
    return out


def test_event_queue_orders_by_time_then_push_order() -> None:
    q = EventQueue()
    q.push(5, 0, "b")
    q.push(3, 0, "a")
    q.push(5, 0, "c")
    q.push(5, 0, "d")
    assert [q.pop()[3] for _ in range(4)] == ["a", "b", "c", "d"]
    assert len(q) == 0


def test_delays_within_bounds_and_links_fifo_without_reorder() -> None:
    net, queue, clock = make_net(FaultOptions(spike_rate=0.5, spike_us_max=50_000))
    for i in range(200):
        clock.now_us = i * 10
        net.send(Num(1, 2, i))
    got = drain(queue, net)
    assert [m.n for _, m in got] == list(range(200))  # FIFO despite the spikes
    assert all(t >= 500 for t, _ in got)
    assert max(t - m.n * 10 for t, m in got) > 3_000  # some spikes happened


def test_reorder_breaks_fifo() -> None:
    net, queue, _ = make_net(FaultOptions(reorder_jitter_us=20_000))
    for i in range(100):
        net.send(Num(1, 2, i))
    order = [m.n for _, m in drain(queue, net)]
    assert sorted(order) == list(range(100))
    assert order != list(range(100))


def test_loss_and_duplication_rates() -> None:
    net, queue, _ = make_net(FaultOptions(loss_rate=0.25, duplicate_rate=0.2), link_queue_max=9999)
    for i in range(4000):
        net.send(Num(1, 2, i))
    got = drain(queue, net)
    st = net.stats
    assert st.sent == 4000
    assert 800 < st.lost < 1200
    assert 450 < st.duplicated < 750
    assert st.overflow == 0
    assert len(got) == 4000 - st.lost + st.duplicated


def test_partition_cuts_directed_links_at_send_and_in_flight() -> None:
    net, queue, _ = make_net()
    net.send(Num(1, 2, 0))  # in flight when the partition starts
    net.partition([(1, 2)])
    net.send(Num(1, 2, 1))  # cut at send
    net.send(Num(2, 1, 2))  # the other direction still works
    got = drain(queue, net)
    assert [m.n for _, m in got] == [2]
    assert net.stats.cut == 2
    net.heal()
    assert not net.is_cut(1, 2)
    net.send(Num(1, 2, 3))
    assert [m.n for _, m in drain(queue, net)] == [3]


def test_link_queue_is_bounded() -> None:
    net, queue, _ = make_net(link_queue_max=10)
    for i in range(25):
        net.send(Num(1, 3, i))
    assert net.stats.overflow == 15
    assert len(drain(queue, net)) == 10
    net.send(Num(1, 3, 99))  # room again once delivered
    assert len(drain(queue, net)) == 1


def test_calm_turns_message_faults_off() -> None:
    net, queue, _ = make_net(FaultOptions(loss_rate=1.0, duplicate_rate=1.0))
    net.send(Num(1, 2, 0))
    assert drain(queue, net) == []
    net.calm()
    for i in range(50):
        net.send(Num(1, 2, i))
    assert [m.n for _, m in drain(queue, net)] == list(range(50))


def test_send_to_unknown_node_is_an_error() -> None:
    net, _, _ = make_net()
    with pytest.raises(ValueError, match="node 1 sent a message to node 9, which is not a peer"):
        net.send(Num(1, 9, 0))


@pytest.mark.parametrize("n", [2, 3, 4, 5, 7])
def test_partition_shapes(n: int) -> None:
    nodes = list(range(1, n + 1))
    everyone = {(a, b) for a in nodes for b in nodes if a != b}
    for seed in range(30):
        for name, shape in SHAPES.items():
            cut = shape(random.Random(seed), nodes)
            assert cut <= everyone, name
            symmetric = all((b, a) in cut for a, b in cut)
            if name in ("split", "isolate", "bridge", "ring"):
                assert symmetric, name
            if name == "isolate":
                assert len(cut) == 2 * (n - 1)
            if name == "ring":  # every node still hears a majority
                for x in nodes:
                    assert sum((y, x) not in cut for y in nodes) >= majority(n)
            if name == "bridge" and n >= 3:  # one node reaches everyone
                assert any(all((x, y) not in cut for y in nodes) for x in nodes)
            if name in ("one-way", "deaf", "mute"):
                assert cut and not symmetric


def test_draw_partition_needs_two_nodes() -> None:
    with pytest.raises(ValueError, match="a partition needs at least two nodes, got 1"):
        draw_partition(random.Random(0), [1])
    shapes = {draw_partition(random.Random(s), [1, 2, 3, 4, 5]).shape for s in range(100)}
    assert shapes == set(SHAPES)
