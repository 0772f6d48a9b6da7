"""Elections: starting one (with or without a pre-vote), granting votes, counting them.

Vote rules (Raft paper section 5.2 and 5.4.1, dissertation 9.6):
- a node grants at most one real vote per term (``vote`` is durable before the answer);
- only to a candidate whose log is at least as up to date as its own;
- a pre-vote is granted under the same log rule to a term above the voter's own, and
  changes nothing on the voter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core import Role
from ..messages import AppendEntries, Heartbeat, InstallSnapshot, RaftMessage, RequestVote
from ..messages import RequestVoteResponse as VoteResp
from ..quorum import VoteResult, VoteTally
from . import follower

if TYPE_CHECKING:
    from .core import RaftCore


def empty_tally(core: RaftCore) -> VoteTally:
    return VoteTally(core.voters)


def start(core: RaftCore, transfer: bool) -> None:
    """Campaign: with a pre-vote first unless disabled or ``transfer`` (TimeoutNow)."""
    campaign(core, pre_vote=core.config.pre_vote and not transfer, transfer=transfer)


def campaign(core: RaftCore, pre_vote: bool, transfer: bool) -> None:
    """Ask every peer for a vote (``pre_vote``: for a pre-vote) and count our own.

    ``transfer`` marks a campaign ordered by the leader (TimeoutNow): peers then vote
    even while they still hear from that leader.
    """
    if core.role is Role.LEADER:
        return
    if pre_vote:
        core.become_pre_candidate()
        term = core.term + 1
    else:
        core.become_candidate()
        term = core.term
    core.votes.record(core.id, True)
    if _count(core):
        return
    last_index, last_term = core.log.last_index(), core.log.last_term()
    for peer in core.voter_peers:
        core.send(RequestVote(core.id, peer, term, last_index, last_term, pre_vote, transfer))


def _count(core: RaftCore) -> bool:
    """Act on the tally; returns True when the election is decided."""
    result = core.votes.result()
    if result is VoteResult.WON:
        if core.role is Role.PRE_CANDIDATE:
            campaign(core, pre_vote=False, transfer=False)
        else:
            core.become_leader()
        return True
    if result is VoteResult.LOST:
        core.become_follower(core.term, None)
        return True
    return False


def handle_vote_request(core: RaftCore, m: RequestVote) -> None:
    """Answer a (pre-)vote request whose term is >= ours (the caller handled the rest)."""
    can_vote = (
        core.vote == m.src
        or (core.vote is None and core.leader is None)
        or (m.pre_vote and m.term > core.term)
    )
    if can_vote and core.log.is_up_to_date(m.last_index, m.last_term):
        if m.pre_vote:
            core.send(VoteResp(core.id, m.src, m.term, True, True))
        else:
            core.election_elapsed = 0
            core.vote = m.src
            core.send(VoteResp(core.id, m.src, core.term, True, False))
    else:
        core.send(VoteResp(core.id, m.src, core.term, False, m.pre_vote))


def step_candidate(core: RaftCore, m: RaftMessage) -> None:
    """Messages of the current term to a (pre-)candidate."""
    if isinstance(m, AppendEntries | Heartbeat | InstallSnapshot):
        core.become_follower(core.term, m.src)
        follower.step_follower(core, m)
    elif isinstance(m, VoteResp):
        if m.pre_vote != (core.role is Role.PRE_CANDIDATE):
            return  # an answer to an earlier phase
        core.votes.record(m.src, m.granted)
        _count(core)
