"""Split an EDN history into its top-level maps, streaming, with their line numbers.

Jepsen and Knossos write ``history.edn`` either as one map per line or as one vector or
list of maps (``[{...}\\n {...}\\n ...]``, ``({...} {...} ...)``: Clojure prints a
history seq as a list), sometimes pretty-printed over several lines. Parsing a
whole file at once with an EDN reader gives no line numbers and needs it all in memory, so
this module scans lines, tracks bracket depth (skipping strings, character literals and
comments) and yields the source text of each map with the line it starts on. The text is
then parsed by ``edn_format`` (see :mod:`jepsen_lite.history.edn`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from .errors import HistoryError

_TOKEN = re.compile(r'\\.|"|;|[\[\]{}()]')
_OPEN = "[{("
_PAIRS = {"]": "[", "}": "{", ")": "("}
_GAP = " \t\r\n,"
_TAG_SUFFIX = re.compile(r"#[A-Za-z_][\w.\-]*$")  # a record tag right before a map
_CLOSE = {"[": "]", "(": ")"}
_FOUND = {"[": "a vector", "(": "a list", '"': "a string", "\\": "a character"}
_NUMBER = re.compile(r"[+-]?\d")
ACCEPTED = "accepted: one map per line, or one top-level vector or list of maps"
"""What the top level of an EDN history may hold (quoted in error messages)."""


def iter_forms(lines: Iterable[str], source: str) -> Iterator[tuple[int, str]]:
    """Yield ``(line, text)`` for each top-level map, or each map inside one top-level
    vector or list. Anything else at the top level (a number, a string, a second vector,
    an unclosed bracket) is a :class:`HistoryError` naming the line and what was found."""
    stack: list[str] = []  # open brackets of the current form
    in_vector = False  # inside the one top-level vector or list
    closer = "]"  # the bracket that closes it
    vector_done = False
    forms_seen = False
    in_string = False
    pieces: list[str] = []
    start_line = 0
    number = 0
    for number, line in enumerate(lines, start=1):
        form_from = 0 if stack else -1  # where the current form's text starts on this line
        gap_from = 0  # where the current stretch of top-level text starts
        for match in _TOKEN.finditer(line):
            token = match.group()
            if in_string:
                if token == '"':
                    in_string = False
                continue
            if token == ";":
                if not stack:
                    _check_gap(line[gap_from : match.start()], source, number)
                    gap_from = len(line)
                break
            tag_from = match.start()
            if not stack:
                gap = line[gap_from : match.start()]
                tag = _TAG_SUFFIX.search(gap) if token == "{" else None
                if tag is not None:
                    tag_from = gap_from + tag.start()
                    gap = gap[: tag.start()]
                _check_gap(gap, source, number)
            if token == '"' or token[0] == "\\":
                if not stack:
                    raise _found(source, number, _FOUND[token[0]], in_vector)
                in_string = token == '"'
                continue
            if token in _OPEN:
                if not stack:
                    if token in _CLOSE and not in_vector and not vector_done and not forms_seen:
                        in_vector = True
                        closer = _CLOSE[token]
                        gap_from = match.end()
                        continue
                    if token != "{":
                        raise _found(source, number, _FOUND[token], in_vector)
                    if line[gap_from : match.start()].rstrip(_GAP).endswith("#"):
                        raise _found(source, number, "a set", in_vector)
                    form_from = tag_from
                    start_line = number
                stack.append(token)
                continue
            if not stack:
                if token == closer and in_vector:
                    in_vector = False
                    vector_done = True
                    gap_from = match.end()
                    continue
                raise HistoryError(source, number, f"unbalanced {token!r}")
            if stack.pop() != _PAIRS[token]:
                raise HistoryError(source, number, f"mismatched {token!r}")
            if not stack:
                pieces.append(line[form_from : match.end()])
                forms_seen = True
                yield start_line, "".join(pieces)
                pieces = []
                form_from = -1
                gap_from = match.end()
        else:
            if not stack and not in_string:
                _check_gap(line[gap_from:], source, number)
        if stack or in_string:
            pieces.append(line[max(form_from, 0) :])
    if stack or in_string:
        raise HistoryError(source, start_line, "unexpected end of file inside this map")
    if in_vector:
        kind = "vector" if closer == "]" else "list"
        raise HistoryError(source, number, f"unexpected end of file: the {kind} is not closed")


def _found(source: str, line: int, what: str, inside: bool) -> HistoryError:
    where = "inside the top-level vector or list" if inside else "at the top level"
    return HistoryError(source, line, f"expected a map {where}, found {what} ({ACCEPTED})")


def _check_gap(text: str, source: str, line: int) -> None:
    """Text between top-level forms may only be whitespace and commas (and a ``#`` that
    starts a set, which the caller reports)."""
    stray = text.strip(_GAP)
    if stray and stray != "#":
        if _NUMBER.match(stray):
            what = "a number"
        elif stray.startswith(":"):
            what = "a keyword"
        elif stray.startswith("#"):
            what = "a tagged value"
        else:
            what = "a symbol"
        found = f"found {what} {stray[:20]!r}"
        raise HistoryError(source, line, f"expected a map at the top level, {found} ({ACCEPTED})")
