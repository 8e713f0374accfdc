"""The primitives: one table, one row per operation.

Each row names an operation and gives two things, both on plain numbers:

* ``forward(*args)``: the value of the operation, with a clear error where the
  operation is undefined (``log`` of 0, ``1/x`` at 0, ``exp`` overflow, ...);
* ``local_grads(out, *args)``: the partial derivative of the output with
  respect to each argument, as a tuple.

``local_grads`` is written with ordinary arithmetic only, so the same line
serves two purposes: called with floats it gives first-order gradients, and
called with ``Value`` nodes (by ``autograd.grad(..., create_graph=True)``) it
builds a graph of its own that can be differentiated again. Where a rule has
to choose a branch it asks ``float(x)``, which works for both.

A row may also carry ``inline``: the same forward and local gradients as
Python expression templates over floats (``{0}``, ``{1}`` the operands). They
are for code that cannot afford a function call per node: the tape
(:mod:`autograd.tape`) pastes them into the code it generates, and
``Value``'s hot paths for ``+`` and ``*`` spell out the same arithmetic.
``tests/test_ops.py`` checks, bit for bit, that every template computes
exactly what its row's functions compute.

Everything here is pure math and imports only the standard library; the stable
sigmoid is a plain function with its own tests.
"""

from __future__ import annotations

import math
import operator
from collections import namedtuple


class Inline(namedtuple("Inline", "forward local_grads")):
    """A primitive as expression templates over float operands ``{0}``, ``{1}``.

    ``forward`` is one template (a str); ``local_grads`` holds one template per
    operand; the template ``"1.0"`` means the upstream gradient passes
    through unchanged (1.0 * g is g).
    """

    __slots__ = ()


class Primitive(namedtuple("Primitive", "forward local_grads inline", defaults=(None,))):
    """One operation: ``forward`` on floats, its ``local_grads`` rule, and
    optionally the same as ``Inline`` templates."""

    __slots__ = ()


def exp(a: float) -> float:
    try:
        return math.exp(a)
    except OverflowError:
        raise OverflowError(f"exp({a!r}) overflows a float (inputs above ~709.78 do)") from None


def log(a: float) -> float:
    if a <= 0.0:  # (nan is not: it passes through, as everywhere)
        raise ValueError(f"log is defined only for positive numbers, got {a!r}")
    return math.log(a)


def reciprocal(a: float) -> float:
    if a == 0.0:
        raise ZeroDivisionError(f"1/x is undefined at x = {a!r}")
    return 1.0 / a


def power(a: float, k: float) -> float:
    """``a ** k`` for a constant exponent ``k``, real-valued or an error."""
    if a == 0.0 and k < 0.0:
        raise ZeroDivisionError(f"{a!r} ** {k!r} is undefined (division by zero)")
    if a < 0.0 and not float(k).is_integer():
        raise ValueError(f"{a!r} ** {k!r} is not a real number (negative base, fractional exponent)")
    try:
        return a**k
    except OverflowError:
        raise OverflowError(f"{a!r} ** {k!r} overflows a float") from None


def maximum(a: float, b: float) -> float:
    if a >= b:
        return a
    if a < b:
        return b
    return math.nan  # unordered: one of them is nan, and nan propagates (as in PyTorch)


def relu(a: float) -> float:
    # Written so that nan passes through (nan <= 0.0 is False), as in PyTorch.
    return 0.0 if a <= 0.0 else a


def leaky_relu(a: float, alpha: float) -> float:
    return a if a > 0.0 else alpha * a


def elu(a: float, alpha: float) -> float:
    # expm1: e^a - 1 without the cancellation near 0; never overflows (a <= 0).
    return a if a > 0.0 else alpha * math.expm1(a)


def sigmoid(a: float) -> float:
    """1 / (1 + e^-a), computed without overflow for any finite ``a``."""
    if a >= 0.0:
        return 1.0 / (1.0 + math.exp(-a))
    e = math.exp(a)
    return e / (1.0 + e)


def _max_grads(out, a, b):
    # The larger input takes the whole gradient; a tie splits it evenly, so
    # the two halves still add up to the gradient of max itself. With a nan
    # (unordered) both get it, as in PyTorch.
    a, b = float(a), float(b)
    if a > b:
        return (1.0, 0.0)
    if b > a:
        return (0.0, 1.0)
    if a == b:
        return (0.5, 0.5)
    return (1.0, 1.0)


def _power_or_inf(a, e: float):
    """``a ** e`` for the gradient rule: a float that overflows is ±inf, not an error."""
    if type(a) is not float:
        return a**e  # a Value: building the graph of the gradient
    try:
        return a**e
    except OverflowError:
        odd = e.is_integer() and e % 2.0 == 1.0
        return -math.inf if a < 0.0 and odd else math.inf


def _power_grads(out, a, k):
    # d/da a**k = k * a**(k-1); the exponent is a constant and gets no gradient.
    # Where that formula breaks down, the limits PyTorch gives: a**0 is the
    # constant 1 (gradient 0, even at a = 0), and at a = 0 with 0 < k < 1 the
    # slope is +inf (the slope of sqrt at 0). k < 0 at a = 0 never gets here:
    # its forward raises.
    k = float(k)
    if k == 0.0:
        return (0.0, 0.0)
    if k < 1.0 and float(a) == 0.0:
        return (math.inf, 0.0)
    return (k * _power_or_inf(a, k - 1.0), 0.0)


def _expm1(a):
    return math.expm1(a) if type(a) is float else a.exp() - 1.0


def _leaky_relu_grads(out, a, alpha):
    # Gradient alpha at exactly 0 (and for nan), as in PyTorch; d/d alpha = min(a, 0).
    return (1.0, 0.0) if float(a) > 0.0 else (alpha, a)


def _elu_grads(out, a, alpha):
    # For a <= 0: d/da alpha (e^a - 1) = alpha e^a = out + alpha (PyTorch's form;
    # alpha at exactly 0), d/d alpha = e^a - 1. nan takes the other branch, as in PyTorch.
    return (out + alpha, _expm1(a)) if float(a) <= 0.0 else (1.0, 0.0)


PRIMITIVES: dict[str, Primitive] = {
    "+": Primitive(operator.add, lambda out, a, b: (1.0, 1.0), Inline("{0} + {1}", ("1.0", "1.0"))),
    "*": Primitive(operator.mul, lambda out, a, b: (b, a), Inline("{0} * {1}", ("{1}", "{0}"))),
    "exp": Primitive(exp, lambda out, a: (out,)),
    "log": Primitive(log, lambda out, a: (1.0 / a,)),
    "1/x": Primitive(reciprocal, lambda out, a: (-(out * out),)),
    "**": Primitive(power, _power_grads),
    "max": Primitive(maximum, _max_grads),
    "relu": Primitive(
        relu,
        # nan passes through, with gradient 1, as in PyTorch.
        lambda out, a: (0.0 if float(a) <= 0.0 else 1.0,),
        Inline("0.0 if {0} <= 0.0 else {0}", ("0.0 if {0} <= 0.0 else 1.0",)),
    ),
    "leaky_relu": Primitive(leaky_relu, _leaky_relu_grads),
    "elu": Primitive(elu, _elu_grads),
    "tanh": Primitive(math.tanh, lambda out, a: (1.0 - out * out,)),
    "sigmoid": Primitive(sigmoid, lambda out, a: (out * (1.0 - out),)),
}
"""Every primitive, by the name a node shows as its ``op``."""

FORWARD = {name: p.forward for name, p in PRIMITIVES.items()}
LOCAL_GRADS = {name: p.local_grads for name, p in PRIMITIVES.items()}
