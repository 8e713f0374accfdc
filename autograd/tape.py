"""``Tape``: a graph flattened once, then replayed forward and backward.

Training a fixed model rebuilds the same graph every step only to change the
numbers in it. A tape walks the graph once and turns it into two straight-line
Python functions, one statement per node, over local variables:

* ``forward`` reads every leaf's current ``.data``, recomputes each node with
  the table's own float function (``ops.FORWARD``) or, for ``+``, ``*`` and
  ``relu``, the row's inline template (checked equal to the function, bit for
  bit, by tests/test_ops.py), so values and errors (``log`` of a non-positive
  number, ...) are the engine's; and it writes each interior node's ``.data``;
* ``backward`` applies each node's local-gradient rule (``ops.LOCAL_GRADS``,
  or its inline template) in exactly the order ``Value.backward`` does, so
  every leaf's ``.grad`` receives the same float additions, bit for bit.

Where the code comes from: the source is generated here, from the graph's
structure and the primitives table only. It contains nothing but generated
variable names (``v12``, ``t3``, ``g12``), names bound to our own table's
functions (``F3``, ``L3``, numbered by their row), the table's inline
templates and the literals ``0.0`` and ``1.0``. No label, number or op name
from the graph is ever pasted into it, and nothing a user typed is evaluated.

A tape is valid while the graph's structure does not depend on the data: the
same nodes, the same operations on the same operands. ``max`` and ``relu``
still choose their branch on each replay (their rules look at the current
values); an ``if`` in the user's code that built the graph does not.
"""

from __future__ import annotations

from string import Formatter
from weakref import WeakValueDictionary

from .engine import Value, gradients_lock
from .graph import topological_order
from .ops import FLOATS, PRIMITIVES

# Generated names for the table's functions: F<row>/L<row>, by position.
_ROW = {op: i for i, op in enumerate(PRIMITIVES)}


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
    graph, and ``draw_graph``, see the replayed values) and returns the
    root's value, also kept as ``tape.value``.

    ``backward()`` adds into every leaf's ``.grad`` exactly what
    ``root.backward()`` would, using the values of the latest ``forward()``
    (before the first one, the values the graph was built with). Unlike
    ``root.backward()`` it does not store the interior nodes' gradients:
    writing 65,000 of them costs about four times the replay itself, and
    training reads the leaves only. Call ``root.backward()`` when you want to
    look at interior gradients.

    Building a tape generates and compiles one line of code per node (about
    2 s for a 65,000-node graph): it pays off for a graph replayed many
    times, as in training, not for one backward pass. Graphs of the same
    shape (equal-sized batches of one model) share one compile. Compiling
    also needs memory for a while, about 9 KB per node (some 560 MB for the
    65,000-node demo graph, 1 GB for 100,000 nodes): past a few hundred
    thousand nodes, use ``root.backward()`` instead. The tape keeps its
    graph alive; ``tape.root`` is the node it was built from.
    """

    def __init__(self, root: Value) -> None:
        if not isinstance(root, Value):
            raise TypeError(f"Tape() takes a Value, got {type(root).__name__}")
        order = topological_order(root)  # root first, as backward visits
        for node in order:
            if node.op and node.op not in _ROW:
                raise ValueError(f"Tape cannot replay the operation {node.op!r}")
        forward_order = order[::-1]
        self.root = root
        self._leaves = tuple(node for node in forward_order if not node.op)
        self._interior = tuple(node for node in forward_order if node.op)
        source, needed = _generate(order)
        namespace: dict = {"__builtins__": {}, "lib": FLOATS}
        for op, k in _ROW.items():
            namespace[f"F{k}"] = PRIMITIVES[op].forward
            namespace[f"L{k}"] = PRIMITIVES[op].vjp
        # The code is generated above from the graph's structure and our table
        # only (see the module docstring), never from user text; it runs in a
        # namespace that holds nothing but the table's functions.
        self._compiled = _compiled(source)
        exec(self._compiled.code, namespace)
        # Popped, not read: a namespace holding its own functions would be a
        # reference cycle, and the compiled code (megabytes for a big graph)
        # would wait for the cycle collector instead of dying with the tape.
        self._forward = namespace.pop("forward")
        self._backward = namespace.pop("backward")
        # Until the first forward(), backward() uses the values in the graph.
        self._values = tuple(forward_order[i].data for i in needed)
        self.value: float = root.data

    def forward(self) -> float:
        """Recompute every node from the leaves' ``.data``; return the root's value."""
        self.value, self._values = self._forward(self._leaves, self._interior)
        return self.value

    def backward(self) -> None:
        """Add d(root)/d(leaf) into every leaf's ``.grad``, exactly as ``root.backward()``."""
        with gradients_lock:
            self._backward(self._values, self._leaves, self._interior)

    def __repr__(self) -> str:
        return f"Tape({len(self._interior)} operations, {len(self._leaves)} leaves)"


class _Compiled:
    """Compiled tape code, shared by the live tapes of one graph shape."""

    __slots__ = ("code", "__weakref__")

    def __init__(self, source: str) -> None:
        self.code = compile(source, "<autograd.tape>", "exec")


# Graphs of the same shape (the equal-sized batches of one model) generate the
# same source, since no number from the graph is pasted into it: they share one
# compile, the costly part of building a tape. Weakly: the code dies with the
# last tape that uses it.
_live_code: WeakValueDictionary[str, _Compiled] = WeakValueDictionary()


def _compiled(source: str) -> _Compiled:
    compiled = _live_code.get(source)
    if compiled is None:
        compiled = _live_code[source] = _Compiled(source)
    return compiled


class _Untraceable(Exception):
    """A rule that calls a function of ``lib`` or branches in Python: the tape calls it instead."""


class _Source(str):
    """Python source of an expression: what a rule computes when run on names.

    Tracing a row's ``vjp`` with operands ``{0}``, ``{1}``, ``{out}`` and
    upstream ``{g}`` gives its contributions as templates, so the tape pastes
    the table's own arithmetic and never spells a rule a second time.
    """

    def __add__(self, other):
        return _Source(f"({self} + {other!s})")

    def __radd__(self, other):
        return _Source(f"({other!s} + {self})")

    def __sub__(self, other):
        return _Source(f"({self} - {other!s})")

    def __rsub__(self, other):
        return _Source(f"({other!s} - {self})")

    def __mul__(self, other):
        return _Source(f"({self} * {other!s})")

    def __rmul__(self, other):
        return _Source(f"({other!s} * {self})")

    def __truediv__(self, other):
        return _Source(f"({self} / {other!s})")

    def __rtruediv__(self, other):
        return _Source(f"({other!s} / {self})")

    def __neg__(self):
        return _Source(f"(-{self})")

    def __le__(self, other):
        return _Source(f"({self} <= {other!s})")

    def __lt__(self, other):
        return _Source(f"({self} < {other!s})")

    def __ge__(self, other):
        return _Source(f"({self} >= {other!s})")

    def __gt__(self, other):
        return _Source(f"({self} > {other!s})")

    def __bool__(self):
        raise _Untraceable


class _Tracing:
    """``lib`` while tracing: ``where`` becomes a conditional expression; anything else stops the trace."""

    @staticmethod
    def where(condition, x, y):
        return _Source(f"({x!s} if {condition!s} else {y!s})")

    def __getattr__(self, name):
        raise _Untraceable


def _traced(op: str) -> tuple[str, ...] | None:
    """The contributions of row ``op`` as templates over ``{g}``, ``{out}``, ``{0}``, ``{1}``,
    or None when the rule cannot be traced (the tape then calls it)."""
    row = PRIMITIVES[op]
    operands = [_Source(f"{{{k}}}") for k in range(row.arity)]
    try:
        return tuple(map(str, row.vjp(_Tracing(), _Source("{g}"), _Source("{out}"), *operands)))
    except (_Untraceable, TypeError):  # TypeError: it called something that wants a number
        return None


_TEMPLATES = {op: _traced(op) for op in PRIMITIVES}


def _fields(templates: tuple[str, ...]) -> set[str]:
    """The placeholders (``"0"``, ``"out"``, ...) that templates such as ``"({g} * {1})"`` use."""
    return {field for t in templates for _, field, _, _ in Formatter().parse(t) if field}


def _unpack(names: list, source: str) -> str:
    """``(a, b, ...) = source``: one line, whatever the count."""
    return f"    ({', '.join(names)},) = {source}" if names else ""


class _Registers:
    """Local variable names for short-lived values, reused once a value is dead.

    Keeping 65,000 intermediate floats alive makes a replay slower than the
    arithmetic (allocator and cache misses); reusing a few names lets CPython
    recycle the same float objects.
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.free: list[str] = []
        self.count = 0

    def take(self) -> str:
        if self.free:
            return self.free.pop()
        self.count += 1
        return f"{self.prefix}{self.count - 1}"

    def give(self, name: str) -> None:
        self.free.append(name)


def _generate(order: list) -> tuple[str, list]:
    """Source of ``forward`` and ``backward`` for the graph ``order`` (root first).

    Node ``i`` (its position in forward order) keeps its value in ``v<i>``
    when ``backward`` needs it (or it is the root or a leaf) and its gradient
    in ``g<i>`` when it is a leaf; everything else lives in reused registers
    ``t<k>`` / ``u<k>``. Returns the source and the positions of the values
    ``forward`` hands on to ``backward``. ``forward`` also writes each
    interior node's ``.data``; ``backward`` writes the leaves' ``.grad`` only.
    """
    forward_order = order[::-1]
    index = {node: i for i, node in enumerate(forward_order)}
    parents = [[index[p] for p in node.parents] for node in forward_order]
    ops = [node.op for node in forward_order]
    root = len(forward_order) - 1
    leaves = [i for i, op in enumerate(ops) if not op]
    interior = [i for i, op in enumerate(ops) if op]

    # What forward computes from: the operands, except that x * (1/y) is the
    # quotient x / y (as Value.__mul__ computes it), read from y itself.
    reads = {i: parents[i] for i in interior}
    for i in interior:
        if ops[i] == "*" and ops[parents[i][1]] == "1/x":
            reads[i] = [parents[i][0], parents[parents[i][1]][0]]

    # Which values backward reads: the output and operands its templates name,
    # and the output and operands of every rule that is called.
    needed: dict[int, None] = {}  # ordered: first use in backward
    for i in reversed(interior):
        templates = _TEMPLATES[ops[i]]
        if templates is None:
            needed.update(dict.fromkeys([i, *parents[i]]))
        else:
            fields = _fields(templates)
            named = [i] if "out" in fields else []
            named += [parents[i][int(f)] for f in sorted(fields) if f.isdigit()]
            needed.update(dict.fromkeys(named))
    slot = {i: k for k, i in enumerate(interior)}  # position in the interior tuple
    kept = set(needed) | set(leaves) | {root}

    # -- forward: read the leaves, one line per operation ----------------------
    last_use = {}
    for i in interior:
        for p in reads[i]:
            last_use[p] = i
    regs = _Registers("t")
    name = {i: f"v{i}" for i in leaves}
    lines = ["def forward(leaves, interior):"]
    lines.append(_unpack([name[i] for i in leaves], "[leaf.data for leaf in leaves]"))
    for i in interior:
        args = [name[p] for p in reads[i]]
        for p in dict.fromkeys(reads[i]):
            if last_use[p] == i and p not in kept:
                regs.give(name[p])
        name[i] = f"v{i}" if i in kept else regs.take()
        inline = PRIMITIVES[ops[i]].inline
        if reads[i] is not parents[i]:
            lines.append(f"    {name[i]} = {args[0]} / {args[1]}")
        elif inline is not None:
            lines.append(f"    {name[i]} = {inline.format(*args)}")
        else:
            lines.append(f"    {name[i]} = F{_ROW[ops[i]]}({', '.join(args)})")
        lines.append(f"    interior[{slot[i]}].data = {name[i]}")
    lines.append(f"    return v{root}, ({''.join(f'v{j}, ' for j in needed)})")

    # -- backward: the same rule applications, in Value.backward's order -------
    lines.append("")
    lines.append("def backward(values, leaves, interior):")
    lines.append(_unpack([f"v{j}" for j in needed], "values"))
    lines.append(_unpack([f"g{i}" for i in leaves], "[leaf.grad for leaf in leaves]"))
    regs = _Registers("u")
    grad = {i: f"g{i}" for i in leaves}  # leaves accumulate onto their .grad

    def add(p: int, contribution: str, body: list) -> None:
        if p not in grad:
            # Value.backward sets an interior gradient to 0.0, then adds:
            # 0.0 + c is not always c (c = -0.0 gives 0.0), so the same here.
            grad[p] = regs.take()
            lines.append(f"    {grad[p]} = 0.0")
        body.append(f"{grad[p]} += {contribution}")

    if root in leaves:
        lines.append(f"    g{root} += 1.0")
    else:
        grad[root] = regs.take()
        lines.append(f"    {grad[root]} = 1.0")
    for i in reversed(interior):
        g = grad.pop(i)
        a = parents[i]
        templates = _TEMPLATES[ops[i]]
        body: list[str] = []
        if ops[i] == "+" and templates == ("{g}", "{g}"):
            # "+" passes g on as it is, even a zero (as Value.backward does).
            # An interior gradient is never -0.0 (it starts as 0.0 + c), so
            # 0.0 + g is g: the first parent may take over g's register.
            own = True  # g's register is free for a parent once this node is done
            for p in a:
                if p in grad:
                    lines.append(f"    {grad[p]} += {g}")
                elif own:
                    grad[p], own = g, False
                else:
                    grad[p] = regs.take()
                    lines.append(f"    {grad[p]} = {g}")
            if own:
                regs.give(g)
            continue
        if templates is not None:
            fields = {"g": g, "out": f"v{i}"}
            for p, template in zip(a, templates):
                add(p, template.format(*[f"v{q}" for q in a], **fields), body)
        else:
            ds = [f"d{k}" for k in range(len(a))]
            args = ", ".join(f"v{j}" for j in [i, *a])
            body.append(f"({', '.join(ds)},) = L{_ROW[ops[i]]}(lib, {g}, {args})")
            for p, d in zip(a, ds):
                add(p, d, body)
        # Every row but "+" passes nothing on from a zero gradient (0 * inf is 0).
        lines.append(f"    if {g}:")
        lines.extend(f"        {line}" for line in body)
        regs.give(g)
    lines.extend(f"    leaves[{k}].grad = g{i}" for k, i in enumerate(leaves))
    lines.append("")
    return "\n".join(line for line in lines if line), list(needed)
