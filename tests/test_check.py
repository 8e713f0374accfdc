"""gradcheck: passes on correct gradients, explains a failure."""

import pytest

from autograd import gradcheck
from autograd.check import numerical_grad

from rows import TEST_ROWS, apply


def test_numerical_grad_of_a_product():
    assert numerical_grad(lambda v: v[0] * v[1], [3.0, -2.0]) == pytest.approx([-2.0, 3.0], rel=1e-8)


@pytest.mark.parametrize(
    "f, inputs",
    [
        (lambda v: (v[0] * v[1]).tanh(), [0.3, -0.8]),
        (lambda v: 1 / (1 + (-(v[0] * v[1] + v[2])).exp()), [2.0, -1.0, -3.0]),
        (lambda v: v[0].sigmoid() * v[1].log() + v[0] ** 3, [0.5, 2.0]),
    ],
)
def test_gradcheck_passes_on_the_engine(f, inputs):
    assert gradcheck(f, inputs) is True



def test_gradcheck_names_input_analytic_and_numeric():
    def f(v):
        y = v[0] * v[1]
        # Sneak in a wrong gradient: data says x*y, but the graph says x + y.
        z = v[0] + v[1]
        z.data = y.data
        return z

    with pytest.raises(AssertionError) as info:
        gradcheck(f, [2.0, 5.0])
    message = str(info.value)
    assert "input 0" in message and "analytic gradient 1.0" in message and "numeric gradient 5.0" in message


def test_gradcheck_rejects_bad_inputs():
    with pytest.raises(TypeError, match="input 1"):
        gradcheck(lambda v: v[0], [1.0, "2"])
    with pytest.raises(TypeError, match="must return a Value"):
        gradcheck(lambda v: 1.0, [1.0])


@pytest.mark.parametrize("op", list(TEST_ROWS))
def test_gradcheck_passes_on_every_row(op):
    for sample in TEST_ROWS[op].samples:
        assert gradcheck(lambda v: apply(op, *v), list(sample)) is True  # noqa: B023
