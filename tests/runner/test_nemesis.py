"""The fault schedule, the partition link sets and the nemesis executor."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest
import trio

from jepsen_lite.runner.api import FAULT_KINDS, Fault, FaultWindow, TestSpec, derive_rng
from jepsen_lite.runner.nemesis import (
    DOWN_KINDS,
    NemesisError,
    NemesisExecutor,
    max_down,
    resolve_kinds,
    schedule,
)
from jepsen_lite.runner.partitions import (
    blocked_links,
    majority_ring,
    plan_partition,
    ring_distance,
    shapes_for,
)

from .fake_cluster import FakeCluster

NODES = (1, 2, 3, 4, 5)


def reachable(node: int, nodes: tuple[int, ...], blocked: frozenset[tuple[int, int]]) -> set[int]:
    return {other for other in nodes if other == node or (node, other) not in blocked}


def test_isolate_one_blocks_both_directions_to_everyone() -> None:
    links = blocked_links(Fault("partition", "isolate-one", (3,)), NODES)
    assert links == {(3, n) for n in (1, 2, 4, 5)} | {(n, 3) for n in (1, 2, 4, 5)}


def test_isolate_leader_uses_the_given_leader() -> None:
    links = blocked_links(Fault("partition", "isolate-leader"), NODES, leader=2)
    assert reachable(2, NODES, links) == {2}
    assert reachable(1, NODES, links) == {1, 3, 4, 5}
    with pytest.raises(ValueError, match="no node to isolate"):
        blocked_links(Fault("partition", "isolate-leader"), NODES, leader=None)


def test_halves_cut_the_minority_from_the_majority() -> None:
    links = blocked_links(Fault("partition", "halves", (1, 4)), NODES)
    assert len(links) == 2 * 2 * 3
    assert reachable(1, NODES, links) == {1, 4}
    assert reachable(2, NODES, links) == {2, 3, 5}


def test_majority_ring_every_node_sees_a_distinct_majority() -> None:
    for n in (4, 5, 6, 7, 9):
        order = tuple(random.Random(n).sample(range(1, n + 1), n))
        nodes = tuple(range(1, n + 1))
        links = majority_ring(order)
        seen = [frozenset(reachable(x, nodes, links)) for x in nodes]
        assert all(len(s) >= n // 2 + 1 for s in seen), (n, seen)
        assert len(set(seen)) == n, (n, seen)  # no two nodes see the same majority
        assert all((b, a) in links for a, b in links)  # symmetric
    # five nodes: each sees exactly its two ring neighbours
    links = blocked_links(Fault("partition", "majority-ring", (3, 1, 4, 5, 2)), NODES)
    assert reachable(1, NODES, links) == {3, 1, 4}
    assert reachable(2, NODES, links) == {5, 2, 3}
    assert ring_distance(5) == 1 and ring_distance(7) == 2


def test_bridge_node_sees_both_sides_which_do_not_see_each_other() -> None:
    links = blocked_links(Fault("partition", "bridge", (3, 1, 2, 4, 5)), NODES)
    assert reachable(3, NODES, links) == set(NODES)
    assert reachable(1, NODES, links) == {1, 2, 3}
    assert reachable(5, NODES, links) == {3, 4, 5}
    assert len(links) == 8


def test_planned_partitions_decode() -> None:
    rng = random.Random(7)
    for shape in ("isolate-one", "halves", "majority-ring", "bridge"):
        nodes = plan_partition(shape, NODES, rng)
        assert blocked_links(Fault("partition", shape, nodes), NODES)
    with pytest.raises(ValueError, match="unknown partition shape"):
        plan_partition("triangle", NODES, rng)


def test_resolve_kinds() -> None:
    supported = frozenset({"partition", "kill", "pause"})
    assert resolve_kinds({"all"}, supported) == supported
    assert resolve_kinds({"kill"}, supported) == {"kill"}
    assert resolve_kinds(set(), supported) == frozenset()
    with pytest.raises(NemesisError, match="environment 'local' does not support fault kind disk"):
        resolve_kinds({"kill", "disk"}, supported, "local")
    with pytest.raises(NemesisError, match="unknown nemesis meteor"):
        resolve_kinds({"meteor"}, supported)


def _overlap_max(windows: list[FaultWindow]) -> int:
    points = sorted([(w.start_s, 1) for w in windows] + [(w.end_s, -1) for w in windows])
    best = depth = 0
    for _, step in points:
        depth += step
        best = max(best, depth)
    return best


def test_schedule_is_seeded_bounded_and_keeps_a_majority_up() -> None:
    spec = TestSpec(nodes=5, time_limit_s=60.0)
    first = schedule(spec, derive_rng(3, "nemesis"))
    assert first == schedule(spec, derive_rng(3, "nemesis"))
    assert first != schedule(spec, derive_rng(4, "nemesis"))
    assert {w.fault.kind for w in first} == set(FAULT_KINDS)
    for window in first:
        assert 0 <= window.start_s < window.end_s <= spec.time_limit_s
    for kind in FAULT_KINDS:
        own = sorted((w for w in first if w.fault.kind == kind), key=lambda w: w.start_s)
        assert all(a.end_s <= b.start_s for a, b in itertools.pairwise(own)), kind
    for seed in range(30):
        windows = schedule(spec, derive_rng(seed, "nemesis"))
        down = [w for w in windows if w.fault.kind in DOWN_KINDS]
        assert _overlap_max(down) <= max_down(spec) == 2


def test_schedule_honours_kinds_and_short_tests() -> None:
    spec = TestSpec(nodes=3, time_limit_s=3.0, options={"max_down": 1})
    windows = schedule(spec, random.Random(1), {"kill", "packet"})
    assert windows and {w.fault.kind for w in windows} <= {"kill", "packet"}
    assert all(w.end_s <= 3.0 for w in windows)
    assert _overlap_max([w for w in windows if w.fault.kind == "kill"]) <= 1
    for w in windows:
        if w.fault.kind == "packet":
            assert set(w.fault.params) == {"p", "delay_ms", "jitter_ms"}
    with pytest.raises(NemesisError, match="max_down"):
        max_down(TestSpec(options={"max_down": -1}))


def _w(
    start: float, end: float, kind: str, shape: str, nodes: tuple[int, ...] = (), **params: float
) -> FaultWindow:
    return FaultWindow(start, end, Fault(kind, shape, nodes, params))


async def test_executor_applies_each_window_at_its_time(autojump_clock: Any) -> None:
    cluster = FakeCluster(5)
    events: list[tuple[str, dict[str, Any]]] = []
    start = trio.current_time()
    executor = NemesisExecutor(
        cluster,
        lambda: trio.current_time() - start,
        lambda f, value: events.append((f, dict(value))),
        random.Random(1),
        frozenset(FAULT_KINDS),
    )
    windows = [
        _w(0.5, 1.0, "clock", "jump", (4,), offset_ms=-700.0, rate=1.0),
        _w(1.0, 2.0, "kill", "leader"),
        _w(1.5, 3.0, "partition", "halves", (2, 5)),
        _w(2.5, 4.0, "pause", "node", (1,)),
        _w(3.0, 4.0, "packet", "loss", p=0.2, delay_ms=0.0, jitter_ms=0.0),
        _w(4.2, 4.8, "disk", "torn-write", (3,)),
    ]
    await executor.run(windows)
    calls = [(t, name, args) for t, name, args in cluster.calls]
    halves = blocked_links(Fault("partition", "halves", (2, 5)), cluster.nodes)
    assert calls == [
        (0.5, "skew_clock", (4, -700.0, 1.0)),
        (1.0, "reset_clock", (4,)),
        (1.0, "kill", (1,)),  # the leader
        (1.5, "partition", (halves,)),
        (2.0, "restart", (1,)),
        (2.5, "pause", (1,)),
        (3.0, "heal_network", ()),
        (3.0, "packet", (windows[4].fault,)),
        (4.0, "resume", (1,)),  # ends at equal times: in window order
        (4.0, "packet", (None,)),
        (4.2, "disk_fault", (3, "torn-write")),
        (4.2, "kill", (3,)),
        (4.8, "restart", (3,)),
    ]
    starts = [value for f, value in events if f == "start"]
    assert [v["kind"] for v in starts] == ["clock", "kill", "partition", "pause", "packet", "disk"]
    assert starts[1]["nodes"] == [1] and starts[2]["blocked"] == [list(x) for x in sorted(halves)]
    assert all(a.end_s is not None for a in executor.history())
    assert executor.finished.is_set() and not executor.active


async def test_executor_replaces_a_target_that_is_already_down(autojump_clock: Any) -> None:
    cluster = FakeCluster(5)
    start = trio.current_time()
    executor = NemesisExecutor(
        cluster, lambda: trio.current_time() - start, lambda f, v: None, random.Random(2),
        frozenset(FAULT_KINDS),
    )  # fmt: skip
    windows = [_w(0.1, 2.0, "pause", "node", (1,)), _w(0.5, 1.0, "kill", "leader")]
    await executor.run(windows)
    killed = [args[0] for _, name, args in cluster.calls if name == "kill"]
    assert killed and killed[0] != 1  # the leader (1) was paused: another node instead


async def test_heal_undoes_whatever_is_in_effect(autojump_clock: Any) -> None:
    cluster = FakeCluster(3)
    events: list[tuple[str, dict[str, Any]]] = []
    executor = NemesisExecutor(
        cluster, cluster.now, lambda f, v: events.append((f, dict(v))), random.Random(3),
        frozenset({"partition", "kill", "clock"}),
    )  # fmt: skip
    await executor.start(0, _w(0, 9, "kill", "node", (2,)))
    await executor.start(1, _w(0, 9, "clock", "fast", (3,), offset_ms=0.0, rate=2.0))
    await executor.start(2, _w(0, 9, "partition", "isolate-one", (1,)))
    actions = await executor.heal()
    names = [name for _, name, _ in cluster.calls]
    assert names.count("restart") == 1 and "reset_clock" in names and "heal_network" in names
    assert not cluster.killed and actions == ["heal-network"]
    assert events[-1] == ("heal", {"actions": ["heal-network"]})


def test_disk_faults_hit_one_victim_that_kill_and_pause_spare() -> None:
    spec = TestSpec(nodes=5, time_limit_s=300.0)
    for seed in range(10):
        windows = schedule(spec, derive_rng(seed, "nemesis"))
        victims = {w.fault.nodes[0] for w in windows if w.fault.kind == "disk"}
        assert len(victims) == 1
        planned = {
            w.fault.nodes[0] for w in windows if w.fault.kind in ("kill", "pause") and w.fault.nodes
        }
        assert not planned & victims
        others = [w for w in windows if w.fault.kind in ("kill", "pause")]
        assert _overlap_max(others) <= 1  # max_down 2, one kept for the victim


async def test_leader_faults_spare_the_disk_victim(autojump_clock: Any) -> None:
    cluster = FakeCluster(5)  # the fake's leader is node 1
    executor = NemesisExecutor(
        cluster, cluster.now, lambda f, v: None, random.Random(4), frozenset(FAULT_KINDS)
    )
    await executor.run([_w(0.1, 0.2, "disk", "bit-flip", (1,)), _w(0.5, 1.0, "kill", "leader")])
    kills = [args[0] for _, name, args in cluster.calls if name == "kill"]
    assert kills[0] == 1 and kills[1] != 1


@pytest.mark.parametrize("n", range(1, 8))
def test_every_shape_offered_for_a_cluster_size_cuts_something(n: int) -> None:
    nodes = tuple(range(1, n + 1))
    rng = random.Random(n)
    for shape in shapes_for(n):
        for _ in range(5):
            fault = Fault("partition", shape, plan_partition(shape, nodes, rng))
            assert blocked_links(fault, nodes, leader=nodes[-1]), (n, shape)
    assert ("majority-ring" in shapes_for(n)) == (n >= 4) and (not shapes_for(n)) == (n == 1)
