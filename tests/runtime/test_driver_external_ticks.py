"""``DriverConfig(external_ticks=True)``: the driver starts no ticker and is ticked by
``Driver.tick`` (what the sim environment's shared ticker does)."""

from __future__ import annotations

import attrs
import pytest
import trio

from .harness import DRIVER, SimCluster

EXTERNAL = attrs.evolve(DRIVER, external_ticks=True)


async def test_an_externally_ticked_cluster_elects_only_when_ticked(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        cluster = SimCluster(nursery, driver=EXTERNAL)
        await cluster.start_all()
        await trio.sleep(5)
        assert cluster.leaders() == []  # nobody ticks: no election timeout ever fires
        drivers = [log.driver for log in cluster.logs.values()]

        async def tick_all() -> None:
            while True:
                await trio.sleep(EXTERNAL.tick_s)
                for driver in drivers:
                    driver.tick()

        nursery.start_soon(tick_all)
        leader = await cluster.wait_leader(timeout_s=5)
        assert await cluster.propose(5) == b"5"
        assert cluster.leaders() == [leader]
        nursery.cancel_scope.cancel()


async def test_tick_is_a_no_op_when_stopped_and_a_raising_core_stops_the_node(
    autojump_clock: trio.testing.MockClock,
) -> None:
    def broken_tick() -> None:
        raise RuntimeError("core bug in tick")

    with pytest.raises(BaseExceptionGroup) as caught:
        async with trio.open_nursery() as nursery:
            cluster = SimCluster(nursery, size=1, driver=EXTERNAL)
            await cluster.start(1)
            driver = cluster.logs[1].driver
            driver.core.tick = broken_tick  # type: ignore[method-assign]
            driver.tick()  # recorded, then raised by the Ready loop: the node stops
            await trio.sleep(1)
    assert "core bug in tick" in repr(caught.value)
    driver.tick()  # not running any more: nothing happens, nothing raised
