"""README.md's Embedding section runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def section(text: str, title: str) -> str:
    """The body of the ``## title`` section of a Markdown document."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match is not None, f"README.md has no '## {title}' section"
    return match.group(1)


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", markdown, re.M | re.S)


def test_embedding_snippet_runs_as_written(tmp_path: Path) -> None:
    blocks = python_blocks(section(README.read_text(), "Embedding"))
    assert len(blocks) == 1, "the Embedding section should hold one python block"
    program = tmp_path / "embedding.py"
    program.write_text(blocks[0])
    result = subprocess.run(
        [sys.executable, str(program)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        cwd=tmp_path,  # only the installed package, nothing from the checkout's folder
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "propose -> b'5'\nquery -> b'5'\n"
    # and the prose after the block promises exactly that output
    assert "It prints `propose -> b'5'` and `query -> b'5'`." in section(
        README.read_text(), "Embedding"
    )
