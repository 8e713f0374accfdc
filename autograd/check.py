"""Finite differences and ``gradcheck``: does backward agree with the slope?"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .engine import Value, is_number


def numerical_grad(f: Callable[[list[Value]], Value], inputs: Sequence[float], eps: float = 1e-6) -> list[float]:
    """Central differences (f(x + eps) - f(x - eps)) / 2eps for each input."""
    point = [float(x) for x in inputs]
    slopes = []
    for i in range(len(point)):
        up = point.copy()
        down = point.copy()
        up[i] += eps
        down[i] -= eps
        hi = f([Value(x) for x in up]).data
        lo = f([Value(x) for x in down]).data
        slopes.append((hi - lo) / (2.0 * eps))
    return slopes


def gradcheck(
    f: Callable[[list[Value]], Value],
    inputs: Sequence[float],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
) -> bool:
    """Compare ``backward()`` with central differences at ``inputs``.

    ``f`` takes a list of ``Value``s and returns a ``Value``. Returns True when
    every |analytic - numeric| <= atol + rtol * |numeric|; otherwise raises
    ``AssertionError`` naming the input index and both gradients.

    >>> gradcheck(lambda v: v[0] * v[1].tanh(), [0.5, -1.2])
    True
    """
    for i, x in enumerate(inputs):
        if not is_number(x):
            raise TypeError(f"gradcheck inputs must be numbers; input {i} is {type(x).__name__}")
    values = [Value(x) for x in inputs]
    out = f(values)
    if not isinstance(out, Value):
        raise TypeError(f"gradcheck: f must return a Value, got {type(out).__name__}")
    out.backward()
    numeric = numerical_grad(f, inputs, eps)
    for i, (v, n) in enumerate(zip(values, numeric)):
        if not abs(v.grad - n) <= atol + rtol * abs(n):
            raise AssertionError(
                f"gradcheck failed for input {i} (= {inputs[i]!r}): "
                f"analytic gradient {v.grad!r}, numeric gradient {n!r}"
            )
    return True
