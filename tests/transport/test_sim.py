"""The in-memory network's routing hook: loss, duplication, delay/reordering, partitions."""

from __future__ import annotations

import pytest
import trio

from consensus.messages import Heartbeat
from consensus.transport import Faults, SimNetwork


def _hb(src: int, dst: int, n: int) -> Heartbeat:
    return Heartbeat(src=src, dst=dst, term=1, commit=n)


async def _run(network: SimNetwork, sends: int, settle_s: float = 1.0) -> list[int]:
    a, b = network.endpoint(1), network.endpoint(2)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(network.run)
        for n in range(sends):
            a.send(_hb(1, 2, n))
        await trio.sleep(settle_s)
        nursery.cancel_scope.cancel()
    got = []
    while True:
        try:
            message = b.inbox.receive_nowait()
        except trio.WouldBlock:
            return got
        assert isinstance(message, Heartbeat)
        got.append(message.commit)


async def test_same_seed_same_delivery(autojump_clock: trio.testing.MockClock) -> None:
    faults = Faults(loss=0.2, duplicate=0.2, delay_s_min=0.0, delay_s_max=0.05)
    first = await _run(SimNetwork(5, faults), 300)
    second = await _run(SimNetwork(5, faults), 300)
    third = await _run(SimNetwork(6, faults), 300)
    assert first == second
    assert first != third


async def test_loss_duplication_and_reordering(autojump_clock: trio.testing.MockClock) -> None:
    got = await _run(SimNetwork(1, Faults(loss=0.3, duplicate=0.3, delay_s_max=0.05)), 1000)
    distinct = set(got)
    assert 550 < len(distinct) < 850, "about 30% should be lost"
    assert len(got) > len(distinct), "some messages should be duplicated"
    assert got != sorted(got), "jittered delays should reorder"


async def test_delay_is_respected(autojump_clock: trio.testing.MockClock) -> None:
    network = SimNetwork(1, Faults(delay_s_min=0.5, delay_s_max=0.5))
    a, b = network.endpoint(1), network.endpoint(2)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(network.run)
        start = trio.current_time()
        a.send(_hb(1, 2, 0))
        await b.inbox.receive()
        assert trio.current_time() - start == pytest.approx(0.5)
        nursery.cancel_scope.cancel()


async def test_partition_blocks_across_groups_only(autojump_clock: trio.testing.MockClock) -> None:
    network = SimNetwork(1)
    nodes = {i: network.endpoint(i) for i in (1, 2, 3)}
    network.partition([1], [2, 3])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(network.run)
        nodes[1].send(_hb(1, 2, 0))
        nodes[2].send(_hb(2, 3, 1))
        assert await nodes[3].inbox.receive() == _hb(2, 3, 1)
        await trio.sleep(1)
        with pytest.raises(trio.WouldBlock):
            nodes[2].inbox.receive_nowait()
        assert network.dropped_partitioned == 1
        network.heal()
        nodes[1].send(_hb(1, 2, 2))
        assert await nodes[2].inbox.receive() == _hb(1, 2, 2)
        nursery.cancel_scope.cancel()


def test_faults_reject_bad_probabilities() -> None:
    with pytest.raises(ValueError, match=r"Faults.loss must be a probability in \[0, 1\], got 2"):
        Faults(loss=2)
    with pytest.raises(ValueError, match="delay_s_min <= delay_s_max"):
        Faults(delay_s_min=1.0, delay_s_max=0.5)


async def test_endpoint_twice_is_refused() -> None:
    network = SimNetwork(1)
    endpoint = network.endpoint(1)
    with pytest.raises(ValueError, match="node 1 already has an open endpoint"):
        network.endpoint(1)
    await endpoint.aclose()
    network.endpoint(1)  # a restart after a close is fine
