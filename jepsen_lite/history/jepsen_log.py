"""Import Jepsen's text log of client operations (``jepsen.log``), as older Jepsen tests
(and Porcupine's etcd test data) record them::

    INFO  jepsen.util - 3	:invoke	:cas	[3 0]
    INFO  jepsen.util - 3	:ok	:cas	[3 0]
    INFO  jepsen.util - 4	:info	:write	:timed-out

Rules (documented in ``docs/history-format.md``):

- Only ``jepsen.util`` operation lines count: ``PROCESS<TAB>:TYPE<TAB>:F<TAB>VALUE``
  (any run of spaces or tabs separates the fields, as in Porcupine's parser: some of its
  etcd logs are space-aligned); every other line (setup chatter, stack traces) is
  skipped. ``:nemesis`` lines are dropped.
- ``VALUE`` is ``nil``, an integer, a keyword, or a vector of those (``[3 0]``).
- ``nil`` means nil: an ``:ok`` read of ``nil`` saw the empty register, as in Porcupine's
  etcd model (whose registers start out nil). This differs from the EDN rule, which
  follows Knossos; use ``--init null`` (the default) with the register models.
- The value of an ``:info`` or ``:fail`` completion (``:timed-out``) is an error, not a
  result: it is dropped, and the operation keeps its invoke's input.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import HistoryError
from .ops import F_NAMES, Event, EventType, History, Process, Value
from .pairing import pair_events

_LINE = re.compile(r"jepsen\.util\s+-\s+(\S+)\s+:(\w+)\s+:([\w-]+)\s+(.*?)\s*$")
_OPLIKE = re.compile(r"jepsen\.util\s+-\s+(?::?\w+)\s+:(?:invoke|ok|fail|info)\b")
_TYPES = {t.value: t for t in EventType}
_TOKEN = re.compile(r"\[|\]|[^\s\[\]]+")


def _atom(token: str) -> Value:
    if token == "nil":
        return None
    if token == "true" or token == "false":
        return token == "true"
    if token.startswith(":"):
        return token[1:]
    try:
        return int(token)
    except ValueError:
        raise ValueError(f"unsupported value {token!r}") from None


def parse_value(text: str) -> Value:
    """Parse the small EDN subset these logs use: nil, booleans, integers, keywords and
    (nested) vectors of them."""
    tokens = _TOKEN.findall(text)
    stack: list[list[Value]] = [[]]
    for token in tokens:
        if token == "[":
            stack.append([])
        elif token == "]":
            if len(stack) == 1:
                raise ValueError(f"unbalanced ']' in {text!r}")
            done = tuple(stack.pop())
            stack[-1].append(done)
        else:
            stack[-1].append(_atom(token))
    if len(stack) != 1 or len(stack[0]) != 1:
        raise ValueError(f"expected one value, got {text!r}")
    return stack[0][0]


def iter_jepsen_log_events(lines: Iterable[str], source: str) -> Iterator[Event]:
    """Yield the client events of a Jepsen text log given as lines."""
    for number, line in enumerate(lines, start=1):
        if "jepsen.util" not in line:
            continue
        match = _LINE.search(line)
        if match is None:
            if _OPLIKE.search(line):  # an operation line we cannot read: never skip it
                raise HistoryError(source, number, f"unreadable operation line {line.strip()!r}")
            continue
        raw_process, raw_type, f, raw_value = match.groups()
        if raw_process == ":nemesis":
            continue
        process: Process
        try:
            process = int(raw_process)
        except ValueError:
            process = raw_process.lstrip(":")
        kind = _TYPES.get(raw_type)
        if kind is None:
            raise HistoryError(source, number, f"unknown operation type :{raw_type}")
        if f not in F_NAMES:
            raise HistoryError(
                source, number, f"unsupported :f :{f} (supported: {', '.join(sorted(F_NAMES))})"
            )
        value: Value = None
        if kind is EventType.INVOKE or kind is EventType.OK:
            try:
                value = parse_value(raw_value)
            except ValueError as exc:
                raise HistoryError(source, number, str(exc)) from None
        yield Event(process=process, type=kind, f=f, value=value, line=number)


def load_jepsen_log(path: str | Path) -> History:
    """Read, convert and pair a Jepsen text log."""
    with open(path, encoding="utf-8", errors="replace") as stream:
        return pair_events(iter_jepsen_log_events(stream, str(path)), str(path))
