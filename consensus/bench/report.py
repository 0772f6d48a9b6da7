"""The one output format of ``consensus bench``.

A :class:`BenchReport` holds the machine (cores, load average before and after, Python,
versions of the project and of every peer that ran), the command's options and a list of
:class:`Cell`. A cell is one point of a suite's matrix: ``params`` say what ran (protocol,
nodes, environment, clients, mix, ...), ``runs`` hold the figures of each repetition (a
warm-up is never among them), and ``figures`` / ``spread`` are derived from the runs: the
median of each figure, and its ``[min, max]``.

Invariants: every figure is a finite float or int; ``figures`` has exactly the keys found in
every run; ``spread[k] == [min, max]`` of ``runs[*][k]``. ``to_json`` is what ``--json FILE``
writes (``schema`` names its version).
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import attrs

SCHEMA = "consensus-bench/1"

Params = dict[str, str | int | float | bool]
Figures = dict[str, float]


def _load() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def package_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None when it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@attrs.define(slots=True)
class Cell:
    """One point of a suite's matrix: what ran, and the figures of each repetition."""

    suite: str
    name: str
    params: Params
    runs: list[Figures] = attrs.field(factory=list)
    notes: list[str] = attrs.field(factory=list)

    @property
    def figures(self) -> Figures:
        """The median over the runs of every figure present in all of them."""
        if not self.runs:
            return {}
        keys = [k for k in self.runs[0] if all(k in r for r in self.runs)]
        return {k: float(statistics.median(r[k] for r in self.runs)) for k in keys}

    @property
    def spread(self) -> dict[str, list[float]]:
        if not self.runs:
            return {}
        keys = [k for k in self.runs[0] if all(k in r for r in self.runs)]
        return {k: [min(r[k] for r in self.runs), max(r[k] for r in self.runs)] for k in keys}

    def add_run(self, figures: Figures) -> None:
        for key, value in figures.items():
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"cell {self.name!r}: figure {key!r} is {value!r}, not finite")
        self.runs.append(dict(figures))

    def to_json(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "name": self.name,
            "params": self.params,
            "figures": self.figures,
            "spread": self.spread,
            "runs": self.runs,
            "notes": self.notes,
        }


@attrs.define(slots=True)
class BenchReport:
    """Everything one ``consensus bench`` invocation measured, with where and how."""

    argv: list[str]
    options: dict[str, Any] = attrs.field(factory=dict)
    cells: list[Cell] = attrs.field(factory=list)
    skipped: list[dict[str, str]] = attrs.field(factory=list)
    versions: dict[str, str | None] = attrs.field(factory=dict)
    started_at: float = attrs.field(factory=time.time)
    load_before: list[float] = attrs.field(factory=_load)
    load_after: list[float] = attrs.field(factory=list)

    def cell(self, suite: str, name: str, params: Params) -> Cell:
        """A new cell, added to the report."""
        c = Cell(suite=suite, name=name, params=dict(params))
        self.cells.append(c)
        return c

    def skip(self, suite: str, what: str, why: str) -> None:
        """Record that ``what`` did not run and why (e.g. a peer that is not installed)."""
        self.skipped.append({"suite": suite, "what": what, "why": why})

    def finish(self) -> None:
        self.load_after = _load()
        for name in ("consensus-toolkit", "trio", "cbor2", "hdrhistogram"):
            self.versions.setdefault(name, package_version(name))

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "argv": self.argv,
            "options": self.options,
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "python": sys.version.split()[0],
                "load_before": self.load_before,
                "load_after": self.load_after,
            },
            "versions": self.versions,
            "started_at": self.started_at,
            "cells": [c.to_json() for c in self.cells],
            "skipped": self.skipped,
        }

    def write_json(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=1, sort_keys=False) + "\n")
