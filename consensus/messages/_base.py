"""The base class every protocol message derives from."""

from __future__ import annotations

import attrs

from ..types import NodeId


@attrs.frozen(slots=True)
class Message:
    """A message from node ``src`` to node ``dst``.

    Messages are immutable values: a transport may deliver one twice, late, or never, and
    a core must stay safe under all three.
    """

    src: NodeId
    dst: NodeId
