"""The records a Multi-Paxos store writes into its WAL, and its checkpoint blob.

Fixed little-endian layouts, like :mod:`.raft_records`; the first byte is the tag:

- ``PROMISE``: the promised ballot (round, node); the latest one replaces the others.
- ``COMMIT``: a commit index; the highest one counts.
- ``VOTE``: an acceptor record: ballot (round, node), then the entry (index = slot,
  term, kind, data); a later vote for a slot replaces the earlier one.
- ``CHOSEN``: a chosen entry (index = slot, term, kind, data).
- ``SNAPSHOT_MARK``: index, term: votes and chosen values up to ``index`` are dropped.
"""

from __future__ import annotations

import struct

import attrs

from ...messages import AcceptedRecord, Ballot
from ...types import Entry, EntryKind, Index, Term

PROMISE = 1
COMMIT = 2
VOTE = 3
CHOSEN = 4
SNAPSHOT_MARK = 5

_PROMISE = struct.Struct("<BQQ")
_COMMIT = struct.Struct("<BQ")
_VOTE = struct.Struct("<BQQQQB")
_CHOSEN = struct.Struct("<BQQB")
_MARK = struct.Struct("<BQQ")
_CHECKPOINT = struct.Struct("<QQQQ")  # promise record end, round, node, commit
_KINDS = {kind.value: kind for kind in EntryKind}


@attrs.frozen(slots=True)
class Commit:
    index: Index


@attrs.frozen(slots=True)
class Chosen:
    entry: Entry


@attrs.frozen(slots=True)
class PaxosMark:
    index: Index
    term: Term


PaxosRecord = Ballot | Commit | AcceptedRecord | Chosen | PaxosMark


def encode_promise(ballot: Ballot) -> bytes:
    return _PROMISE.pack(PROMISE, ballot.round, ballot.node)


def encode_commit(index: Index) -> bytes:
    return _COMMIT.pack(COMMIT, index)


def encode_vote(vote: AcceptedRecord) -> bytes:
    e = vote.entry
    return _VOTE.pack(VOTE, vote.ballot.round, vote.ballot.node, e.index, e.term, e.kind) + e.data


def encode_chosen(entry: Entry) -> bytes:
    return _CHOSEN.pack(CHOSEN, entry.index, entry.term, entry.kind) + entry.data


def encode_mark(mark: PaxosMark) -> bytes:
    return _MARK.pack(SNAPSHOT_MARK, mark.index, mark.term)


def _kind(value: int) -> EntryKind:
    kind = _KINDS.get(value)
    if kind is None:
        raise ValueError(f"entry with unknown kind {value}")
    return kind


def _fixed(payload: memoryview, layout: struct.Struct, what: str) -> tuple[int, ...]:
    if len(payload) != layout.size:
        raise ValueError(f"{what} record of {len(payload)} bytes, not {layout.size}")
    return layout.unpack_from(payload)


def decode_record(payload: memoryview) -> PaxosRecord:
    """``ValueError`` for a payload no writer of this format produces."""
    tag = payload[0]
    if tag == VOTE:
        if len(payload) < _VOTE.size:
            raise ValueError(f"vote record of {len(payload)} bytes is too short")
        _, rnd, node, index, term, kind = _VOTE.unpack_from(payload)
        entry = Entry(index, term, bytes(payload[_VOTE.size :]), _kind(kind))
        return AcceptedRecord(Ballot(rnd, node), entry)
    if tag == CHOSEN:
        if len(payload) < _CHOSEN.size:
            raise ValueError(f"chosen record of {len(payload)} bytes is too short")
        _, index, term, kind = _CHOSEN.unpack_from(payload)
        return Chosen(Entry(index, term, bytes(payload[_CHOSEN.size :]), _kind(kind)))
    if tag == PROMISE:
        _, rnd, node = _fixed(payload, _PROMISE, "promise")
        return Ballot(rnd, node)
    if tag == COMMIT:
        return Commit(_fixed(payload, _COMMIT, "commit")[1])
    if tag == SNAPSHOT_MARK:
        _, index, term = _fixed(payload, _MARK, "snapshot mark")
        return PaxosMark(index, term)
    raise ValueError(f"unknown record tag {tag}")


def encode_checkpoint(promised: Ballot, promise_position: int, commit: Index) -> bytes:
    return _CHECKPOINT.pack(promise_position, promised.round, promised.node, commit)


def decode_checkpoint(blob: bytes) -> tuple[Ballot, int, Index] | None:
    """(promised, position of its record's end, commit), or None for no checkpoint."""
    if not blob:
        return None
    if len(blob) != _CHECKPOINT.size:
        raise ValueError(f"not a Paxos checkpoint ({len(blob)} bytes)")
    position, rnd, node, commit = _CHECKPOINT.unpack(blob)
    return Ballot(rnd, node), position, commit
