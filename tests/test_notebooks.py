"""The teaching notebooks: each one runs top to bottom on a fresh kernel.

Every notebook asserts its own key numbers (the seeds' worked examples), so a
wrong engine fails here, not only in a reader's eye. The stored copies must
carry their outputs, so they read well on GitHub.
"""

from __future__ import annotations

from pathlib import Path

import nbformat  # nbformat, nbclient and ipykernel are in the "test" extra: a hard requirement
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
TIME_LIMIT = 60.0  # seconds per notebook
LIMITS = {"08_gpt_from_scalars": 120.0}  # a GPT on 5,494 names: ~50 s on a quiet 2-core machine, more when shared


def _code_cells(path: Path) -> list:
    nb = nbformat.read(path, as_version=4)
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def test_there_are_at_least_six_numbered_notebooks():
    names = [p.name for p in NOTEBOOKS]
    assert len(names) >= 6, names
    for i, name in enumerate(names[:6], start=1):
        assert name.startswith(f"{i:02d}_"), names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_stored_notebook_is_executed(path):
    cells = _code_cells(path)
    assert cells, f"{path.name} has no code cells"
    missing = [i for i, c in enumerate(cells) if c.source.strip() and c.execution_count is None]
    assert not missing, f"{path.name}: code cells {missing} were never executed (run `make notebooks`)"
    assert any(c.outputs for c in cells), f"{path.name} stores no outputs (run `make notebooks`)"
    errors = [o for c in cells for o in c.outputs if o.get("output_type") == "error"]
    assert not errors, f"{path.name} stores an error output: {errors[0].get('ename')}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_asserts_its_numbers(path):
    asserting = [
        c for c in _code_cells(path)
        if any(line.lstrip().startswith("assert ") for line in c.source.splitlines())
    ]
    assert asserting, f"{path.name} has no cell with an assert statement"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_on_a_fresh_kernel(path, dot, notebook_runner):
    runner = notebook_runner
    try:
        _, seconds = runner.execute(path)
    except Exception as error:  # nbclient's CellExecutionError names the cell and the traceback
        pytest.fail(f"{path.name} failed:\n{runner.plain(str(error))}", pytrace=False)
    limit = LIMITS.get(path.stem, TIME_LIMIT)
    assert seconds < limit, f"{path.name} took {seconds:.1f} s (limit {limit:.0f} s)"
