"""The primitives: one table, one row per operation, and nothing else to write.

A row (:class:`Primitive`) says everything about an operation:

* ``op``: what a node made by it shows (``"+"``, ``"1/x"``, ``"exp"``);
* ``name``: its name as a function: the ``Value`` method, the command line's
  function, the entry of the ``lib`` namespaces below (``"reciprocal"``);
* ``arity`` and ``defaults`` (the default of a trailing operand, such as
  ``leaky_relu``'s slope);
* ``forward(*args)``: its value on floats, with a clear error where it is
  undefined (``log`` of 0, ``1/x`` at 0, ``exp`` overflow, ...);
* ``vjp(lib, g, out, *args)``: its vector-Jacobian product. Given the
  upstream gradient ``g``, the output ``out`` and the operands, it returns
  what each operand receives: ``g`` times that operand's local gradient,
  written so that nothing overflows where the true product is finite
  (``1/x`` gives ``-(g / a) / a``, not ``g * -(out * out)``, whose square
  overflows for |a| < 1e-154; it also makes ``x / x`` exactly 0).

A rule is written once, against ``lib``: the operations of the table by
name (``lib.exp``, ``lib.cos``, ...), ``lib.where(condition, x, y)``,
``lib.expm1`` and ``lib.power_or_inf`` (``**`` whose overflow or pole is
±inf, the limit, the slope PyTorch gives), and arithmetic and comparisons on its arguments. :data:`FLOATS` (here) makes
those plain floats; the engine's ``VALUES`` builds graph nodes instead, so
the same line gives first derivatives on floats and, under
``grad(..., create_graph=True)``, a graph that can be differentiated again.
A rule that called ``math.cos(a)`` would lose its derivative silently; no
rule here calls a function of ``math`` (``math.inf`` is a constant), and ``tests/test_ops.py`` runs every row
through second and third derivatives against central differences of the
first, so one that did would fail.

Comparisons in a rule (``a > 0.0``) read the operands' values: on floats
and on ``Value`` s they give plain bools (``Value`` compares its ``data``),
so a rule takes its branch the same way in both namespaces. ``==`` is not
used on operands: for ``Value`` it is identity.

A row may also carry ``inline``: its forward as a Python expression
template over float operands (``"{0} + {1}"``) for code generators that
cannot afford a function call per node (the tape). ``tests/test_ops.py``
checks, bit for bit, that every template computes exactly what its row's
``forward`` does.

And ``batched`` (:class:`Batched`): the row's vectorised form, for the
batched tape, which replays one sample's graph over a whole batch with
NumPy. Its ``forward(lib, *arrays)`` computes the row on arrays, element by
element (``lib.np`` is the numpy module, handed in: this module imports
none); where ``forward`` is undefined it may give anything not finite, and
the tape then asks the row's own ``forward`` for the error. Its ``vjp`` is
needed only where the row's rule branches in Python (``if a > 0.0``), which
arrays cannot do; every other rule runs on arrays as written, with
``lib.where`` as ``np.where``. ``tests/test_batched.py`` checks every row's
batched form against the row, edges included.

Everything here is pure math and imports only the standard library.
"""

from __future__ import annotations

import math
import operator
from collections import namedtuple
from collections.abc import Callable

TYPE_CHECKING = False  # typing's flag without importing typing (3 ms); checkers take it as True
if TYPE_CHECKING:
    from typing import Any, Protocol, TypeVar

    Lib = Any
    """A ``lib`` namespace: :data:`FLOATS`, the engine's ``VALUES``, a tape's (the table's operations by name)."""
    Numeric = Any
    """A number of ``lib``'s kind: a float, a ``Value``, a NumPy array, or a tape's traced source."""

    class Comparable(Protocol):
        """What a rule compares with a float, for a plain bool: a float, or a ``Value`` (by its data)."""

        def __ge__(self, other: float, /) -> bool: ...

        def __le__(self, other: float, /) -> bool: ...

    T = TypeVar("T")


class Batched(namedtuple("Batched", "forward vjp", defaults=(None,))):
    """A row's vectorised form: ``forward(lib, *arrays)`` and, where the row's rule
    branches in Python, ``vjp(lib, g, out, *arrays)`` (see the module docstring)."""

    __slots__ = ()


class Primitive(namedtuple("Primitive", "op name arity forward vjp doc defaults inline batched",
                           defaults=((), None, None))):
    """One operation of the table; see the module docstring for each field.

    ``op``, ``name`` and ``doc`` are str, ``arity`` an int, ``forward`` and
    ``vjp`` functions, ``defaults`` a tuple, ``inline`` a str or None and
    ``batched`` a :class:`Batched` or None.
    (A plain namedtuple: ``typing`` would cost ``import autograd`` 2 ms.)
    """

    __slots__ = ()


# -- forwards on floats: the contract's errors, named -------------------------


def exp(a: float) -> float:
    """e ** a; ``OverflowError`` naming ``a`` above ~709.78."""
    try:
        return math.exp(a)
    except OverflowError:
        raise OverflowError(f"exp({a!r}) overflows a float (inputs above ~709.78 do)") from None


def log(a: float) -> float:
    """The natural logarithm; ``ValueError`` naming ``a`` when it is <= 0."""
    if a <= 0.0:  # (nan is not: it passes through, as everywhere)
        raise ValueError(f"log is defined only for positive numbers, got {a!r}")
    return math.log(a)


def reciprocal(a: float) -> float:
    """1 / a; ``ZeroDivisionError`` at 0 (a subnormal ``a`` gives ±inf, as float division)."""
    if a == 0.0:
        raise ZeroDivisionError(f"1/x is undefined at x = {a!r}")
    return 1.0 / a


def power(a: float, b: float) -> float:
    """``a ** b``, real-valued and exactly float ``**``'s result, or a clear error."""
    if a == 0.0 and b < 0.0:
        raise ZeroDivisionError(f"{a!r} ** {b!r} is undefined (division by zero)")
    if -math.inf < a < 0.0 and not (b.is_integer() or abs(b) == math.inf):
        raise ValueError(f"{a!r} ** {b!r} is not a real number (negative base, non-integer exponent)")
    try:
        return a**b  # type: ignore[no-any-return]  # float ** float is typed Any (complex); real here
    except OverflowError:
        raise OverflowError(f"{a!r} ** {b!r} overflows a float") from None


def sqrt(a: float) -> float:
    """The square root, exactly ``math.sqrt``'s; ``ValueError`` naming ``a`` when it is < 0."""
    if a < 0.0:  # (-0.0 is not: its root is -0.0, and nan passes through)
        raise ValueError(f"sqrt is defined only for numbers >= 0, got {a!r}")
    return math.sqrt(a)


def maximum(a: float, b: float) -> float:
    """The larger of ``a`` and ``b``; nan when either is nan."""
    if a >= b:
        return a
    if a < b:
        return b
    return math.nan  # unordered: one of them is nan, and nan propagates (as in PyTorch)


def relu(a: float) -> float:
    """max(a, 0), keeping -0.0 and nan as they are."""
    # nan and -0.0 pass through (neither is < 0.0), as in PyTorch.
    return 0.0 if a < 0.0 else a


def leaky_relu(a: float, alpha: float) -> float:
    """a for a > 0, alpha * a otherwise."""
    return a if a > 0.0 else alpha * a


def elu(a: float, alpha: float) -> float:
    """a for a > 0, alpha * (e^a - 1) otherwise."""
    # expm1: e^a - 1 without the cancellation near 0; never overflows (a <= 0).
    return a if a > 0.0 else alpha * math.expm1(a)


def sigmoid(a: float) -> float:
    """1 / (1 + e^-a), computed without overflow for any finite ``a``."""
    if a >= 0.0:
        return 1.0 / (1.0 + math.exp(-a))
    e = math.exp(a)
    return e / (1.0 + e)


def _periodic(function: Callable[[float], float], name: str) -> Callable[[float], float]:
    def forward(a: float) -> float:
        if a - a != 0.0 and a == a:  # ±inf: no value (nan passes through)
            raise ValueError(f"{name}({a!r}) is undefined")
        return function(a)

    forward.__name__ = name
    forward.__doc__ = f"{name}(a) in radians; ``ValueError`` at ±inf, where it has no value."
    return forward


sin = _periodic(math.sin, "sin")
cos = _periodic(math.cos, "cos")


# -- vector-Jacobian products, written against lib ------------------------------


def _is_zero(x: Comparable) -> bool:
    # ±0.0 (not nan), without ==: that is identity for a Value.
    return x >= 0.0 and x <= 0.0


def _power_vjp(lib: Lib, g: Numeric, out: Numeric, a: Numeric, b: Numeric) -> tuple[Numeric, Numeric]:
    # d/da = b a^(b-1), d/db = a^b log a, with PyTorch's values where the
    # formulas fail: a^0 is the constant 1 (no gradient to a, even at a = 0);
    # at a = 0 the slope of 0 < b < 1 is +inf, the limit (power_or_inf's pole,
    # whose own slope is -inf, so second derivatives are the limits too), and
    # the exponent gets 0 (b >= 0 there: a negative b raised in forward; a nan
    # b gets nan, as PyTorch's); a negative base (an integer b) has no real
    # log: nan.
    if _is_zero(b):
        da = 0.0
    else:
        da = g * (b * lib.power_or_inf(a, b - 1.0))
    if a > 0.0:
        db = g * (out * lib.log(a))
    elif _is_zero(a) and b >= 0.0:
        db = 0.0
    else:
        db = g * math.nan
    return (da, db)


def _sqrt_vjp(lib: Lib, g: Numeric, out: Numeric, a: Numeric) -> tuple[Numeric]:
    # 1 / (2 sqrt(a)), as PyTorch computes it (g / (out + out)); at 0 the slope
    # is +inf, the limit from the right (-0.0 is the zero it equals), and the
    # pole's own slope is -inf: a ** -0.5 through power_or_inf.
    if _is_zero(out):
        return (g * (0.5 * lib.power_or_inf(a, -0.5)),)
    return (g / (out + out),)


def _max_vjp(lib: Lib, g: Numeric, out: Numeric, a: Numeric, b: Numeric) -> tuple[Numeric, Numeric]:
    # The larger input takes the whole gradient; a tie splits it evenly, so
    # the halves add up to the gradient of max itself; with a nan (unordered)
    # both get it, as in PyTorch.
    if a > b:
        return (g, 0.0)
    if a < b:
        return (0.0, g)
    if a >= b:
        return (g * 0.5, g * 0.5)
    return (g, g)


def _elu_vjp(lib: Lib, g: Numeric, out: Numeric, a: Numeric, alpha: Numeric) -> tuple[Numeric, Numeric]:
    # alpha e^a (not out + alpha, which cancels below -20); d/d alpha = e^a - 1.
    # At exactly 0 the slope is alpha, a constant there (so the second
    # derivative is 0, as PyTorch's); nan takes the x > 0 branch, as in PyTorch.
    if a < 0.0:
        return (g * (alpha * lib.exp(a)), g * lib.expm1(a))
    if _is_zero(a):
        return (g * alpha, 0.0)
    return (g, 0.0)


# -- vectorised forms: the same operations on arrays, for the batched tape -------


def _numpy(name: str) -> Batched:
    """The row as NumPy's own function of that name (``np.exp``, ...)."""
    return Batched(lambda lib, a: getattr(lib.np, name)(a))


def _sigmoid_batched(lib: Lib, a: Numeric) -> Numeric:
    e = lib.np.exp(-lib.np.abs(a))  # e^-|a| <= 1: never overflows; the two branches of sigmoid()
    return lib.where(a >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))


def _power_vjp_batched(lib: Lib, g: Numeric, out: Numeric, a: Numeric, b: Numeric) -> tuple[Numeric, Numeric]:
    # _power_vjp's values as selections; a ** (b - 1)'s pole at a = 0 (b < 1) made +inf explicitly.
    where = lib.where
    da = where(b == 0.0, 0.0, where((b < 1.0) & (a == 0.0), g * math.inf,
                                    g * (b * lib.np.power(a, b - 1.0))))
    db = where(a > 0.0, g * (out * lib.np.log(a)), where((a == 0.0) & (b >= 0.0), 0.0, g * math.nan))
    return (da, db)


def _sqrt_vjp_batched(lib: Lib, g: Numeric, out: Numeric, a: Numeric) -> tuple[Numeric]:
    return (lib.where(out == 0.0, g * math.inf, g / (out + out)),)


def _max_vjp_batched(lib: Lib, g: Numeric, out: Numeric, a: Numeric, b: Numeric) -> tuple[Numeric, Numeric]:
    # _max_vjp's branches: the larger takes g, a tie splits it, unordered (nan) both get it.
    where = lib.where
    tie = where(a >= b, g * 0.5, g)
    return (where(a > b, g, where(a < b, 0.0, tie)), where(a > b, 0.0, where(a < b, g, tie)))


def _leaky_relu_vjp_batched(
    lib: Lib, g: Numeric, out: Numeric, a: Numeric, alpha: Numeric
) -> tuple[Numeric, Numeric]:
    return (lib.where(a > 0.0, g, g * alpha), lib.where(a > 0.0, 0.0, g * a))


def _elu_vjp_batched(lib: Lib, g: Numeric, out: Numeric, a: Numeric, alpha: Numeric) -> tuple[Numeric, Numeric]:
    negative = a <= 0.0
    return (lib.where(negative, g * (alpha * lib.np.exp(a)), g),
            lib.where(negative, g * lib.np.expm1(a), 0.0))


PRIMITIVES: dict[str, Primitive] = {
    row.op: row
    for row in [
        Primitive("+", "add", 2, operator.add, lambda lib, g, out, a, b: (g, g),
                  "a + b", inline="{0} + {1}", batched=Batched(lambda lib, a, b: a + b)),
        Primitive("*", "mul", 2, operator.mul, lambda lib, g, out, a, b: (g * b, g * a),
                  "a * b", inline="{0} * {1}", batched=Batched(lambda lib, a, b: a * b)),
        Primitive("exp", "exp", 1, exp, lambda lib, g, out, a: (g * out,),
                  "e ** self. Raises ``OverflowError`` naming the input above ~709.78.",
                  batched=_numpy("exp")),
        Primitive("log", "log", 1, log, lambda lib, g, out, a: (g / a,),
                  "Natural logarithm. Raises ``ValueError`` naming the value when it is <= 0.",
                  batched=_numpy("log")),
        Primitive("1/x", "reciprocal", 1, reciprocal,
                  lambda lib, g, out, a: (-(g / a) / a,),
                  "1 / self (op ``\"1/x\"``). Raises ``ZeroDivisionError`` at 0.",
                  batched=Batched(lambda lib, a: 1.0 / a)),
        Primitive("**", "power", 2, power, _power_vjp,
                  "self ** exponent: exactly float ``**``'s value; errors where it is not real.",
                  batched=Batched(lambda lib, a, b: lib.np.power(a, b), _power_vjp_batched)),
        Primitive("sqrt", "sqrt", 1, sqrt, _sqrt_vjp,
                  "The square root, exactly ``math.sqrt``'s. Raises ``ValueError`` below 0; slope +inf at 0.",
                  batched=Batched(lambda lib, a: lib.np.sqrt(a), _sqrt_vjp_batched)),
        Primitive("max", "max", 2, maximum, _max_vjp,
                  "The larger of the two; a tie splits the gradient 0.5 / 0.5.",
                  batched=Batched(lambda lib, a, b: lib.np.maximum(a, b), _max_vjp_batched)),
        Primitive("relu", "relu", 1, relu,
                  lambda lib, g, out, a: (lib.where(a <= 0.0, 0.0, g),),
                  "max(0, self), with gradient 0 at exactly 0 (and -0.0 stays -0.0).",
                  inline="0.0 if {0} < 0.0 else {0}",
                  batched=Batched(lambda lib, a: lib.where(a < 0.0, 0.0, a))),
        Primitive("leaky_relu", "leaky_relu", 2, leaky_relu,
                  lambda lib, g, out, a, alpha: (g, 0.0) if a > 0.0 else (g * alpha, g * a),
                  "x for x > 0, alpha * x otherwise (fused: one node). ``alpha`` may be a\n"
                  "``Value``: a learnable slope (PReLU), with gradient min(x, 0). The gradient\n"
                  "at exactly 0 is ``alpha``, as in PyTorch.",
                  defaults=(0.01,),
                  batched=Batched(lambda lib, a, alpha: lib.where(a > 0.0, a, alpha * a),
                                  _leaky_relu_vjp_batched)),
        Primitive("elu", "elu", 2, elu, _elu_vjp,
                  "x for x > 0, alpha * (e^x - 1) otherwise (fused: one node). Never\n"
                  "overflows; ``alpha`` may be a ``Value``. The gradient at exactly 0 is\n"
                  "``alpha``, as in PyTorch.",
                  defaults=(1.0,),
                  batched=Batched(lambda lib, a, alpha: lib.where(a > 0.0, a, alpha * lib.np.expm1(a)),
                                  _elu_vjp_batched)),
        Primitive("sin", "sin", 1, sin, lambda lib, g, out, a: (g * lib.cos(a),),
                  "Sine (radians). Raises ``ValueError`` at ±inf, where it has no value.",
                  batched=_numpy("sin")),
        Primitive("cos", "cos", 1, cos, lambda lib, g, out, a: (-(g * lib.sin(a)),),
                  "Cosine (radians). Raises ``ValueError`` at ±inf, where it has no value.",
                  batched=_numpy("cos")),
        Primitive("abs", "abs", 1, math.fabs,
                  # g times the sign of a (0 at 0 and for nan), a product as PyTorch's: a nan or
                  # infinite g still gives nan at 0
                  lambda lib, g, out, a: (g * lib.where(a > 0.0, 1.0, lib.where(a < 0.0, -1.0, 0.0)),),
                  "|self|, with gradient 0 at 0 (and for nan), as PyTorch's sign.",
                  batched=_numpy("abs")),
        Primitive("tanh", "tanh", 1, math.tanh, lambda lib, g, out, a: (g * (1.0 - out * out),),
                  "Hyperbolic tangent (fused: one node, local gradient 1 - tanh²).",
                  batched=_numpy("tanh")),
        Primitive("sigmoid", "sigmoid", 1, sigmoid,
                  lambda lib, g, out, a: (g * (out * (1.0 - out)),),
                  "1 / (1 + e^-x) (fused: one node, local gradient σ(1 - σ)), overflow-free.",
                  batched=Batched(_sigmoid_batched)),
    ]
}
"""Every primitive, by the ``op`` its nodes show."""


def where(condition: object, x: T, y: T) -> T:
    """``x`` if ``condition`` else ``y``: the one branch a rule may write as a function call."""
    return x if condition else y


def _power_or_inf(a: float, b: float) -> float:
    # A rule's a ** (b - 1) may overflow, or meet a pole (0 ** -0.5), where the
    # user's a ** b did not: the slope is then ±inf, the limit, as in PyTorch,
    # not an error (an odd power keeps the sign of its base, a zero's too).
    try:
        return power(a, b)
    except (OverflowError, ZeroDivisionError):
        odd = b.is_integer() and b % 2.0 == 1.0
        return math.copysign(math.inf, a) if odd else math.inf


class _Floats:
    """``lib`` for rules on plain floats: each primitive's forward, by name."""

    where = staticmethod(where)
    expm1 = staticmethod(math.expm1)
    power_or_inf = staticmethod(_power_or_inf)

    @staticmethod
    def value(x: float) -> float:
        return x

    @staticmethod
    def constant(x: float) -> bool:
        """Whether ``x`` has no derivative of its own: a float never has."""
        return True


FLOATS = _Floats()
"""The ``lib`` namespace on floats (see the module docstring)."""
for _row in PRIMITIVES.values():
    setattr(_Floats, _row.name, staticmethod(_row.forward))
