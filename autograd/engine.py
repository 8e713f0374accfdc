"""``Value``, the scalar node of a computational graph, and backpropagation.

A ``Value`` holds a float, the operation that made it (``op``) and its
operands (``parents``, an ordered tuple). It holds no closure: the rule for
its gradients lives once, in :mod:`autograd.ops`, and is looked up by ``op``
at backward time. So a node never refers to itself, graphs contain no
reference cycles, and a graph is freed by reference counting the moment its
root is dropped.

Everything here is derived from the table: the methods of the operations
that are not operators (``exp``, ``relu``, ``max``, ...), the ``lib``
namespace on ``Value`` s that makes ``grad(..., create_graph=True)`` work,
and :data:`FUNCTIONS`, the functions the command line offers. Subtraction,
negation, division and ``sqrt`` are composites: expressions of the
primitives, so only primitives need derivatives and a drawn graph shows the
textbook gates.

Hand-written for speed, and nowhere else (``make bench``'s engine step,
65,000 nodes, spends about half its time building the graph and half in
``backward``):

* ``Value.__add__`` and ``__mul__`` build their node inline rather than
  through :func:`_node` (a call less per node: about 4% of the step);
* ``Value.backward`` applies the rows of ``+`` and ``*`` inline rather than
  calling their ``vjp`` (about 12% of the step: 6 ms of backward's 29 ms).

``tests/test_ops.py`` checks both against the rows, bit for bit.
"""

from __future__ import annotations

import math
import numbers
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager

from .graph import topological_order
from .ops import FLOATS, PRIMITIVES, Primitive, where

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


def is_number(x) -> bool:
    """Whether ``x`` is a real number: an int or float, or any ``numbers.Real`` (NumPy's
    numbers among them), but not a bool. The one check every entry point uses.

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
    # ``__weakref__`` lets tests (and users) watch a graph being freed.
    __slots__ = ("data", "grad", "label", "op", "_a", "_b", "__weakref__")

    data: float
    grad: float
    label: str
    op: str

    def __init__(self, data: Number, label: str = "") -> None:
        if not is_number(data):
            raise TypeError(f"Value() takes an int or a float, got {type(data).__name__}")
        if not isinstance(label, str):
            raise TypeError(f"Value() takes a str label, got {type(label).__name__}")
        self.data = float(data)
        self.grad = 0.0
        self.label = label
        self.op = ""
        self._a = None
        self._b = None

    @property
    def parents(self) -> tuple:
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
        other = _data(other)
        return NotImplemented if other is None else self.data < other

    def __le__(self, other: Value | Number) -> bool:
        other = _data(other)
        return NotImplemented if other is None else self.data <= other

    def __gt__(self, other: Value | Number) -> bool:
        other = _data(other)
        return NotImplemented if other is None else self.data > other

    def __ge__(self, other: Value | Number) -> bool:
        other = _data(other)
        return NotImplemented if other is None else self.data >= other

    __eq__ = object.__eq__
    __hash__ = object.__hash__

    # -- the operator rows -------------------------------------------------
    # Hand-written for speed (see the module docstring): ``+`` and ``*`` build
    # their node inline, both from _arithmetic below.
    # (__add__ and __mul__ are set below the class, by _arithmetic.)

    def __radd__(self, other: Number) -> Value:
        other = _operand(other)
        return NotImplemented if other is None else other + self

    def __rmul__(self, other: Number) -> Value:
        other = _operand(other)
        return NotImplemented if other is None else other * self

    def __pow__(self, exponent: Value | Number) -> Value:
        """``self ** exponent``, a constant or a ``Value``: float ``**``'s exact value."""
        exponent = _operand(exponent)
        return NotImplemented if exponent is None else _apply(_POWER, self, exponent)

    def __rpow__(self, base: Number) -> Value:
        base = _operand(base)
        return NotImplemented if base is None else _apply(_POWER, base, self)

    # -- composites --------------------------------------------------------
    def __neg__(self) -> Value:
        return self * -1.0

    def __sub__(self, other: Value | Number) -> Value:
        if type(other) is Value:
            return self + other * -1.0
        return self + -float(other) if is_number(other) else NotImplemented

    def __rsub__(self, other: Number) -> Value:
        other = _operand(other)
        return NotImplemented if other is None else other + self * -1.0

    def __truediv__(self, other: Value | Number) -> Value:
        other = _operand(other)
        return NotImplemented if other is None else _quotient(self, other)

    def __rtruediv__(self, other: Number) -> Value:
        other = _operand(other)
        if other is None:
            return NotImplemented
        return self.reciprocal() if other.data == 1.0 else _quotient(other, self)

    def sqrt(self) -> Value:
        """The square root, ``self ** 0.5`` (one ``**`` node); slope +inf at 0."""
        return self**0.5

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
        if not is_number(gradient):
            raise TypeError(f"backward() takes a number as gradient, got {type(gradient).__name__}")
        if self._a is None:  # a leaf: its own gradient, accumulated
            with gradients_lock:
                self.grad += float(gradient)
            return
        order = topological_order(self, leaves=False)
        with gradients_lock:
            for node in order:
                node.grad = 0.0
            self.grad = float(gradient)
            for node in order:
                g = node.grad
                op, a, b = node.op, node._a, node._b
                # Hand-written for speed (see the module docstring): the rows'
                # vjp of "+" is (g, g) and of "*" is (g * b, g * a). "+" passes
                # a zero on as it is; every other row is skipped at zero.
                if op == "+":
                    a.grad += g
                    b.grad += g
                elif g == 0.0:
                    continue
                elif op == "*":
                    a.grad += g * b.data
                    b.grad += g * a.data
                elif b is None:
                    (da,) = PRIMITIVES[op].vjp(FLOATS, g, node.data, a.data)
                    a.grad += da
                else:
                    da, db = PRIMITIVES[op].vjp(FLOATS, g, node.data, a.data, b.data)
                    a.grad += da
                    b.grad += db

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


_new = object.__new__


def _arithmetic(op: str):
    """``Value.__add__`` or ``Value.__mul__``: the node built inline, with no call per node.

    One body for both (a branch costs less than the call a shared helper
    would: about 30 ns a node, 4% of the demo step). The forwards are the
    rows' (``operator.add``, ``operator.mul``, which tests/test_ops.py checks);
    ``x * (1/y)`` is the quotient ``x / y`` (see :func:`_quotient`).
    """
    add = op == "+"

    def arithmetic(self, other):
        if type(other) is not Value:
            other = _operand(other)
            if other is None:
                return NotImplemented
        node = _new(Value)
        if add:
            node.data = self.data + other.data
        elif other.op == "1/x":
            node.data = self.data / other._a.data
        else:
            node.data = self.data * other.data
        node.grad = 0.0
        node.label = ""
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


Value.__add__ = _arithmetic("+")
Value.__mul__ = _arithmetic("*")


def _node(op: str, data: float, a: Value | None = None, b: Value | None = None) -> Value:
    """A new node: the one constructor of interior nodes and constants (but ``+``, ``*``)."""
    node = _new(Value)
    node.data, node.grad, node.label = data, 0.0, ""
    recording = a is not None and (_grad_enabled or _recording())
    node.op, node._a, node._b = (op, a, b) if recording else ("", None, None)
    return node


def _operand(x) -> Value | None:
    """``x`` as a Value: itself, a constant leaf for a number, else None."""
    if type(x) is Value:
        return x
    if is_number(x):
        return _node("", float(x))
    return None


def _data(x) -> float | None:
    """The float a comparison reads: a Value's data, a number, else None."""
    if type(x) is Value:
        return x.data
    return float(x) if is_number(x) else None


def _apply(row: Primitive, *operands) -> Value:
    """A new node ``row(*operands)``: its data from the row's forward."""
    values = []
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
        quotient.data = a.data / b.data
    return quotient


def _method(row: Primitive):
    """The ``Value`` method of a row that is not an operator: ``x.exp()``, ``x.max(y)``."""
    if row.arity == 1:
        def method(self):
            return _apply(row, self)
    elif row.defaults:
        (default,) = row.defaults

        def method(self, alpha=default):
            return _apply(row, self, alpha)
    else:
        def method(self, other):
            return _apply(row, self, other)
    method.__name__ = method.__qualname__ = row.name
    method.__doc__ = row.doc
    return method


for _row in PRIMITIVES.values():
    if _row.op not in OPERATORS:
        setattr(Value, _row.name, _method(_row))
Value.__abs__ = Value.abs  # abs(x), as for numbers and tensors


class _Values:
    """``lib`` for rules on Values: each row builds its node, so rules build graphs."""

    where = staticmethod(where)

    @staticmethod
    def expm1(a: Value) -> Value:
        return a.exp() - 1.0

    @staticmethod
    def power_or_inf(a: Value, b: Value) -> Value:
        try:
            return a**b
        except OverflowError:  # the slope is ±inf there, as on floats: a constant
            return _node("", FLOATS.power_or_inf(a.data, b.data))


VALUES = _Values()
"""The ``lib`` namespace on ``Value`` s (see :mod:`autograd.ops`)."""
for _row in PRIMITIVES.values():
    setattr(_Values, _row.name, staticmethod(lambda *operands, row=_row: _apply(row, *operands)))


COMPOSITES = ("sqrt",)
"""The methods built from primitives rather than declared as rows."""

FUNCTIONS = {name: getattr(Value, name) for name in
             [row.name for row in PRIMITIVES.values() if row.op not in OPERATORS] + list(COMPOSITES)}
"""The functions of one or two Values, by name: every method of the table, and the composites
(the command line's list)."""


def local_grads(node: Value) -> tuple[float, ...]:
    """The node's local gradients, one per parent: its row's vjp with an upstream gradient of 1."""
    return PRIMITIVES[node.op].vjp(FLOATS, 1.0, node.data, *[p.data for p in node.parents])


def contributions(node: Value, upstream: float) -> tuple[float, ...]:
    """What each parent of ``node`` receives when ``upstream`` arrives at it, as ``backward()`` adds it."""
    if upstream == 0.0 and node.op != "+":
        return (0.0,) * len(node.parents)
    return PRIMITIVES[node.op].vjp(FLOATS, upstream, node.data, *[p.data for p in node.parents])


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


def grad(output: Value, inputs: Sequence[Value], create_graph: bool = False) -> list:
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
    order = topological_order(output)
    if not create_graph:
        grads = _backpropagate(order, 1.0, FLOATS, lambda node: node.data)
        return [grads.get(x, 0.0) for x in inputs]
    with _recording_set_to(True):
        grads = _backpropagate(order, _node("", 1.0), VALUES, lambda node: node)
    return [_operand(grads.get(x, 0.0)) for x in inputs]


def _backpropagate(order: list, seed, lib, primal) -> dict:
    """Gradients of ``order[0]`` w.r.t. every node in ``order``, in a dict.

    The rows' vjp with ``lib``: on floats (``primal`` gives a node's data),
    or on Values (``primal`` gives the node itself) to build a graph. A zero
    gradient passes nothing on, as in ``Value.backward``; on Values, a zero
    that has a derivative of its own still passes on its finite
    contributions (their derivatives are the second-order terms), while one
    that is not finite (0 × inf) becomes a constant 0.
    """
    grads = {order[0]: seed}
    for node in order:
        if node._a is None or node not in grads:
            continue
        g = grads[node]
        zero = node.op != "+" and (g.data if type(g) is Value else g) == 0.0
        if zero and (type(g) is not Value or g._a is None):
            continue  # a zero with no derivative of its own: nothing to pass on
        parents = node.parents
        received = PRIMITIVES[node.op].vjp(lib, g, primal(node), *map(primal, parents))
        for parent, c in zip(parents, received):
            if zero and not math.isfinite(c.data if type(c) is Value else c):
                c = 0.0  # 0 × inf is 0 here too; a finite one keeps its derivative
            grads[parent] = grads[parent] + c if parent in grads else c
    return grads
