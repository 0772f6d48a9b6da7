"""The HTML report is self-contained and shows what a person needs to see."""

from __future__ import annotations

import re

from jl_builders import history

from jepsen_lite.checker import check, render_html
from jepsen_lite.models import make_model

LOST_WRITE = """
    0 invoke write 1
    0 ok     write 1
    1 invoke write 2
    1 ok     write 2
    2 invoke read
    2 ok     read  1
    3 invoke write "<b>not markup</b>"
    3 info   write "<b>not markup</b>"
"""


def page(text: str, model_name: str = "cas-register") -> str:
    model = make_model(model_name)
    h = history(text)
    return render_html(check(model, h), model, h)


def test_page_marks_the_partial_linearization_and_the_failing_operation() -> None:
    html = page(LOST_WRITE)
    assert "<span class='verdict not-linearizable'>not-linearizable</span>" in html
    assert "Operation <b>read → 1</b> by process 2 (line 5) cannot be linearized" in html
    assert "#1 write 1" in html and "#2 write 2" in html  # numbered in the timeline
    assert "fill='#ef9a9a'" in html  # the failing bar is red
    assert "stroke-dasharray" in html  # the info write is drawn open-ended
    assert "<td><code>2</code></td>" in html  # the model state after the second write
    assert "cannot follow state <code>2</code>" in html


def test_page_is_self_contained_and_escaped() -> None:
    html = page(LOST_WRITE)
    assert "<script" not in html
    assert not re.search(r"\b(src|href)=", html)
    urls = set(re.findall(r"https?://[^'\"\s]+", html))
    assert urls <= {"http://www.w3.org/2000/svg"}  # a namespace name, never fetched
    assert "<b>not markup</b>" not in html
    assert "&lt;b&gt;not markup&lt;/b&gt;" in html


def test_linearizable_page_has_the_verdict_and_per_key_table() -> None:
    html = page("0 invoke write @a 1\n0 ok write @a 1\n1 invoke read @b\n1 ok read @b null")
    assert "<span class='verdict linearizable'>linearizable</span>" in html
    assert html.count("<tr><td>") == 2  # one row per key
    assert "<svg" not in html
