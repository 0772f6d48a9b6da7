"""The key-value conformance suite against the replicated state machine, both with a
registered session and with session 0 (no session)."""

from __future__ import annotations

import pytest

from statemachines.kv_commands import KvConfig

from .conformance import COMPARES, case_names, check_case, check_compare, check_kv_store
from .replica import Replica


def in_session(config: KvConfig) -> Replica:
    return Replica(config)


def no_session(config: KvConfig) -> Replica:
    return Replica(config, session=False)


@pytest.mark.parametrize("name", case_names())
def test_case(name: str) -> None:
    check_case(in_session, name)


@pytest.mark.parametrize("row", COMPARES, ids=lambda r: f"{r[0]}-{r[1]}{r[2]}{r[3]!r}")
def test_compare(row: tuple[str, str, str, bytes | int | bool, bool]) -> None:
    check_compare(in_session, row)


def test_whole_suite_without_a_session() -> None:
    check_kv_store(no_session)
