"""Each model's step, validation, partition and initial values, alone."""

from __future__ import annotations

import attrs
import pytest
from jl_builders import history

from jepsen_lite.history import UNKNOWN, Operation
from jepsen_lite.models import MODEL_NAMES, make_model


def op(text: str, index: int = 0) -> Operation:
    return history(text).operations[index]


def test_register_read_must_match_unless_unknown() -> None:
    model = make_model("register")
    read3 = op("0 invoke read\n0 ok read 3")
    assert model.step(3, read3) == (True, 3)
    assert model.step(1, read3) == (False, 1)
    assert model.step(1, attrs.evolve(read3, output=UNKNOWN)) == (True, 1)


def test_cas_register_cas_and_read_only_rules() -> None:
    model = make_model("cas-register")
    cas = op("0 invoke cas [1, 2]\n0 ok cas [1, 2]")
    assert model.step(1, cas) == (True, 2)
    assert model.step(0, cas) == (False, 0)
    assert not model.read_only(cas)
    assert model.read_only(op("0 invoke cas [4, 4]\n0 ok cas [4, 4]"))
    with pytest.raises(ValueError, match=r"a cas value must be \[expected, new\], got 3"):
        model.validate(op("0 invoke cas 3\n0 ok cas 3"))


def test_kv_append_semantics() -> None:
    model = make_model("kv")
    append = op("0 invoke append @k 7\n0 ok append @k 7")
    assert model.step(None, append) == (True, (7,))
    assert model.step((1,), append) == (True, (1, 7))
    assert model.step(5, append) == (False, 5)
    text_append = op('0 invoke append @k "b"\n0 ok append @k "b"')
    assert model.step("a", text_append) == (True, "ab")


def test_kv_read_legal_in_agrees_with_step() -> None:
    # the search forces kv reads from read_legal_in, without step: the two must agree
    model = make_model("kv")
    reads = [op('0 invoke get @k\n0 ok get @k "ab"'), op("0 invoke get @k\n0 ok get @k [1, 7]")]
    reads.append(attrs.evolve(reads[0], output=UNKNOWN))
    for read in reads:
        exact, needed = model.read_legal_in(read)  # type: ignore[attr-defined]
        for state in ("ab", "a", "", None, (1, 7), (1,)):
            assert model.step(state, read) == ((not exact or needed == state), state)


def test_set_read_is_normalized_to_a_frozenset_and_compared_exactly() -> None:
    model = make_model("set")
    read = model.validate(op("0 invoke read\n0 ok read [2, 1, 2]"))
    assert read.output == frozenset({1, 2})
    assert model.step(frozenset({1, 2}), read) == (True, frozenset({1, 2}))
    assert model.step(frozenset({1}), read)[0] is False
    with pytest.raises(ValueError, match="a set read must return an array, got 3"):
        model.validate(op("0 invoke read\n0 ok read 3"))


def test_counter_validates_integers() -> None:
    model = make_model("counter")
    assert model.init() == 0
    assert model.step(2, op("0 invoke add 3\n0 ok add 3")) == (True, 5)
    with pytest.raises(ValueError, match='a counter add takes an integer, got "x"'):
        model.validate(op('0 invoke add "x"\n0 ok add "x"'))
    with pytest.raises(ValueError, match="initial value must be an integer"):
        make_model("counter", "x")


def test_multi_register_partitions_into_connected_components() -> None:
    model = make_model("multi-register")
    h = history("""
        0 invoke txn [["write","x",1],["write","y",1]]
        0 ok     txn [["write","x",1],["write","y",1]]
        1 invoke txn [["write","z",1]]
        1 ok     txn [["write","z",1]]
        2 invoke txn [["read","y",null],["write","w",2]]
        2 ok     txn [["read","y",1],["write","w",2]]
    """)
    parts = model.partition([model.validate(o) for o in h.operations])
    assert sorted(str(p.key) for p in parts) == [str(("w", "x", "y")), str(("z",))]
    assert model.read_only(op('0 invoke txn [["read","x",null]]\n0 info txn [["read","x",null]]'))


def test_multi_register_info_txn_applies_writes_and_ignores_reads() -> None:
    model = make_model("multi-register", {"x": 5})
    info = op('0 invoke txn [["read","x",null],["write","y",2]]\n0 info txn []')
    legal, state = model.step(model.init(), info)
    assert legal and dict(state) == {"y": 2}  # type: ignore[call-overload]
    read_x5 = op('0 invoke txn [["read","x",null]]\n0 ok txn [["read","x",5]]')
    assert model.step(state, read_x5)[0]


def test_make_model_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match=r"unknown model 'queue' \(models: register, "):
        make_model("queue")
    assert set(MODEL_NAMES) == {
        "register",
        "cas-register",
        "multi-register",
        "kv",
        "set",
        "counter",
    }


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_states_are_hashable_and_init_is_stable(name: str) -> None:
    model = make_model(name)
    assert hash(model.init("k")) == hash(model.init("k"))
