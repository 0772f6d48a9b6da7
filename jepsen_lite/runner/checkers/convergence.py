"""Convergence after heal: every replica holds the same state-machine snapshot.

``RunFacts.snapshots`` has each node's snapshot (``None`` for a node that could not be
read). INVALID if two readable nodes differ; UNKNOWN if all readable ones agree but some
node could not be read, or none could (agreement of a subset proves nothing about the
rest); VALID only when every node was read and all are byte-identical, except the nodes
in ``RunFacts.refused``: a node whose recovery refused its damaged storage stays down
by design (trusting a corrupt log would be the bug), so it is left out and named in the
summary. The summary of an UNKNOWN names the unread nodes that took disk faults.
"""

from __future__ import annotations

import hashlib

from ...history.ops import History
from ..api import CheckerResult, NodeId, RunFacts, Validity


def digest(snapshot: bytes) -> str:
    """A short content digest of one snapshot (for reports)."""
    return hashlib.sha256(snapshot).hexdigest()[:16]


class ConvergenceChecker:
    """See the module doc."""

    name = "convergence"

    def check(self, history: History, facts: RunFacts) -> CheckerResult:
        """Compare the nodes' final snapshots."""
        refused = {node: why for node, why in facts.refused.items() if node in facts.snapshots}
        unread = sorted(
            node for node, snap in facts.snapshots.items() if snap is None and node not in refused
        )
        groups: dict[str, list[NodeId]] = {}
        for node in sorted(facts.snapshots):
            snap = facts.snapshots[node]
            if snap is not None:
                groups.setdefault(digest(snap), []).append(node)
        details = {"digests": groups, "unread": unread, "refused": dict(sorted(refused.items()))}
        if len(groups) > 1:
            shown = "; ".join(f"nodes {nodes} = {d}" for d, nodes in groups.items())
            return CheckerResult(
                self.name, Validity.INVALID, f"replicas diverged after heal: {shown}", details
            )
        if not groups:
            return CheckerResult(
                self.name, Validity.UNKNOWN, "no replica could be read after heal", details
            )
        if unread:
            damaged = sorted(
                {w.fault.nodes[0] for w in facts.faults if w.fault.kind == "disk" and w.fault.nodes}
                & set(unread)
            )
            why = f" (disk faults hit {damaged}: see the node logs)" if damaged else ""
            return CheckerResult(
                self.name,
                Validity.UNKNOWN,
                f"{len(facts.snapshots) - len(unread)} replicas agree, but nodes {unread} "
                f"could not be read{why}",
                details,
            )
        down = ""
        if refused:
            down = (
                f"; node{'s' if len(refused) > 1 else ''} {sorted(refused)} stayed down, "
                "refusing storage the nemesis damaged (as it must)"
            )
        return CheckerResult(
            self.name,
            Validity.VALID,
            f"all {len(facts.snapshots) - len(refused)} readable replicas identical after "
            f"heal{down}",
            details,
        )
