"""Types that tools can use: the declarations of Value's table-derived methods, and mypy --strict on user code.

The methods of the table are attached to ``Value`` at run time; a generated
block in ``autograd/engine.py`` declares them for type checkers
(``tools/type_declarations.py``). These tests fail when that block and the
table disagree, and when ``mypy --strict`` rejects (or fails to check)
``tests/typed/user_code.py``, a learner's code calling every method.
"""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograd.engine import OPERATORS, Value
from autograd.ops import PRIMITIVES

from helpers import load_tool

ROOT = Path(__file__).resolve().parent.parent
USER_CODE = ROOT / "tests" / "typed" / "user_code.py"
declarations = load_tool("type_declarations")

SOURCE = Path(declarations.ENGINE).read_text(encoding="utf-8")
BLOCK = declarations.split(SOURCE)[1]
DECLARED = {node.name: node for node in ast.walk(ast.parse("class Value:\n" + BLOCK))
            if isinstance(node, ast.FunctionDef)}


def test_the_declarations_are_what_the_tool_writes_from_the_table():
    assert BLOCK == declarations.render(SOURCE), "run: python tools/type_declarations.py"


@pytest.mark.parametrize("row", [row for row in PRIMITIVES.values() if row.op not in OPERATORS],
                         ids=lambda row: row.name)
def test_every_method_of_the_table_is_declared_as_its_row_says(row):
    declared = DECLARED[row.name]
    operands = [a.arg for a in declared.args.args[1:]]
    assert len(operands) == row.arity - 1
    assert [ast.literal_eval(d) for d in declared.args.defaults] == list(row.defaults)
    assert all(ast.unparse(a.annotation) == "Value | Number" for a in declared.args.args[1:])
    assert ast.unparse(declared.returns) == "Value"
    assert ast.get_docstring(declared) == row.doc
    assert getattr(Value, row.name).__doc__ == row.doc  # and the running method is the row's


def test_every_method_attached_at_run_time_is_declared():
    written = declarations.written_in_class(SOURCE)
    attached = {name for name, f in vars(Value).items() if callable(f) and name not in written}
    assert attached == set(DECLARED) and {"__add__", "__mul__", "__abs__", "tanh", "max"} <= attached


def test_a_stale_block_is_caught():
    stale = SOURCE.replace("        def tanh(self) -> Value:", "        def tanh(self, other: Value | Number) -> Value:")
    assert stale != SOURCE
    assert declarations.split(stale)[1] != declarations.render(stale)


def _mypy(*arguments: str) -> subprocess.CompletedProcess:
    # From the checkout, as a user's mypy sees an installed package: our modules are
    # read (so the types are real) but their own errors are not the user's.
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--cache-dir", os.devnull,
         "--no-error-summary", *arguments],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )


def test_user_code_calling_every_method_passes_mypy_strict():
    result = _mypy(str(USER_CODE.relative_to(ROOT)))
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_sees_the_types_and_flags_mistakes():
    # The check above is not vacuous: a misspelt method, x + 1 taken for an int, or the
    # wrong arity is an error.
    result = _mypy("-c", "from typing import assert_type\n"
                         "from autograd import Value\n"
                         "x = Value(1.0)\n"
                         "x.tanhh()\n"
                         "assert_type(x + 1, int)\n"
                         "x.max()\n")
    assert result.returncode == 1
    assert '"Value" has no attribute "tanhh"; maybe "tanh"?' in result.stdout
    assert 'Expression is of type "Value", not "int"' in result.stdout
    assert 'Missing positional argument "other" in call to "max" of "Value"' in result.stdout


def test_the_user_code_runs():
    result = subprocess.run([sys.executable, str(USER_CODE)], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"})
    assert result.returncode == 0, result.stderr


def test_the_packages_themselves_pass_mypy_strict():
    """``make lint``'s check of autograd and nn, in the suite so that CI holds it too."""
    result = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--cache-dir", os.devnull, "autograd", "nn"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
