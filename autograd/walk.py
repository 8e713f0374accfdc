"""The backward pass as data, one step per gate, and the text that reads it out.

``backward_steps(root)`` replays what ``root.backward()`` does without
touching any ``.grad``: for each interior node, in the order ``backward()``
visits them, the upstream gradient that has arrived, the gate's local
gradients and what it hands to each parent (local × upstream). Printed, a
step reads as the lecture's arithmetic:

>>> from autograd import Value
>>> x, y, z = Value(-2.0, "x"), Value(5.0, "y"), Value(-4.0, "z")
>>> q = x + y; q.label = "q"
>>> f = q * z; f.label = "f"
>>> for step in backward_steps(f):
...     print(step)
f = q * z: upstream 1
  q.grad += 1 × -4 = -4
  z.grad += 1 × 3 = 3
q = x + y: upstream -4
  x.grad += -4 × 1 = -4
  y.grad += -4 × 1 = -4

A step printed on its own names a node without a label by its formula. The
player (:mod:`autograd.player`) and the step drawings (``draw_graph(root,
step=k)``) show a picture beside the text, so there such a node gets a short
name, ``t1``, ``t2``, ... (``short_names``), written in its box and in the
text alike.
"""

from __future__ import annotations

import math
from collections import namedtuple

from .engine import Value, backpropagate
from .lower import lower
from .ops import FLOATS, PRIMITIVES
from .text import FORMS, atomic, printable

__all__ = ["Step", "backward_steps", "describe", "gate", "local_grads", "progress", "short_names"]

_INFIX = frozenset({"+", "*", "**"})
_NAME_CHARS = 28  # a node without a label is named by its formula, up to this long


class Step(namedtuple("Step", "node upstream local_grads contributions")):
    """One gate of the backward pass.

    ``node`` is the interior ``Value`` being processed, ``upstream`` the
    gradient d(root)/d(node) that has arrived at it, ``local_grads`` the
    partial derivative of ``node`` with respect to each of its ``parents``
    (in order) and ``contributions`` what is added to each parent's gradient:
    ``local * upstream``, computed as ``backward()`` computes it (by the
    row's rule, so without overflow where the product is finite; and a zero
    upstream passes nothing on, but through ``+``). ``str(step)`` reads as the arithmetic:
    ``name = formula: upstream u`` and then one line ``parent.grad += u × local = c``
    per parent.
    """

    __slots__ = ()

    def __str__(self) -> str:
        return describe(self)


def backward_steps(root: Value) -> list[Step]:
    """The backward pass under ``root`` as a list of ``Step``, in ``backward()``'s order.

    One step per interior node, root first (the order of
    ``autograd.graph.topological_order``, which ``backward()`` follows), so
    each node's upstream gradient is complete when its step comes. Adding up
    the contributions each node receives, in this order, gives exactly (bit
    for bit, starting from 0) what ``root.backward()`` leaves in its
    ``.grad``. Nothing is changed: no ``.grad`` is read or written. A leaf
    ``root`` has no steps.
    """
    if not isinstance(root, Value):
        raise TypeError(f"backward_steps() takes a Value, got {type(root).__name__}")
    steps: list[Step] = []

    def record(node: Value, upstream: float, given: tuple[float, ...] | None) -> None:
        local = local_grads(node)
        steps.append(Step(node, upstream, local, (0.0,) * len(local) if given is None else given))

    # on_step is handed the program's gates, typed lower.Gate: in the graph of a Value, Values.
    backpropagate(lower(root), 1.0, FLOATS, on_step=record)  # type: ignore[arg-type]
    return steps


def local_grads(node: Value) -> tuple[float, ...]:
    """The partial derivative of ``node`` with respect to each of its parents: its row's rule
    with an upstream gradient of 1."""
    return PRIMITIVES[node.op].vjp(  # type: ignore[no-any-return]  # a plain namedtuple's field
        FLOATS, 1.0, node.data, *[p.data for p in node.parents])


def progress(root: Value, steps: list[Step], k: int) -> tuple[dict[Value, float], set[Value]]:
    """Where the backward pass stands after the first ``k`` of ``steps`` (those of ``root``).

    Returns the gradient arrived so far at every node that has received some
    (the root's 1 once the pass has begun), and the set of finished nodes:
    those whose gradient is complete and already passed on (interior nodes
    processed before step ``k``, leaves whose every user is processed).
    """
    arrived = {root: 1.0} if k else {}
    waiting_for: dict[Value, int] = {}  # node -> how many of its uses have yet to send it a gradient
    for step in steps:
        for parent in step.node.parents:
            waiting_for[parent] = waiting_for.get(parent, 0) + 1
    for step in steps[:k]:
        for parent, c in zip(step.node.parents, step.contributions):
            arrived[parent] = arrived.get(parent, 0.0) + c
            waiting_for[parent] -= 1
    done = {step.node for step in steps[: max(k - 1, 0)]}
    done.update(n for n, count in waiting_for.items() if count == 0 and not n.parents)
    return arrived, done


# -- text ----------------------------------------------------------------------

Names = dict[Value, str]  # a node -> the short name that a picture shows for it (see short_names)


def short_names(steps: list[Step]) -> Names:
    """Short names for the interior nodes of ``steps`` that have no label: ``t1``, ``t2``, ...

    Numbered in the order the forward pass computes them (the reverse of the
    steps'), skipping any name that a node of the graph already carries as its
    label, so that a name never means two nodes. A drawing that shows these
    names and a text that uses them (``describe(step, names)``) agree.

    >>> from autograd import Value
    >>> x = Value(2.0, "x")
    >>> steps = backward_steps((x * 3).exp())
    >>> sorted(short_names(steps).values())
    ['t1', 't2']
    """
    taken = {n.label for s in steps for n in (s.node, *s.node.parents)}
    names: Names = {}
    count = 0
    for step in reversed(steps):
        if step.node.label:
            continue
        count += 1
        while f"t{count}" in taken:
            count += 1
        names[step.node] = f"t{count}"
    return names


def describe(step: Step, names: Names | None = None) -> str:
    """The arithmetic of ``step``, as ``str(step)`` prints it; ``names`` as from ``short_names``."""
    node = step.node
    lines = [f"{gate(node, names)}: upstream {number(step.upstream)}"]
    for parent, local, c in zip(node.parents, step.local_grads, step.contributions):
        lines.append(f"  {_owner(parent, names)}.grad += {number(step.upstream)} × {number(local)} = {number(c)}")
    return "\n".join(lines)


def name(node: Value, names: Names | None = None) -> str:
    """How a step's text calls ``node``: its label or short name; else a constant's value; else its formula.

    A long formula is shortened with ``…`` for the parts too deep to spell out.
    """
    label = _label(node, names)
    if label:
        return printable(label)
    if not node.parents:
        return number(node.data)
    return _spelled(node, names)


def gate(node: Value, names: Names | None = None) -> str:
    """The gate that makes ``node``: ``f = q * z``, or the formula alone when that is all there is."""
    formula = _spelled(node, names)
    label = _label(node, names)
    if not label or label.replace(" ", "") == formula.replace(" ", ""):
        return formula
    return f"{printable(label)} = {formula}"


def _label(node: Value, names: Names | None) -> str:
    return node.label or (names.get(node, "") if names else "")


def _spelled(node: Value, names: Names | None) -> str:
    """The formula of an interior ``node``, as deep as it stays short."""
    for depth in (3, 2):
        text = _formula(node, depth, names)
        if len(text) <= _NAME_CHARS:
            return text
    return _formula(node, 1, names)


def _owner(node: Value, names: Names | None) -> str:
    # The name before ".grad", grouped unless it is one word or call: (-1).grad, (w0*x0).grad.
    text = name(node, names)
    if _label(node, names):
        return text if atomic(text) else f"({text})"
    return text if node.parents and node.op not in _INFIX else f"({text})"


def _formula(node: Value, depth: int, names: Names | None) -> str:
    """``node``'s op applied to its parents' names, spelled out ``depth`` levels deep."""
    form = FORMS.get(node.op)
    args = []
    for parent in node.parents:
        if _label(parent, names) or not parent.parents:
            arg = name(parent, names)
            grouped = bool(_label(parent, names)) and not atomic(arg)
        elif depth <= 1:
            arg, grouped = "…", False
        else:
            arg = _formula(parent, depth - 1, names)
            grouped = parent.op in _INFIX
        # An operand of an operator (a + b, 1/a) is grouped; a call's argument needs no parentheses.
        args.append(f"({arg})" if form and grouped else arg)
    return form.format(*args) if form else f"{node.op}({', '.join(args)})"


def number(x: float) -> str:
    """``x`` to at most four decimals, trailing zeros dropped: ``-4``, ``0.1966``, ``1e-07``."""
    if x == 0.0:
        return "0"  # -0.0 too
    if not math.isfinite(x) or abs(x) >= 1e9 or abs(x) < 1e-4:
        return f"{x:.4g}"
    return f"{x:.4f}".rstrip("0").rstrip(".")
