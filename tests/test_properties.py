"""Property tests: for random expressions over every primitive, backward()
agrees with central finite differences, and grad() with backward()."""

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from autograd import Value, grad, gradcheck

from expressions import DRAWS, replay, resolve

steps = st.lists(
    st.tuples(st.integers(0, DRAWS - 1), st.integers(0, 10**6), st.integers(0, 10**6)),
    min_size=1,
    max_size=10,
)
points = st.lists(st.floats(-2.0, 2.0), min_size=1, max_size=4)


def _apply(op, a, b):
    return op.ours(a, b)


def _expression(program, inputs):
    """f(values) for the expression that ``program`` resolves to at ``inputs``."""
    steps = resolve(program, [Value(x) for x in inputs], _apply, lambda v: v.data)

    def f(values):
        interior = replay(steps, values, _apply)[len(values):]
        return sum(interior[1:], interior[0])

    return f


@settings(max_examples=300, deadline=None)
@given(program=steps, inputs=points)
def test_backward_matches_central_differences(program, inputs):
    f = _expression(program, inputs)
    out = f([Value(x) for x in inputs])
    # (The expression table keeps every max/relu argument 1e-3 away from its
    # kink, so central differences with eps = 1e-6 never straddle one.)
    if not math.isfinite(out.data) or abs(out.data) > 1e6:
        return  # far outside the range where finite differences are meaningful
    assert gradcheck(f, inputs, eps=1e-6, atol=1e-4, rtol=1e-4)


@settings(max_examples=200, deadline=None)
@given(program=steps, inputs=points)
def test_grad_equals_backward(program, inputs):
    f = _expression(program, inputs)
    values = [Value(x) for x in inputs]
    out = f(values)
    via_grad = grad(out, values)
    out.backward()
    assert via_grad == [v.grad for v in values]
