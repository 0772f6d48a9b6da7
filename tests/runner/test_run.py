"""run_test end to end over the fake environment: phases, completions, retirement,
open-loop timing, verdicts, the nemesis, and the run folder."""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from consensus.client.client import ClientTimeout
from jepsen_lite.cli import main as cli_main
from jepsen_lite.history.jsonl import load_jsonl
from jepsen_lite.history.ops import EventType, Status
from jepsen_lite.runner.api import (
    FAULT_KINDS,
    Completion,
    Invocation,
    TestSpec,
    Validity,
    derive_rng,
)
from jepsen_lite.runner.run import RunError, RunResult, combine, run_test
from jepsen_lite.runner.store import RESULTS_KEYS, new_run_dir

from .fake_cluster import FakeCluster, FakeEnvironment, WatchedCluster
from .fake_workload import FakeWorkload
from .runner_fixtures import register, small_spec


def run(spec: TestSpec, tmp_path: Path, env: FakeEnvironment | None = None) -> RunResult:
    return run_test(spec, env or FakeEnvironment(), new_run_dir(tmp_path, spec))


def by_name(result: RunResult) -> dict[str, Validity]:
    return {r.name: r.validity for r in result.checkers}


def test_combine() -> None:
    v, i, u = Validity.VALID, Validity.INVALID, Validity.UNKNOWN
    assert combine([v, v]) is v
    assert combine([v, u]) is u
    assert combine([u, i, v]) is i
    assert combine([]) is u


def test_a_clean_run_is_valid_and_leaves_a_complete_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(monkeypatch)
    result = run(small_spec(), tmp_path)
    assert result.validity is Validity.VALID, result.checkers
    assert by_name(result) == {
        "linearizable": Validity.VALID,
        "availability": Validity.VALID,
        "convergence": Validity.VALID,
    }
    folder = result.run_dir
    for name in ("test.json", "history.jsonl", "results.json", "replay.sh", "node-1.log"):
        assert (folder / name).is_file(), name
    assert (folder.parent / "latest").resolve() == folder.resolve()
    results = json.loads((folder / "results.json").read_text())
    assert tuple(results) == tuple(sorted(RESULTS_KEYS))
    assert results["verdict"] == "valid" and results["exit_status"] == 0
    assert results["ops"]["ok"] == result.counts["ok"] > 50
    phases = results["phases"]
    assert [p["name"] for p in phases] == ["main", "heal", "recovery", "final"]
    assert phases[0]["start_s"] == 0.0 and phases[0]["end_s"] >= 5.0
    bounds = [x for p in phases for x in (p["start_s"], p["end_s"])]
    assert bounds == sorted(bounds)
    history = load_jsonl(folder / "history.jsonl")
    assert len(history.operations) == result.counts["invoke"]
    assert cli_main(["check", str(folder / "history.jsonl"), "--model", "register"]) == 0


def test_open_loop_invokes_on_a_seeded_schedule_whatever_the_latency(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(monkeypatch, slow=f"{__name__}:SlowWorkload")
    spec = small_spec(rate=6.0, concurrency=3, time_limit_s=20.0)
    fast = run(spec, tmp_path)
    slow = run(attrs_evolve(spec, workload="slow"), tmp_path)
    # worker 0 is process 0 throughout (no info): its invocations follow its own
    # exponential schedule exactly, in both runs, though each slow op takes 0.3 s
    rng = derive_rng(spec.seed, "worker-0")
    expected, t = [], rng.expovariate(spec.rate / spec.concurrency)  # type: ignore[operator]
    while t < spec.time_limit_s:
        expected.append(round(t, 6))
        t += rng.expovariate(spec.rate / spec.concurrency)  # type: ignore[operator]
    for result in (fast, slow):
        history = load_jsonl(result.run_dir / "history.jsonl")
        times = [
            round(op.call_time / 1e9, 6)
            for op in history.operations
            if op.process == 0 and op.call_time is not None and op.call_time < 20e9
        ]
        if result is fast:
            assert times == expected
        else:  # a call that found the worker busy went at once when it was free
            assert all(any(abs(x - e) < 0.31 for e in expected) for x in times)
            assert len(times) + result.skipped >= len(expected) - 1
    assert slow.skipped > 0 and fast.skipped == 0


def attrs_evolve(spec: TestSpec, **changes: object) -> TestSpec:
    import attrs

    return attrs.evolve(spec, **changes)


class SlowWorkload(FakeWorkload):
    """Every operation takes 0.3 s of virtual time."""

    async def invoke(self, kv, op):  # type: ignore[no-untyped-def]
        await trio.sleep(0.3)
        return await super().invoke(kv, op)


def test_closed_loop_invokes_back_to_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch, slow=f"{__name__}:SlowWorkload")
    result = run(small_spec(rate=None, workload="slow", concurrency=2, time_limit_s=3.0), tmp_path)
    history = load_jsonl(result.run_dir / "history.jsonl")
    main = [op for op in history.operations if op.call_time is not None and op.call_time < 3e9]
    assert len(main) == 2 * 10  # two workers, one 0.3 s op after another, for 3 s
    assert result.skipped == 0 and result.validity is Validity.VALID


class FlakyWorkload(FakeWorkload):
    """Writes of values divisible by 4 time out after applying; every third read
    times out without effect."""

    reads = 0

    async def invoke(self, kv, op):  # type: ignore[no-untyped-def]
        if op.f == "write" and op.value % 4 == 0:
            await super().invoke(kv, op)
            raise ClientTimeout("lost reply")
        if op.f == "read":
            FlakyWorkload.reads += 1
            if FlakyWorkload.reads % 3 == 0:
                raise ClientTimeout("no node answered")
        return await super().invoke(kv, op)


def test_exceptions_become_info_for_writes_fail_for_reads_and_info_retires(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(monkeypatch, flaky=f"{__name__}:FlakyWorkload")
    spec = small_spec(workload="flaky", concurrency=3)
    result = run(spec, tmp_path)
    history = load_jsonl(result.run_dir / "history.jsonl")  # pairing checks the discipline
    infos = [op for op in history.operations if op.status is Status.INFO]
    fails = [op for op in history.operations if op.status is Status.FAIL]
    assert infos and all(op.f == "write" and op.input % 4 == 0 for op in infos)
    assert fails and all(op.f == "read" for op in fails)
    processes = [op.process for op in history.operations]
    for op in infos:  # a process that got info never invokes again
        assert op.process not in [o.process for o in history.operations if o.call > op.call]
    # new processes are the next integers after the initial 0..2, each used by one worker
    assert set(range(spec.concurrency)) <= set(processes) <= set(range(result.processes))
    assert len(set(processes)) >= spec.concurrency + len(infos)
    # a read that failed does not retire its process
    failed = fails[0]
    assert any(o.process == failed.process for o in history.operations if o.call > failed.call)
    # writes whose reply was lost did apply: the checker accepts this history
    assert by_name(result)["linearizable"] is Validity.VALID
    lines = [json.loads(x) for x in (result.run_dir / "history.jsonl").read_text().splitlines()]
    info_lines = [x for x in lines if x["type"] == "info" and x["process"] != "nemesis"]
    assert all(x["value"] % 4 == 0 for x in info_lines)  # info carries the invoke's value


class BuggyWorkload(FakeWorkload):
    async def invoke(self, kv, op):  # type: ignore[no-untyped-def]
        raise TypeError("unsupported operand")


def test_a_bug_in_the_workload_ends_the_run_with_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(monkeypatch, buggy=f"{__name__}:BuggyWorkload")
    with pytest.raises(RunError, match="TypeError: unsupported operand"):
        run(small_spec(workload="buggy"), tmp_path)
    (folder,) = [p for p in (tmp_path / "raft-buggy-none").iterdir() if p.name != "latest"]
    assert json.loads((folder / "results.json").read_text())["verdict"] == "error"


class HangingCluster(FakeCluster):
    hang_while = frozenset({"partition"})


class HangingEnvironment(FakeEnvironment):
    cluster_class = HangingCluster


def test_nemesis_events_and_timeouts_in_the_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(monkeypatch)
    spec = small_spec(
        nemesis=frozenset({"partition", "kill"}), time_limit_s=30.0, options={"op_timeout_s": 1.0}
    )
    result = run(spec, tmp_path, HangingEnvironment())
    assert result.faults and all(a.end_s is not None for a in result.faults)
    lines = [json.loads(x) for x in (result.run_dir / "history.jsonl").read_text().splitlines()]
    nemesis = [x for x in lines if x["process"] == "nemesis"]
    starts = [x for x in nemesis if x["f"] == "start"]
    assert len(starts) == len(result.faults) and nemesis[-1]["f"] == "heal"
    for event in starts:
        if event["value"]["kind"] == "partition":
            assert event["value"].get("blocked"), event
    times = [x["time"] for x in lines]
    assert times == sorted(times)
    # requests hang during partitions: the runner's timeout turns them into info/fail
    history = load_jsonl(result.run_dir / "history.jsonl")
    timed_out = [op for op in history.operations if op.status in (Status.INFO, Status.FAIL)]
    assert timed_out
    assert result.validity is Validity.VALID, result.checkers
    assert result.phases["main"][1] >= spec.time_limit_s
    cluster = HangingEnvironment.last_cluster
    assert cluster is not None and not cluster.killed


class DeadAfterHeal(FakeCluster):
    hang_forever_after = "heal_network"


class DivergentCluster(FakeCluster):
    diverge = frozenset({2})


class UnreadableCluster(FakeCluster):
    unreadable = frozenset({3})


class BrokenInvariants(WatchedCluster):
    violations = ("two leaders in term 3: 1, 2",)


class CleanInvariants(WatchedCluster):
    violations = ()


@pytest.mark.parametrize(
    ("cluster_class", "checker", "validity"),
    [
        (DeadAfterHeal, "availability", Validity.INVALID),
        (DivergentCluster, "convergence", Validity.INVALID),
        (UnreadableCluster, "convergence", Validity.UNKNOWN),
        (BrokenInvariants, "invariants", Validity.INVALID),
        (CleanInvariants, "invariants", Validity.VALID),
    ],
)
def test_runner_checkers_decide_the_verdict(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cluster_class: type[FakeCluster],
    checker: str,
    validity: Validity,
) -> None:
    register(monkeypatch)
    env_class = type("Env", (FakeEnvironment,), {"cluster_class": cluster_class})
    spec = small_spec(
        nemesis=frozenset({"partition"}), recovery_s=2.0, options={"op_timeout_s": 1.0}
    )
    result = run(spec, tmp_path, env_class())
    verdicts = by_name(result)
    assert verdicts[checker] is validity, result.checkers
    assert result.validity is validity
    assert ("invariants" in verdicts) == issubclass(cluster_class, WatchedCluster)


def test_unsupported_fault_kinds_are_an_error_before_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(monkeypatch)
    env_class = type("Env", (FakeEnvironment,), {"faults": frozenset({"partition", "kill"})})
    spec = small_spec(nemesis=frozenset({"kill", "disk"}))
    with pytest.raises(RunError, match="'fake' does not support fault kind disk"):
        run_test(spec, env_class(), tmp_path)
    assert not list(tmp_path.iterdir())  # nothing was written
    result = run(small_spec(nemesis=frozenset({"all"}), time_limit_s=20.0), tmp_path, env_class())
    assert result.kinds == {"partition", "kill"}
    assert {a.window.fault.kind for a in result.faults} == {"partition", "kill"}


def test_every_kind_on_the_fake_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch)
    result = run(small_spec(nemesis=frozenset(FAULT_KINDS), nodes=5, time_limit_s=30.0), tmp_path)
    assert {a.window.fault.kind for a in result.faults} == set(FAULT_KINDS)
    assert result.validity is Validity.VALID, result.checkers


class FinalFails(FakeWorkload):
    def final_invocations(self, spec: TestSpec) -> Sequence[Invocation]:
        return (Invocation("read", "nope"),)

    async def invoke(self, kv, op):  # type: ignore[no-untyped-def]
        if op.key == "nope":
            return Completion(EventType.FAIL, None, "refused")
        return await super().invoke(kv, op)


def test_a_final_invocation_that_never_succeeds_is_not_live(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(monkeypatch, finalfails=f"{__name__}:FinalFails")
    result = run(small_spec(workload="finalfails", recovery_s=1.0), tmp_path)
    availability = next(r for r in result.checkers if r.name == "availability")
    assert availability.validity is Validity.INVALID
    assert "final operations never succeeded" in availability.summary
    history = load_jsonl(result.run_dir / "history.jsonl")
    finals = [op for op in history.operations if op.key == "nope"]
    assert len(finals) > 2 and len({op.process for op in finals}) == len(finals)


def test_an_exhausted_generator_ends_invoking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(monkeypatch)
    result = run(small_spec(ops_per_key=4, keys=3), tmp_path)  # 12 operations in all
    assert result.counts["invoke"] == 12 + 1  # + the final read


class SlowCloseCluster(FakeCluster):
    """Closing a session takes 3 s of virtual time."""

    @asynccontextmanager
    async def session(self):  # type: ignore[no-untyped-def, override]
        async with super().session() as kv:
            yield kv
            await trio.sleep(3.0)


def test_a_retired_session_closes_while_the_worker_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(monkeypatch, flaky=f"{__name__}:FlakyWorkload")
    env = type("Env", (FakeEnvironment,), {"cluster_class": SlowCloseCluster})()
    spec = small_spec(workload="flaky", rate=None, concurrency=1, ops_per_key=30)
    result = run(spec, tmp_path, env)
    lines = [json.loads(x) for x in (result.run_dir / "history.jsonl").read_text().splitlines()]
    lines = [x for x in lines if x["process"] != "nemesis"]
    infos = [i for i, x in enumerate(lines) if x["type"] == "info" and x["time"] < 4e9]
    assert infos
    for i in infos:  # closed loop, one worker: the next process invokes at once
        following = lines[i + 1]
        assert following["type"] == "invoke" and following["process"] != lines[i]["process"]
        assert following["time"] - lines[i]["time"] < 0.1e9
