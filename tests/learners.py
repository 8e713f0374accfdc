"""Learners' own engines, as people write them after the lecture, for tests/test_audit.py.

``micrograd_style(bug)`` and ``microgpt_style(bug)`` each return a new ``Value`` class: the first
with ``_prev``, ``_op`` and ``_backward`` closures (micrograd and its lecture), the second with
``_children`` and ``_local_grads`` and one loop that adds up (microgpt). ``bug`` is ``None`` (a
correct engine) or one of the classic mistakes:

* ``"assign"``: ``=`` where ``+=`` belongs: a node used twice keeps one contribution;
* ``"order"``: no topological order: breadth first from the root, each node once, so a node
  passes its gradient on before all of it has arrived;
* ``"tanh"``: tanh's local gradient written ``1 - t`` instead of ``1 - t**2``;
* ``"power"``: the power rule written ``k * x**k`` instead of ``k * x**(k-1)``;
* ``"seed"``: the root's gradient never set to 1;
* ``"local"`` (microgpt style): a product stores its operands' own values as their local
  gradients, ``(self.data, other.data)``, instead of each other's.

Both take their topological order from one iterative walk (a careful learner's), so that
graphs of 10^5 nodes work. ``Twin`` builds one expression with a learner's class and with
valuegrad's ``Value`` in lockstep: valuegrad's copy gives the truth, node for node.
"""

from __future__ import annotations

import math
from collections import deque

from autograd import Value as Ours

BUGS = ("assign", "order", "tanh", "power", "seed")
MICROGPT_BUGS = (*BUGS, "local")


def topological(root, children) -> list:
    """Every node under ``root``, each after all of its operands; iterative, so any depth."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
        elif node not in seen:
            seen.add(node)
            stack.append((node, True))
            stack.extend((c, False) for c in children(node) if c not in seen)
    return order


def micrograd_style(bug: str | None = None, prev=set):
    """A micrograd-style ``Value`` class (``prev``: ``set`` as in micrograd, or ``tuple``)."""

    def add_to(node, amount):
        node.grad = amount if bug == "assign" else node.grad + amount

    class Value:
        made = []  # every node, in the order made: two engines running one expression pair up

        def __init__(self, data, _children=(), _op="", label=""):
            Value.made.append(self)
            self.data = data
            self.grad = 0.0
            self._backward = lambda: None
            self._prev = prev(_children)
            self._op = _op
            self.label = label

        def __repr__(self):
            return f"Value(data={self.data}, grad={self.grad}, label={self.label!r})"

        def _unary(self, data, op, local):
            out = Value(data, (self,), op)

            def _backward():
                add_to(self, local * out.grad)

            out._backward = _backward
            return out

        def __add__(self, other):
            other = other if isinstance(other, Value) else Value(other)
            out = Value(self.data + other.data, (self, other), "+")

            def _backward():
                add_to(self, out.grad)
                add_to(other, out.grad)

            out._backward = _backward
            return out

        def __mul__(self, other):
            other = other if isinstance(other, Value) else Value(other)
            out = Value(self.data * other.data, (self, other), "*")

            def _backward():
                add_to(self, other.data * out.grad)
                add_to(other, self.data * out.grad)

            out._backward = _backward
            return out

        __radd__ = __add__
        __rmul__ = __mul__

        def __pow__(self, k):
            local = k * self.data**k if bug == "power" else k * self.data ** (k - 1)
            return self._unary(self.data**k, f"**{k}", local)

        def __neg__(self):
            return self * -1

        def __sub__(self, other):
            return self + (-other)

        def __truediv__(self, other):
            return self * other**-1

        def tanh(self):
            x = self.data
            t = (math.exp(2 * x) - 1) / (math.exp(2 * x) + 1)  # the lecture's tanh
            return self._unary(t, "tanh", 1 - t if bug == "tanh" else 1 - t**2)

        def exp(self):
            e = math.exp(self.data)
            return self._unary(e, "exp", e)

        def log(self):
            return self._unary(math.log(self.data), "log", 1 / self.data)

        def relu(self):
            return self._unary(0 if self.data < 0 else self.data, "ReLU", float(self.data > 0))

        def sigmoid(self):
            s = 1 / (1 + math.exp(-self.data))
            return self._unary(s, "sigmoid", s * (1 - s))

        def backward(self):
            if bug != "seed":
                self.grad = 1.0
            if bug == "order":
                for v in _breadth_first(self, lambda v: v._prev):
                    v._backward()
                return
            for v in reversed(topological(self, lambda v: v._prev)):
                v._backward()

    return Value


def microgpt_style(bug: str | None = None):
    """A microgpt-style ``Value`` class: no op names, local gradients stored at build time."""

    class Value:
        __slots__ = ("data", "grad", "_children", "_local_grads")
        made = []  # every node, in the order made: two engines running one expression pair up

        def __init__(self, data, children=(), local_grads=()):
            Value.made.append(self)
            self.data = data
            self.grad = 0
            self._children = children
            self._local_grads = local_grads

        def __add__(self, other):
            other = other if isinstance(other, Value) else Value(other)
            return Value(self.data + other.data, (self, other), (1, 1))

        def __mul__(self, other):
            other = other if isinstance(other, Value) else Value(other)
            local = (self.data, other.data) if bug == "local" else (other.data, self.data)
            return Value(self.data * other.data, (self, other), local)

        def __pow__(self, k):
            local = k * self.data**k if bug == "power" else k * self.data ** (k - 1)
            return Value(self.data**k, (self,), (local,))

        def log(self):
            return Value(math.log(self.data), (self,), (1 / self.data,))

        def exp(self):
            return Value(math.exp(self.data), (self,), (math.exp(self.data),))

        def relu(self):
            return Value(max(0, self.data), (self,), (float(self.data > 0),))

        def tanh(self):
            t = math.tanh(self.data)
            return Value(t, (self,), (1 - t if bug == "tanh" else 1 - t**2,))

        def sigmoid(self):
            s = 1 / (1 + math.exp(-self.data))
            return Value(s, (self,), (s * (1 - s),))

        def __neg__(self):
            return self * -1

        def __radd__(self, other):
            return self + other

        def __sub__(self, other):
            return self + (-other)

        def __rmul__(self, other):
            return self * other

        def __truediv__(self, other):
            return self * other**-1

        def backward(self):
            if bug != "seed":
                self.grad = 1
            if bug == "order":
                order = _breadth_first(self, lambda v: v._children)
            else:
                order = reversed(topological(self, lambda v: v._children))
            for v in order:
                for child, local in zip(v._children, v._local_grads):
                    if bug == "assign":
                        child.grad = local * v.grad
                    else:
                        child.grad += local * v.grad

    return Value


def _breadth_first(root, children):
    """Nodes from the root outward, each once: the order of the "no topological order" bug."""
    queue, seen = deque([root]), {id(root)}
    while queue:
        v = queue.popleft()
        yield v
        for c in children(v):
            if id(c) not in seen:
                seen.add(id(c))
                queue.append(c)


class Twin:
    """One value built in lockstep with a learner's class (``theirs``) and valuegrad's (``ours``).

    Every node the expression makes on their side is paired with ours in ``pairs``; after
    ``ours.backward()``, ``ours.grad`` is the true d(root)/d(node) of its twin. Expressions
    use only operations that both sides make as one node (no ``-`` or ``/``, constants as
    leaves), so that every node of theirs has a twin.
    """

    def __init__(self, theirs, ours, pairs):
        self.theirs, self.ours, self.pairs = theirs, ours, pairs
        pairs.append((theirs, ours))

    @classmethod
    def leaves(cls, their_class, *data, labels=""):
        """Leaves of both kinds; ``labels`` (one character a leaf) go to classes that take them."""
        pairs = []
        labelled = "label" in their_class.__init__.__code__.co_varnames
        return [cls(their_class(x, label=labels[i]) if labelled and labels else their_class(x),
                    Ours(x, labels[i] if labels else ""), pairs) for i, x in enumerate(data)]

    def named(self, label):
        """This value with ``label`` on both sides (where their class has labels)."""
        self.ours.label = label
        if hasattr(self.theirs, "__dict__"):
            self.theirs.label = label
        return self

    def _apply(self, name, *args):
        theirs = getattr(self.theirs, name)(*[a.theirs if isinstance(a, Twin) else a for a in args])
        ours = getattr(self.ours, name)(*[a.ours if isinstance(a, Twin) else a for a in args])
        return Twin(theirs, ours, self.pairs)

    def __add__(self, other):
        return self._apply("__add__", other)

    def __mul__(self, other):
        return self._apply("__mul__", other)

    def __pow__(self, k):
        return self._apply("__pow__", k)

    def tanh(self):
        return self._apply("tanh")

    def exp(self):
        return self._apply("exp")

    def log(self):
        return self._apply("log")

    def relu(self):
        return self._apply("relu")

    def sigmoid(self):
        return self._apply("sigmoid")
