"""Every primitive at the edges of the floats, and the paths where edges meet, against PyTorch 2.13.

At 0, -0.0, ±inf, nan, ties, subnormals and huge numbers: where we give a
value, it and its gradients equal PyTorch's (nan where PyTorch has nan, and
the same sign of zero); where we raise (the contract's errors: log of a
non-positive, 1/0, overflow in exp and ``**``, ...), PyTorch's value is not
finite either. The primitives' edge points come from ``tests/rows.py``; the
composite paths below are the red team's reproducers (issue 13). The few
deliberate differences are in ``DELIBERATE`` and in docs/engine.md's table.
"""

import math

import pytest

from autograd import Value, grad

from rows import TEST_ROWS, apply

INF, NAN = math.inf, math.nan

# (name, args): the value and gradients we give instead of PyTorch's (docs/engine.md lists them, and why).
DELIBERATE = {
    # sqrt's slope at zero is +inf from the right; PyTorch gives -inf at -0.0
    # (it divides by the signed zero), we treat -0.0 as the zero it equals.
    # (Its value is math.sqrt's, -0.0, as PyTorch's.) And x ** 0.5 is float
    # **'s value: (-0.0) ** 0.5 is +0.0 (C's pow), where PyTorch computes
    # sqrt(-0.0), -0.0.
    ("x**0.5", (-0.0,)): (0.0, (INF,)),
    ("sqrt", (-0.0,)): (-0.0, (INF,)),
    ("relu(x)**0.5", (-0.0,)): (0.0, (0.0,)),
    ("**", (-0.0, 0.5)): (0.0, (INF, 0.0)),
}


def _deliberate(name, args):
    """The entry of ``DELIBERATE`` for these arguments, told apart by the sign of a zero (-0.0 == 0.0)."""
    for (n, point), result in DELIBERATE.items():
        if n == name and len(point) == len(args) and all(map(same, point, args)):
            return result
    return None


def same(ours: float, theirs: float, signed_zero: bool = True) -> bool:
    """Equal as PyTorch would print them: nan to nan, and zeros of the same sign.

    Gradients are compared with ``signed_zero=False``: a leaf's gradient
    starts at 0.0 and adds (0.0 + -0.0 is 0.0), where PyTorch assigns the
    first contribution to an empty ``.grad`` (docs/engine.md lists this).
    """
    if math.isnan(theirs):
        return math.isnan(ours)
    if ours == 0.0 and theirs == 0.0 and signed_zero:
        return math.copysign(1.0, ours) == math.copysign(1.0, theirs)
    return ours == theirs or math.isclose(ours, theirs, rel_tol=1e-12)


def _check(torch, name, ours_fn, torch_fn, args, differentiable):
    tensors = [torch.tensor(x, dtype=torch.float64, requires_grad=d) for x, d in zip(args, differentiable)]
    y = torch_fn(torch, *tensors)
    values = [Value(x) for x in args]
    try:
        out = ours_fn(*values)
    except (OverflowError, ValueError, ZeroDivisionError):
        assert not math.isfinite(y.item()), f"we raise where PyTorch gives {y.item()}"
        return
    y.backward()
    out.backward()
    value, grads = y.item(), [0.0 if t.grad is None else t.grad.item() for t in tensors]
    deliberate = _deliberate(name, args)
    if deliberate is not None:
        value, grads = deliberate
    assert same(out.data, value), f"value: ours {out.data!r}, torch {value!r}"
    for k, (v, theirs) in enumerate(zip(values, grads)):
        if not differentiable[k]:
            continue
        assert same(v.grad, theirs, signed_zero=False), f"gradient {k}: ours {v.grad!r}, torch {theirs!r}"


@pytest.mark.parametrize("op, args", [(op, args) for op, row in TEST_ROWS.items() for args in row.edges],
                         ids=lambda x: repr(x))
def test_every_primitive_at_the_edges_matches_pytorch(torch, op, args):
    row = TEST_ROWS[op]
    differentiable = [k not in row.constant for k in range(len(args))]
    _check(torch, op, lambda *xs: apply(op, *xs), row.torch, args, differentiable)


# name: (ours, PyTorch's, points): paths where one operation's edge meets another's.
COMPOSITES = {
    # division by a tiny number: the gradient is finite, 1/b² is not
    "a/b": (lambda a, b: a / b, lambda t, a, b: a / b,
            [(1e-200, 1e-200), (1e-300, 1e-160), (1.0, 1e-310), (49.0, 49.0), (1.0, 3.0), (0.0, 2.0)]),
    "x/x": (lambda x: x / x, lambda t, x: x / x, [(1e-200,), (1e-310,), (49.0,), (-3.0,)]),
    "x/7": (lambda x: x / 7.0, lambda t, x: x / 7.0, [(49.0,), (1e-310,), (1e300,)]),
    # the 1/x gate's share g·a overflows, the true gradient does not (issue 21 item 8)
    "(a/b)*c": (lambda a, b, c: (a / b) * c, lambda t, a, b, c: (a / b) * c,
                [(1e200, 1e60, 1e120), (-1e200, 1e60, 1e120), (1e200, -1e-60, 1e120), (1.0, 2.0, 3.0)]),
    "3/x": (lambda x: 3.0 / x, lambda t, x: 3.0 / x, [(1e-200,), (7.0,), (-0.0,)]),
    # zero times infinity: a zero gradient passes nothing on
    "relu(x)**0.5": (lambda x: x.relu() ** 0.5, lambda t, x: t.relu(x) ** 0.5, [(-0.5,), (4.0,), (-0.0,)]),
    "tanh(log x)": (lambda x: x.log().tanh(), lambda t, x: t.tanh(t.log(x)), [(5e-324,), (1e-310,), (2.0,)]),
    "relu(x) * inf": (lambda x: x.relu() * INF, lambda t, x: t.relu(x) * INF, [(-1.0,), (1.0,)]),
    # elu far below zero: alpha e^x, not out + alpha
    "elu(x) * 1e20": (lambda x: x.elu() * 1e20, lambda t, x: t.nn.functional.elu(x) * 1e20,
                      [(-20.0,), (-37.0,), (-40.0,), (-700.0,)]),
    # exact powers with a Value exponent
    "2**x": (lambda x: 2.0**x, lambda t, x: 2.0**x, [(3.0,), (0.5,), (-1.0,), (1024.0,)]),
    "x**y": (lambda x, y: x**y, lambda t, x, y: x**y, [(0.0, 2.0), (-2.0, 2.0), (2.0, 0.5), (-2.0, 3.0)]),
    "sqrt": (lambda x: x.sqrt(), lambda t, x: t.sqrt(x), [(2.0,), (0.0,), (-0.0,), (1e-310,), (INF,)]),
    "x**0.5": (lambda x: x**0.5, lambda t, x: x**0.5, [(0.0,), (-0.0,), (4.0,)]),
    "x**0.25": (lambda x: x**0.25, lambda t, x: x**0.25, [(0.0,), (16.0,)]),
    "(-inf)**y": (lambda y: Value(-INF) ** y, lambda t, y: t.tensor(-INF) ** y, [(-2.5,), (2.5,), (-3.0,), (3.0,)]),
    "-x": (lambda x: -x, lambda t, x: -x, [(0.0,), (-0.0,), (NAN,)]),
    "x-y": (lambda x, y: x - y, lambda t, x, y: x - y, [(0.0, 0.0), (INF, INF), (1e308, -1e308)]),
}


@pytest.mark.parametrize("name, args", [(name, args) for name, (_, _, points) in COMPOSITES.items()
                                        for args in points], ids=lambda x: repr(x))
def test_where_edges_meet_we_match_pytorch(torch, name, args):
    ours, theirs, _ = COMPOSITES[name]
    _check(torch, name, ours, theirs, args, [True] * len(args))


@pytest.mark.parametrize("name, x", [("relu(x)**0.5", -0.5), ("tanh(log x)", 1e-310), ("tanh(log x)", 2.0),
                                     ("elu(x) * 1e20", -40.0), ("x/x", 1e-200), ("2**x", 3.0),
                                     ("sqrt", 0.0), ("x**0.5", 0.0), ("x**0.25", 0.0), ("sqrt", 2.0)])
def test_second_derivatives_where_edges_meet(torch, name, x):
    ours_fn, torch_fn, _ = COMPOSITES[name]
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    (d1,) = torch.autograd.grad(torch_fn(torch, t), t, create_graph=True)
    theirs = torch.autograd.grad(d1, t)[0].item() if d1.requires_grad else 0.0
    v = Value(x)
    (first,) = grad(ours_fn(v), [v], create_graph=True)
    assert same(first.data, d1.item(), signed_zero=False)
    assert same(grad(first, [v])[0], theirs, signed_zero=False)


def test_the_red_teams_exact_results():
    assert (Value(49.0) / Value(49.0)).data == 1.0  # not 0.9999999999999999
    assert (Value(49.0) / 49).data == 1.0
    assert (2 ** Value(3)).data == 8.0  # not 7.999999999999998
    assert (Value(2) ** Value(0.5)).data == math.sqrt(2)
    assert math.copysign(1.0, Value(-0.0).relu().data) == -1.0
    q = Value(49.0) / Value(49.0)
    assert q.op == "*" and q.parents[1].op == "1/x"  # the drawn graph keeps its gates
