"""Cluster membership: who votes, who only learns, and how a change is described.

Pure data shared by every layer (cores, storage, runtime, client, simulator):

- :class:`Membership`: a configuration. ``voters`` form the quorums; ``learners`` receive
  the log (and may serve stale reads) but never vote and never count towards a quorum.
  ``addresses`` optionally maps members to the address peers dial (opaque to the cores:
  the runtime's ``host:port``; the simulator leaves it empty).
- :class:`ConfChange`: one change, the unit a client asks for. Changes are *single-step*:
  add a learner, promote a learner to voter, remove a member (voter or learner). Adding a
  voter is add-learner then promote (the learner catches up before it counts), and
  replacing a node is add-learner, promote, remove the old one. One step changes the
  voter set by at most one node, so any two consecutive configurations' majorities
  intersect (the Raft dissertation's single-server changes).
- A configuration travels in the log as an entry of kind ``EntryKind.CONFIG`` whose data
  is the *whole* new configuration (:meth:`Membership.encode`), so that a node can
  rebuild its configuration from its snapshot plus the last CONFIG entry of its log.

Invariants (checked at construction, ``MembershipError`` otherwise): node ids are >= 1;
voters and learners are sorted, distinct and disjoint; there is at least one voter;
``addresses`` names members only, sorted by id, one address each.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping

import attrs
import cbor2

from .errors import ConsensusError
from .types import NodeId


class MembershipError(ConsensusError, ValueError):
    """A configuration or a change is invalid here and now; the message says why.

    Raised for a malformed configuration, a change that does not apply to the current one
    (adding a member twice, promoting a voter, removing the last voter), a change while
    another is still in flight, or promoting a learner that has not caught up.
    """


class ChangeKind(enum.IntEnum):
    """What a :class:`ConfChange` does."""

    ADD_LEARNER = 1
    PROMOTE = 2
    REMOVE = 3

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", "-")


def _sorted_ids(ids: Iterable[NodeId]) -> tuple[NodeId, ...]:
    return tuple(sorted(ids))


def _sorted_addresses(
    addresses: Iterable[tuple[NodeId, str]] | Mapping[NodeId, str],
) -> tuple[tuple[NodeId, str], ...]:
    items = addresses.items() if isinstance(addresses, Mapping) else addresses
    return tuple(sorted((int(n), str(a)) for n, a in items))


@attrs.frozen(slots=True)
class Membership:
    """One cluster configuration. Build with ``Membership.of(...)`` to get the sorting."""

    voters: tuple[NodeId, ...]
    learners: tuple[NodeId, ...] = ()
    addresses: tuple[tuple[NodeId, str], ...] = ()

    def __attrs_post_init__(self) -> None:
        for what, ids in (("voters", self.voters), ("learners", self.learners)):
            for n in ids:
                if type(n) is not int or n < 1:
                    raise MembershipError(f"{what}: node ids are integers >= 1, got {n!r}")
            if list(ids) != sorted(set(ids)):
                raise MembershipError(f"{what} must be sorted and distinct, got {list(ids)}")
        if not self.voters:
            raise MembershipError("a configuration needs at least one voter")
        both = set(self.voters) & set(self.learners)
        if both:
            raise MembershipError(f"nodes {sorted(both)} are both voter and learner")
        members = set(self.voters) | set(self.learners)
        named = [n for n, _ in self.addresses]
        if named != sorted(set(named)):
            raise MembershipError(f"addresses must be sorted by id, one each, got {named}")
        strangers = set(named) - members
        if strangers:
            raise MembershipError(f"addresses name non-members {sorted(strangers)}")

    @classmethod
    def of(
        cls,
        voters: Iterable[NodeId],
        learners: Iterable[NodeId] = (),
        addresses: Iterable[tuple[NodeId, str]] | Mapping[NodeId, str] = (),
    ) -> Membership:
        """Build a configuration from ids in any order (duplicates are an error)."""
        v, ln = list(voters), list(learners)
        for what, ids in (("voters", v), ("learners", ln)):
            if len(set(ids)) != len(ids):
                raise MembershipError(f"{what} must be distinct, got {ids}")
        return cls(_sorted_ids(v), _sorted_ids(ln), _sorted_addresses(addresses))

    # -- inspection ---------------------------------------------------------------------
    @property
    def members(self) -> tuple[NodeId, ...]:
        """Voters and learners, sorted."""
        return _sorted_ids(self.voters + self.learners)

    def is_voter(self, node: NodeId) -> bool:
        return node in self.voters

    def is_member(self, node: NodeId) -> bool:
        return node in self.voters or node in self.learners

    def quorum(self) -> int:
        """Votes (or acknowledgements) a majority of the voters needs."""
        return len(self.voters) // 2 + 1

    def address(self, node: NodeId) -> str | None:
        for n, a in self.addresses:
            if n == node:
                return a
        return None

    def address_map(self) -> dict[NodeId, str]:
        return dict(self.addresses)

    def describe(self) -> str:
        """One line for logs and errors: ``voters [1, 2, 3] learners [4]``."""
        text = f"voters {list(self.voters)}"
        return text + (f" learners {list(self.learners)}" if self.learners else "")

    # -- changes ------------------------------------------------------------------------
    def apply(self, change: ConfChange) -> Membership:
        """The configuration after ``change``; ``MembershipError`` if it does not apply."""
        n = change.node
        addresses = dict(self.addresses)
        if change.kind is ChangeKind.ADD_LEARNER:
            if self.is_member(n):
                role = "voter" if self.is_voter(n) else "learner"
                raise MembershipError(f"node {n} is already a {role}")
            if change.address:
                addresses[n] = change.address
            return Membership.of(self.voters, (*self.learners, n), addresses)
        if change.kind is ChangeKind.PROMOTE:
            if self.is_voter(n):
                raise MembershipError(f"node {n} is already a voter")
            if n not in self.learners:
                raise MembershipError(f"node {n} is not a learner; add it as a learner first")
            if change.address:
                addresses[n] = change.address
            learners = [x for x in self.learners if x != n]
            return Membership.of((*self.voters, n), learners, addresses)
        # REMOVE
        if not self.is_member(n):
            raise MembershipError(f"node {n} is not a member ({self.describe()})")
        if self.voters == (n,):
            raise MembershipError(f"node {n} is the last voter; a cluster needs one")
        addresses.pop(n, None)
        return Membership.of(
            [x for x in self.voters if x != n], [x for x in self.learners if x != n], addresses
        )

    def one_step_from(self, old: Membership) -> bool:
        """Whether this configuration is ``old`` after one single-step change (addresses
        aside): what every committed configuration must be of the one before it."""
        for n in sorted(set(old.members) | set(self.members)):
            for kind in ChangeKind:
                try:
                    after = old.apply(ConfChange(kind, n))
                except MembershipError:
                    continue
                if after.voters == self.voters and after.learners == self.learners:
                    return True
        return False

    # -- log entry payload --------------------------------------------------------------
    def encode(self) -> bytes:
        """The data of a CONFIG entry: ``[voters, learners, [[id, address], ...]]`` in CBOR."""
        return cbor2.dumps(
            [list(self.voters), list(self.learners), [[n, a] for n, a in self.addresses]]
        )

    @classmethod
    def decode(cls, data: bytes) -> Membership:
        """Inverse of :meth:`encode`; ``MembershipError`` for anything else."""
        try:
            raw = cbor2.loads(data)
        except Exception as exc:  # cbor2 raises several unrelated types
            raise MembershipError(f"not an encoded configuration: {exc}") from None
        if not (isinstance(raw, list) and len(raw) == 3 and all(isinstance(x, list) for x in raw)):
            raise MembershipError("not an encoded configuration: expected three arrays")
        voters, learners, addresses = raw
        pairs: list[tuple[NodeId, str]] = []
        for item in addresses:
            if not (
                isinstance(item, list)
                and len(item) == 2
                and type(item[0]) is int
                and isinstance(item[1], str)
            ):
                raise MembershipError(f"not an encoded configuration: bad address {item!r}")
            pairs.append((item[0], item[1]))
        return cls(tuple(voters), tuple(learners), tuple(pairs))


@attrs.frozen(slots=True)
class ConfChange:
    """One single-step change (see the module docstring). ``address`` is what peers dial
    to reach ``node`` (needed by the runtime for ADD_LEARNER; the simulator ignores it)."""

    kind: ChangeKind
    node: NodeId
    address: str = ""

    def __attrs_post_init__(self) -> None:
        if type(self.node) is not int or self.node < 1:
            raise MembershipError(f"node ids are integers >= 1, got {self.node!r}")

    def describe(self) -> str:
        return f"{self.kind.label} node {self.node}" + (
            f" at {self.address}" if self.address else ""
        )


__all__ = ["ChangeKind", "ConfChange", "Membership", "MembershipError"]
