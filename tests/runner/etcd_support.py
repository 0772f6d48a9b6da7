"""What the etcd tests share: the skip when etcd is not installed, and a pid check."""

from __future__ import annotations

import os
import shutil

import pytest

from jepsen_lite.runner.envs.etcd import ETCD_MISSING

needs_etcd = pytest.mark.skipif(shutil.which("etcd") is None, reason=ETCD_MISSING)
"""Skip with "etcd not installed: apt-get install etcd-server" when there is no etcd."""


def gone(pid: int) -> bool:
    """Whether no process ``pid`` exists any more."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False
