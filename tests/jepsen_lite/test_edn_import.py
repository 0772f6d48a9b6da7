"""Importing Jepsen/Knossos ``history.edn`` files: both layouts, nemesis entries,
independent tuples, Knossos's nil-read rule, and errors that name the line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jepsen_lite.checker import Verdict, check
from jepsen_lite.history import UNKNOWN, HistoryError, Status, load_history
from jepsen_lite.history.edn_forms import ACCEPTED
from jepsen_lite.models import make_model


def write(tmp_path: Path, text: str, name: str = "history.edn") -> Path:
    path = tmp_path / name
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return path


def test_one_map_per_line_with_nemesis_entries_dropped(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
{:type :invoke, :f :write, :value 1, :process 0, :time 100, :index 0}
{:type :info, :f :start, :value nil, :process :nemesis, :time 150, :index 1}
{:type :ok, :f :write, :value 1, :process 0, :time 200, :index 2}
{:type :invoke, :f :cas, :value [1 2], :process 3, :time 12345, :index 7}
{:type :info, :f :stop, :value [:isolated {"n1" #{"n2"}}], :process :nemesis, :time 12346}
{:type :fail, :f :cas, :value [1 2], :process 3, :time 12400}
{:type :invoke, :f :read, :value nil, :process 1, :time 12500}
{:type :ok, :f :read, :value 1, :process 1, :time 12600}
""",
    )
    history = load_history(path)
    assert history.event_count == 6
    write_op, cas_op, read_op = history.operations
    assert (write_op.f, write_op.input, write_op.line, write_op.complete_line) == ("write", 1, 1, 3)
    assert cas_op.input == (1, 2) and cas_op.status is Status.FAIL
    assert read_op.output == 1 and read_op.call_time == 12500
    assert check(make_model("cas-register"), history).verdict is Verdict.LINEARIZABLE


def test_vector_of_maps_spanning_lines_and_record_tags(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[{:type :invoke, :f :write, :value 3, :process 0}
 {:type :ok,
  :f :write,
  :value 3,
  :process 0} ; a comment { with a brace
 #jepsen.history.Op{:type :invoke, :f :read, :value nil, :process :client-a}
 {:type :ok, :f :read, :value 3, :process :client-a, :error "a } in a string"}]
""",
    )
    history = load_history(path)
    assert [op.f for op in history.operations] == ["write", "read"]
    assert history.operations[0].complete_line == 2
    assert history.operations[1].process == "client-a" and history.operations[1].output == 3


def test_independent_tuples_become_keys(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
{:type :invoke, :f :write, :value [k1 4], :process 0}
{:type :ok, :f :write, :value [k1 4], :process 0}
{:type :invoke, :f :cas, :value [7 [nil 1]], :process 1}
{:type :ok, :f :cas, :value [7 [nil 1]], :process 1}
{:type :invoke, :f :read, :value [k1 nil], :process 2}
{:type :ok, :f :read, :value [k1 4], :process 2}
{:type :invoke, :f :read, :value [7 nil], :process 2}
{:type :ok, :f :read, :value [7 0], :process 2}
""",
    )
    history = load_history(path)
    assert [(op.key, op.f) for op in history.operations] == [
        ("k1", "write"), (7, "cas"), ("k1", "read"), (7, "read"),
    ]  # fmt: skip
    assert history.operations[1].input == (None, 1)
    result = check(make_model("cas-register"), history)
    assert result.verdict is Verdict.NOT_LINEARIZABLE  # key 7 read 0 after cas nil -> 1
    assert {r.key: r.verdict for r in result.results} == {
        "k1": Verdict.LINEARIZABLE,
        7: Verdict.NOT_LINEARIZABLE,
    }


def test_plain_cas_is_not_mistaken_for_an_independent_tuple(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
{:type :invoke, :f :cas, :value [1 2], :process 0}
{:type :fail, :f :cas, :value [1 2], :process 0}
""",
    )
    (op,) = load_history(path).operations
    assert op.key is None and op.input == (1, 2)


def test_knossos_nil_read_is_unknown_and_always_legal(tmp_path: Path) -> None:
    # Knossos's register models: an :ok read of nil is "we don't know what the read was".
    path = write(
        tmp_path,
        """
{:type :invoke, :f :write, :value 1, :process 0}
{:type :ok, :f :write, :value 1, :process 0}
{:type :invoke, :f :read, :value nil, :process 1}
{:type :ok, :f :read, :value nil, :process 1}
""",
    )
    history = load_history(path)
    assert history.operations[1].output is UNKNOWN
    result = check(make_model("register"), history)
    assert result.verdict is Verdict.LINEARIZABLE
    assert result.checked_operations == 1  # the unknown read constrains nothing


def test_multi_register_transactions_with_knossos_and_elle_micro_ops(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
{:type :invoke, :f :txn, :value [[:write :x 1] [:w :y 2]], :process 0}
{:type :ok, :f :txn, :value [[:write :x 1] [:w :y 2]], :process 0}
{:type :invoke, :f :txn, :value [[:read :x nil] [:r :y nil]], :process 1}
{:type :ok, :f :txn, :value [[:read :x 1] [:r :y nil]], :process 1}
""",
    )
    history = load_history(path)
    assert history.operations[1].output == (("read", "x", 1), ("read", "y", UNKNOWN))
    assert check(make_model("multi-register"), history).verdict is Verdict.LINEARIZABLE


def test_txn_with_a_register_model_is_a_clear_error_naming_the_op(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
{:type :invoke, :f :write, :value 1, :process 0}
{:type :ok, :f :write, :value 1, :process 0}
{:type :invoke, :f :txn, :value [[:read :x nil]], :process 1}
{:type :ok, :f :txn, :value [[:read :x 2]], :process 1}
""",
    )
    history = load_history(path)
    reason = "model 'cas-register' does not support f 'txn' (op: txn [[\"read\",\"x\",null]])"
    with pytest.raises(HistoryError, match="^" + re.escape(f"{path}:3: {reason}") + "$"):
        check(make_model("cas-register"), history)


def test_unsupported_f_names_the_op_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
{:type :invoke, :f :write, :value 1, :process 0}
{:type :invoke, :f :lock, :value nil, :process 1}
""",
    )
    reason = (
        "unsupported :f :lock in op {:type :invoke :f :lock :value nil :process 1} "
        "(supported: add, append, cas, get, put, read, txn, write)"
    )
    with pytest.raises(HistoryError, match="^" + re.escape(f"{path}:2: {reason}") + "$"):
        load_history(path)


MAP = "{:type :invoke, :f :read, :process 0}\n"


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (MAP + "42\n", 2, f"expected a map at the top level, found a number '42' ({ACCEPTED})"),
        (MAP + ":x\n", 2, f"expected a map at the top level, found a keyword ':x' ({ACCEPTED})"),
        ('"h"\n', 1, f"expected a map at the top level, found a string ({ACCEPTED})"),
        ("#{1 2}\n", 1, f"expected a map at the top level, found a set ({ACCEPTED})"),
        (
            MAP + "[" + MAP + "]\n",
            2,
            f"expected a map at the top level, found a vector ({ACCEPTED})",
        ),
        (
            "[" + MAP + "] (" + MAP + ")\n",
            2,
            f"expected a map at the top level, found a list ({ACCEPTED})",
        ),
        (
            "(" + MAP + '"x")\n',
            2,
            f"expected a map inside the top-level vector or list, found a string ({ACCEPTED})",
        ),
        (
            "([1 2])\n",
            1,
            f"expected a map inside the top-level vector or list, found a vector ({ACCEPTED})",
        ),
        ("(" + MAP, 1, "unexpected end of file: the list is not closed"),
        (
            "{:type :invoke, :f :read, :process 0, :key [1 2]}\n",
            1,
            "':key' must be a string, integer or keyword, found [1 2]",
        ),
        (MAP + "{:type :ok\n", 2, "unexpected end of file inside this map"),
        ("{:type :invoke, :f :read, :process 0]\n", 1, "mismatched ']'"),
        ("[" + MAP, 1, "unexpected end of file: the vector is not closed"),
        (
            '{:type :invoke, :f :read, :process "p"}\n',
            1,
            "':process' must be an integer or a keyword",
        ),
        (
            "{:type :begin, :f :read, :process 0}\n",
            1,
            "':type' must be :invoke, :ok, :fail or :info",
        ),
        (
            "{:type :invoke, :f :read, :process 0, :time 1.5}\n",
            1,
            "':time' must be an integer (nanoseconds)",
        ),
        (
            "{:type :invoke, :f :write, :process 0, :value {:a 1}}\n",
            1,
            "':value': maps are not supported as values",
        ),
        (
            "{:type :invoke, :f :read, :process 0 :value #foo 1}\n",
            1,
            "invalid EDN: unknown tag #foo",
        ),
    ],
)
def test_malformed_edn_names_the_line(tmp_path: Path, text: str, line: int, reason: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(HistoryError, match="^" + re.escape(f"{path}:{line}: {reason}") + "$"):
        load_history(path)


def test_independent_history_requires_tuples_throughout(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
{:type :invoke, :f :write, :value [k1 4], :process 0}
{:type :ok, :f :write, :value 4, :process 0}
""",
    )
    reason = "':value': expected an independent [key value] tuple"
    with pytest.raises(HistoryError, match="^" + re.escape(f"{path}:2: {reason}") + "$"):
        load_history(path)


def test_many_events_parse_in_batches(tmp_path: Path) -> None:
    lines = []
    for n in range(1200):
        lines.append(f"{{:type :invoke, :f :write, :value {n % 5}, :process {n % 3}}}")
        lines.append(f"{{:type :ok, :f :write, :value {n % 5}, :process {n % 3}}}")
    path = write(tmp_path, "\n".join(lines) + "\n")
    history = load_history(path)
    assert len(history.operations) == 1200
    assert history.operations[-1].complete_line == 2400


LIST_HISTORY = """
({:type :invoke, :f :write, :value 1, :process 0, :time 100}
 {:type :ok, :f :write, :value 1, :process 0, :time 200}
 {:type :invoke, :f :read, :value nil, :process 1, :time 300}
 {:type :ok, :f :read, :value 1, :process 1, :time 400})
"""


def test_a_top_level_list_loads_like_a_vector(tmp_path: Path) -> None:
    as_list = load_history(write(tmp_path, LIST_HISTORY, "list.edn"))
    vector_text = LIST_HISTORY.replace("(", "[", 1).replace(")", "]")
    as_vector = load_history(write(tmp_path, vector_text, "vector.edn"))
    assert [(op.f, op.input, op.output, op.line) for op in as_list.operations] == [
        ("write", 1, 1, 1),
        ("read", None, 1, 3),
    ]
    assert [(op.f, op.output) for op in as_list.operations] == [
        (op.f, op.output) for op in as_vector.operations
    ]
    assert check(make_model("register"), as_list).verdict is Verdict.LINEARIZABLE


def test_time_going_slightly_backwards_is_a_warning_and_file_order_is_used(
    tmp_path: Path,
) -> None:
    # the read's invoke is stamped before the write's ok (clock skew between clients);
    # in file order the write completed first, so a read of the initial nil would be stale
    path = write(
        tmp_path,
        """
{:type :invoke, :f :write, :value 1, :process 0, :time 100}
{:type :ok, :f :write, :value 1, :process 0, :time 200}
{:type :invoke, :f :read, :value nil, :process 1, :time 190}
{:type :ok, :f :read, :value 0, :process 1, :time 400}
""",
    )
    history = load_history(path)
    assert history.warnings == (
        f"{path}:3: warning: time 190 is before an earlier event's time 200; "
        "checking uses file order",
    )
    assert [op.call for op in history.operations] == [0, 2]  # file order
    result = check(make_model("register"), history)
    assert result.verdict is Verdict.NOT_LINEARIZABLE


def test_a_key_field_is_the_key_as_in_porcupines_kv_logs(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
{:process 0, :type :invoke, :f :append, :key "8", :value "x 0 0 y"}
{:process 1, :type :invoke, :f :get, :key "1", :value nil}
{:process 0, :type :ok, :f :append, :key "8", :value "x 0 0 y"}
{:process 1, :type :ok, :f :get, :key "1", :value ""}
{:process 1, :type :invoke, :f :get, :key "8", :value nil}
{:process 1, :type :ok, :f :get, :key "8", :value "x 0 0 y"}
""",
    )
    history = load_history(path)
    assert [(op.key, op.f, op.input, op.output) for op in history.operations] == [
        ("8", "append", "x 0 0 y", "x 0 0 y"),
        ("1", "get", None, ""),
        ("8", "get", None, "x 0 0 y"),
    ]
    result = check(make_model("kv", ""), history)
    assert result.verdict is Verdict.LINEARIZABLE and result.keys == 2


def test_a_key_field_in_an_independent_history_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
{:type :invoke, :f :write, :value [k1 4], :process 0}
{:type :ok, :f :write, :key "k1", :value [k1 4], :process 0}
""",
    )
    reason = "a ':key' field in an independent ([key value]) history"
    with pytest.raises(HistoryError, match="^" + re.escape(f"{path}:2: {reason}") + "$"):
        load_history(path)
