"""Every Python code block in README.md and docs/*.md runs, and the make targets the README names exist."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCKS = [(page.relative_to(ROOT).as_posix(), block) for page in PAGES
          for block in re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)]


def test_readme_has_python_examples():
    assert sum(page == "README.md" for page, _ in BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)), ids=[f"{page}-{k}" for k, (page, _) in enumerate(BLOCKS)])
def test_python_block_runs(index, tmp_path):
    # Each block runs in a fresh interpreter, in a scratch directory, so that
    # blocks cannot lean on each other and files they write land nowhere.
    result = subprocess.run(
        [sys.executable, "-c", BLOCKS[index][1]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"},
    )
    page, block = BLOCKS[index]
    assert result.returncode == 0, f"a block of {page} failed:\n{block}\n{result.stderr}"


def test_readme_make_targets_exist():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z]+):", makefile, flags=re.M))
    named = set(re.findall(r"\bmake ([a-z]+)\b", README))
    assert {"test", "demo"} <= named
    assert named <= targets, f"README names make targets the Makefile lacks: {named - targets}"


def test_the_documented_table_of_primitives_is_the_table():
    """docs/engine.md's table of primitives lists the table's ops, in order: adding a primitive is
    a row in ops.py, one in tests/rows.py and one there (the command line reads the table)."""
    from autograd.ops import PRIMITIVES

    page = (ROOT / "docs" / "engine.md").read_text(encoding="utf-8")
    table = page[page.index("| op | operation |"):]
    table = table[: table.index("\n\n")]
    ops = [row.split("|")[1].strip().strip("`") for row in table.splitlines()[2:]]
    assert ops == list(PRIMITIVES)
