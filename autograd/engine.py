"""``Value``, the scalar node of a computational graph, and backpropagation.

A ``Value`` holds a float, the operation that made it (``op``) and its
operands (``parents``, an ordered tuple). It holds no closure: the rule for
its gradients lives once, in :mod:`autograd.ops`, and is looked up by ``op``
at backward time. So a node never refers to itself, graphs contain no
reference cycles, and a graph is freed by reference counting the moment its
root is dropped.

Everything here is derived from the table: the methods of the operations
that are not operators (``exp``, ``relu``, ``max``, ...) and the ``lib``
namespace on ``Value`` s that makes ``grad(..., create_graph=True)`` work.
Subtraction, negation and division are composites: expressions of the
primitives, so only primitives need derivatives and a drawn graph shows the
textbook gates.

Backward runs the lowered program (:mod:`autograd.lower`). Hand-written for
speed, and nowhere else (``make bench``'s engine step, 65,000 nodes, spends
about half its time building the graph and half in ``backward``):

* ``Value.__add__`` and ``__mul__`` (and their reflected forms) build their
  node inline rather than through :func:`_node` (a call less per node);
* ``Value.backward``'s walk (``graph.clearing_order``)
  resets each interior gradient to a 0.0 object of its own as it goes and
  uses it as its mark of a visited node, and its loop applies the rows of
  ``+`` and ``*`` inline rather than calling their ``vjp``; a ``+`` hands its
  gradient on as the same float where nothing else has arrived.

``tests/test_ops.py`` checks the inline rows against the table, bit for bit,
and the tapes' tests check every driver against ``backward()``.
"""

from __future__ import annotations

import math
import numbers
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager

from .lower import CONSTANT, QUOTIENT, divided, is_quotient, lower, received
from .ops import FLOATS, PRIMITIVES, Primitive, where

TYPE_CHECKING = False  # typing's flag without importing typing (3 ms); checkers take it as True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Literal, TypeGuard, overload

    from .lower import Gate, Node, Program
    from .ops import Lib, Numeric

Number = int | float

OPERATORS = ("+", "*", "**")
"""The rows written as Python operators rather than methods."""

_POWER = PRIMITIVES["**"]

# Whether operations record a graph is a per-thread setting, as in PyTorch
# (Jupyter runs widgets and callbacks on other threads). The hot paths read
# one module global, ``_grad_enabled``: True while every thread records. Only
# while some thread is inside ``no_grad()`` do they ask about their own.
_grad_enabled = True
_this_thread = threading.local()  # .recording: this thread's setting (default True)
_not_recording: set[int] = set()  # idents of the threads inside no_grad()
_switch_lock = threading.Lock()

gradients_lock = threading.Lock()
"""Held while gradients are written into ``.grad``: by ``backward()`` and the tapes.

Concurrent backward passes over graphs that share nodes then still give
exact gradients: each one runs whole, and leaves accumulate every one of them.
"""


def _recording() -> bool:
    return getattr(_this_thread, "recording", True)


def is_number(x: object) -> TypeGuard[float]:
    """Whether ``x`` is a real number: an int or float, or any ``numbers.Real`` (NumPy's
    numbers among them), but not a bool. The one check every entry point uses.
    (Type checkers then treat ``x`` as a float: what such a number stands for.)

    >>> is_number(2), is_number(0.5), is_number(True), is_number("1")
    (True, True, False, False)
    """
    t = type(x)
    return t is float or t is int or (isinstance(x, numbers.Real) and not isinstance(x, bool))


class Value:
    """A scalar in a computational graph.

    >>> x, y, z = Value(-2.0, "x"), Value(5.0, "y"), Value(-4.0, "z")
    >>> f = (x + y) * z
    >>> f.backward()
    >>> f.data, x.grad, y.grad, z.grad
    (-12.0, -4.0, -4.0, 3.0)

    ``<``, ``<=``, ``>``, ``>=`` compare ``data`` and give plain bools (for an
    ``if``); ``==`` is identity, so Values can key dicts and sets, as graph
    nodes must.
    """

    # Every primitive takes one or two operands, kept in two slots rather than
    # a tuple: a tuple per node would be a second object for the allocator and
    # the cycle collector to handle (48-64 bytes, and about a third of the
    # build time with gc on). ``parents`` builds the tuple when asked.
    # No ``__weakref__``: it would put a node in the next size class of the
    # allocator (96 bytes, not 80), and the collector's scans over a graph run
    # into memory, not arithmetic (about 10% fewer cache misses without it).
    # ``label`` is set on the leaves the user names and read rarely (drawings,
    # repr): a property over ``_label``, so that making a node skips it.
    __slots__ = ("data", "grad", "_label", "op", "_a", "_b")

    data: float
    grad: float
    op: str
    _a: Value | None
    _b: Value | None

    @property
    def label(self) -> str:
        """The node's name in pictures and steps (``""``: none)."""
        try:
            return self._label
        except AttributeError:  # a node made by an operation, never named
            return ""

    @label.setter
    def label(self, text: str) -> None:
        self._label = text

    # -- begin: declarations for type checkers, generated by tools/type_declarations.py; do not edit --
    # The table's methods (and + and *) are attached at run time, below the class; mypy,
    # pyright and editors read them here. This block never runs.
    TYPE_CHECKING = False  # typing's flag without importing typing (3 ms); checkers take it as True
    if TYPE_CHECKING:
        def __add__(self, other: Value | Number) -> Value:
            """self + other (a row of the table; built inline for speed)."""
            ...

        def __mul__(self, other: Value | Number) -> Value:
            """self * other (a row of the table; built inline for speed)."""
            ...

        def exp(self) -> Value:
            """e ** self. Raises ``OverflowError`` naming the input above ~709.78."""
            ...

        def log(self) -> Value:
            """Natural logarithm. Raises ``ValueError`` naming the value when it is <= 0."""
            ...

        def reciprocal(self) -> Value:
            """1 / self (op ``"1/x"``). Raises ``ZeroDivisionError`` at 0."""
            ...

        def sqrt(self) -> Value:
            """The square root, exactly ``math.sqrt``'s. Raises ``ValueError`` below 0; slope +inf at 0."""
            ...

        def max(self, other: Value | Number) -> Value:
            """The larger of the two; a tie splits the gradient 0.5 / 0.5."""
            ...

        def relu(self) -> Value:
            """max(0, self), with gradient 0 at exactly 0 (and -0.0 stays -0.0)."""
            ...

        def leaky_relu(self, alpha: Value | Number = 0.01) -> Value:
            """x for x > 0, alpha * x otherwise (fused: one node). ``alpha`` may be a
            ``Value``: a learnable slope (PReLU), with gradient min(x, 0). The gradient
            at exactly 0 is ``alpha``, as in PyTorch."""
            ...

        def elu(self, alpha: Value | Number = 1.0) -> Value:
            """x for x > 0, alpha * (e^x - 1) otherwise (fused: one node). Never
            overflows; ``alpha`` may be a ``Value``. The gradient at exactly 0 is
            ``alpha``, as in PyTorch."""
            ...

        def sin(self) -> Value:
            """Sine (radians). Raises ``ValueError`` at ±inf, where it has no value."""
            ...

        def cos(self) -> Value:
            """Cosine (radians). Raises ``ValueError`` at ±inf, where it has no value."""
            ...

        def abs(self) -> Value:
            """|self|, with gradient 0 at 0 (and for nan), as PyTorch's sign."""
            ...

        def tanh(self) -> Value:
            """Hyperbolic tangent (fused: one node, local gradient 1 - tanh²)."""
            ...

        def sigmoid(self) -> Value:
            """1 / (1 + e^-x) (fused: one node, local gradient σ(1 - σ)), overflow-free."""
            ...

        def __abs__(self) -> Value:
            """|self|, with gradient 0 at 0 (and for nan), as PyTorch's sign."""
            ...
    # -- end of the generated declarations --

    # -- begin: micrograd's names, answered (docs/from_micrograd.md) -----------------------------
    # Properties that raise, not a __getattr__: a class with __getattr__ loses CPython's specialised
    # attribute loads (every .data and ._a of backward, about 40% of a training step).
    if not TYPE_CHECKING:  # unseen by type checkers, so that they flag micrograd's names themselves
        def _micrograd(name, ours):
            def refuse(self):
                raise AttributeError(f"'Value' object has no attribute {name!r} (micrograd's name); "
                                     f"valuegrad's is {ours}")

            return property(refuse, doc=f"micrograd's {name}: valuegrad's is {ours}")

        _prev = _micrograd("_prev", "parents: v.parents, the operands as an ordered tuple "
                                    "(x * x has x twice; micrograd's _prev is a set)")
        _op = _micrograd("_op", 'op: v.op, the operation that made v ("" for a leaf)')
        _backward = _micrograd("_backward", "backward, on the root: f.backward() fills .grad all through "
                                            "the graph, and a node keeps no closure of its own; "
                                            "autograd.backward_steps(f) lists each node's step")
        del _micrograd

        def __new__(cls, *args, **kwargs):
            # Value(...) only (nodes are made by _new, which skips this; ~0.2 us a leaf): micrograd's
            # constructor with operands, Value(data, (a, b), '*'), gets an error that says what to write.
            if len(args) > 2 or (len(args) == 2 and isinstance(args[1], (tuple, list, set))) or (
                    "_children" in kwargs or "_op" in kwargs):
                raise TypeError("Value(data, label) takes no operands (micrograd's Value(data, (a, b), '*')): "
                                "valuegrad records them itself, so write the operation: a * b makes the node, "
                                "with .op '*' and .parents (a, b)")
            return _new(cls)
    del TYPE_CHECKING
    # -- end of micrograd's names ----------------------------------------------------------------

    def __init__(self, data: Number, label: str = "") -> None:
        if not is_number(data):
            raise TypeError(f"Value() takes an int or a float, got {type(data).__name__}")
        if not isinstance(label, str):
            raise TypeError(f"Value() takes a str label, got {type(label).__name__}")
        self.data = float(data)
        self.grad = 0.0
        self._label = label
        self.op = ""
        self._a = None
        self._b = None

    @property
    def parents(self) -> tuple[Value, ...]:
        """The operands in order, ``()`` for a leaf; ``x * x`` has ``x`` twice."""
        a = self._a
        if a is None:
            return ()
        b = self._b
        return (a,) if b is None else (a, b)

    def __repr__(self) -> str:
        label = f", label={self.label!r}" if self.label else ""
        return f"Value(data={self.data!r}, grad={self.grad!r}{label})"

    def __float__(self) -> float:
        return self.data

    # -- comparisons: on data, plain bools; == stays identity ------------------
    def __lt__(self, other: Value | Number) -> bool:
        data = _data(other)
        return NotImplemented if data is None else self.data < data

    def __le__(self, other: Value | Number) -> bool:
        data = _data(other)
        return NotImplemented if data is None else self.data <= data

    def __gt__(self, other: Value | Number) -> bool:
        data = _data(other)
        return NotImplemented if data is None else self.data > data

    def __ge__(self, other: Value | Number) -> bool:
        data = _data(other)
        return NotImplemented if data is None else self.data >= data

    __eq__ = object.__eq__
    __hash__ = object.__hash__

    # -- the operator rows -------------------------------------------------
    # Hand-written for speed (see the module docstring): ``+`` and ``*`` build
    # their node inline, both from _arithmetic below.
    # (__add__ and __mul__ are set below the class, by _arithmetic.)

    def __radd__(self, other: Number) -> Value:
        operand = _operand(other)
        return NotImplemented if operand is None else _add(operand, self)  # (no second dispatch)

    def __rmul__(self, other: Number) -> Value:
        operand = _operand(other)
        return NotImplemented if operand is None else _mul(operand, self)

    def __pow__(self, exponent: Value | Number) -> Value:
        """``self ** exponent``, a constant or a ``Value``: float ``**``'s exact value."""
        operand = _operand(exponent)
        return NotImplemented if operand is None else _apply(_POWER, self, operand)

    def __rpow__(self, base: Number) -> Value:
        operand = _operand(base)
        return NotImplemented if operand is None else _apply(_POWER, operand, self)

    # -- composites --------------------------------------------------------
    def __neg__(self) -> Value:
        return self * -1.0

    def __sub__(self, other: Value | Number) -> Value:
        if type(other) is Value or isinstance(other, Value):
            return self + other * -1.0
        return self + -float(other) if is_number(other) else NotImplemented

    def __rsub__(self, other: Number) -> Value:
        operand = _operand(other)
        return NotImplemented if operand is None else operand + self * -1.0

    def __truediv__(self, other: Value | Number) -> Value:
        operand = _operand(other)
        return NotImplemented if operand is None else _quotient(self, operand)

    def __rtruediv__(self, other: Number) -> Value:
        operand = _operand(other)
        if operand is None:
            return NotImplemented
        return self.reciprocal() if operand.data == 1.0 else _quotient(operand, self)

    # -- backpropagation ---------------------------------------------------
    def backward(self, gradient: Number = 1.0) -> None:
        """Fill ``.grad`` with d(self)/d(node) for every node reachable from self.

        ``gradient`` is the starting d(output)/d(self) (PyTorch's
        ``gradient``, minitorch's ``d_output``); the others are it times the
        chain of local gradients. Leaves accumulate (``+=``) across calls, as
        in PyTorch; every interior node holds the gradient of this call only.
        Gradients arriving by several paths are summed; a zero gradient
        passes nothing on, whatever the local gradient (0 × inf is 0 here;
        ``+`` passes its zero on as it is).
        Iterative: graph depth is not limited by Python's recursion limit.
        Thread-safe: concurrent calls on graphs that share nodes give the
        same gradients as the same calls one after another (they hold
        ``gradients_lock`` in turn); other writes to ``.grad``, such as
        ``zero_grad()``, are the caller's to order.
        """
        seed = backward_seed(gradient)
        with gradients_lock:
            # The walk sets the interior gradients to 0.0 as it goes: one pass over the graph less.
            _propagate(self, lower(self, clear_grads=True).steps, seed)


def backward_seed(gradient: object) -> float:
    """``gradient`` as the float backward starts from (-0.0 as 0.0: no interior gradient is -0.0,
    see ``+``), or a ``TypeError`` naming its type. ``Value.backward``'s and the tapes'."""
    if not is_number(gradient):
        raise TypeError(f"backward() takes a number as gradient, got {type(gradient).__name__}")
    return float(gradient) + 0.0


def run_backward(root: Node, steps: list[Gate], gradient: float) -> None:
    """``Value.backward`` on ``root``'s program (``lower(root).steps``), already made, from ``gradient``
    as :func:`backward_seed` gives it: floats into ``.grad``.

    Every interior node's gradient is set anew; leaves accumulate (a leaf
    ``root``, with no steps, too). The scalar tape's, for graphs too large to
    compile.
    """
    with gradients_lock:
        for node in steps:
            node.grad = 0.0
        _propagate(root, steps, gradient)


def _propagate(root: Node, steps: list[Gate], gradient: float) -> None:
    """``Value.backward``'s loop, with ``gradients_lock`` held and the interior gradients at 0.0."""
    if not steps:  # a leaf: its own gradient, accumulated
        root.grad += gradient
        return
    zero = root.grad  # the 0.0 the walk left in every interior gradient
    root.grad = gradient  # (never -0.0: backward_seed made it 0.0)
    for node in steps:
        g = node.grad
        op, a, b = node.op, node._a, node._b
        # lower.received (the rows' vjp under the zero rule), applied on floats;
        # hand-written for speed (see the module docstring): the rows' vjp of
        # "+" is (g, g) and of "*" is (g * b, g * a), and "+" hands a zero on
        # without a test (it changes nothing: see autograd.lower).
        # (b is None only for a one-operand row: never for "+" or "*".)
        if op == "+":
            # An operand whose gradient is still the walk's 0.0 takes g itself: 0.0 + g is g,
            # g being no -0.0, and no new float is made (half of the ones backward made).
            if a.grad is zero:
                a.grad = g
            else:
                a.grad += g
            if b.grad is zero:  # type: ignore[union-attr]
                b.grad = g  # type: ignore[union-attr]
            else:
                b.grad += g  # type: ignore[union-attr]
        elif g == 0.0:
            continue
        elif op == "*":
            a.grad += g * b.data  # type: ignore[union-attr]
            c = g * a.data
            if c - c == 0.0:  # finite: the gate's own; else maybe a quotient's overflow (lower.divided)
                b.grad += c  # type: ignore[union-attr]
            else:
                _overflowing(node, g, c)
        elif b is None:
            (da,) = PRIMITIVES[op].vjp(FLOATS, g, node.data, a.data)
            a.grad += da
        else:
            da, db = PRIMITIVES[op].vjp(FLOATS, g, node.data, a.data, b.data)
            a.grad += da
            b.grad += db


def _overflowing(node: Gate, g: float, c: float) -> None:
    """The rest of ``run_backward``'s ``*`` rule when ``g * a`` is not finite: :func:`autograd.lower.divided`."""
    a, b = node._a, node._b
    assert b is not None  # (for type checkers) a product has two operands
    if b.op != "1/x":
        b.grad += c
        return
    y = b._a
    assert y is not None  # (for type checkers) and a 1/x gate one
    _, to_r, to_y = divided(FLOATS, g, a.data, b.data, node.data, y.data)
    if to_y is None:
        b.grad += to_r  # type: ignore[operator]  # to_y is None: to_r is the gate's share
    else:
        y.grad += to_y


_new = object.__new__


def _arithmetic(op: str) -> Callable[[Value, object], Value]:
    """``Value.__add__`` or ``Value.__mul__``: the node built inline, with no call per node.

    One body for both (a branch costs less than the call a shared helper
    would: about 30 ns a node, 4% of the demo step). The forwards are the
    rows' (``operator.add``, ``operator.mul``, which tests/test_ops.py checks);
    ``x * (1/y)`` is the quotient ``x / y`` (:data:`autograd.lower.QUOTIENT`).
    """
    add = op == "+"

    def arithmetic(self: Value, other: object) -> Value:
        if type(other) is not Value:
            other = _operand(other)
            if other is None:
                return NotImplemented  # type: ignore[no-any-return]  # as any operator may (typed Any)
        node = _new(Value)
        if add:
            node.data = self.data + other.data
        elif other.op == "1/x":  # lower.QUOTIENT: x * (1/y) is valued as x / y
            node.data = self.data / other._a.data  # type: ignore[union-attr]  # a 1/x gate has its operand
        else:
            node.data = self.data * other.data
        node.grad = 0.0
        if _grad_enabled or _recording():
            node.op = op
            node._a = self
            node._b = other
        else:
            node.op = ""
            node._a = node._b = None
        return node

    arithmetic.__name__ = arithmetic.__qualname__ = "__add__" if add else "__mul__"
    arithmetic.__doc__ = f"self {op} other (a row of the table; built inline for speed)."
    return arithmetic


# setattr, not an assignment, which type checkers would take for a clash with the declarations
# in the class body (ruff's B010 would have the assignment).
_add, _mul = _arithmetic("+"), _arithmetic("*")
setattr(Value, "__add__", _add)  # noqa: B010
setattr(Value, "__mul__", _mul)  # noqa: B010


def _node(op: str, data: float, a: Value | None = None, b: Value | None = None) -> Value:
    """A new node: the one constructor of interior nodes and constants (but ``+``, ``*``)."""
    node = _new(Value)
    node.data, node.grad = data, 0.0
    recording = a is not None and (_grad_enabled or _recording())
    node.op, node._a, node._b = (op, a, b) if recording else ("", None, None)
    return node


if TYPE_CHECKING:
    @overload
    def _operand(x: Value) -> Value: ...

    @overload
    def _operand(x: object) -> Value | None: ...


def _operand(x: object) -> Value | None:
    """``x`` as a Value: itself (a subclass too), a constant leaf for a number, else None."""
    if type(x) is Value or isinstance(x, Value):
        return x
    if is_number(x):
        return _constant(float(x))
    return None


def _constant(data: float) -> Value:
    """A leaf the engine makes from a number, marked as such for the lowering (``lower.CONSTANT``)."""
    node = _new(Value)
    node.data, node.grad, node.op, node._a, node._b = (
        data, 0.0, "", None, CONSTANT)  # type: ignore[assignment]  # the mark, in the slot a leaf leaves free
    return node


def _data(x: object) -> float | None:
    """The float a comparison reads: a Value's data, a number, else None."""
    if type(x) is Value or isinstance(x, Value):
        return x.data
    return float(x) if is_number(x) else None


def _apply(row: Primitive, *operands: object) -> Value:
    """A new node ``row(*operands)``: its data from the row's forward."""
    values: list[Value] = []
    for x in operands:
        v = _operand(x)
        if v is None:
            raise TypeError(f"{row.name}() takes a Value, int or float, got {type(x).__name__}")
        values.append(v)
    return _node(row.op, row.forward(*[v.data for v in values]), *values)


def _quotient(a: Value, b: Value) -> Value:
    """``a / b``, drawn as ``a * (1/b)``, valued as float division: exactly rounded.

    A product whose second operand is a ``1/x`` node is computed as the
    quotient everywhere (``Value.__mul__``, both tapes): ``49 * (1/49)`` is
    0.9999999999999999 in floats, ``49 / 49`` is 1.0. The gradients are the
    gates' own: ``g * (1/b)`` and ``g * a``, then the ``1/x`` rule.
    """
    quotient = a * b.reciprocal()
    if not quotient.op:  # under no_grad() the 1/x is a leaf: no gate to read
        quotient.data = QUOTIENT.forward(a.data, b.data)
    return quotient


def _method(row: Primitive) -> Callable[..., Value]:
    """The ``Value`` method of a row that is not an operator: ``x.exp()``, ``x.max(y)``."""
    # One of three signatures, by the row's arity (Value's class body declares each method's own);
    # self is a Value already, so a one-operand method makes its node straight away.
    op, forward = row.op, row.forward
    if row.arity == 1:
        def method(self: Value) -> Value:
            return _node(op, forward(self.data), self)
    elif row.defaults:
        (default,) = row.defaults

        def method(self: Value, alpha: Value | Number = default) -> Value:  # type: ignore[misc]
            return _apply(row, self, alpha)
    else:
        def method(self: Value, other: Value | Number) -> Value:  # type: ignore[misc]
            return _apply(row, self, other)
    method.__name__ = method.__qualname__ = row.name
    method.__doc__ = row.doc
    return method


for _row in PRIMITIVES.values():
    if _row.op not in OPERATORS:
        setattr(Value, _row.name, _method(_row))
setattr(Value, "__abs__", Value.abs)  # noqa: B010  # abs(x), as for numbers and tensors


class _Values:
    """``lib`` for rules on Values: each row builds its node, so rules build graphs."""

    where = staticmethod(where)

    @staticmethod
    def value(x: Value | float) -> float:
        return x.data if isinstance(x, Value) else x

    @staticmethod
    def constant(x: Value | float) -> bool:
        """Whether ``x`` has no derivative of its own: a number or a leaf."""
        return not isinstance(x, Value) or x._a is None

    @staticmethod
    def expm1(a: Value) -> Value:
        return a.exp() - 1.0

    @staticmethod
    def power_or_inf(a: Value, b: Value | Number) -> Value:
        # A ** node of a and b valued as on floats (±inf at a pole or on overflow), so that
        # its own slope is the limit's too (sqrt's second derivative at 0 is -inf).
        exponent = _operand(b)
        assert exponent is not None  # (for type checkers) b is a number or a Value
        return _node("**", FLOATS.power_or_inf(a.data, exponent.data), a, exponent)


VALUES = _Values()
"""The ``lib`` namespace on ``Value`` s (see :mod:`autograd.ops`)."""
for _row in PRIMITIVES.values():
    setattr(_Values, _row.name, staticmethod(lambda *operands, row=_row: _apply(row, *operands)))


def no_grad() -> AbstractContextManager[None]:
    """Within this block operations record no graph: every result is a leaf.

    Per thread, as in PyTorch: other threads go on recording.

    >>> with no_grad():
    ...     y = Value(2.0) * 3
    >>> y.op, y.parents
    ('', ())
    """
    return _recording_set_to(False)


@contextmanager
def _recording_set_to(flag: bool) -> Iterator[None]:
    previous = _recording()
    _set_recording(flag)
    try:
        yield
    finally:
        _set_recording(previous)


def _set_recording(flag: bool) -> None:
    global _grad_enabled
    _this_thread.recording = flag
    with _switch_lock:
        if flag:
            _not_recording.discard(threading.get_ident())
        else:
            _not_recording.add(threading.get_ident())
        _grad_enabled = not _not_recording


if TYPE_CHECKING:
    @overload
    def grad(output: Value, inputs: Sequence[Value], create_graph: Literal[False] = False) -> list[float]: ...

    @overload
    def grad(output: Value, inputs: Sequence[Value], create_graph: Literal[True]) -> list[Value]: ...

    @overload
    def grad(output: Value, inputs: Sequence[Value], create_graph: bool) -> list[float] | list[Value]: ...


def grad(output: Value, inputs: Sequence[Value], create_graph: bool = False) -> list[float] | list[Value]:
    """d(output)/d(input) for each of ``inputs``, leaving every ``.grad`` alone.

    Returns floats; with ``create_graph=True`` returns ``Value``s whose own
    graphs can be differentiated again (second and higher derivatives come
    from the same rules, applied to Values). An input that ``output`` does
    not depend on gets 0.

    >>> x = Value(3.0)
    >>> (dy,) = grad(x ** 3, [x], create_graph=True)   # 3x² = 27
    >>> grad(dy, [x])                                   # 6x = 18
    [18.0]
    """
    if not isinstance(output, Value):
        raise TypeError(f"grad() takes a Value output, got {type(output).__name__}")
    inputs = list(inputs)
    for i, x in enumerate(inputs):
        if not isinstance(x, Value):
            raise TypeError(f"grad() inputs must be Values; input {i} is {type(x).__name__}")
    program = lower(output)
    if not create_graph:
        grads = backpropagate(program, 1.0, FLOATS)
        return [grads.get(x, 0.0) for x in inputs]
    with _recording_set_to(True):
        grads = backpropagate(program, _constant(1.0), VALUES)
    return [_operand(grads.get(x, 0.0)) for x in inputs]


def backpropagate(
    program: Program, seed: Numeric, lib: Lib,
    on_step: Callable[[Gate, Numeric, tuple[Numeric, ...] | None], None] | None = None,
) -> dict[Node, Numeric]:
    """The gradients of ``program.root`` with respect to every node it reaches, in a dict.

    The one driver for numbers one at a time: floats (``lib`` is
    ``ops.FLOATS``), or ``Value`` s (``VALUES``), which builds the
    gradients' own graphs for ``create_graph``. It visits ``program.steps``
    in order and hands on what :func:`autograd.lower.received` says (the
    rows' rules, the zero rule). ``on_step(node, upstream, received)`` is
    called at each step (``received`` is ``None`` where nothing is passed on).
    On floats each gradient starts at 0.0 and has contributions added, as
    ``Value.backward`` does, so the two agree bit for bit.
    """
    floats = lib is FLOATS
    primal = _data_of if floats else _itself
    zero = 0.0 if floats else _constant(0.0)
    grads = {program.root: seed}
    def add(parent: Node, c: Numeric) -> None:
        prior = grads.get(parent)
        grads[parent] = (0.0 + c if floats else c) if prior is None else prior + c

    for node in program.steps:
        g = grads.get(node, zero)
        parents = node.parents
        given = received(PRIMITIVES[node.op], lib, g, primal(node), [primal(p) for p in parents])
        # the quotient rule, where the 1/x gate's share overflows (lower.divided)
        if given is not None and is_quotient(node.op, parents[-1].op) and not math.isfinite(lib.value(given[1])):
            x, r = parents
            y: Node = r._a  # type: ignore[assignment]  # a 1/x gate has its operand
            _, _, to_y = divided(lib, g, primal(x), primal(r), primal(node), primal(y))
            if to_y is not None:
                given = (given[0], 0.0)
                add(y, to_y)
        if on_step is not None:
            on_step(node, g, given)
        if given is None:
            continue
        for parent, c in zip(parents, given):
            add(parent, c)
    return grads


def _data_of(node: Node) -> float:
    return node.data


def _itself(node: Node) -> Node:
    return node
