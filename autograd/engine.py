"""``Value``, the scalar node of a computational graph, and backpropagation.

A ``Value`` holds a float, the operation that made it (``op``) and its
operands (``parents``, an ordered tuple). It holds no closure: the rule for
its local gradients lives once, in :mod:`autograd.ops`, and is looked up by
``op`` at backward time. So a node never refers to itself, graphs contain no
reference cycles, and a graph is freed by reference counting the moment its
root is dropped.

Subtraction, negation, division and the extra activations are composites:
expressions of the primitives, so only primitives need derivatives and a
drawn graph shows the textbook gates.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from operator import attrgetter

from .graph import topological_order
from .ops import FORWARD, LOCAL_GRADS

Number = int | float

_parents_of = attrgetter("parents")
# Whether operations record a graph is a per-thread setting, as in PyTorch
# (Jupyter runs widgets and callbacks on other threads). The hot paths read
# one module global, ``_grad_enabled``: True while every thread records. Only
# while some thread is inside ``no_grad()`` do they ask about their own.
_grad_enabled = True
_this_thread = threading.local()  # .recording: this thread's setting (default True)
_not_recording: set[int] = set()  # idents of the threads inside no_grad()
_switch_lock = threading.Lock()


def _recording() -> bool:
    return getattr(_this_thread, "recording", True)


def _is_number(x) -> bool:
    t = type(x)
    return t is float or t is int or (isinstance(x, (int, float)) and not isinstance(x, bool))


class Value:
    """A scalar in a computational graph.

    >>> x, y, z = Value(-2.0, "x"), Value(5.0, "y"), Value(-4.0, "z")
    >>> f = (x + y) * z
    >>> f.backward()
    >>> f.data, x.grad, y.grad, z.grad
    (-12.0, -4.0, -4.0, 3.0)
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
        if not _is_number(data):
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

    # -- primitives --------------------------------------------------------
    # ``+`` and ``*`` make most of every graph, so they build their node inline
    # (no helper calls). Their forward is the table's: ops.FORWARD["+"] is
    # operator.add and ["*"] operator.mul, which tests/test_ops.py checks.
    def __add__(self, other: Value | Number) -> Value:
        if type(other) is not Value:
            other = _operand(other)
            if other is None:
                return NotImplemented
        node = _new(Value)
        node.data = self.data + other.data
        node.grad = 0.0
        node.label = ""
        if _grad_enabled or _recording():
            node.op = "+"
            node._a = self
            node._b = other
        else:
            node.op = ""
            node._a = node._b = None
        return node

    def __mul__(self, other: Value | Number) -> Value:
        if type(other) is not Value:
            other = _operand(other)
            if other is None:
                return NotImplemented
        node = _new(Value)
        node.data = self.data * other.data
        node.grad = 0.0
        node.label = ""
        if _grad_enabled or _recording():
            node.op = "*"
            node._a = self
            node._b = other
        else:
            node.op = ""
            node._a = node._b = None
        return node

    def __radd__(self, other: Number) -> Value:
        other = _operand(other)
        if other is None:
            return NotImplemented
        return _apply2("+", other, self)

    def __rmul__(self, other: Number) -> Value:
        other = _operand(other)
        if other is None:
            return NotImplemented
        return _apply2("*", other, self)

    def exp(self) -> Value:
        """e ** self. Raises ``OverflowError`` naming the input above ~709.78."""
        return _apply1("exp", self)

    def log(self) -> Value:
        """Natural logarithm. Raises ``ValueError`` naming the value when it is <= 0."""
        return _apply1("log", self)

    def reciprocal(self) -> Value:
        """1 / self (op ``"1/x"``). Raises ``ZeroDivisionError`` at 0."""
        return _apply1("1/x", self)

    def max(self, other: Value | Number) -> Value:
        """The larger of the two; a tie splits the gradient 0.5 / 0.5."""
        operand = _operand(other)
        if operand is None:
            raise TypeError(f"max() takes a Value, int or float, got {type(other).__name__}")
        return _apply2("max", self, operand)

    def relu(self) -> Value:
        """max(0, self), with gradient 0 at exactly 0."""
        return _apply1("relu", self)

    def tanh(self) -> Value:
        """Hyperbolic tangent (fused: one node, local gradient 1 - tanh²)."""
        return _apply1("tanh", self)

    def sigmoid(self) -> Value:
        """1 / (1 + e^-x) (fused: one node, local gradient σ(1 - σ)), overflow-free."""
        return _apply1("sigmoid", self)

    def __pow__(self, exponent: Value | Number) -> Value:
        if isinstance(exponent, Value):
            # A variable exponent: self ** e = exp(e * log(self)), for self > 0.
            if not self.data > 0.0:
                raise ValueError(
                    f"a Value exponent needs a positive base, got base {self.data!r}"
                )
            return (exponent * self.log()).exp()
        if not _is_number(exponent):
            return NotImplemented
        return _apply2("**", self, _constant(exponent))

    def __rpow__(self, base: Number) -> Value:
        if not _is_number(base):
            return NotImplemented
        if not base > 0:
            raise ValueError(f"a Value exponent needs a positive base, got base {base!r}")
        return (self * math.log(base)).exp()

    # -- composites --------------------------------------------------------
    def __neg__(self) -> Value:
        return self * -1.0

    def __sub__(self, other: Value | Number) -> Value:
        if isinstance(other, Value):
            return self + other * -1.0
        if not _is_number(other):
            return NotImplemented
        return self + -float(other)

    def __rsub__(self, other: Number) -> Value:
        if not _is_number(other):
            return NotImplemented
        return other + self * -1.0

    def __truediv__(self, other: Value | Number) -> Value:
        if isinstance(other, Value):
            return self * other.reciprocal()
        if not _is_number(other):
            return NotImplemented
        if other == 0:
            raise ZeroDivisionError(f"division of a Value by {other!r}")
        return self * (1.0 / other)

    def __rtruediv__(self, other: Number) -> Value:
        if not _is_number(other):
            return NotImplemented
        if other == 1:
            return self.reciprocal()
        return other * self.reciprocal()

    def leaky_relu(self, alpha: float | Value = 0.01) -> Value:
        """x for x > 0, alpha * x otherwise (fused: one node, op ``"leaky_relu"``).

        ``alpha`` may be a ``Value``: a learnable slope, as in PReLU, whose
        gradient is min(x, 0). The gradient at exactly 0 is ``alpha``, as in
        PyTorch.
        """
        return _apply2("leaky_relu", self, _slope(alpha, "leaky_relu"))

    def elu(self, alpha: float | Value = 1.0) -> Value:
        """x for x > 0, alpha * (e^x - 1) otherwise (fused: one node, op ``"elu"``).

        Never overflows; ``alpha`` may be a ``Value``. The gradient at exactly
        0 is ``alpha`` (1 for the usual alpha = 1: smooth), as in PyTorch.
        """
        return _apply2("elu", self, _slope(alpha, "elu"))

    # -- backpropagation ---------------------------------------------------
    def backward(self) -> None:
        """Fill ``.grad`` with d(self)/d(node) for every node reachable from self.

        Leaves accumulate (``+=``) across calls, as in PyTorch; every interior
        node holds the gradient of this call only. Gradients arriving by
        several paths are summed. Iterative: graph depth is not limited by
        Python's recursion limit.
        """
        if self._a is None:
            self.grad += 1.0
            return
        order = _interior_order(self)
        self.grad = 1.0
        local_grads = LOCAL_GRADS
        for node in order:
            upstream = node.grad
            op, a, b = node.op, node._a, node._b
            # The hot paths are the table's rules with the arithmetic spelled
            # out, as the rows' inline templates say: "+" has local gradients
            # (1.0, 1.0), and 1.0 * upstream is upstream exactly; "*" has
            # (b, a). tests/test_ops.py checks the rules, the templates and
            # this loop against each other, bit for bit.
            if op == "+":
                a.grad += upstream
                b.grad += upstream
            elif op == "*":
                a.grad += b.data * upstream
                b.grad += a.data * upstream
            elif b is None:
                (da,) = local_grads[op](node.data, a.data)
                a.grad += da * upstream
            else:
                da, db = local_grads[op](node.data, a.data, b.data)
                a.grad += da * upstream
                b.grad += db * upstream


def _interior_order(root: Value) -> list:
    """The interior nodes under ``root`` in backpropagation order, grads set to 0.0.

    The walk of :func:`autograd.graph.topological_order` (depth-first
    post-order, reversed), inlined on the two parent slots and skipping
    leaves, which backpropagation only writes to; the order of the interior
    nodes is the same. Every interior gradient ends at 0.0, which is what
    makes interior nodes hold the latest call's gradient only.

    The walk needs no set of visited nodes and no stack marker: it marks a
    node in its ``grad``, with one of two float objects made for this call,
    both equal to 0.0 and told apart by identity: ``expanded`` while the
    node's parents are being walked, then ``emitted``. An older gradient is
    never one of these objects, since both are created here.
    """
    expanded = float(0)
    emitted = float(0)
    postorder = []
    stack = [root]
    push, pop, emit = stack.append, stack.pop, postorder.append
    while stack:
        node = pop()
        state = node.grad
        if state is expanded:  # its parents are all emitted
            node.grad = emitted
            emit(node)
            continue
        if state is emitted:  # reached again by another path
            continue
        node.grad = expanded
        push(node)
        b = node._b
        if b is not None and b._a is not None:
            state = b.grad
            if state is not expanded and state is not emitted:
                push(b)
        a = node._a
        if a._a is not None:
            state = a.grad
            if state is not expanded and state is not emitted:
                push(a)
    postorder.reverse()
    return postorder


_new = object.__new__


def _constant(x: Number) -> Value:
    """A leaf holding the number ``x`` (a constant operand such as the 2 in ``v * 2``)."""
    node = _new(Value)
    node.data = float(x)
    node.grad = 0.0
    node.label = ""
    node.op = ""
    node._a = node._b = None
    return node


def _operand(x) -> Value | None:
    """``x`` as a Value: itself, a constant leaf for a number, else None."""
    if isinstance(x, Value):
        return x
    if _is_number(x):
        return _constant(x)
    return None


def _slope(alpha, method: str) -> Value:
    operand = _operand(alpha)
    if operand is None:
        raise TypeError(f"{method}() takes a Value, int or float alpha, got {type(alpha).__name__}")
    return operand


def _apply1(op: str, a: Value) -> Value:
    """A new node ``op(a)``, its data from the table's forward."""
    node = _new(Value)
    node.data = FORWARD[op](a.data)
    node.grad = 0.0
    node.label = ""
    if _grad_enabled or _recording():
        node.op = op
        node._a = a
    else:
        node.op = ""
        node._a = None
    node._b = None
    return node


def _apply2(op: str, a: Value, b: Value) -> Value:
    """A new node ``op(a, b)``, its data from the table's forward."""
    node = _new(Value)
    node.data = FORWARD[op](a.data, b.data)
    node.grad = 0.0
    node.label = ""
    if _grad_enabled or _recording():
        node.op = op
        node._a = a
        node._b = b
    else:
        node.op = ""
        node._a = node._b = None
    return node


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
    from the same local-gradient rules). An input that ``output`` does not
    depend on gets 0.

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
    order = topological_order(output, _parents_of)
    if create_graph:
        with _recording_set_to(True):
            grads = _backpropagate(order, output, _constant(1.0), lambda node: node)
        return [grads.get(x) if x in grads else _constant(0.0) for x in inputs]
    grads = _backpropagate(order, output, 1.0, attrgetter("data"))
    return [grads.get(x, 0.0) for x in inputs]


def _backpropagate(order: list, output: Value, seed, primal) -> dict:
    """Gradients of ``output`` w.r.t. every node in ``order``, in a dict.

    ``primal(node)`` is what a local-gradient rule is called with: the float
    data for first derivatives, the node itself to build a graph.
    """
    grads = {output: seed}
    for node in order:
        parents = node.parents
        if not parents or node not in grads:
            continue
        upstream = grads[node]
        local = LOCAL_GRADS[node.op](primal(node), *map(primal, parents))
        for parent, local_grad in zip(parents, local):
            contribution = local_grad * upstream
            if parent in grads:
                grads[parent] = grads[parent] + contribution
            else:
                grads[parent] = contribution
    return grads
