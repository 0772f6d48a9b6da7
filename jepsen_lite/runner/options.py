"""Every ``TestSpec.options`` key the runner reads, with what it does.

``jepsen-lite run --option KEY=JSON`` refuses a key that is not here (naming the closest
known one), so a typo never runs a test silently without the option the user meant.
Library users building a :class:`~jepsen_lite.runner.api.TestSpec` by hand get the same
check from :func:`check_option_names`. ``tests/runner/test_option_names.py`` parses the
runner's sources and fails if a key is read anywhere that this table does not list.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Final

KNOWN_OPTIONS: Final[dict[str, str]] = {
    # workloads
    "accounts": "bank: number of accounts (default 5)",
    "balance": "bank: starting balance of each account (default 10)",
    "append_ratio": "list-append: share of micro-operations that append (default 0.5)",
    "txn_ops_max": "list-append: micro-operations per transaction, at most (default 4)",
    "consistency_model": "list-append: the model to check (default strict-serializable)",
    "reader_processes": "register: processes that only read (default 0)",
    "read_consistency": "reads: linearizable (default), lease or stale",
    "op_timeout_s": "an operation with no answer by then is indeterminate",
    # nemesis
    "max_down": "at most this many fault windows open at once (default: a minority)",
    "clock_drift_max": "bound on every clock fault's rate (e.g. 0.1 = 10%)",
    # sim environment
    "storage": "sim: memory or disk (default disk when the nemesis has disk faults)",
    "tick_s": "sim: seconds per protocol tick",
    "election_ticks": "sim: election timeout in ticks",
    "heartbeat_ticks": "sim: heartbeat interval in ticks",
    "lease_drift_max": "sim: clock drift the leader's lease allows for (Raft lease reads)",
    "link_delay_ms": "sim: one-way delay of every link (default 0.2)",
    "snapshot_entries": "sim: compact the log every this many entries",
    "snapshot_wait_s": "sim: time allowed for a snapshot to install",
    "messages_per_node_s_max": "sim: message budget per node per virtual second",
    "client_attempt_s": "sim: one client attempt's timeout",
    # local and etcd environments
    "client_timeout_s": "a client call's whole timeout",
    "attempt_timeout_s": "local: one attempt's timeout",
    "start_timeout_s": "local, etcd: time allowed for the cluster to start",
    "converge_timeout_s": "local, etcd: time allowed to converge after the run",
    "control_timeout_s": "local: time allowed for a control command (kill, pause, ...)",
    "log_level": "local, etcd: the nodes' log level",
    "election_ms": "etcd: election timeout",
    "heartbeat_ms": "etcd: heartbeat interval",
    "etcd_binary": "etcd: the program to run (default etcd on PATH)",
    "etcd_serializable": "etcd: serializable (not linearizable) reads",
    # planted bugs (tests)
    "broken": "a planted bug of a test target (tests only)",
}


def check_option_names(names: Iterable[str]) -> None:
    """Raise ``ValueError`` naming the first key that is not a known option, with the
    closest known key when there is one."""
    for name in names:
        if name in KNOWN_OPTIONS:
            continue
        close = difflib.get_close_matches(name, KNOWN_OPTIONS, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise ValueError(
            f"unknown option {name!r}{hint} (known: {', '.join(sorted(KNOWN_OPTIONS))})"
        )
