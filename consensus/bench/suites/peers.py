"""The ``peers`` suite: etcd (3 members, fsync on) under the very matrix of ``local``.

The cells are those of the ``local`` suite (:func:`~consensus.bench.suites.local.run_matrix`:
``seq``, ``closed c=C``, ``open r=R``, with the same ``--local-*`` mix, keys, value size,
clients and rate, and the same :mod:`consensus.bench.workload` driver), run on
:class:`~consensus.bench.etcd_target.EtcdTarget`, so that a figure of etcd and one of
ours measured in one ``consensus bench local peers`` run differ only in the system.
One difference the cells' params cannot hide: etcd's client here (its v3 JSON gateway
over HTTP/1.1) holds one connection a session whatever ``--local-connections`` says.
Without etcd the suite is skipped, saying how to install it.
"""

from __future__ import annotations

import argparse

import trio

from ..report import BenchReport
from ..workload import parse_mix
from .local import run_matrix

DESCRIPTION = "etcd driven by the same harness as our protocols, in the same run"
SUITE = "peers"


def run(args: argparse.Namespace, report: BenchReport) -> None:
    """The ``local`` matrix on a 3-member etcd; ``TargetUnavailable`` without etcd."""
    from ..etcd_target import EtcdTarget

    mix = parse_mix(args.local_mix)
    before = len(report.cells)
    trio.run(run_matrix, args, report, SUITE, mix, [("etcd", 3, lambda: EtcdTarget(3))])
    for cell in report.cells[before:]:
        cell.notes.append("etcd's JSON gateway over HTTP/1.1: one connection a session")
    report.versions.setdefault("etcd", _etcd_version())


def _etcd_version() -> str | None:
    import subprocess

    from jepsen_lite.runner.envs.etcd import etcd_binary

    binary = etcd_binary()
    if binary is None:
        return None
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in out.stdout.splitlines():
        if line.startswith("etcd Version:"):
            return line.split(":", 1)[1].strip()
    return None
