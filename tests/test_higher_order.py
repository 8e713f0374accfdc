"""Second and third derivatives from grad(..., create_graph=True), against
closed forms."""

import math

import pytest

from autograd import Value, grad


def derivatives(f, x0: float, order: int) -> list[float]:
    """[f'(x0), f''(x0), ...] up to ``order``, by differentiating again and again."""
    x = Value(x0)
    y = f(x)
    out = []
    for k in range(order):
        (y,) = grad(y, [x], create_graph=k < order - 1)
        out.append(y.data if isinstance(y, Value) else y)
    return out


CASES = [
    ("tanh", lambda x: x.tanh(),
     lambda t: [1 - t**2, -2 * t * (1 - t**2), (1 - t**2) * (6 * t**2 - 2)], math.tanh),
    ("x**3", lambda x: x**3, lambda x: [3 * x**2, 6 * x, 6.0], lambda x: x),
    ("exp", lambda x: x.exp(), lambda e: [e, e, e], math.exp),
    ("sigmoid", lambda x: x.sigmoid(),
     lambda s: [s * (1 - s), s * (1 - s) * (1 - 2 * s), s * (1 - s) * (1 - 6 * s + 6 * s**2)],
     lambda x: 1 / (1 + math.exp(-x))),
    ("log", lambda x: x.log(), lambda x: [1 / x, -1 / x**2, 2 / x**3], lambda x: x),
    ("1/x", lambda x: x.reciprocal(), lambda x: [-1 / x**2, 2 / x**3, -6 / x**4], lambda x: x),
    ("sqrt", lambda x: x**0.5,
     lambda x: [0.5 * x**-0.5, -0.25 * x**-1.5, 0.375 * x**-2.5], lambda x: x),
]


@pytest.mark.parametrize("name, f, closed_form, base", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("x0", [0.3, 1.7])
def test_first_three_derivatives(name, f, closed_form, base, x0):
    expected = closed_form(base(x0))
    assert derivatives(f, x0, 3) == pytest.approx(expected, rel=1e-12)


def test_mixed_partial_of_a_product():
    # f = x² y³: ∂²f/∂x∂y = 6 x y², ∂³f/∂x∂y² = 12 x y
    x, y = Value(1.5), Value(-2.0)
    f = x**2 * y**3
    dfdx, dfdy = grad(f, [x, y], create_graph=True)
    assert (dfdx.data, dfdy.data) == pytest.approx((2 * 1.5 * -8.0, 3 * 2.25 * 4.0))
    dxy, dxx = grad(dfdx, [y, x], create_graph=True)
    assert dxy.data == pytest.approx(6 * 1.5 * 4.0)
    assert dxx.data == pytest.approx(2 * -8.0)
    assert grad(dfdy, [x])[0] == pytest.approx(dxy.data)  # symmetry of mixed partials
    assert grad(dxy, [y]) == pytest.approx([12 * 1.5 * -2.0])


def test_mixed_partial_of_two_variables_product():
    x, y = Value(3.0), Value(4.0)
    (dx,) = grad(x * y, [x], create_graph=True)
    assert grad(dx, [x, y]) == [0.0, 1.0]


def test_second_derivative_through_max_and_relu_is_piecewise():
    x = Value(2.0)
    y = (x * x).relu() + x.max(1.0) * x
    (d1,) = grad(y, [x], create_graph=True)
    assert d1.data == 2 * 2.0 + 2 * 2.0
    assert grad(d1, [x]) == [4.0]


def test_create_graph_results_are_values_and_leave_grads_alone():
    x = Value(0.4)
    (g,) = grad(x.tanh() * x, [x], create_graph=True)
    assert isinstance(g, Value) and g.parents
    assert x.grad == 0.0
    g.backward()  # differentiate the gradient with the ordinary backward too
    t = math.tanh(0.4)
    assert x.grad == pytest.approx(2 * (1 - t**2) - 2 * 0.4 * t * (1 - t**2), rel=1e-12)


@pytest.mark.parametrize(
    "f, expected",
    [
        (lambda x: x**3, [0.0, 0.0, 6.0]),
        (lambda x: x**2, [0.0, 2.0, 0.0]),
        (lambda x: x**1, [1.0, 0.0, 0.0]),
        (lambda x: x**0, [0.0, 0.0, 0.0]),
    ],
)
def test_derivatives_of_powers_at_zero(f, expected):
    # x**(k-1) at 0 for k <= 1 is where a naive rule divides by zero.
    assert derivatives(f, 0.0, 3) == expected


def test_fused_leaky_relu_and_elu_second_derivatives():
    assert derivatives(lambda x: x.elu(0.5), -1.0, 3) == pytest.approx(
        [0.5 * math.exp(-1.0)] * 3, rel=1e-14)
    assert derivatives(lambda x: x.leaky_relu(0.2), -1.0, 2) == [0.2, 0.0]


def test_create_graph_agrees_with_floats_where_zero_meets_infinity():
    # The zero rule holds on Values too: x ** 0.5 has slope +inf at 0, but z = 0 stops it.
    x, z = Value(0.0), Value(0.0)
    f = (x**0.5) * z
    assert grad(f, [x]) == [0.0]
    assert grad(f, [x], create_graph=True)[0].data == 0.0


def test_create_graph_gives_an_overflowing_slope_as_inf_like_floats():
    x = Value(1e-10)
    assert grad(x**-30.0, [x]) == [-math.inf]
    assert grad(x**-30.0, [x], create_graph=True)[0].data == -math.inf


def test_the_mixed_second_derivative_of_leaky_relu_at_zero_is_the_derivative_of_the_first(torch):
    """Issue 21 item 10: f = |leaky_relu(x, a)| - leaky_relu(x, a) at x = 0. Its first derivative
    there is -a (the slope at 0 is a, as PyTorch's; abs' is 0 at 0), so d/da of it is -1, which
    central differences of our own first derivative confirm; PyTorch's prelu says 0, because its
    second derivative takes x = 0 as positive (``self >= 0``) where its first takes it as negative."""

    def first(alpha: float) -> float:
        x, a = Value(0.0), Value(alpha)
        lr = x.leaky_relu(a)
        return grad(abs(lr) - lr, [x])[0]

    x, a = Value(0.0), Value(0.3)
    lr = x.leaky_relu(a)
    (dx,) = grad(abs(lr) - lr, [x], create_graph=True)
    assert dx.data == -0.3 == first(0.3)
    mixed = grad(dx, [a])[0]
    assert mixed == -1.0 == pytest.approx((first(0.3 + 1e-6) - first(0.3 - 1e-6)) / 2e-6)
    tx = torch.tensor(0.0, requires_grad=True)
    ta = torch.tensor(0.3, requires_grad=True)
    tl = torch.nn.functional.prelu(tx.reshape(1), ta.reshape(1)).reshape(())
    (tdx,) = torch.autograd.grad(tl.abs() - tl, tx, create_graph=True)
    assert tdx.item() == -0.3 and torch.autograd.grad(tdx, ta)[0].item() == 0.0  # PyTorch's inconsistency
