"""The client protocol: CBOR frames between clients and a node's client port.

Records use their own :class:`~consensus.codec.Codec` (type ids 160-191, of which
160-168 and 170-176 are taken, so a client talking to a peer port, or a peer to a client
port, fails to decode at once). A client
may pipeline many requests on one connection; every reply echoes its request's
``request_id``. Requests:

- :class:`ProposeRequest`: replicate ``command`` (state-machine bytes); answered with
  :class:`ResultReply` once applied, or :class:`RedirectReply`/:class:`ErrorReply`.
- :class:`QueryRequest`: a linearizable read (read barrier, then the state machine's
  ``query``); same answers.
- :class:`LeaseQueryRequest`: a lease read: served at once by a Raft leader that holds
  its read lease (``RaftConfig.lease_reads``), else as a :class:`QueryRequest` (read
  barrier; Multi-Paxos always); same answers (see docs/kv.md, "Read consistency").
- :class:`LocalQueryRequest`: a stale read: the state machine's ``query`` on this
  node's applied state at once, whatever its role (no barrier, never a redirect); same
  answers. It may miss writes that completed elsewhere (see docs/kv.md).
- :class:`StatusRequest`: answered at once with :class:`StatusReply`.
- :class:`FaultControlRequest` (test clusters only): skew, reset or read the node's
  clock (:class:`~consensus.runtime.clock.NodeClock`); answered with
  :class:`FaultControlReply`.
- :class:`SnapshotDigestRequest` (test clusters only): the applied index and the
  SHA-256 of the state machine's snapshot; answered with :class:`SnapshotDigestReply`.

- :class:`MemberListRequest`: the cluster's configuration as the leader sees it
  (redirected to the leader like a write); answered with :class:`MemberReply`, whose
  members carry the leader's match index for each.
- :class:`MemberChangeRequest`: one single-step change (``kind`` a
  :class:`~consensus.membership.ChangeKind` value: add a learner at ``address``,
  promote, remove), answered with :class:`MemberReply` once the change committed;
  ``ErrorReply`` kind ``refused`` when it does not apply (the message says why) or the
  protocol cannot change membership.

The fault-injection requests are served only by a node started with ``consensus serve
--allow-fault-injection``; any other node answers them with ``ErrorReply`` kind
``bad-request``.

``ErrorReply.kind`` is one of :data:`ERROR_KINDS`; all but ``bad-request`` and
``refused`` are worth retrying (with the same command bytes, so the state machine deduplicates).
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import attrs

from ..codec import Codec

CLIENT_FRAME_BYTES_MAX = 4 * 1024 * 1024

Consistency: TypeAlias = Literal["linearizable", "lease", "stale"]
"""How a read is served: ``linearizable`` (a read barrier first, :class:`QueryRequest`),
``lease`` (at once on a Raft leader holding its read lease, else as linearizable,
:class:`LeaseQueryRequest`) or ``stale`` (this node's applied state as it is,
:class:`LocalQueryRequest`)."""

CONSISTENCY_LEVELS: tuple[Consistency, ...] = ("linearizable", "lease", "stale")


@attrs.frozen(slots=True)
class ProposeRequest:
    request_id: int
    command: bytes


@attrs.frozen(slots=True)
class QueryRequest:
    request_id: int
    query: bytes


@attrs.frozen(slots=True)
class LeaseQueryRequest:
    request_id: int
    query: bytes


@attrs.frozen(slots=True)
class LocalQueryRequest:
    request_id: int
    query: bytes


@attrs.frozen(slots=True)
class StatusRequest:
    request_id: int


FAULT_ACTIONS = ("skew", "reset", "read")
"""What a :class:`FaultControlRequest` does to the node's clock."""


@attrs.frozen(slots=True)
class FaultControlRequest:
    """``action`` ``skew``: ``NodeClock.skew(offset_ms, rate)``; ``reset``: back to the
    base clock; ``read``: change nothing (``offset_ms`` and ``rate`` are then ignored)."""

    request_id: int
    action: str
    offset_ms: float = 0.0
    rate: float = 1.0


@attrs.frozen(slots=True)
class SnapshotDigestRequest:
    request_id: int


@attrs.frozen(slots=True)
class MemberListRequest:
    request_id: int


@attrs.frozen(slots=True)
class MemberChangeRequest:
    """``kind``: ``ChangeKind`` value (1 add learner, 2 promote, 3 remove); ``address``:
    the peer address (``HOST:PORT``) a new learner is dialled at ("" otherwise)."""

    request_id: int
    kind: int
    node_id: int
    address: str = ""


@attrs.frozen(slots=True)
class MemberInfo:
    """One member: ``role`` "voter" or "learner"; ``address`` its peer address when the
    configuration records one ("" otherwise: the cluster file's); ``match_index`` the
    leader's highest index known replicated there (None when not known)."""

    node_id: int
    role: str
    address: str
    match_index: int | None


@attrs.frozen(slots=True)
class MatchIndex:
    node_id: int
    match_index: int


@attrs.frozen(slots=True)
class ResultReply:
    request_id: int
    result: bytes


@attrs.frozen(slots=True)
class RedirectReply:
    """This node is not the leader. ``leader_id`` is the leader it knows (None if none);
    ``leader_endpoint`` its client address when this node knows it, else ""."""

    request_id: int
    leader_id: int | None
    leader_endpoint: str


@attrs.frozen(slots=True)
class ErrorReply:
    request_id: int
    kind: str
    message: str


@attrs.frozen(slots=True)
class StatusReply:
    request_id: int
    node_id: int
    role: str
    term: int
    leader: int | None
    commit_index: int
    applied_index: int
    last_index: int
    protocol: str
    voters: tuple[int, ...] = ()
    """The configuration in effect on the node (empty: a protocol without membership)."""
    learners: tuple[int, ...] = ()
    progress: tuple[MatchIndex, ...] = ()
    """From the leader only: each member's match index."""
    messages_sent: int = 0
    """Counters since the node started (0 where the node's transport or storage keeps
    none): messages sent to peers, the bytes of their frames, fsyncs of its storage."""
    bytes_sent: int = 0
    fsyncs: int = 0


@attrs.frozen(slots=True)
class MemberReply:
    """The configuration the leader ``leader_id`` has in effect (after the change, for a
    :class:`MemberChangeRequest`), members sorted by id."""

    request_id: int
    leader_id: int
    members: tuple[MemberInfo, ...]


@attrs.frozen(slots=True)
class FaultControlReply:
    """The node's clock after the request: its reading ``clock_ms`` (milliseconds since
    the epoch, as the node believes) and its current skew."""

    request_id: int
    clock_ms: float
    offset_ms: float
    rate: float


@attrs.frozen(slots=True)
class SnapshotDigestReply:
    """``digest`` is the SHA-256 of the state machine's snapshot as of ``applied_index``
    (both taken at the same instant)."""

    request_id: int
    applied_index: int
    digest: bytes


ERROR_KINDS = (
    "dropped",  # not taken, never applied: retry
    "busy",  # back-pressure: retry later
    "timeout",  # outcome unknown: retry with the same command
    "unknown",  # outcome unknown: retry with the same command
    "stopped",  # node shutting down: try another node
    "refused",  # a membership change that does not apply here and now: see the message
    "bad-request",  # the request itself is wrong: do not retry
)

Request = (
    ProposeRequest
    | QueryRequest
    | LocalQueryRequest
    | LeaseQueryRequest
    | StatusRequest
    | FaultControlRequest
    | SnapshotDigestRequest
    | MemberListRequest
    | MemberChangeRequest
)
Reply = (
    ResultReply
    | RedirectReply
    | ErrorReply
    | StatusReply
    | FaultControlReply
    | SnapshotDigestReply
    | MemberReply
)

CLIENT_CODEC = Codec(
    {
        160: ProposeRequest,
        161: QueryRequest,
        162: StatusRequest,
        163: LocalQueryRequest,
        164: FaultControlRequest,
        165: SnapshotDigestRequest,
        166: LeaseQueryRequest,
        167: MemberListRequest,
        168: MemberChangeRequest,
        170: ResultReply,
        171: RedirectReply,
        172: ErrorReply,
        173: StatusReply,
        174: FaultControlReply,
        175: SnapshotDigestReply,
        176: MemberReply,
    },
    frame_bytes_max=CLIENT_FRAME_BYTES_MAX,
)
"""The codec of the client protocol."""
