"""The one exception a history reader, validator or model preparation raises for bad input.

Bad input is the history's fault, never this library's: the message always names the file
(``source``) and, where the problem sits on a line, the 1-based line number, in the
``FILE:LINE: what is wrong`` form that editors and terminals understand.
"""

from __future__ import annotations


class HistoryError(ValueError):
    """A history file or an operation in it is malformed or unsupported.

    ``source`` is the file name (or ``"<memory>"``), ``line`` the 1-based line number or
    ``None`` when the problem is not tied to one line, ``reason`` the bare explanation.
    ``str(error)`` is ``"source:line: reason"`` (or ``"source: reason"``).
    """

    def __init__(self, source: str, line: int | None, reason: str) -> None:
        self.source = source
        self.line = line
        self.reason = reason
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {reason}")
