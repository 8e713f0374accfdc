"""Every operation at the edges of the floats, against PyTorch 2.13.

At 0, -0.0, ±inf, nan, ties, subnormals and huge numbers: where we give a
value, it and its gradient equal PyTorch's (nan where PyTorch has nan); where
we raise (the contract's errors: log of a non-positive, 1/0, overflow in exp
and **, ...), PyTorch's value is not finite either.
"""

import math

import pytest

from autograd import Value

INF, NAN = math.inf, math.nan
POINTS = [0.0, -0.0, 1.0, -1.0, 0.5, INF, -INF, NAN, 1e-310, -1e-310, 1e300, -1e300, 1e-110, -1e-110]

# name: (ours, PyTorch's), each a function of one input
CASES = {
    "relu": (lambda x: x.relu(), lambda t, x: t.relu(x)),
    "tanh": (lambda x: x.tanh(), lambda t, x: t.tanh(x)),
    "sigmoid": (lambda x: x.sigmoid(), lambda t, x: t.sigmoid(x)),
    "exp": (lambda x: x.exp(), lambda t, x: t.exp(x)),
    "log": (lambda x: x.log(), lambda t, x: t.log(x)),
    "reciprocal": (lambda x: x.reciprocal(), lambda t, x: t.reciprocal(x)),
    "leaky_relu": (lambda x: x.leaky_relu(0.1), lambda t, x: t.nn.functional.leaky_relu(x, 0.1)),
    "elu": (lambda x: x.elu(0.7), lambda t, x: t.nn.functional.elu(x, 0.7)),
    "x**0": (lambda x: x**0, lambda t, x: x**0.0),
    "x**0.5": (lambda x: x**0.5, lambda t, x: x**0.5),
    "x**1": (lambda x: x**1, lambda t, x: x**1.0),
    "x**2": (lambda x: x**2, lambda t, x: x**2.0),
    "x**3": (lambda x: x**3, lambda t, x: x**3.0),
    "x**-1": (lambda x: x**-1, lambda t, x: x**-1.0),
    "x**-2": (lambda x: x**-2, lambda t, x: x**-2.0),
    "max(x, 1)": (lambda x: x.max(1.0), lambda t, x: t.maximum(x, t.tensor(1.0))),
    "max(x, x)": (lambda x: x.max(x), lambda t, x: t.maximum(x, x)),
    "x*x": (lambda x: x * x, lambda t, x: x * x),
    "x+x": (lambda x: x + x, lambda t, x: x + x),
    "-x": (lambda x: -x, lambda t, x: -x),
    "x/2": (lambda x: x / 2.0, lambda t, x: x / 2.0),
}


# Where we differ from PyTorch on purpose: the gradient we give instead.
DELIBERATE = {
    # sqrt's slope at zero is +inf from the right; PyTorch gives -inf at -0.0
    # (it divides by the signed zero), we treat -0.0 as the zero it equals.
    ("x**0.5", "-0.0"): INF,
}


def same(ours: float, theirs: float) -> bool:
    if math.isnan(theirs):
        return math.isnan(ours)
    return ours == theirs or math.isclose(ours, theirs, rel_tol=1e-12)


@pytest.mark.parametrize("x", POINTS, ids=repr)
@pytest.mark.parametrize("name", CASES)
def test_edges_match_pytorch(torch, name, x):
    ours_fn, torch_fn = CASES[name]
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    y = torch_fn(torch, t)
    y.backward()
    v = Value(x)
    try:
        out = ours_fn(v)
    except (OverflowError, ValueError, ZeroDivisionError):
        assert not math.isfinite(y.item()), f"we raise where PyTorch gives {y.item()}"
        return
    out.backward()
    if (name, repr(x)) in DELIBERATE:
        assert v.grad == DELIBERATE[name, repr(x)]
        return
    assert same(out.data, y.item()), f"value: ours {out.data!r}, torch {y.item()!r}"
    assert same(v.grad, t.grad.item()), f"gradient: ours {v.grad!r}, torch {t.grad.item()!r}"
