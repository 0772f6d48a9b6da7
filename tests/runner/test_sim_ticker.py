"""The sim environment's shared ticker: every node ticks at its clock's pace, on one
grid at rate 1, and only while it runs (``envs/sim_ticker.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio

from consensus.runtime.clock import NodeClock
from jepsen_lite.runner.api import TestSpec
from jepsen_lite.runner.envs.sim import SimCluster, SimEnvironment
from jepsen_lite.runner.envs.sim_ticker import SharedTicker
from jepsen_lite.runner.envs.sim_trio import JumpingClock


def test_the_sim_drivers_have_no_tick_tasks_and_the_ticker_ticks_live_nodes(
    tmp_path: Path,
) -> None:
    async def main(cluster: Any) -> Any:
        assert isinstance(cluster, SimCluster)
        assert cluster.driver_config.external_ticks
        ticker = cluster.ticker

        async def ticks_over(seconds: float) -> int:
            before = ticker.ticks
            await trio.sleep(seconds)
            return ticker.ticks - before

        await trio.sleep(0.5)
        three = await ticks_over(1.0)
        await cluster.kill(2)
        two = await ticks_over(1.0)
        await cluster.restart(2)
        again = await ticks_over(1.0)
        await cluster.pause(3)  # a paused node's driver is ticked, its core drops them
        core = cluster.host(3).core
        assert core is not None
        before = core.ticks
        paused = await ticks_over(1.0)
        dropped = core.ticks == before
        jumps = cluster.clock.jumps
        await trio.sleep(1.0)
        return three, two, again, paused, dropped, cluster.clock.jumps - jumps

    spec = TestSpec(nodes=3, seed=1, nemesis=frozenset())
    three, two, again, paused, dropped, jumps = SimEnvironment().run(spec, str(tmp_path), main)
    assert abs(three - 300) <= 3 and abs(two - 200) <= 3 and abs(again - 300) <= 3
    assert abs(paused - 300) <= 3 and dropped
    # ticks of nodes at rate 1 share instants: about 100 per second, not 300 (plus
    # message deliveries, which share them too in an idle cluster's heartbeats)
    assert jumps < 250


class _Driver:
    def __init__(self) -> None:
        self.ticks: list[float] = []
        self.clock: JumpingClock | None = None

    def tick(self) -> None:
        assert self.clock is not None
        self.ticks.append(self.clock.current_time())


def test_the_ticker_follows_each_clocks_rate_and_returns_to_the_grid() -> None:
    clock = JumpingClock()
    ticker = SharedTicker(clock, 0.01)
    fast, plain = _Driver(), _Driver()
    fast.clock = plain.clock = clock
    fast_clock = NodeClock(clock.current_time)

    async def body() -> None:
        await trio.sleep(0.003)
        ticker.add(fast, fast_clock)  # type: ignore[arg-type]
        handle = ticker.add(plain, NodeClock(clock.current_time))  # type: ignore[arg-type]
        await trio.sleep(0.1)
        fast_clock.skew(0, 4.0)
        await trio.sleep(0.1)
        fast_clock.reset()
        await trio.sleep(0.1)
        ticker.remove(handle)
        await trio.sleep(0.1)

    trio.run(body, clock=clock)
    # the first tick is on the grid, not 10 ms after the start
    assert fast.ticks[0] == plain.ticks[0] == 0.01
    # rate 1 then 4 then 1: about 10 + 40 + 10 + 10 ticks
    assert 65 <= len(fast.ticks) <= 75
    # back at rate 1 the fast node ticks on the same instants as the others again
    back = [t for t in fast.ticks if 0.21 < t < 0.3]
    assert len(back) >= 7 and set(back) <= set(plain.ticks)
    assert 29 <= len(plain.ticks) <= 31  # removed after 0.3 s
