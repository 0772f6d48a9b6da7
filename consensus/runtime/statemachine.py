"""What the runtime needs from an application's state machine.

The runtime calls :meth:`StateMachine.apply` for every committed ``NORMAL`` entry, in
index order, exactly once per incarnation of the process (after a restart it restores
the latest snapshot and re-applies the entries after it). ``apply`` must be
deterministic: the same entries in the same order give the same results and state on
every replica. It must not raise for a bad command: it returns an encoded error result,
since every replica must agree on what a bad command did.
"""

from __future__ import annotations

from typing import Protocol

from ..types import Entry


class StateMachine(Protocol):
    def apply(self, entry: Entry) -> bytes:
        """Apply one committed entry; the bytes returned are the proposer's result."""
        ...

    def query(self, request: bytes) -> bytes:
        """Answer a read from the current state (linearizable after a read barrier)."""
        ...

    def snapshot(self) -> bytes:
        """An image of the whole state, as of the last applied entry."""
        ...

    def restore(self, data: bytes) -> None:
        """Replace the whole state with an image from :meth:`snapshot`."""
