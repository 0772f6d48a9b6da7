"""What a register machine tells the runtime to do with a client request.

A service over ``paxos-lwt`` (the key-value store's ``statemachines.kv_lwt``) looks at
each request and answers either :class:`Answer` (reply now, no round: a refusal, a limit
broken, a session opened) or :class:`Round` (run one Paxos round on ``key`` with the
``APPLY`` operation whose command is ``command``; the runtime then asks the machine for
the reply from the round's outcome). Pure records.
"""

from __future__ import annotations

import attrs


@attrs.frozen(slots=True)
class Answer:
    """Reply ``data`` at once; nothing is proposed."""

    data: bytes


@attrs.frozen(slots=True)
class Round:
    """Run one round on the register ``key`` (non-empty) for ``command``."""

    key: bytes
    command: bytes


Routed = Answer | Round
