"""TEST_ROWS: what the tests know about each primitive, one row per row of autograd/ops.py.

Adding a primitive to the table means adding its row here too, and nothing
else in the tests: every cross-check iterates this table (``test_ops.py``
checks that its keys are exactly ``ops.PRIMITIVES`` and that each check
covers all of them):

* ``samples``: operand tuples in the smooth interior, where first, second
  and third derivatives are checked against central differences
  (``test_ops.py``) and ``gradcheck`` runs (``test_check.py``);
* ``edges``: operand tuples at the edges of the floats (0, -0.0, ±inf, nan,
  subnormals, huge), checked against PyTorch (``test_edges.py``);
* ``torch``: PyTorch's own operation on tensors, for those and for the
  seeded random graphs (``expressions.py``, ``test_torch.py``);
* ``valid``: where a random graph may apply it (inside its domain, away from
  kinks, where finite differences and PyTorch agree);
* ``constant``: operand positions PyTorch takes as a plain number (so their
  gradient is not compared with PyTorch's, only with central differences).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import NamedTuple

from autograd.engine import OPERATORS, Value
from autograd.ops import PRIMITIVES

INF, NAN = math.inf, math.nan

EDGE_POINTS = (0.0, -0.0, 1.0, -1.0, 0.5, INF, -INF, NAN, 1e-310, -1e-310, 5e-324, 1e300, -1e300,
               1e200, -1e200, 1e-200, -1e-200, 1e-110, -1e-110, -20.0, -40.0, 710.0, -750.0)
"""Where every one-operand primitive is checked against PyTorch."""


class TestRow(NamedTuple):
    torch: Callable
    samples: tuple
    edges: tuple = tuple((x,) for x in EDGE_POINTS)
    valid: Callable = lambda *args: True
    constant: tuple = ()


def _far(x: float, kink: float, margin: float = 1e-3) -> bool:
    return abs(x - kink) > margin


def _pairs(*points) -> tuple:
    return tuple(points)


TEST_ROWS: dict[str, TestRow] = {
    "+": TestRow(
        lambda t, a, b: a + b,
        samples=((1.5, -0.25), (-2.0, 3.0)),
        edges=_pairs((0.0, -0.0), (-0.0, -0.0), (INF, -INF), (INF, 1.0), (NAN, 1.0), (1e308, 1e308),
                     (5e-324, -5e-324), (1e-310, 1e-310)),
    ),
    "*": TestRow(
        lambda t, a, b: a * b,
        samples=((1.5, -0.25), (-2.0, 3.0)),
        edges=_pairs((0.0, INF), (-0.0, 2.0), (0.0, -0.0), (1e200, 1e200), (1e-200, 1e-200), (NAN, 0.0),
                     (INF, -INF), (5e-324, 0.5), (-1e300, 1e10)),
    ),
    "exp": TestRow(lambda t, a: t.exp(a), samples=((0.3,), (-1.2,)), valid=lambda a: abs(a) < 4),
    "log": TestRow(lambda t, a: t.log(a), samples=((0.7,), (2.5,)), valid=lambda a: a > 0.05),
    "1/x": TestRow(lambda t, a: t.reciprocal(a), samples=((0.8,), (-1.7,)), valid=lambda a: abs(a) > 0.2),
    "**": TestRow(
        lambda t, a, b: a**b,
        samples=((1.3, 2.5), (0.7, -1.5), (2.0, 0.5)),
        edges=_pairs((0.0, 2.0), (-2.0, 2.0), (-2.0, 3.0), (0.0, 0.0), (0.0, 0.5), (0.0, 1.0), (0.0, 3.0),
                     (2.0, 3.0), (-0.0, 2.0), (INF, 2.0), (2.0, -INF), (0.5, INF), (NAN, 0.0), (1.0, NAN), (0.0, NAN),
                     (-2.0, 0.5), (0.0, -1.0), (10.0, 400.0), (1e-200, -1.4), (1e-310, 2.0), (-1e-310, 3.0),
                     (1e300, 0.5), (1.0, 1e300)),
        valid=lambda a, b: a > 0.05 and abs(b) < 3,
    ),
    "sqrt": TestRow(lambda t, a: t.sqrt(a), samples=((0.7,), (2.5,)), valid=lambda a: a > 0.05),
    "max": TestRow(
        lambda t, a, b: t.maximum(a, b),
        samples=((1.0, 2.0), (3.0, -1.0)),
        edges=_pairs((1.0, 1.0), (NAN, 1.0), (1.0, NAN), (INF, INF), (-0.0, 0.0), (0.0, -0.0), (-INF, 5.0),
                     (1e-310, -1e-310), (NAN, NAN)),
        valid=lambda a, b: _far(a, b),
    ),
    "relu": TestRow(lambda t, a: t.relu(a), samples=((0.5,), (-0.5,)), valid=lambda a: _far(a, 0.0)),
    "leaky_relu": TestRow(
        # PReLU: PyTorch's leaky ReLU whose slope is a tensor, so it gets a gradient too.
        lambda t, a, alpha: t.nn.functional.prelu(a.reshape(1), alpha.reshape(1)).reshape(()),
        samples=((0.7, 0.1), (-1.3, 0.2)),
        edges=tuple((x, 0.1) for x in EDGE_POINTS) + _pairs((-2.0, 0.0), (-2.0, INF), (INF, 0.5)),
        valid=lambda a, alpha: _far(a, 0.0),
    ),
    "elu": TestRow(
        lambda t, a, alpha: t.nn.functional.elu(a, alpha.item()),
        samples=((0.7, 1.0), (-1.3, 0.7)),
        edges=tuple((x, 0.7) for x in EDGE_POINTS) + _pairs((-2.0, 0.0), (-40.0, 1.0), (-20.0, 1.0)),
        valid=lambda a, alpha: _far(a, 0.0) and a < 10,
        constant=(1,),
    ),
    "sin": TestRow(lambda t, a: t.sin(a), samples=((0.5,), (-1.7,)), valid=lambda a: abs(a) < 10),
    "cos": TestRow(lambda t, a: t.cos(a), samples=((0.5,), (-1.7,)), valid=lambda a: abs(a) < 10),
    "abs": TestRow(lambda t, a: t.abs(a), samples=((0.5,), (-1.7,)), valid=lambda a: _far(a, 0.0)),
    "tanh": TestRow(lambda t, a: t.tanh(a), samples=((0.5,), (-1.7,))),
    "sigmoid": TestRow(lambda t, a: t.sigmoid(a), samples=((0.5,), (-1.7,))),
}
"""One row per primitive, keyed like ``ops.PRIMITIVES``."""

_OPERATOR_FUNCTIONS = {"+": operator.add, "*": operator.mul, "**": operator.pow}


def apply(op: str, *operands) -> Value:
    """Apply primitive ``op`` through the public surface: its operator or its ``Value`` method."""
    assert set(_OPERATOR_FUNCTIONS) == set(OPERATORS)
    if op in _OPERATOR_FUNCTIONS:
        return _OPERATOR_FUNCTIONS[op](*operands)
    first, *rest = operands
    return getattr(first, PRIMITIVES[op].name)(*rest)


def arity(op: str) -> int:
    return PRIMITIVES[op].arity
