"""Tunables of the ``paxos-lwt`` core. Times are ticks of the core's clock."""

from __future__ import annotations

import attrs


def _positive(_inst: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"LwtConfig.{attribute.name} must be >= 1, got {value}")


@attrs.frozen(slots=True)
class LwtConfig:
    """- ``phase_timeout_ticks``: a prepare or accept phase without a majority after this
      many ticks counts as a failed attempt (its messages are not resent: the next
      attempt runs with a new ballot).
    - ``max_attempts``: rounds started for one operation before it is answered with
      ``CONTENDED`` or ``TIMEOUT``.
    - ``backoff_base_ticks`` / ``backoff_cap_ticks``: after the n-th failed attempt the
      coordinator waits a uniformly drawn ``1 .. min(cap, base * 2**(n-1))`` ticks (from
      the core's seeded ``random.Random``) before the next one, so duelling coordinators
      drift apart.
    - ``ballot_reserve``: ballot rounds reserved per durable write of ``reserved`` (one
      fsync per this many ballots, not one per round).
    - ``max_pending``: operations queued or running at this coordinator; beyond it
      ``propose`` raises ``ProposalDropped``.
    """

    phase_timeout_ticks: int = attrs.field(default=10, validator=_positive)
    max_attempts: int = attrs.field(default=8, validator=_positive)
    backoff_base_ticks: int = attrs.field(default=2, validator=_positive)
    backoff_cap_ticks: int = attrs.field(default=32, validator=_positive)
    ballot_reserve: int = attrs.field(default=1000, validator=_positive)
    max_pending: int = attrs.field(default=1024, validator=_positive)
