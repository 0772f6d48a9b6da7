"""The environments a test can run in, by ``--env`` name.

Each entry is ``"module:Class"``, imported only when chosen, so that ``sim`` does not load
process control and ``local`` does not load the simulator. A class implements
:class:`jepsen_lite.runner.api.Environment`.
"""

from __future__ import annotations

import importlib
from typing import Any

ENVIRONMENTS: dict[str, str] = {
    "sim": "jepsen_lite.runner.envs.sim:SimEnvironment",
    "local": "jepsen_lite.runner.envs.local:LocalEnvironment",
}


def environment_class(name: str) -> Any:
    """The class of environment ``name``; ``ValueError`` naming the choices otherwise."""
    try:
        target = ENVIRONMENTS[name]
    except KeyError:
        choices = ", ".join(sorted(ENVIRONMENTS))
        raise ValueError(f"unknown environment {name!r}: choose one of {choices}") from None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)
