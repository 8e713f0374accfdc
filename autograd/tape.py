"""``Tape``: a graph flattened once, then replayed forward and backward.

Training a fixed model rebuilds the same graph every step only to change the
numbers in it. A tape walks the graph once and turns it into a program that
recomputes it from the leaves' current ``.data`` (``forward``) and adds into
the leaves' ``.grad`` exactly, bit for bit, what ``root.backward()`` would
(``backward``): the same float operations in the same order, the table's own
float functions (or its inline templates, checked equal to them bit for bit
by tests/test_ops.py), the same rules, the same zero rule.

Two representations, by size:

* up to :data:`COMPILE_LIMIT` operations, straight-line Python over local
  variables, compiled once: an expression per node, with the nodes that only
  feed one ``+`` or ``*`` and whose value backward does not need written
  inline (so a neuron's ``b + w0*x0 + w1*x1 + ...`` is one line, evaluated
  left to right as the engine does); in ``backward``, a ``+`` hands its
  gradient on without copying it, and the rules guarded by the same gradient
  share one ``if``. Building costs some 30 microseconds a node, mostly
  compiling (about 2 s for the 65,000-node demo graph); replaying, tens of
  nanoseconds;
* above it, a loop over op-code lists that does what ``Value.backward``
  does, node by node: it builds in about 4 microseconds a node (a million
  nodes in under 4 s, in about 400 MB) and replays a few times slower than
  compiled code, still faster than rebuilding the graph.

Where the compiled code comes from: the source is generated here, from the
graph's structure and the primitives table only. It contains nothing but
generated variable names (``v12``, ``t3``, ``g12``), names bound to our own
table's functions (``F3``, ``L3``, numbered by their row), the table's inline
templates, traced rules and the literals ``0.0`` and ``1.0``. No label,
number or op name from the graph is ever pasted into it, and nothing a user
typed is evaluated.

A tape is valid while the graph's structure does not depend on the data: the
same nodes, the same operations on the same operands. ``max`` and ``relu``
still choose their branch on each replay (their rules look at the current
values); an ``if`` in the user's code that built the graph does not.

``Tape(root, inputs=[...])`` is the batched tape (:mod:`autograd.batched`).
"""

from __future__ import annotations

from collections.abc import Sequence
from string import Formatter
from weakref import WeakValueDictionary

from .engine import Value, gradients_lock
from .graph import topological_order
from .ops import FLOATS, PRIMITIVES

COMPILE_LIMIT = 100_000
"""Graphs with more operations than this are replayed by the op-code loop, not compiled."""

_UNPACK = 1000  # names per unpacking statement: the compiler slows down on longer ones


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

    ``forward()`` recomputes every node from the leaves' current ``.data``
    and returns the root's value, also kept as ``tape.value`` and written
    into the root's ``.data``, and into the ``.data`` of each node named in
    ``keep`` (say, a model's predictions). The other nodes keep the values
    they were built with: writing 65,000 of them would cost more than the
    replay itself. ``backward()`` adds into every leaf's ``.grad`` exactly
    what ``root.backward()`` would on a graph rebuilt from the leaves'
    current data, using the values of the latest ``forward()`` (before the
    first one, the values the graph was built with); it does not store the
    interior nodes' gradients. After a replay the graph itself is stale (its
    interior nodes hold their first values), so ``root.backward()`` on it
    would mix old numbers with new: rebuild the graph to look at interior
    values and gradients.

    Building a tape costs some 30 microseconds a node (compiling; see the
    module docstring), about 2 s for the 65,000-node demo graph, and pays
    off for a graph replayed many times, as in training, not for one
    backward pass. Graphs of the same shape (equal-sized batches of one
    model) share one compile. The tape keeps its graph alive; ``tape.root``
    is the node it was built from.

    Given ``inputs``, ``Tape(root, inputs=[...])`` is the batched tape
    (:class:`BatchedTape`, API.md "Batched replay"): one
    sample's graph, replayed over a whole batch with NumPy.
    """

    def __new__(cls, root: Value, inputs: Sequence[Value] | None = None, **kwargs):
        return super().__new__(BatchedTape if inputs is not None and cls is Tape else cls)

    def __init__(self, root: Value, inputs: None = None, *, keep: Sequence[Value] = ()) -> None:
        order, keep = _checked(root, keep)  # root first, as backward visits
        self.root = root
        interior = sum(1 for node in order if node.op)
        self._program = (_Compiled if interior <= COMPILE_LIMIT else _OpCodes)(order, keep)
        self.value: float = root.data

    def forward(self) -> float:
        """Recompute every node from the leaves' ``.data``; return the root's value."""
        self.value = value = self._program.forward()
        return value

    def backward(self) -> None:
        """Add d(root)/d(leaf) into every leaf's ``.grad``, exactly as ``root.backward()``."""
        with gradients_lock:
            self._program.backward()

    def __repr__(self) -> str:
        p = self._program
        return f"Tape({p.operations} operations, {len(p.leaves)} leaves)"


class BatchedTape(Tape):
    """One sample's graph, replayed over a batch: what ``Tape(root, inputs=[...])`` makes.

    >>> from autograd import Tape, Value
    >>> x, w = Value(0.0), Value(3.0)
    >>> tape = Tape((x * w).relu(), inputs=[x])
    >>> tape.forward([[1.0], [-1.0], [2.0]]).tolist()
    [3.0, 0.0, 6.0]
    >>> tape.backward()         # the mean's gradient: (1 + 0 + 2) / 3
    >>> w.grad
    1.0

    ``forward(batch)`` takes a 2-D array-like of shape ``(N, len(inputs))``
    and returns the N root values (float64), also kept as ``tape.value``.
    ``backward(gradient=1.0)`` adds ``gradient`` times the gradient of their
    mean into every leaf that is not an input (inputs get none), under the
    same lock as ``Value.backward``. ``values(node)`` gives the latest
    forward's N values of the root, an input, a parameter or a node named in
    ``keep`` (others may live inside a fused sum, never stored). The leaves'
    current ``.data`` is read at each forward; nothing is written into any
    node's ``.data``. See the module docstring for how it works.
    """

    def __init__(self, root: Value, inputs: Sequence[Value], *, keep: Sequence[Value] = ()) -> None:
        _, keep = _checked(root, keep)
        from .batched import Replay  # NumPy, only now

        self.root = root
        self._replay = Replay(root, inputs, keep)
        self.inputs = self._replay.inputs
        self.value = None

    def forward(self, batch):
        """The root's value for each row of ``batch`` (shape ``(N, len(inputs))``), as a float64 array."""
        self.value = self._replay.forward(batch)
        return self.value

    def backward(self, gradient: float = 1.0) -> None:
        """Add d(mean of the root over the rows)/d(leaf) into every leaf that is not an input
        (times ``gradient``, as ``Value.backward(gradient)``)."""
        self._replay.backward(gradient)

    def values(self, node: Value):
        """The latest ``forward``'s value of ``node`` for each row: the root, an input, a leaf,
        or a node named in ``keep`` (others may live inside a fused sum, unstored)."""
        return self._replay.values(node)

    def __repr__(self) -> str:
        return repr(self._replay)


def _checked(root: Value, keep: Sequence[Value]) -> tuple[list, list]:
    """The graph under ``root`` (root first) and ``keep`` as a list, both checked."""
    if not isinstance(root, Value):
        raise TypeError(f"Tape() takes a Value, got {type(root).__name__}")
    order = topological_order(root)
    for node in order:
        if node.op and node.op not in PRIMITIVES:
            raise ValueError(f"Tape cannot replay the operation {node.op!r}")
    keep = list(keep)
    members = set(order) if keep else set()
    for k, node in enumerate(keep):
        if not isinstance(node, Value):
            raise TypeError(f"Tape() keep must hold Values; keep[{k}] is {type(node).__name__}")
        if node not in members:
            raise ValueError(f"Tape() keep[{k}] is not a node of the graph under root")
    return order, keep


class _Graph:
    """The graph in forward order, by position: what both representations start from."""

    def __init__(self, order: list, keep: list) -> None:
        nodes = order[::-1]  # every operand before its users
        index = {node: i for i, node in enumerate(nodes)}
        self.n = n = len(nodes)
        self.ops = ops = [node.op for node in nodes]
        self.parents = [[index[p] for p in node.parents] for node in nodes]
        self.leaf_positions = [i for i in range(n) if not ops[i]]
        self.interior = [i for i in range(n) if ops[i]]
        self.leaves = tuple(nodes[i] for i in self.leaf_positions)
        self.operations = len(self.interior)
        self.root = n - 1
        # Nodes whose .data forward writes: the root and those named in keep.
        shown = dict.fromkeys([n - 1, *(index[x] for x in keep if x in index)])
        self.shown = [i for i in shown if ops[i]]
        self.shown_nodes = tuple(nodes[i] for i in self.shown)
        # x * (1/y) is valued as the quotient x / y (as Value.__mul__ computes it), from y itself.
        self.quotient = {i for i in self.interior
                         if ops[i] == "*" and ops[self.parents[i][1]] == "1/x"}


class _Untraceable(Exception):
    """A rule that calls a function of ``lib`` or branches in Python: the tape calls it instead."""


class _Source(str):
    """Python source of an expression: what a rule computes when run on names.

    Tracing a row's ``vjp`` with operands ``{0}``, ``{1}``, ``{out}`` and
    upstream ``{g}`` gives its contributions as templates, so the tape pastes
    the table's own arithmetic and never spells a rule a second time.
    """

    def __neg__(self):
        return _Source(f"(-{self})")

    def __bool__(self):
        raise _Untraceable


def _infix(symbol: str, reflected: bool):
    """The method of ``_Source`` for a binary operator: ``(left symbol right)``, as source."""
    if reflected:
        return lambda self, other: _Source(f"({other!s} {symbol} {self})")
    return lambda self, other: _Source(f"({self} {symbol} {other!s})")


for _name, _symbol in {"add": "+", "sub": "-", "mul": "*", "truediv": "/"}.items():
    setattr(_Source, f"__{_name}__", _infix(_symbol, reflected=False))
    setattr(_Source, f"__r{_name}__", _infix(_symbol, reflected=True))
for _name, _symbol in {"lt": "<", "le": "<=", "gt": ">", "ge": ">="}.items():
    setattr(_Source, f"__{_name}__", _infix(_symbol, reflected=False))


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


# -- the compiled representation -------------------------------------------------------


class _Code:
    """Compiled tape code, shared by the live tapes of one graph shape."""

    __slots__ = ("code", "__weakref__")

    def __init__(self, source: str) -> None:
        self.code = compile(source, "<autograd.tape>", "exec")


# Graphs of the same shape (the equal-sized batches of one model) generate the
# same source, since no number from the graph is pasted into it: they share one
# compile, the costly part of building a tape. Weakly: the code dies with the
# last tape that uses it.
_live_code: WeakValueDictionary[str, _Code] = WeakValueDictionary()


def _code(source: str) -> _Code:
    code = _live_code.get(source)
    if code is None:
        code = _live_code[source] = _Code(source)
    return code


class _Compiled(_Graph):
    """Straight-line Python for the graph, compiled (see the module docstring)."""

    def __init__(self, order: list, keep: list) -> None:
        super().__init__(order, keep)
        source, needed = _generate(self)
        namespace: dict = {"__builtins__": {}, "lib": FLOATS}
        for k, row in enumerate(PRIMITIVES.values()):
            namespace[f"F{k}"] = row.forward
            namespace[f"L{k}"] = row.vjp
        # The code is generated from the graph's structure and our table only (see
        # the module docstring), never from user text; it runs in a namespace that
        # holds nothing but the table's functions.
        self.code = _code(source)
        exec(self.code.code, namespace)
        # Popped, not read: a namespace holding its own functions would be a
        # reference cycle, and the compiled code (megabytes for a big graph)
        # would wait for the cycle collector instead of dying with the tape.
        self._forward = namespace.pop("forward")
        self._backward = namespace.pop("backward")
        nodes = order[::-1]
        self.values = tuple(nodes[i].data for i in needed)  # until the first forward()

    def forward(self) -> float:
        value, self.values, shown = self._forward([leaf.data for leaf in self.leaves])
        for node, data in zip(self.shown_nodes, shown):
            node.data = data
        return value

    def backward(self) -> None:
        grads = self._backward(self.values, [leaf.grad for leaf in self.leaves])
        for leaf, g in zip(self.leaves, grads):
            leaf.grad = g


_TEMPLATES: dict = {}  # row -> its traced rule, traced when first met


def _template(op: str) -> tuple[str, ...] | None:
    """The traced rule of row ``op``."""
    row = PRIMITIVES[op]
    if row not in _TEMPLATES:
        _TEMPLATES[row] = _traced(op)
    return _TEMPLATES[row]


def _fields(templates: tuple[str, ...]) -> set[str]:
    """The placeholders (``"0"``, ``"out"``, ...) that templates such as ``"({g} * {1})"`` use."""
    return {field for t in templates for _, field, _, _ in Formatter().parse(t) if field}


def _unpack(names: list, source: str) -> list[str]:
    """``(a, b, ...,) = source[...]``, a thousand names a statement."""
    return [f"    ({', '.join(names[k:k + _UNPACK])},) = {source}[{k}:{k + _UNPACK}]"
            for k in range(0, len(names), _UNPACK)]


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


_MAX_NESTING = 40  # inline expressions at most this deep (the parser allows 200 parentheses)


def _generate(graph: _Graph) -> tuple[str, list]:
    """Source of ``forward(data)`` and ``backward(values, grads)`` for ``graph``.

    Node ``i`` (its position in forward order) keeps its value in ``v<i>``
    when backward needs it (or it is a leaf, the root or shown), and a leaf
    its gradient in ``g<i>``; other values live in reused registers ``t<k>``,
    other gradients in ``u<k>``. ``forward`` returns the root's value, the
    values backward needs and those of the shown nodes; ``backward`` the
    leaves' new gradients. Returns the source and the positions of the values
    ``forward`` hands on to ``backward``.
    """
    ops, parents, interior, root = graph.ops, graph.parents, graph.interior, graph.root
    rows = {op: k for k, op in enumerate(PRIMITIVES)}
    templates = {op: _template(op) for op in set(ops) if op}

    # Which values backward reads: the output and operands its templates name,
    # and the output and operands of every rule that is called.
    needed: dict[int, None] = {}  # ordered: first use in backward
    fields_of = {op: _fields(rule) for op, rule in templates.items() if rule is not None}
    for i in reversed(interior):
        rule = templates[ops[i]]
        if rule is None:
            needed.update(dict.fromkeys([i, *parents[i]]))
        else:
            fields = fields_of[ops[i]]
            named = [i] if "out" in fields else []
            named += [parents[i][int(f)] for f in sorted(fields) if f.isdigit()]
            needed.update(dict.fromkeys(named))
    kept = set(needed) | set(graph.leaf_positions) | {root} | set(graph.shown)

    # -- forward: one statement per node, or inline in its one user's expression ----
    reads = {i: parents[i] for i in interior}
    for i in graph.quotient:
        a, b = parents[i]
        reads[i] = [a, parents[b][0]]
    forms = {}
    for i in interior:
        inline = PRIMITIVES[ops[i]].inline
        if i in graph.quotient:
            forms[i] = "{0} / {1}"
        elif inline is not None:
            forms[i] = inline
        else:
            forms[i] = f"F{rows[ops[i]]}({', '.join(f'{{{k}}}' for k in range(len(reads[i])))})"
    readers = [0] * graph.n
    reader = [0] * graph.n
    for i in interior:
        for p in reads[i]:
            readers[p] += 1
            reader[p] = i
    inlined = [False] * graph.n
    nesting = [0] * graph.n
    for i in interior:
        nesting[i] = max((nesting[p] + 1 for p in reads[i] if inlined[p]), default=0)
        user = forms.get(reader[i], "")
        inlined[i] = (ops[i] in ("+", "*") and readers[i] == 1 and i not in kept
                      and nesting[i] < _MAX_NESTING
                      and all(user.count(f"{{{k}}}") == 1 for k in range(2)))  # its user reads it once
    host = {}  # the statement that evaluates each node
    for i in reversed(interior):
        host[i] = host[reader[i]] if inlined[i] else i
    last_read: dict[int, int] = {}  # the last statement that reads each named value
    for i in interior:
        for p in reads[i]:
            if not inlined[p]:
                last_read[p] = max(last_read.get(p, 0), host[i])

    name = {i: f"v{i}" for i in kept}
    expression: dict[int, str] = {}
    registers: dict[int, list[int]] = {}  # the named nodes an inline expression reads
    lines = ["def forward(data):"]
    lines += _unpack([name[i] for i in graph.leaf_positions], "data")
    regs = _Registers("t")
    for i in interior:
        args, read = [], []
        for p in reads[i]:
            if inlined[p]:
                args.append(f"({expression[p]})")
                read += registers[p]
            else:
                args.append(name[p])
                read.append(p)
        source = forms[i].format(*args)
        if inlined[i]:
            expression[i], registers[i] = source, read
            continue
        for p in dict.fromkeys(read):
            if last_read[p] == i and p not in kept:
                regs.give(name[p])  # read for the last time here: free before the assignment
        name[i] = f"v{i}" if i in kept else regs.take()
        lines.append(f"    {name[i]} = {source}")
    returned = "".join(f"v{i}, " for i in needed)
    shown = "".join(f"v{i}, " for i in graph.shown)
    lines.append(f"    return v{root}, ({returned}), ({shown})")

    # -- backward: the same rule applications, in Value.backward's order ----------
    lines.append("")
    lines.append("def backward(values, grads):")
    lines += _unpack([f"v{j}" for j in needed], "values")
    lines += _unpack([f"g{i}" for i in graph.leaf_positions], "grads")
    users = [0] * graph.n
    for i in interior:
        for p in parents[i]:
            users[p] += 1
    grad = {i: f"g{i}" for i in graph.leaf_positions}  # leaves accumulate onto their .grad
    holders: dict[str, int] = {}  # register -> how many nodes hold their gradient in it
    regs = _Registers("u")
    guard = [None]  # the gradient that guards the if-block the lines end with, if any

    def emit(line: str) -> None:
        lines.append(f"    {line}")
        guard[0] = None

    def fresh(p: int) -> str:
        grad[p] = r = regs.take()
        holders[r] = 1
        return r

    if ops[root]:
        emit(f"{fresh(root)} = 1.0")
    else:
        emit(f"g{root} += 1.0")
    for i in reversed(interior):
        g = grad.pop(i)
        a = parents[i]
        rule = templates[ops[i]]
        if ops[i] == "+" and rule == ("{g}", "{g}"):
            # "+" passes g on as it is, even a zero (as Value.backward does). A
            # parent that only this node uses has g itself as its gradient: it
            # shares the register. Otherwise the first parent may take g's
            # register over, if no one shares it (an interior gradient is never
            # -0.0, so 0.0 + g is g); the others get a copy.
            for p in a:
                if p not in grad and users[p] == 1:
                    grad[p] = g
                    holders[g] += 1
            for p in dict.fromkeys(a):
                if grad.get(p) == g and users[p] == 1:
                    continue
                if p in grad:
                    emit(f"{grad[p]} += {g}")
                elif holders[g] == 1:
                    grad[p] = g
                    holders[g] += 1
                else:
                    emit(f"{fresh(p)} = {g}")
                if a.count(p) == 2:  # x + x
                    emit(f"{grad[p]} += {g}")
        else:
            body: list[str] = []
            if rule is not None:
                values = {"g": g, "out": f"v{i}"}
                contributions = [t.format(*[f"v{q}" for q in a], **values) for t in rule]
            else:
                contributions = [f"d{k}" for k in range(len(a))]
                args = ", ".join(f"v{j}" for j in [i, *a])
                body.append(f"({', '.join(contributions)},) = L{rows[ops[i]]}(lib, {g}, {args})")
            for p, c in zip(a, contributions):
                if p in grad:
                    body.append(f"{grad[p]} += {c}")
                elif users[p] == 1 and rule is not None:
                    # Its whole gradient, in one line: Value.backward's 0.0, plus c
                    # unless g is zero (0.0 + c is not c when c is -0.0).
                    emit(f"{fresh(p)} = 0.0 + {c} if {g} else 0.0")
                else:
                    emit(f"{fresh(p)} = 0.0")
                    body.append(f"{grad[p]} += {c}")
            # Every row but "+" passes nothing on from a zero gradient (0 * inf is 0).
            if body:
                if guard[0] != g:
                    emit(f"if {g}:")
                    guard[0] = g
                lines.extend(f"        {line}" for line in body)
        holders[g] -= 1
        if holders[g] == 0:
            regs.give(g)
    lines.append(f"    return ({''.join(f'g{i}, ' for i in graph.leaf_positions)})")
    lines.append("")
    return "\n".join(line for line in lines if line), list(needed)


# -- the op-code representation, for large graphs -----------------------------------

_ADD, _MUL, _DIV, _UNARY, _BINARY = range(5)


class _OpCodes(_Graph):
    """The graph as lists of op codes and positions, replayed by a loop (see the module docstring).

    Values and gradients live in lists, leaves first, then the operations in
    forward order; ``backward`` is ``Value.backward`` over those lists.
    """

    def __init__(self, order: list, keep: list) -> None:
        super().__init__(order, keep)
        ops, parents = self.ops, self.parents
        position = [0] * self.n
        for k, i in enumerate(self.leaf_positions + self.interior):
            position[i] = k
        forward, backward = [], []
        for i in self.interior:
            row = PRIMITIVES[ops[i]]
            a, b = ([position[p] for p in parents[i]] + [0])[:2]
            if ops[i] == "+":
                forward.append((_ADD, None, a, b))
                backward.append((_ADD, None, position[i], a, b))
            elif ops[i] == "*":
                c = position[parents[parents[i][1]][0]] if i in self.quotient else b
                forward.append((_DIV if i in self.quotient else _MUL, None, a, c))
                backward.append((_MUL, None, position[i], a, b))
            else:
                kind = _UNARY if len(parents[i]) == 1 else _BINARY
                forward.append((kind, row.forward, a, b))
                backward.append((kind, row.vjp, position[i], a, b))
        backward.reverse()
        self.code, self.rules = forward, backward
        nodes = order[::-1]
        self.values = [nodes[i].data for i in self.leaf_positions + self.interior]
        self.root_position = position[self.root]
        self.shown_positions = [position[i] for i in self.shown]

    def forward(self) -> float:
        V = [leaf.data for leaf in self.leaves]
        append = V.append
        for kind, f, a, b in self.code:
            if kind == _ADD:
                append(V[a] + V[b])
            elif kind == _MUL:
                append(V[a] * V[b])
            elif kind == _DIV:
                append(V[a] / V[b])
            elif kind == _UNARY:
                append(f(V[a]))
            else:
                append(f(V[a], V[b]))
        self.values = V
        for node, k in zip(self.shown_nodes, self.shown_positions):
            node.data = V[k]
        return V[self.root_position]

    def backward(self) -> None:
        V = self.values
        G = [leaf.grad for leaf in self.leaves]
        G += [0.0] * self.operations
        if self.operations:
            G[self.root_position] = 1.0
        else:
            G[self.root_position] += 1.0  # a leaf root: its own gradient, accumulated
        for kind, rule, out, a, b in self.rules:
            g = G[out]
            # Value.backward, line for line: "+" passes a zero on, the others skip it.
            if kind == _ADD:
                G[a] += g
                G[b] += g
            elif g == 0.0:
                continue
            elif kind == _MUL:
                G[a] += g * V[b]
                G[b] += g * V[a]
            elif kind == _UNARY:
                (da,) = rule(FLOATS, g, V[out], V[a])
                G[a] += da
            else:
                da, db = rule(FLOATS, g, V[out], V[a], V[b])
                G[a] += da
                G[b] += db
        for leaf, g in zip(self.leaves, G):
            leaf.grad = g
