"""What the shrink command and the search share, light to import (``jepsen-lite`` loads
it at start-up; the search itself, which loads the runner, only when ``shrink`` runs)."""

from __future__ import annotations

PASSES = ("faults", "kinds", "time", "shift", "clients", "rate")
"""The search passes, in the order they run (see :mod:`.shrinker`)."""


class ShrinkError(Exception):
    """A run folder that cannot be shrunk, a bad option, or a search that could not
    start; the message is one line for people."""
