"""Both transports pass the same conformance suite."""

from __future__ import annotations

import pytest

from consensus.transport.testing import CHECKS, Maker

from .conftest import sim_cluster, tcp_cluster


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
async def test_sim_transport_conforms(check: object, autojump_clock: object) -> None:
    await check(sim_cluster)  # type: ignore[operator]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
async def test_tcp_transport_conforms(check: object) -> None:
    maker: Maker = tcp_cluster  # type: ignore[assignment]
    await check(maker)  # type: ignore[operator]
