"""``Tape``: a graph flattened once, then replayed forward and backward.

Training a fixed model rebuilds the same graph every step only to change the
numbers in it. A tape walks the graph once and turns it into two straight-line
Python functions, one statement per node, over local variables:

* ``forward`` reads every leaf's current ``.data`` and recomputes each node,
  calling the same float functions as the engine (``ops.FORWARD``), so values
  and errors (``log`` of a non-positive number, ...) are the engine's;
* ``backward`` applies each node's local-gradient rule (``ops.LOCAL_GRADS``)
  in exactly the order ``Value.backward`` does, so every leaf's ``.grad``
  receives the same float additions, bit for bit.

Where the code comes from: the source is generated here, from the graph's
structure and the primitives table only. It contains nothing but generated
variable names (``v12``, ``g12``), names bound to our own table's functions
(``F3``, ``L3``, numbered by their row) and the literals ``0.0`` and ``1.0``.
No label, number or op name from the graph is ever pasted into it, and
nothing a user typed is evaluated.

A tape is valid while the graph's structure does not depend on the data: the
same nodes, the same operations on the same operands. ``max`` and ``relu``
still choose their branch on each replay (their rules look at the current
values); an ``if`` in the user's code that built the graph does not.
"""

from __future__ import annotations

from .engine import Value
from .graph import topological_order
from .ops import FORWARD, LOCAL_GRADS, PRIMITIVES

# Generated names for the table's functions: F<row>/L<row>, by position.
_ROW = {name: i for i, name in enumerate(PRIMITIVES)}


def _parents(node: Value) -> tuple:
    return node.parents


class Tape:
    """A graph flattened once, for replay with changed leaf values.

    >>> from autograd import Value
    >>> w = Value(2.0)
    >>> loss = (w * 3.0 + 1.0) ** 2
    >>> tape = Tape(loss)
    >>> w.data = 1.0
    >>> tape.forward()          # (1*3 + 1)**2
    16.0
    >>> tape.backward()         # 2 * 4 * 3
    >>> w.grad
    24.0

    ``forward()`` recomputes every node from the leaves' current ``.data``,
    writes each interior node's new ``.data`` (so predictions read from the
    graph and ``draw_graph`` see the replayed values) and returns the root's
    value, also kept as ``tape.value``. ``backward()`` adds into every leaf's
    ``.grad`` exactly what ``root.backward()`` would, and, like it, leaves
    each interior node holding the gradient of this call. It uses the values
    of the latest ``forward()`` (the graph's own values before the first).

    Building a tape compiles code one line per node: it pays off when a graph
    is replayed many times, not for one backward pass.
    """

    def __init__(self, root: Value) -> None:
        if not isinstance(root, Value):
            raise TypeError(f"Tape() takes a Value, got {type(root).__name__}")
        order = topological_order(root, _parents)  # root first, as backward visits
        for node in order:
            if node.op and node.op not in _ROW:
                raise ValueError(f"Tape cannot replay the operation {node.op!r}")
        forward_order = order[::-1]
        self.root = root
        self._leaves = tuple(node for node in forward_order if not node.op)
        self._interior = tuple(node for node in forward_order if node.op)
        source, needed = _generate(order)
        namespace: dict = {"__builtins__": {}}
        for name, row in _ROW.items():
            namespace[f"F{row}"] = FORWARD[name]
            namespace[f"L{row}"] = LOCAL_GRADS[name]
        # The code is generated above from the graph's structure and our table
        # only (see the module docstring), never from user text; it runs in a
        # namespace that holds nothing but the table's functions.
        exec(compile(source, "<autograd.tape>", "exec"), namespace)
        self._forward = namespace["forward"]
        self._backward = namespace["backward"]
        # Until the first forward(), backward() uses the values in the graph.
        self._values = tuple(forward_order[i].data for i in needed)
        self.value: float = root.data

    def forward(self) -> float:
        """Recompute every node from the leaves' ``.data``; return the root's value."""
        self.value, self._values = self._forward(self._leaves, self._interior)
        return self.value

    def backward(self) -> None:
        """Add d(root)/d(leaf) into every leaf's ``.grad``, exactly as ``root.backward()``."""
        self._backward(self._values, self._leaves, self._interior)

    def __repr__(self) -> str:
        return f"Tape({len(self._interior)} operations, {len(self._leaves)} leaves)"


def _unpack(names: list, source: str) -> str:
    """``(a, b, ...) = source``: one line, whatever the count."""
    return f"    ({', '.join(names)},) = {source}" if names else ""


def _generate(order: list) -> tuple[str, list]:
    """Source of ``forward`` and ``backward`` for the graph ``order`` (root first).

    Node ``i`` (its position in forward order) has value ``v<i>`` and gradient
    ``g<i>``. Returns the source and the positions of the values ``forward``
    hands on to ``backward``.
    """
    forward_order = order[::-1]
    index = {node: i for i, node in enumerate(forward_order)}
    leaves = [i for i, node in enumerate(forward_order) if not node.op]
    interior = [i for i, node in enumerate(forward_order) if node.op]
    root = len(forward_order) - 1

    # forward: read the leaves, one line per operation, write the interior.
    lines = ["def forward(leaves, interior):"]
    lines.append(_unpack([f"v{i}" for i in leaves], "[leaf.data for leaf in leaves]"))
    lines.append(_unpack([f"n{i}" for i in interior], "interior"))
    for i in interior:
        node = forward_order[i]
        args = [f"v{index[p]}" for p in node.parents]
        if node.op == "+" or node.op == "*":
            # ops.FORWARD["+"] is operator.add, ["*"] operator.mul: inlined.
            lines.append(f"    v{i} = {args[0]} {node.op} {args[1]}")
        else:
            lines.append(f"    v{i} = F{_ROW[node.op]}({', '.join(args)})")
        lines.append(f"    n{i}.data = v{i}")

    # backward: the same rule applications, in the order Value.backward uses.
    body = []
    needed: dict[int, None] = {}  # values backward reads, in first-use order
    started = set(leaves)  # leaves start from their current .grad
    if root in started:
        body.append(f"    g{root} += 1.0")
    else:
        body.append(f"    g{root} = 1.0")
        started.add(root)

    def add(i: int, contribution: str) -> None:
        if i in started:
            body.append(f"    g{i} += {contribution}")
        else:
            # Value.backward sets an interior gradient to 0.0 and then adds:
            # 0.0 + c is not always c (the sign of a zero), so the same here.
            body.append(f"    g{i} = 0.0 + {contribution}")
            started.add(i)

    for node in order:
        if not node.op:
            continue
        i = index[node]
        parents = [index[p] for p in node.parents]
        if node.op == "+":
            # local gradients (1.0, 1.0), and 1.0 * g is g exactly
            for p in parents:
                add(p, f"g{i}")
        elif node.op == "*":
            # local gradients (b, a)
            a, b = parents
            needed[a] = needed[b] = None
            add(a, f"v{b} * g{i}")
            add(b, f"v{a} * g{i}")
        else:
            needed[i] = None
            for p in parents:
                needed[p] = None
            locals_ = [f"d{k}" for k in range(len(parents))]
            call = f"L{_ROW[node.op]}({', '.join(f'v{j}' for j in [i, *parents])})"
            body.append(f"    ({', '.join(locals_)},) = {call}")
            for p, d in zip(parents, locals_):
                add(p, f"{d} * g{i}")

    lines.append(f"    return v{root}, ({''.join(f'v{j}, ' for j in needed)})")
    lines.append("")
    lines.append("def backward(values, leaves, interior):")
    lines.append(_unpack([f"v{j}" for j in needed], "values"))
    lines.append(_unpack([f"g{i}" for i in leaves], "[leaf.grad for leaf in leaves]"))
    lines.extend(body)
    lines.append(_unpack([f"n{i}" for i in interior], "interior"))
    lines.extend(f"    n{i}.grad = g{i}" for i in interior)
    lines.append(_unpack([f"l{i}" for i in leaves], "leaves"))
    lines.extend(f"    l{i}.grad = g{i}" for i in leaves)
    lines.append("")
    return "\n".join(line for line in lines if line), list(needed)
