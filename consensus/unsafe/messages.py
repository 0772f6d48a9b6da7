"""Wire records of the unsafe test targets (see :mod:`consensus.unsafe`).

Type ids 248-263 of :data:`consensus.codec.WIRE` (248 + position in
:data:`UNSAFE_RECORDS`; append only).
"""

from __future__ import annotations

import attrs

from ..messages._base import Message


@attrs.frozen(slots=True)
class PbItem:
    """One command of a primary-backup history: the epoch that created it and its bytes."""

    term: int
    data: bytes


@attrs.frozen(slots=True)
class PbAppend(Message):
    """Primary -> backup: the history after position ``prev_pos`` (whose item has epoch
    ``prev_term``); with no items, a heartbeat."""

    epoch: int
    prev_pos: int
    prev_term: int
    items: tuple[PbItem, ...]


@attrs.frozen(slots=True)
class PbReset(Message):
    """Primary -> backup: a full resync. The backup throws its state away and takes
    ``image`` (a state at position ``base_pos`` with epoch ``base_term``; None: the
    empty state at 0) followed by ``items``."""

    epoch: int
    base_pos: int
    base_term: int
    image: bytes | None
    items: tuple[PbItem, ...]


@attrs.frozen(slots=True)
class PbAck(Message):
    """Backup -> primary: its history now ends at ``pos``; ``ok`` False when its history
    does not match the primary's (it needs a :class:`PbReset`). ``epoch`` is the
    sender's: a later one tells an old primary to step down."""

    epoch: int
    pos: int
    ok: bool


@attrs.frozen(slots=True)
class LwwItem:
    """One write of the LWW design: written by ``origin`` in its ``incarnation`` as its
    ``seq``-th write, stamped ``stamp_ms`` by the origin's clock."""

    origin: int
    incarnation: int
    seq: int
    stamp_ms: int
    data: bytes


@attrs.frozen(slots=True)
class LwwMark:
    """The requester has every write of ``(origin, incarnation)`` up to ``seq``."""

    origin: int
    incarnation: int
    seq: int


@attrs.frozen(slots=True)
class LwwWrite(Message):
    """Writes to store (a coordinator's new write, or a repair)."""

    items: tuple[LwwItem, ...]


@attrs.frozen(slots=True)
class LwwAck(Message):
    """The receiver stored these writes (named by their marks)."""

    ids: tuple[LwwMark, ...]


@attrs.frozen(slots=True)
class LwwPull(Message):
    """Send me the writes I lack (``have``: what I hold contiguously per stream).
    ``round`` 0: anti-entropy; otherwise a read's round."""

    round: int
    have: tuple[LwwMark, ...]


@attrs.frozen(slots=True)
class LwwPullReply(Message):
    """The writes the puller lacked (at most a batch; ``more`` if there are others)."""

    round: int
    items: tuple[LwwItem, ...]
    more: bool


UNSAFE_RECORDS: tuple[type, ...] = (
    PbItem,
    PbAppend,
    PbReset,
    PbAck,
    LwwItem,
    LwwMark,
    LwwWrite,
    LwwAck,
    LwwPull,
    LwwPullReply,
)
"""Every wire record of the unsafe targets, in wire-id order (248 + position)."""
