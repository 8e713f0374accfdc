"""One lowering: a computational graph turned into the one program that every way of running it follows.

``lower(root)`` walks the graph once and gives a :class:`Program`: the
interior nodes in the order backpropagation visits them (``steps``, root
first), and, when a tape asks for them, the same graph by position: every
node in forward order (``nodes``), each one's row of the table and operand
positions, and which leaves are the sample's inputs, which are constants
(numbers the engine turned into leaves, as the ``2`` of ``x * 2``) and which
are parameters (every other leaf).

Every backward pass runs this program: ``Value.backward``, ``grad`` (on
floats, and on ``Value`` s for ``create_graph``), ``backward_steps``, the
scalar tape and the batched tape. They differ only in the kind of number
they carry (floats, ``Value`` s, NumPy arrays, generated code); the order,
the rows and the two rules below are this module's, written once:

* **the zero rule** (:func:`received`): a zero gradient passes nothing on,
  so 0 × inf is 0 here, not nan (a relu that is off hides an infinite
  slope behind it, as it should). On ``Value`` s, a zero that has a
  derivative of its own (under ``create_graph``) still passes its finite
  contributions, whose derivatives are the second-order terms; the ones
  that are not finite count as 0. Through ``+`` a zero changes nothing
  either way, so the fast paths hand it on without a test (an interior
  gradient is never -0.0: it starts at 0.0 and only ever has numbers added);
* **the quotient** (:data:`QUOTIENT`): ``x / y`` is drawn as ``x * (1/y)``
  (the textbook's gates) but valued as float division, exactly rounded:
  ``49 * (1/49)`` is 0.9999999999999999 in floats, ``49 / 49`` is 1.0.
  Its gradients are the gates' own (the ``*`` and ``1/x`` rows), but where
  the ``1/x`` gate's share ``g·x`` overflows while ``g`` and ``x`` are
  finite (x = 1e200, y = 1e60, g = 1e120): then ``y`` receives PyTorch's
  gradient of a quotient, ``-(g·(q/y))``, directly, which is finite wherever
  the true one is, and the gate nothing (:func:`divided`).

The graph is walked with an explicit stack (``graph.topological_order``):
depth is limited by memory only.
"""

from __future__ import annotations

import math
import operator
from functools import cached_property

from .graph import clearing_order, topological_order
from .ops import PRIMITIVES, Batched, Primitive

TYPE_CHECKING = False  # typing's flag without importing typing (3 ms); checkers take it as True
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Protocol

    from .ops import Lib, Numeric

    class Node(Protocol):
        """A node as the lowering and the drivers of its program read it: ``autograd.engine.Value``
        (which this module does not import), ``_a`` and ``_b`` its operands or None."""

        data: float
        grad: float
        op: str

        @property
        def parents(self) -> tuple[Node, ...]: ...

        @property
        def _a(self) -> Node | None: ...

        @property
        def _b(self) -> Node | None: ...

    class Gate(Node, Protocol):
        """An interior node, as ``Program.steps`` holds them: its first operand is always there."""

        @property
        def _a(self) -> Node: ...

QUOTIENT = Primitive(
    "/", "divide", 2, operator.truediv, None,
    "x * (1/y), valued as the quotient x / y (a forward only: the gradients are the gates').",
    inline="{0} / {1}", batched=Batched(lambda lib, a, b: a / b),
)
"""How a product whose second operand is a ``1/x`` node is valued (see the module docstring)."""

CONSTANT = object()
"""Marks a leaf the engine made from a number (in its unused second operand slot)."""


def is_quotient(op: str, second_op: str) -> bool:
    """Whether a node of ``op`` whose second operand is made by ``second_op`` is valued as a quotient."""
    return op == "*" and second_op == "1/x"


def received(row: Primitive, lib: Lib, g: Numeric, out: Numeric,
             operands: Sequence[Numeric]) -> tuple[Numeric, ...] | None:
    """What each operand receives when gradient ``g`` arrives at a node of ``row``: the zero rule.

    The row's vector-Jacobian product, except that a zero ``g`` passes
    nothing on (``None``); under ``create_graph`` a zero ``Value`` that has
    a derivative of its own passes its finite contributions, and each one
    that is not finite counts as 0. ``lib`` is the number kind's namespace
    (:data:`autograd.ops.FLOATS` or the engine's ``VALUES``); ``out`` and
    ``operands`` are the node's value and its operands' in that kind.
    """
    if lib.value(g) == 0.0:
        if lib.constant(g):
            return None
        return tuple(c if math.isfinite(lib.value(c)) else 0.0 for c in row.vjp(lib, g, out, *operands))
    return row.vjp(lib, g, out, *operands)  # type: ignore[no-any-return]  # a plain namedtuple's field


def divided(lib: Lib, g: Numeric, x: Numeric, r: Numeric, q: Numeric,
            y: Numeric) -> tuple[Numeric, Numeric | None, Numeric | None]:
    """What a quotient ``q = x * r``, ``r = 1/y``, hands on from gradient ``g``: the quotient rule.

    ``(to x, to r, to y)``: the gates' own, ``(g·r, g·x, None)``, or where
    ``g·x`` overflows while ``g`` and ``x`` are finite, ``(g·r, None,
    -(g·(q/y)))``: ``y`` gets its share directly (see the module docstring).
    """
    to_r = g * x
    if math.isfinite(lib.value(to_r)) or not (math.isfinite(lib.value(g)) and math.isfinite(lib.value(x))):
        return g * r, to_r, None
    return g * r, None, -(g * (q / y))


def lower(root: Node, inputs: Iterable[Node] = (), keep: Iterable[Node] = (),
          clear_grads: bool = False) -> Program:
    """The program of the graph under ``root`` (see the module docstring).

    ``inputs`` are leaves that stand for one sample (the batched tape's);
    ``keep`` are nodes whose values a replay must write or keep (a tape's).
    Both are taken as given: a tape checks them. ``clear_grads`` (for
    ``Value.backward``, which holds the gradients' lock) sets every interior
    node's ``grad`` to 0.0 on the way.
    """
    # Interior nodes only (leaves=False), each with its first operand.
    steps = clearing_order(root) if clear_grads else topological_order(root, leaves=False)
    return Program(root, steps, inputs, keep)  # type: ignore[arg-type]


class Program:
    """A graph as one program: see the module docstring.

    ``steps`` (the interior nodes, root first, as backpropagation visits
    them) is made at once: it is all ``Value.backward`` needs. The rest is
    made when first asked for, by a tape:

    * ``nodes``: every node in forward order, each operand before its users
      (each leaf just before its first user), the root last; ``position``
      maps a node to its index there;
    * ``rows``: each node's row of the table (``None`` for a leaf), and
      ``forward_rows``: the same but :data:`QUOTIENT` where a product is valued
      as one; ``args`` the operand positions (a tuple per node, ``()`` for a
      leaf), and ``reads`` what the forward reads (a quotient ``x * (1/y)``
      reads ``x`` and ``y``);
    * ``writes``: what each node's backward adds to (``args``, and a quotient's ``y``);
    * ``leaves``, ``input_positions``, ``keep_positions``, ``constants``, ``parameters``: positions.
    """

    def __init__(self, root: Node, steps: list[Gate], inputs: Iterable[Node] = (),
                 keep: Iterable[Node] = ()) -> None:
        self.root = root
        self.steps = steps
        self.inputs = list(inputs)
        self.keep = list(keep)

    @cached_property
    def nodes(self) -> list[Node]:
        return self._layout[0]

    @cached_property
    def position(self) -> dict[Node, int]:
        return self._layout[1]

    @cached_property
    def args(self) -> list[tuple[int, ...]]:
        return self._layout[2]

    @cached_property
    def _layout(self) -> tuple[list[Node], dict[Node, int], list[tuple[int, ...]]]:
        """``nodes``, ``position`` and ``args`` in one pass over the steps, in forward order."""
        nodes: list[Node] = []
        position: dict[Node, int] = {}
        args: list[tuple[int, ...]] = []
        add, add_args = nodes.append, args.append
        for node in reversed(self.steps):
            a, b = node._a, node._b
            for operand in (a, b):  # a leaf just before its first user
                if operand is not None and operand._a is None and operand not in position:
                    position[operand] = len(nodes)
                    add(operand)
                    add_args(())
            position[node] = len(nodes)
            add(node)
            add_args((position[a],) if b is None else (position[a], position[b]))
        if not self.steps:  # a leaf root: the program of one leaf
            position[self.root] = 0
            add(self.root)
            add_args(())
        return nodes, position, args

    @cached_property
    def rows(self) -> list[Primitive | None]:
        return [PRIMITIVES[node.op] if node.op else None for node in self.nodes]

    @cached_property
    def quotients(self) -> list[bool]:
        """Whether each node is a product valued as a quotient."""
        return [node.op == "*" and is_quotient("*", node._b.op) for node in self.nodes]  # type: ignore[union-attr]

    @cached_property
    def forward_rows(self) -> list[Primitive | None]:
        return [QUOTIENT if q else row for row, q in zip(self.rows, self.quotients)]

    @cached_property
    def reads(self) -> list[tuple[int, ...]]:
        args = self.args
        return [(a[0], args[a[1]][0]) if q else a for a, q in zip(args, self.quotients)]

    @cached_property
    def writes(self) -> list[tuple[int, ...]]:
        """The positions each node's backward may add to: its operands, and a quotient's ``y`` too
        (where the 1/x gate's share overflows: :func:`divided`)."""
        return [a + r[1:] if q else a for a, r, q in zip(self.args, self.reads, self.quotients)]

    @cached_property
    def keep_positions(self) -> list[int]:
        return [self.position[x] for x in self.keep]

    @cached_property
    def leaves(self) -> list[int]:
        return [i for i, row in enumerate(self.rows) if row is None]

    @cached_property
    def input_positions(self) -> list[int | None]:
        """Each input's position, or ``None`` for one the graph does not use."""
        return [self.position.get(x) for x in self.inputs]

    @cached_property
    def constants(self) -> list[int]:
        nodes = self.nodes
        return [i for i in self.leaves if nodes[i]._b is CONSTANT]

    @cached_property
    def parameters(self) -> list[int]:
        exclude = set(self.constants).union(p for p in self.input_positions if p is not None)
        return [i for i in self.leaves if i not in exclude]
