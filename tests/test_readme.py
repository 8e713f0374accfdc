"""Every Python code block in README.md runs, and the make targets it names exist."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_readme_has_python_examples():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_runs(index, tmp_path):
    # Each block runs in a fresh interpreter, in a scratch directory, so that
    # blocks cannot lean on each other and files they write land nowhere.
    result = subprocess.run(
        [sys.executable, "-c", BLOCKS[index]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"},
    )
    assert result.returncode == 0, f"README block {index} failed:\n{BLOCKS[index]}\n{result.stderr}"


def test_readme_make_targets_exist():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z]+):", makefile, flags=re.M))
    named = set(re.findall(r"\bmake ([a-z]+)\b", README))
    assert {"test", "demo"} <= named
    assert named <= targets, f"README names make targets the Makefile lacks: {named - targets}"


def test_readme_lists_every_primitive_and_every_command_line_function():
    """The README's table of primitives is the table's op list; its CLI list, the CLI's functions."""
    from autograd.__main__ import FUNCTIONS
    from autograd.ops import PRIMITIVES

    table = README[README.index("| op | operation |"):]
    table = table[: table.index("\n\n")]
    ops = [row.split("|")[1].strip().strip("`") for row in table.splitlines()[2:]]
    assert ops == list(PRIMITIVES)
    listed = re.search(r"the calls `([^`]*)`", README).group(1).split()
    assert sorted(listed) == sorted(FUNCTIONS)
