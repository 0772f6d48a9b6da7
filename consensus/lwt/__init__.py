"""Leaderless per-key Paxos (``paxos-lwt``): a pure core in the manner of CASPaxos and
Cassandra's Paxos v2 lightweight transactions. See ``docs/lwt.md``."""

from .acceptor import LwtAcceptor
from .config import LwtConfig
from .core import LwtCore
from .ops import (
    LWT_OP_CODEC,
    LwtOp,
    LwtOpKind,
    LwtOutcome,
    LwtStatus,
    decode_op,
    decode_outcome,
    encode_op,
    evaluate,
)

__all__ = [
    "LWT_OP_CODEC",
    "LwtAcceptor",
    "LwtConfig",
    "LwtCore",
    "LwtOp",
    "LwtOpKind",
    "LwtOutcome",
    "LwtStatus",
    "decode_op",
    "decode_outcome",
    "encode_op",
    "evaluate",
]
