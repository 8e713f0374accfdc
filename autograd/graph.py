"""Topological order of a computational graph, without recursion: the one walk.

``backward()``, ``grad()``, the tape, ``backward_steps`` and the drawing all
visit nodes in the order this module gives, which matters: floating-point
sums depend on the order of their terms, and the tape is checked against
``backward()`` bit for bit.

A node here is anything that keeps its operands in two slots, ``_a`` and
``_b`` (``None`` where there is no operand), as ``Value`` does: a leaf has
``_a is None``, a unary operation ``_b is None``. Reading two slots is what
keeps the walk fast (a ``parents`` tuple or a getter call per node costs
about as much as the rest of the walk).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing's flag without importing typing (3 ms); checkers take it as True
if TYPE_CHECKING:
    from typing import Protocol, TypeVar

    class Node(Protocol):
        """What the walk reads of a node: its two operand slots, each a node of its kind or None."""

        @property
        def _a(self: N) -> N | None: ...

        @property
        def _b(self: N) -> N | None: ...

    N = TypeVar("N", bound=Node)

    class Graded(Node, Protocol):
        """A node whose gradient the walk of a backward pass resets: a ``Value``."""

        grad: float

    G = TypeVar("G", bound=Graded)


def topological_order(root: N, *, leaves: bool = True) -> list[N]:
    """Every node reachable from ``root``, each one before all of its operands.

    ``root`` comes first, so the list is the order in which backpropagation
    visits nodes; reverse it to evaluate the graph forward. A node reached
    by several paths (or twice as an operand, as ``x`` in ``x * x``)
    appears once. ``leaves=False`` leaves the leaves out (backpropagation
    only writes to them): a leaf ``root`` then gives ``[]``.

    Depth-first post-order with an explicit stack (so depth is limited by
    memory only), reversed; the first operand is explored first. A node is
    marked when it is expanded, not when it is pushed, so in a DAG reached by
    several paths every node still comes after all of its operands. The
    marks live in a set local to the call: any number of threads may walk
    one graph at once.
    """
    if root._a is None:
        return [root] if leaves else []
    postorder: list[N] = []
    expanded: set[N] = set()
    stack: list[N | None] = [root]
    push, pop, emit, mark = stack.append, stack.pop, postorder.append, expanded.add
    while stack:
        node = pop()
        if node is None:  # the marker below a node whose operands are all emitted
            emit(pop())  # type: ignore[arg-type]  # below a marker: always its node
            continue
        if node in expanded:
            continue
        mark(node)
        a = node._a
        if a is None:  # a leaf
            emit(node)
            continue
        # Its operands still to visit, first operand on top; none left: emit it now
        # (in a DAG an expanded node is an emitted one), without the marker's round trip.
        b = node._b
        # (Leaf or not first: a plain read, where the set lookup costs a hash.)
        if b is not None and (leaves or b._a is not None) and b not in expanded:
            push(node)
            push(None)
            push(b)
            if (leaves or a._a is not None) and a not in expanded:
                push(a)
        elif (leaves or a._a is not None) and a not in expanded:
            push(node)
            push(None)
            push(a)
        else:
            emit(node)
    postorder.reverse()
    return postorder


def clearing_order(root: G) -> list[G]:
    """``topological_order(root, leaves=False)`` for ``Value.backward`` (under its lock), which
    also sets every gradient it reaches to 0.0, while the node is in the cache anyway, instead of
    in a pass of its own: so a new 0.0 object of its own marks the nodes it has expanded
    (``node.grad is zero``), and no set of them is kept (its table was a tenth of the cache misses
    of a training step)."""
    if root._a is None:
        return []
    zero = float("0")  # a new object, not the constant 0.0: no other node's grad is it
    postorder: list[G] = []
    stack: list[G | None] = [root]
    push, pop, emit = stack.append, stack.pop, postorder.append
    while stack:
        node = pop()
        if node is None:
            emit(pop())  # type: ignore[arg-type]  # below a marker: always its node
            continue
        if node.grad is zero:
            continue
        node.grad = zero
        a = node._a
        b = node._b
        if b is not None and b._a is not None and b.grad is not zero:
            push(node)
            push(None)
            push(b)
            if a._a is not None and a.grad is not zero:  # type: ignore[union-attr]  # (interior: a is set)
                push(a)
        elif a._a is not None and a.grad is not zero:  # type: ignore[union-attr]
            push(node)
            push(None)
            push(a)
        else:
            emit(node)
    postorder.reverse()
    return postorder
