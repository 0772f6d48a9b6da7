"""Space-aligned Jepsen text logs (Porcupine's etcd_100..102 use spaces, not tabs)."""

from __future__ import annotations

from pathlib import Path

from jepsen_lite.checker import Verdict, check
from jepsen_lite.history import Status, load_history
from jepsen_lite.models import make_model


def test_space_aligned_fields_are_read_like_tab_separated_ones(tmp_path: Path) -> None:
    rows = [
        "1   :invoke :write  3",
        "10  :invoke :cas    [3 4]",
        "1   :ok     :write  3",
        "10  :ok     :cas    [3 4]",
        "3   :invoke :read   nil",
        "3   :fail   :read   :timed-out",
        "4   :invoke :read   nil",
        "4   :ok     :read   3",
    ]
    path = tmp_path / "spaces.log"
    path.write_text("".join(f"INFO  jepsen.util - {r}\n" for r in rows), encoding="utf-8")
    history = load_history(path)
    assert [(o.process, o.f, o.input, o.status) for o in history.operations] == [
        (1, "write", 3, Status.OK),
        (10, "cas", (3, 4), Status.OK),
        (3, "read", None, Status.FAIL),
        (4, "read", None, Status.OK),
    ]
    # the read of 3 after the cas 3 -> 4 returned is not linearizable: the lines counted
    assert check(make_model("cas-register"), history).verdict is Verdict.NOT_LINEARIZABLE
