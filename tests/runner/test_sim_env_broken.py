"""The broken-core switches really break the rule they name (and only while active)."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Any, cast

import pytest
import trio

from consensus.client.client import ClientTimeout
from consensus.core import Role
from consensus.messages import (
    AppendEntries,
    AppendEntriesResponse,
    Heartbeat,
    Message,
    RequestVote,
    RequestVoteResponse,
)
from consensus.messages.paxos import AcceptedRecord, Ballot
from consensus.paxos.proposer import RangePhaseOne
from consensus.raft import RaftConfig, RaftCore
from consensus.types import Entry, ReadState
from jepsen_lite.runner.api import Cluster, TestSpec
from jepsen_lite.runner.broken import BROKEN, broken
from jepsen_lite.runner.envs.sim import SimCluster, SimEnvironment
from jepsen_lite.runner.envs.sim_client import SimBackend


def raft_core(node: int = 1, voters: tuple[int, ...] = (1, 2, 3)) -> RaftCore:
    config = RaftConfig(pre_vote=False, check_quorum=False)
    return RaftCore(node, voters, random.Random(1), config)


def drain(core: RaftCore) -> list[Message]:
    out: list[Message] = []
    while core.has_ready():
        rd = core.ready()
        core.advance(rd)
        out.extend(rd.early_messages + rd.messages)
    return out


def follower_with_log() -> RaftCore:
    """Node 1 following node 2 in term 2 with entries (1, 1), (2, 2)."""
    core = raft_core()
    core.step(AppendEntries(2, 1, 2, 0, 0, (Entry(1, 1), Entry(2, 2)), 0))
    drain(core)
    return core


def stale_vote_answer() -> list[RequestVoteResponse]:
    core = follower_with_log()
    core.step(RequestVote(3, 1, 3, 1, 1))  # candidate 3's log ends at (1, 1): stale
    return [m for m in drain(core) if isinstance(m, RequestVoteResponse)]


def test_vote_without_log_check_grants_a_vote_to_a_stale_candidate() -> None:
    assert [m.granted for m in stale_vote_answer()] == [False]
    with broken("vote-without-log-check"):
        assert [m.granted for m in stale_vote_answer()] == [True]
    assert [m.granted for m in stale_vote_answer()] == [False]  # restored


def leader_read_states() -> tuple[list[ReadState], list[Message]]:
    core = raft_core()
    for _ in range(core.randomized_election_ticks):
        core.tick()
    for m in drain(core):
        if isinstance(m, RequestVote):
            core.step(RequestVoteResponse(m.dst, 1, m.term, True, m.pre_vote))
    assert core.role is Role.LEADER
    drain(core)
    core.step(AppendEntriesResponse(2, 1, core.term, True, 1))  # the noop commits
    drain(core)
    core.read_index(b"r")
    states: list[ReadState] = []
    sent: list[Message] = []
    while core.has_ready():
        rd = core.ready()
        core.advance(rd)
        states.extend(rd.read_states)
        sent.extend(rd.early_messages + rd.messages)
    return states, sent


def test_read_without_quorum_answers_without_a_heartbeat_round() -> None:
    states, sent = leader_read_states()
    assert states == [] and any(isinstance(m, Heartbeat) for m in sent)
    with broken("read-without-quorum"):
        states, sent = leader_read_states()
    assert states == [ReadState(b"r", 1)] and not any(isinstance(m, Heartbeat) for m in sent)


def phase_one_votes() -> dict[int, AcceptedRecord]:
    b1, b3 = Ballot(1, 1), Ballot(3, 3)
    p1 = RangePhaseOne(b3, (1, 2, 3), first_slot=1)
    p1.promised(3, 0, ())
    p1.promised(2, 0, (AcceptedRecord(b1, Entry(1, b1.as_term(), b"chosen")),))
    return dict(p1.votes)


def test_promise_ignores_accepted_drops_the_reported_values() -> None:
    assert list(phase_one_votes()) == [1]
    with broken("promise-ignores-accepted"):
        assert phase_one_votes() == {}
    assert list(phase_one_votes()) == [1]


def test_unknown_switch_is_a_value_error_naming_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown broken-core switch 'nope': choose one of"):
        broken("nope")
    assert broken(None) is not None
    assert set(BROKEN) >= {"vote-without-log-check", "read-without-quorum"}


# -- end to end in the sim environment --------------------------------------------------
def deposed_leader_read(tmp_path: Path, switch: str | None) -> tuple[bytes | None, str]:
    """Write x=1; cut the leader off from its peers (not from clients) with its clock
    slowed so it keeps believing it leads; write x=2 through the new leader; then read x
    at the old leader. Returns what the read saw (or the error's name)."""
    options: dict[str, Any] = {"client_timeout_s": 3.0}
    if switch is not None:
        options["broken"] = switch
    spec = TestSpec(nodes=5, seed=2, nemesis=frozenset(), options=options)

    async def main(cluster: Cluster) -> tuple[bytes | None, str]:
        sim = cast(SimCluster, cluster)
        async with cluster.session() as writer, cluster.session() as reader:
            await writer.put("x", b"1")
            old = await cluster.leader()
            assert old is not None
            await cluster.skew_clock(old, 0, 0.05)
            await cluster.partition(
                frozenset((a, b) for a in sim.nodes for b in sim.nodes if a != b and old in (a, b))
            )
            with trio.fail_after(5):
                while (new := await cluster.leader()) in (None, old):
                    await trio.sleep(0.01)
            cast(SimBackend, writer.backend).guess = new
            await writer.put("x", b"2")  # acknowledged: every later read must see it
            cast(SimBackend, reader.backend).guess = old
            try:
                return await reader.get("x"), "ok"
            except ClientTimeout as exc:
                return None, type(exc).__name__

    with tempfile.TemporaryDirectory(dir=tmp_path) as run_dir:
        return SimEnvironment().run(spec, run_dir, main)


def test_read_without_quorum_serves_a_stale_read_from_a_deposed_leader(tmp_path: Path) -> None:
    assert deposed_leader_read(tmp_path, "read-without-quorum") == (b"1", "ok")
    value, _ = deposed_leader_read(tmp_path, None)
    assert value in (b"2", None)  # the fresh value, or no answer: never the stale one


def stale_leader_takeover(
    tmp_path: Path, switch: str | None
) -> tuple[bytes | str, tuple[str, ...]]:
    """Cut one follower off while five writes commit; then give it a fast clock, kill the
    leader and heal: the stale follower times out first and asks for votes. Returns what
    a read of x sees and the simulator's invariant verdict."""
    options: dict[str, Any] = {"client_timeout_s": 3.0}
    if switch is not None:
        options["broken"] = switch
    spec = TestSpec(nodes=5, seed=0, nemesis=frozenset(), options=options)

    async def main(cluster: Cluster) -> tuple[bytes | str, tuple[str, ...]]:
        sim = cast(SimCluster, cluster)
        async with cluster.session() as kv:
            await kv.put("x", b"0")
            leader = await cluster.leader()
            stale = next(n for n in reversed(sim.nodes) if n != leader)
            await cluster.partition(
                frozenset(
                    (a, b) for a in sim.nodes for b in sim.nodes if a != b and stale in (a, b)
                )
            )
            for i in range(1, 6):
                await kv.put("x", str(i).encode())
            await cluster.skew_clock(stale, 0, 4.0)
            assert leader is not None
            await cluster.kill(leader)
            await cluster.heal_network()
            await trio.sleep(1.0)
            await cluster.reset_clock(stale)
            got: bytes | str
            try:
                got = await kv.get("x") or b""
            except ClientTimeout as exc:
                got = type(exc).__name__
        return got, sim.invariant_violations()

    with tempfile.TemporaryDirectory(dir=tmp_path) as run_dir:
        return SimEnvironment().run(spec, run_dir, main)


def test_vote_without_log_check_lets_a_stale_node_lead_and_the_invariants_see_it(
    tmp_path: Path,
) -> None:
    assert stale_leader_takeover(tmp_path, None) == (b"5", ())
    _, violations = stale_leader_takeover(tmp_path, "vote-without-log-check")
    assert violations and all("state-machine safety" in v for v in violations)
