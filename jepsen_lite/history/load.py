"""Load a history file in either format, chosen explicitly or by file extension."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from .edn import load_edn
from .jepsen_log import load_jepsen_log
from .jsonl import load_jsonl
from .ops import History

Format = Literal["jsonl", "edn", "jepsen-log"]
FORMATS: tuple[Format, ...] = ("jsonl", "edn", "jepsen-log")


def format_for(path: str | Path) -> Format:
    """The default format of a file: ``edn`` for ``*.edn``, ``jepsen-log`` for ``*.log``,
    otherwise ``jsonl``."""
    name = str(path).lower()
    if name.endswith(".edn"):
        return "edn"
    if name.endswith(".log"):
        return "jepsen-log"
    return "jsonl"


def load_history(
    path: str | Path, format: Format | None = None, independent: bool | None = None
) -> History:
    """Read, validate and pair a history file. ``independent`` applies to EDN only
    (``None``: detect ``jepsen.independent`` tuples). Raises ``HistoryError`` for bad
    input and ``OSError`` when the file cannot be read."""
    chosen = format if format is not None else format_for(path)
    if chosen == "edn":
        return load_edn(path, independent)
    if chosen == "jepsen-log":
        return load_jepsen_log(path)
    return load_jsonl(path)
