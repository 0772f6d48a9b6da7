"""Hand-made histories whose answers are known, one rule of linearizability per test."""

from __future__ import annotations

import pytest
from jl_builders import history

from jepsen_lite.checker import Verdict, brute_force_check, check
from jepsen_lite.models import make_model

CAS = make_model("cas-register", 0)


def verdict(text: str, model_name: str = "cas-register", init: object = 0) -> Verdict:
    """The checker's verdict, cross-checked with the brute-force checker when small."""
    model = make_model(model_name, init)
    h = history(text)
    result = check(model, h)
    if len(h.operations) <= 8:
        assert brute_force_check(model, h) is result.verdict
    return result.verdict


def assert_linearizable(text: str) -> None:
    assert verdict(text) is Verdict.LINEARIZABLE


def assert_not_linearizable(text: str) -> None:
    assert verdict(text) is Verdict.NOT_LINEARIZABLE


def test_sequential_write_then_read_is_linearizable() -> None:
    assert_linearizable("""
        0 invoke write 1
        0 ok     write 1
        1 invoke read
        1 ok     read  1
    """)


def test_stale_read_is_not_linearizable() -> None:
    # The write of 1 completed before the read began, yet the read saw the old 0.
    text = """
        0 invoke write 1
        0 ok     write 1
        1 invoke read
        1 ok     read  0
    """
    assert verdict(text) is Verdict.NOT_LINEARIZABLE
    result = check(CAS, history(text))
    cx = result.counterexample
    assert cx is not None
    assert cx.failing_op.f == "read" and cx.failing_op.output == 0
    assert [op.f for op in cx.linearization] == ["write"]
    assert cx.state == 1 and cx.state_text == "1"


def test_read_concurrent_with_write_may_see_either_value() -> None:
    for seen in (0, 1):
        assert_linearizable(f"""
            0 invoke write 1
            1 invoke read
            1 ok     read  {seen}
            0 ok     write 1
        """)


def test_lost_write_is_not_linearizable() -> None:
    # Two acknowledged writes in sequence, then a read that sees the first one: the
    # second write was lost.
    assert_not_linearizable("""
        0 invoke write 1
        0 ok     write 1
        1 invoke write 2
        1 ok     write 2
        2 invoke read
        2 ok     read  1
    """)


def test_cas_that_read_its_own_write_twice_is_not_linearizable() -> None:
    # Process 0 swaps 1 -> 2 twice, both acknowledged: the second saw 1 again.
    assert_not_linearizable("""
        0 invoke write 1
        0 ok     write 1
        0 invoke cas [1, 2]
        0 ok     cas [1, 2]
        0 invoke cas [1, 2]
        0 ok     cas [1, 2]
    """)


def test_two_concurrent_cas_from_the_same_value_cannot_both_succeed() -> None:
    assert_not_linearizable("""
        0 invoke cas [0, 1]
        1 invoke cas [0, 2]
        0 ok     cas [0, 1]
        1 ok     cas [0, 2]
    """)


def test_failed_operation_never_happened() -> None:
    # The write failed: a later read of its value cannot be explained.
    assert_not_linearizable("""
        0 invoke write 5
        0 fail   write 5
        1 invoke read
        1 ok     read  5
    """)


def test_info_write_may_take_effect_later() -> None:
    # The crashed write takes effect after the first read, before the second.
    assert_linearizable("""
        0 invoke write 5
        0 info   write 5
        1 invoke read
        1 ok     read  0
        1 invoke read
        1 ok     read  5
    """)


def test_info_write_may_never_take_effect() -> None:
    assert_linearizable("""
        0 invoke write 5
        0 info   write 5
        1 invoke read
        1 ok     read  0
    """)


def test_info_write_cannot_take_effect_before_its_invoke() -> None:
    assert_not_linearizable("""
        1 invoke read
        1 ok     read  5
        0 invoke write 5
        0 info   write 5
    """)


def test_info_write_takes_effect_once() -> None:
    # 0 -> 5 (the info write) -> 6 -> 5 would need the info write twice.
    assert_not_linearizable("""
        0 invoke write 5
        0 info   write 5
        1 invoke read
        1 ok     read  5
        1 invoke write 6
        1 ok     write 6
        1 invoke read
        1 ok     read  5
    """)


def test_pending_invoke_is_open_like_info() -> None:
    assert_linearizable("""
        0 invoke write 5
        1 invoke read
        1 ok     read  5
    """)


def test_info_read_constrains_nothing_and_is_dropped() -> None:
    result = check(
        CAS,
        history("""
        0 invoke read
        0 info   read
        1 invoke write 1
        1 ok     write 1
    """),
    )
    assert result.verdict is Verdict.LINEARIZABLE
    assert result.operations == 2 and result.checked_operations == 1


def test_register_model_rejects_cas_naming_the_line() -> None:
    from jepsen_lite.history import HistoryError

    with pytest.raises(HistoryError, match=r"^<test>:1: model 'register' does not support f 'cas'"):
        check(make_model("register"), history("0 invoke cas [0, 1]\n0 ok cas [0, 1]"))


def test_keys_are_checked_independently_with_per_key_results() -> None:
    result = check(
        CAS,
        history("""
        0 invoke write @a 1
        0 ok     write @a 1
        1 invoke read  @b
        1 ok     read  @b 0
        2 invoke read  @a
        2 ok     read  @a 0
    """),
    )
    assert result.verdict is Verdict.NOT_LINEARIZABLE
    assert result.keys == 2
    by_key = {r.key: r.verdict for r in result.results}
    # "a" fails first, which settles the verdict: "b" is not checked
    assert by_key == {"a": Verdict.NOT_LINEARIZABLE, "b": Verdict.UNKNOWN}
    assert result.counterexample is not None and result.counterexample.key == "a"


def test_per_key_initial_values() -> None:
    text = """
        0 invoke read @a
        0 ok     read @a 7
        1 invoke read @b
        1 ok     read @b null
    """
    assert verdict(text, init={"a": 7}) is Verdict.LINEARIZABLE
    assert verdict(text, init=7) is Verdict.NOT_LINEARIZABLE


@pytest.mark.parametrize(
    ("model_name", "text", "expected"),
    [
        ("set", "0 invoke add 1\n0 ok add 1\n1 invoke read\n1 ok read [1]", True),
        ("set", "0 invoke add 1\n0 ok add 1\n1 invoke read\n1 ok read []", False),
        ("set", "0 invoke add 1\n1 invoke read\n1 ok read []\n0 ok add 1", True),
        ("counter", "0 invoke add 2\n0 ok add 2\n1 invoke read\n1 ok read 2", True),
        ("counter", "0 invoke add 2\n0 ok add 2\n1 invoke read\n1 ok read 3", False),
        ("kv", "0 invoke append @x 1\n0 ok append @x 1\n1 invoke get @x\n1 ok get @x [1]", True),
        ("kv", "0 invoke put @x 3\n0 ok put @x 3\n1 invoke get @x\n1 ok get @x null", False),
        (
            "multi-register",
            '0 invoke txn [["write","x",1],["write","y",1]]\n'
            '0 ok txn [["write","x",1],["write","y",1]]\n'
            '1 invoke txn [["read","x",null],["read","y",null]]\n'
            '1 ok txn [["read","x",1],["read","y",1]]',
            True,
        ),
        (
            # a torn read: saw x from the transaction but y from before it
            "multi-register",
            '0 invoke txn [["write","x",1],["write","y",1]]\n'
            '1 invoke txn [["read","x",null],["read","y",null]]\n'
            '1 ok txn [["read","x",1],["read","y",null]]\n'
            '0 ok txn [["write","x",1],["write","y",1]]',
            False,
        ),
    ],
)
def test_other_models(model_name: str, text: str, expected: bool) -> None:
    wanted = Verdict.LINEARIZABLE if expected else Verdict.NOT_LINEARIZABLE
    assert verdict(text, model_name, None) is wanted
