"""A node's configuration as the driver applies it, and who is told when it changes.

The driver applies committed CONFIG entries here (never to the state machine) and
installs snapshots' configurations; the node's peer address book hooks in
(:attr:`NodeMembership.hooks`). For a core without ``ReconfigurableCore`` every
configuration is None and nothing is ever applied.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..membership import Membership, MembershipError
from ..types import Entry, EntryKind, Index, SnapshotMeta

log = logging.getLogger("consensus.runtime")


def snapshot_membership(meta: SnapshotMeta) -> Membership:
    """The configuration a snapshot's meta records."""
    return Membership(meta.voters, meta.learners, meta.addresses)


def supports_membership(core: object) -> bool:
    """Whether ``core`` implements ``ReconfigurableCore`` (``membership`` and
    ``propose_change``)."""
    return callable(getattr(core, "membership", None)) and callable(
        getattr(core, "propose_change", None)
    )


class NodeMembership:
    """``applied``: the configuration as of the driver's applied index (updated as CONFIG
    entries are applied and snapshots installed; None for a core without membership).
    ``hooks``: called, in the Ready loop's task, when ``applied`` changes or a change was
    just proposed here (the node then updates its peer address book)."""

    def __init__(self, core: Any, applied_index: Index) -> None:
        self.core = core
        self.reconfigurable = supports_membership(core)
        self.applied: Membership | None = None
        self.applied = self.at(applied_index)
        self.hooks: list[Callable[[], None]] = []

    def apply_entry(self, entry: Entry) -> bytes:
        """A NOOP or CONFIG entry: never for the state machine. A CONFIG entry becomes
        the applied membership (its proposer gets the encoded configuration back)."""
        if entry.kind != EntryKind.CONFIG:
            return b""
        try:
            membership = Membership.decode(entry.data)
        except MembershipError as exc:
            log.error(
                "undecodable configuration entry",
                extra={"fields": {"node": self.core.id, "index": entry.index, "error": str(exc)}},
            )
            return b""
        self.set_applied(membership, entry.index)
        return entry.data

    def set_applied(self, membership: Membership, index: Index) -> None:
        if membership == self.applied:
            return
        self.applied = membership
        log.info(
            "membership applied",
            extra={
                "fields": {
                    "node": self.core.id,
                    "index": index,
                    "voters": list(membership.voters),
                    "learners": list(membership.learners),
                }
            },
        )
        if not membership.is_member(self.core.id) and self.reconfigurable:
            log.warning(
                "this node is no longer a member of the cluster",
                extra={"fields": {"node": self.core.id, "membership": membership.describe()}},
            )
        self.changed()

    def changed(self) -> None:
        for hook in list(self.hooks):
            try:
                hook()
            except Exception as exc:  # an address-book problem must not stop the node
                log.warning(
                    "membership hook failed",
                    extra={"fields": {"node": self.core.id, "error": f"{exc!r}"}},
                )

    def at(self, index: Index) -> Membership | None:
        """The configuration as of ``index`` (the core's ``membership_at`` when it has
        one, else its current one); None for a core without membership."""
        if not self.reconfigurable:
            return None
        at = getattr(self.core, "membership_at", None)
        if at is not None:
            try:
                found: Membership = at(index)
                return found
            except (ValueError, LookupError):
                pass
        current: Membership = self.core.membership()
        return current

    def current(self) -> Membership | None:
        """The core's configuration (latest, committed or not); None without membership."""
        if not self.reconfigurable:
            return None
        current: Membership = self.core.membership()
        return current
