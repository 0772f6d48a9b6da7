"""Build small histories for tests from a readable text form.

Each non-blank line is ``PROCESS TYPE F [@KEY] VALUE``, VALUE being JSON (may be
omitted: null), e.g.::

    0 invoke write 1
    1 invoke read
    0 ok     write 1
    1 ok     read  1
    2 invoke cas @k1 [1, 2]

Line order is real-time order; each event gets ``time`` = 10 times its position and ``line``
= its 1-based line in the text (blank lines count), so errors can name lines.
"""

from __future__ import annotations

import json

from jepsen_lite.history import Event, EventType, History, pair_events
from jepsen_lite.history.ops import freeze


def events(text: str) -> list[Event]:
    """The events written in ``text`` (see module docstring)."""
    result: list[Event] = []
    for number, raw in enumerate(text.strip("\n").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        process_text, kind, f, *rest = line.split(None, 3)
        remainder = rest[0] if rest else ""
        key = None
        if remainder.startswith("@"):
            key_text, _, remainder = remainder.partition(" ")
            key = key_text[1:]
        value = freeze(json.loads(remainder)) if remainder.strip() else None
        process: int | str = int(process_text) if process_text.isdigit() else process_text
        result.append(
            Event(process, EventType(kind), f, value, key, time=10 * len(result), line=number)
        )
    return result


def history(text: str, source: str = "<test>") -> History:
    """Pair the events written in ``text`` into a history."""
    return pair_events(events(text), source)
