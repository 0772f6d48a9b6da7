"""The workloads of ``jepsen-lite run --workload NAME``.

Each entry is ``"module:Class"``; the class implements
:class:`jepsen_lite.runner.api.Workload` and is built with no arguments (everything a run
varies comes from the :class:`~jepsen_lite.runner.api.TestSpec` its methods are given).
"""

from __future__ import annotations

from typing import Any

from ..envs import load_registered

WORKLOADS: dict[str, str] = {
    "register": "jepsen_lite.runner.workloads.register:RegisterWorkload",
    "cas-register": "jepsen_lite.runner.workloads.register:CasRegisterWorkload",
    "kv": "jepsen_lite.runner.workloads.kv:KvTxnWorkload",
    "bank": "jepsen_lite.runner.workloads.bank:BankWorkload",
    "set": "jepsen_lite.runner.workloads.set:SetWorkload",
    "counter": "jepsen_lite.runner.workloads.counter:CounterWorkload",
    "list-append": "jepsen_lite.runner.workloads.list_append:ListAppendWorkload",
}


def workload_class(name: str) -> Any:
    """The class of workload ``name``; ``ValueError`` naming the choices otherwise."""
    return load_registered(WORKLOADS, "workload", name)
