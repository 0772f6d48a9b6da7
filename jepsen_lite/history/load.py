"""Load a history file in either format, chosen explicitly or by file extension."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from .edn import load_edn
from .jsonl import load_jsonl
from .ops import History

Format = Literal["jsonl", "edn"]
FORMATS: tuple[Format, ...] = ("jsonl", "edn")


def format_for(path: str | Path) -> Format:
    """The default format of a file: ``edn`` for ``*.edn``, otherwise ``jsonl``."""
    return "edn" if str(path).lower().endswith(".edn") else "jsonl"


def load_history(
    path: str | Path, format: Format | None = None, independent: bool | None = None
) -> History:
    """Read, validate and pair a history file. ``independent`` applies to EDN only
    (``None``: detect ``jepsen.independent`` tuples). Raises ``HistoryError`` for bad
    input and ``OSError`` when the file cannot be read."""
    chosen = format if format is not None else format_for(path)
    if chosen == "edn":
        return load_edn(path, independent)
    return load_jsonl(path)
