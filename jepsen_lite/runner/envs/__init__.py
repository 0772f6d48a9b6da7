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
    "etcd": "jepsen_lite.runner.envs.etcd:EtcdEnvironment",
}


def load_registered(registry: dict[str, str], what: str, name: str) -> Any:
    """The object that ``registry[name]`` (``"module:Name"``) names, imported now;
    ``ValueError`` naming the choices when ``name`` is not registered."""
    try:
        target = registry[name]
    except KeyError:
        choices = ", ".join(sorted(registry))
        raise ValueError(f"unknown {what} {name!r}: choose one of {choices}") from None
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


def environment_class(name: str) -> Any:
    """The class of environment ``name``; ``ValueError`` naming the choices otherwise."""
    return load_registered(ENVIRONMENTS, "environment", name)


class EnvironmentUnavailable(RuntimeError):
    """The environment cannot run on this machine (a program it needs is missing); the
    message says what to install."""
