"""Checking someone else's engine: their graph, node by node, against valuegrad's gradients.

``audit(root)`` takes the output of a graph built with a learner's own ``Value``
class, after their own ``backward()``, and says which gradients are wrong and
where the error enters. It reads three kinds of node, by duck typing:

* micrograd style (micrograd itself and the lecture that builds it): ``data``,
  ``grad``, ``_prev`` (a set or a tuple of operands), ``_op`` (``'+'``,
  ``'*'``, ``'**2'``, ``'tanh'``, ``'ReLU'``, ...; ``''`` for a leaf) and an
  optional ``label``. A set loses the second ``x`` of ``x * x``: the node's
  data tells which reading is meant, and the order of ``a - b``;
* microgpt style: ``data``, ``grad``, ``_children`` and ``_local_grads``, with
  no op names: each node's operation is recognised from its operands and its
  result, and its stored local gradients are checked too;
* valuegrad's own ``Value``.

The truth comes from valuegrad's engine: the graph is rebuilt as ``Value`` s,
operands first, without recursion, and ``backward()`` runs on the copy.
Nothing of theirs is written or called: only attributes are read.
"""

from __future__ import annotations

import math
import operator
from collections import namedtuple
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from itertools import combinations
from typing import Any

from .engine import Value, grad
from .ops import PRIMITIVES
from .text import FORMS, atomic, printable

__all__ = ["audit", "Audit", "Finding", "agrees", "TOLERANCE"]

TOLERANCE = 1e-6
"""A gradient is wrong when it is off by more than this, relative (absolute below 1)."""

_FORWARD_TOLERANCE = (1e-7, 1e-12)
"""(relative, absolute): how near an operation's value their data must be to be read as it.

Looser than rounding, so that a learner's tanh written with ``exp`` still reads as tanh.
The absolute part only where the node names its operation: recognising one (microgpt
style), 0 would be read as relu(1e-170) or 1e-170 ** 2 alike."""

_Explanation = tuple[str, str | None, str]
"""What explains a wrong node: (fault, the gate at fault or None, why in words)."""

_NAME_CHARS = 40  # a node without a label is named by its formula, up to about this long


def agrees(theirs: float, truth: float) -> bool:
    """Whether ``theirs`` is ``truth`` within ``TOLERANCE``: relative, and absolute below 1.

    >>> agrees(2.0000001, 2.0), agrees(1e-7, 0.0), agrees(1.01, 1.0)
    (True, True, False)
    """
    if theirs == truth:  # infinities of one sign too
        return True
    if truth != truth:  # nan is right only where the truth is nan
        return theirs != theirs
    return abs(theirs - truth) <= TOLERANCE * max(1.0, abs(truth))


# -- the operations a node may be ------------------------------------------------


# Plain namedtuples: typing.NamedTuple would compile every annotation, 8 ms of the import.
class Gate(namedtuple("Gate", "name arity build form commutative", defaults=(False,))):
    """An operation that audit can rebuild: ``build`` applies it to ``Value`` s.

    ``name``: as their graph calls it ('tanh', '**2') or as audit recognised it ('product');
    ``form``: how a formula writes it ("{} + {}", "tanh({})").
    """

    __slots__ = ()


def _call_form(name: str, arity: int) -> str:
    return f"{name}({', '.join(['{}'] * arity)})"


def _power(k: float, name: str | None = None) -> Gate:
    shown = name or f"**{k:g}"
    return Gate(shown, 1, lambda a: a**k, "{}" + shown)


_OPERATORS = {"+": operator.add, "*": operator.mul, "**": operator.pow}
_COMMUTATIVE = ("+", "*", "max")


def _primitive(op: str) -> Gate:
    """valuegrad's own primitive ``op`` as a gate."""
    row = PRIMITIVES[op]
    build = _OPERATORS.get(op) or getattr(Value, row.name)
    return Gate(op, row.arity, build, FORMS.get(op) or _call_form(op, row.arity), op in _COMMUTATIVE)


_NAMED: dict[str, list[Gate]] = {op: [_primitive(op)] for op in PRIMITIVES}
"""micrograd-style op names: valuegrad's own, and the spellings learners use besides."""
_NAMED.update({
    "-": [Gate("-", 2, operator.sub, "{} - {}"), Gate("-", 1, operator.neg, "-{}")],
    "/": [Gate("/", 2, operator.truediv, "{} / {}")],
    "neg": [Gate("neg", 1, operator.neg, "-{}")],
})

_RECOGNISABLE: dict[int, list[Gate]] = {
    1: [Gate(f, 1, getattr(Value, f), f + "({})") for f in ("exp", "log", "relu", "tanh", "sigmoid")]
    + [Gate("negation", 1, operator.neg, "-{}")],
    2: [Gate("sum", 2, operator.add, "{} + {}"), Gate("product", 2, operator.mul, "{} * {}"),
        Gate("difference", 2, operator.sub, "{} - {}"), Gate("quotient", 2, operator.truediv, "{} / {}")],
}
"""What a microgpt-style node may be (and a power with a constant exponent, see ``_exponents``)."""
_MICROGPT_OWN = ("sum", "product", "exp", "log", "relu")  # and power: microgpt's own operations


def _named(op: str) -> list[Gate]:
    """The gates a micrograd-style op name stands for (``'**2'`` is a power of 2)."""
    if op.startswith("**") and len(op) > 2:
        try:
            return [_power(float(op[2:]), op)]
        except ValueError:
            return []
    return _NAMED.get(op) or _NAMED.get(op.lower(), [])


def _exponents(a: float, out: float, stored: float | None) -> list[float]:
    """Constant exponents ``k`` with ``a ** k == out``: read from the data, and from a stored local gradient.

    From the data only a short one (up to 100, four decimals at most: 2, -1, 0.5, 0.37), so
    that exp(a) is not read as a ** (a / log a); from the stored gradient ``k a^(k-1)``, any.
    """
    found = []
    if a not in (0.0, 1.0, -1.0) and out != 0.0 and math.isfinite(a) and math.isfinite(out):
        k = math.log(abs(out)) / math.log(abs(a))
        if abs(k) <= 100.0 and abs(k - round(k, 4)) <= 1e-9:
            found.append(round(k, 4))
    if stored is not None and out != 0.0 and math.isfinite(stored):
        k = stored * a / out
        if math.isfinite(k) and not any(abs(k - f) <= 1e-9 * max(1.0, abs(f)) for f in found):
            found.append(k)
    return found


class _Reading(namedtuple("_Reading", "gate operands local", defaults=(None,))):
    """A node read as ``gate`` of ``operands`` (node indices, in the gate's order; x * x lists x
    twice); ``local``: the true local gradients, one per operand, once computed."""

    __slots__ = ()


def _with_local(reading: _Reading, data: list[float]) -> _Reading:
    """``reading`` with its true local gradients at ``data``: valuegrad's, on new leaves."""
    if reading.local is not None:
        return reading
    leaves = [Value(data[j]) for j in reading.operands]
    return reading._replace(local=tuple(grad(reading.gate.build(*leaves), leaves)))


def _read_node(candidates: list[_Reading], data: list[float], out: float,
               stored: list[float] | None) -> _Reading | list[_Reading]:
    """The one reading among ``candidates`` that computes ``out``; else the ones that cannot be told apart.

    Exact results before approximate ones; several left are told apart by their
    stored local gradients, where there are some, and are one reading when every
    one of them gives each operand the same local gradient.
    """
    relative, absolute = _FORWARD_TOLERANCE
    if stored is not None:
        absolute = 0.0
    scored = []  # (gap, reading) of each that fits
    for reading in candidates:
        leaves = [Value(data[j]) for j in reading.operands]
        try:
            value = reading.gate.build(*leaves)
        except (ArithmeticError, ValueError):
            continue
        gap = 0.0 if value.data == out or (value.data != value.data and out != out) else abs(value.data - out)
        if not gap <= relative * abs(value.data) + absolute:
            continue
        if stored is not None:
            reading = reading._replace(local=tuple(grad(value, leaves)))
            if gap == 0.0 and all(map(agrees, stored, reading.local)):
                return reading  # exact, and their local gradients agree: nothing could be preferred to it
        scored.append((gap, reading))
    fits = [r for gap, r in scored if gap == 0.0] or [r for _, r in scored]
    if len(fits) <= 1:
        return fits[0] if fits else []
    fits = [_with_local(r, data) for r in fits]
    if stored is not None:  # their local gradients tell; failing that, microgpt's own operations first
        fits = ([r for r in fits if all(map(agrees, stored, r.local))]
                or [r for r in fits if r.gate.name in _MICROGPT_OWN or r.gate.name.startswith("**")] or fits)
    truths = [_per_operand(r.operands, r.local) for r in fits]
    if all(t.keys() == truths[0].keys() and all(agrees(t[j], truths[0][j]) for j in t) for t in truths):
        return fits[0]
    return fits


def _per_operand(operands: tuple[int, ...], local: Sequence[float]) -> dict[int, float]:
    total: dict[int, float] = {}
    for j, g in zip(operands, local):
        total[j] = total.get(j, 0.0) + g
    return total


# -- reading their graph -----------------------------------------------------------


class _Node(namedtuple("_Node", "data grad children unordered op stored label")):
    """What audit reads of one of their nodes: ``children`` (node indices, as they keep them),
    ``unordered`` (a set: order and repeats lost), ``op`` (micrograd style and valuegrad; None for
    microgpt style), ``stored`` (microgpt style: their local gradients)."""

    __slots__ = ()




def _style(root: Any) -> str:
    if isinstance(root, Value):
        return "valuegrad"
    if hasattr(root, "_children") and hasattr(root, "_local_grads"):
        return "microgpt"
    if hasattr(root, "_prev") and hasattr(root, "_op"):
        return "micrograd"
    raise TypeError(
        f"audit() takes the output node of a graph: a valuegrad Value, or a node with data, grad and "
        f"_prev and _op (micrograd style) or _children and _local_grads (microgpt style); "
        f"got {type(root).__name__}"
    )


def _attribute(node: Any, style: str, name: str) -> Any:
    try:
        return getattr(node, name)
    except AttributeError:
        raise TypeError(f"a node of this {style}-style graph (a {type(node).__name__}) has no {name!r}") from None


def _float(node: Any, style: str, name: str, x: Any) -> float:
    """``x``, read from ``node.name``, as a float, or a TypeError that says what it is."""
    try:
        return float(x)
    except (TypeError, ValueError):
        raise TypeError(f"a node's {name} must be a number, got {type(x).__name__} "
                        f"(a {type(node).__name__} of a {style}-style graph)") from None


def _parts(node: Any, style: str) -> tuple[list[Any], bool, str | None, list[float] | None]:
    """(children, unordered, op, stored local gradients) of one node, in ``style``."""
    if style == "valuegrad":
        return list(node.parents), False, node.op, None
    if style == "microgpt":
        children = list(_attribute(node, style, "_children"))
        stored = [_float(node, style, "_local_grads", g) for g in _attribute(node, style, "_local_grads")]
        return children, False, None, stored
    prev = _attribute(node, style, "_prev")
    op = _attribute(node, style, "_op")
    return list(prev), isinstance(prev, (set, frozenset)), op if isinstance(op, str) else repr(op), None


def _read(root: Any, style: str) -> tuple[list[Any], list[_Node]]:
    """Their nodes, operands before users (the root last), and what audit reads of each.

    Depth first with an explicit stack: no recursion, so any depth. A node is
    known by its identity (``id``), never by their ``__eq__`` or ``__hash__``.
    """
    index: dict[int, int] = {}
    state: dict[int, list[Any]] = {}  # id -> its children, while expanded and not yet emitted
    nodes: list[Any] = []
    read: list[_Node] = []
    stack = [root]
    while stack:
        node = stack[-1]
        key = id(node)
        if key in index:
            stack.pop()
        elif key not in state:
            children, unordered, op, stored = _parts(node, style)
            state[key] = [children, unordered, op, stored]
            for child in reversed(children):
                if id(child) in state:  # expanded, not yet emitted: on the path from the root
                    raise ValueError("the graph has a cycle: a node is among its own operands")
                if id(child) not in index:
                    stack.append(child)
        else:
            stack.pop()
            children, unordered, op, stored = state.pop(key)
            label = getattr(node, "label", "")
            read.append(_Node(_float(node, style, "data", _attribute(node, style, "data")),
                              _float(node, style, "grad", _attribute(node, style, "grad")),
                              [index[id(c)] for c in children], unordered, op, stored,
                              label if isinstance(label, str) else ""))
            index[key] = len(nodes)
            nodes.append(node)
    return nodes, read


def _candidates(node: _Node) -> list[_Reading] | str:
    """The readings a node may have, or why it has none."""
    kids = tuple(node.children)
    if node.stored is not None:  # microgpt style: no names, every operation that fits
        if len(node.stored) != len(kids):
            return f"{len(kids)} children but {len(node.stored)} local gradients"
        gates = list(_RECOGNISABLE.get(len(kids), []))
        return [_Reading(g, kids) for g in gates]
    if not node.op:
        return "a node with operands but no op name"
    gates = _named(node.op)
    if not gates:
        return f"op {node.op!r} is not one audit knows"
    readings = []
    for g in gates:
        if g.arity == len(kids):
            readings.append(_Reading(g, kids))
            if node.unordered and g.arity == 2 and not g.commutative:
                readings.append(_Reading(g, kids[::-1]))
        elif node.unordered and len(kids) == 1 and g.arity == 2:  # a set keeps x of x * x once
            readings.append(_Reading(g, kids * 2))
    return readings or f"`{node.op}` with {_count(len(kids), 'operand')}"


def _recognise(node: _Node, data: list[float]) -> _Reading | str:
    """The operation that made ``node``, or why audit cannot tell."""
    candidates = _candidates(node)
    if isinstance(candidates, str):
        return candidates
    if node.stored is not None and len(node.children) == 1:
        (a,) = [data[j] for j in node.children]
        if abs(a) == 1.0 and abs(node.data) == 1.0:  # (±1) ** k: a power of any k, its gradient unreadable
            found = _read_node(candidates, data, node.data, node.stored)
            if isinstance(found, _Reading) and all(map(agrees, node.stored, found.local)):
                return found
            return f"{_show(a)} ** k is {_show(node.data)} for many k: which operation this is cannot be read"
        candidates += [_Reading(_power(k), tuple(node.children))
                       for k in _exponents(a, node.data, node.stored[0])]
    found = _read_node(candidates, data, node.data, node.stored)
    if isinstance(found, _Reading):
        return found
    operands = ", ".join(_show(data[j]) for j in node.children)
    if found:
        names = " or ".join(sorted({r.gate.name for r in found}))
        if node.stored is None:
            return f"`{node.op}` of {operands}: cannot tell the order of its operands"
        return f"could be {names} of {operands}; its local gradients fit none of them"
    if node.stored is None:
        return f"`{node.op}` of {operands} does not give its data, {_show(node.data)}"
    return f"no operation audit knows gives {_show(node.data)} from {operands}"


# -- the verdict --------------------------------------------------------------------


class Finding(namedtuple("Finding", "node expected actual fault gate why")):
    """Where an error enters: a wrong node whose users' gradients are all right.

    ``fault`` is ``"seed"`` (the root's gradient did not start at 1), ``"rule"``
    (a gate's local-gradient rule, micrograd style), ``"local gradient"`` (a
    stored local gradient, microgpt style), ``"accumulation"`` (``=`` where
    ``+=`` belongs, or another way of adding up), ``"order"`` (a node passed
    its gradient on before all of it had arrived); ``gate`` is
    the operation at fault (``"tanh"``), or ``None`` when no one gate is;
    ``why`` says it in words.
    """

    __slots__ = ()


class _ByIdentity(Mapping[Any, float]):
    """A mapping keyed by their nodes' identity: their ``__eq__`` and ``__hash__`` are never called."""

    def __init__(self, pairs: Iterator[tuple[Any, float]]) -> None:
        self._items = {id(k): (k, v) for k, v in pairs}

    def __getitem__(self, node: Any) -> float:
        try:
            return self._items[id(node)][1]
        except KeyError:
            raise KeyError(node) from None

    def __iter__(self) -> Iterator[Any]:
        return (k for k, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"<{len(self)} expected gradients, by node>"


class Audit:
    """What ``audit(root)`` found. In Jupyter it shows as ``draw()``'s picture.

    * ``ok``: every gradient was checked and is right (and, microgpt style, every
      stored local gradient);
    * ``wrong``: their nodes whose ``.grad`` is not d(root)/d(node), root first;
    * ``first``: the wrong nodes none of whose users is wrong: where the error enters;
    * ``findings``: one :class:`Finding` per first node: the fault and the gate at fault;
    * ``expected``: their node -> its true gradient (by identity), for every checked node;
    * ``unchecked``: the nodes whose gradient depends on an operation audit cannot
      recognise, neither wrong nor right; ``unrecognised``: (node, why) for each such operation;
    * ``wrong_local_grads``: microgpt style, (node, operand position, theirs, true);
    * ``style``: ``"micrograd"``, ``"microgpt"`` or ``"valuegrad"``.

    ``str(audit)`` says it in words; ``draw()`` gives the graph as a ``graphviz.Digraph``.
    """

    def __init__(self, root: Any) -> None:
        self.style = _style(root)
        self._nodes, self._read = _read(root, self.style)
        nodes, read = self._nodes, self._read
        self._data = data = [n.data for n in read]
        self._readings: list[_Reading | str | None] = [
            _recognise(n, data) if n.children else None for n in read]
        self._expected = self._truth()
        unrecognised = [i for i, r in enumerate(self._readings) if isinstance(r, str)]
        self._unchecked = _below(unrecognised, read)
        self._users: list[list[tuple[int, int]]] = [[] for _ in read]
        for i, r in enumerate(self._readings):
            if isinstance(r, _Reading):
                for k, j in enumerate(r.operands):
                    self._users[j].append((i, k))
        self._at_fault: set[int] = set()  # the gates at fault, found by the findings
        self._explained: set[tuple[int, int]] = set()  # the wrong stored local gradients they name
        top_down = range(len(read) - 1, -1, -1)  # the root first
        self._wrong = [i for i in top_down
                       if i not in self._unchecked and not agrees(read[i].grad, self._expected[i])]
        bad = set(self._wrong)
        self._first = [i for i in self._wrong if not any(u in bad for u, _ in self._users[i])]
        self._bad_locals = [(i, k, read[i].stored[k], true) for i in top_down
                            if read[i].stored is not None and isinstance(self._readings[i], _Reading)
                            for k, true in enumerate(self._local(i))
                            if not agrees(read[i].stored[k], true)]

        self.wrong = [nodes[i] for i in self._wrong]
        self.first = [nodes[i] for i in self._first]
        self.unchecked = [nodes[i] for i in top_down if i in self._unchecked]
        self._unrecognised = unrecognised[::-1]
        self.unrecognised = [(nodes[i], self._readings[i]) for i in self._unrecognised]
        self.wrong_local_grads = [(nodes[i], k, theirs, true) for i, k, theirs, true in self._bad_locals]
        self.expected = _ByIdentity((nodes[i], self._expected[i]) for i in top_down if i not in self._unchecked)
        self.ok = not (self.wrong or self.unchecked or self.wrong_local_grads)
        self.findings = [self._diagnose(i) for i in self._first]

    # -- the truth: their graph rebuilt as Values ---------------------------------

    def _truth(self) -> list[float]:
        """d(root)/d(node) for every node, by backward() on a copy made of valuegrad Values.

        A node whose operation is not recognised becomes a leaf holding its data: the
        gradients above it are still right; those below it are not checked.
        """
        copies: list[Value] = []
        for i, (node, reading) in enumerate(zip(self._read, self._readings)):
            copy = None
            if isinstance(reading, _Reading):
                try:
                    copy = reading.gate.build(*[copies[j] for j in reading.operands])
                except (ArithmeticError, ValueError) as error:
                    self._readings[i] = f"`{reading.gate.name}` cannot be evaluated here: {error}"
            copies.append(copy if copy is not None else Value(node.data))
        copies[-1].backward()
        return [c.grad for c in copies]

    def _local(self, i: int) -> tuple[float, ...]:
        """The true local gradients of node ``i`` (an index), one per operand position."""
        # (asked only of a recognised node; local is a field of a plain namedtuple: untyped)
        reading = self._readings[i] = _with_local(self._readings[i], self._data)  # type: ignore[arg-type]
        return reading.local  # type: ignore[no-any-return]

    def _gate(self, i: int) -> str:
        """The name of the gate that made node ``i``, a recognised one (a user of another node, say)."""
        return self._readings[i].gate.name  # type: ignore[union-attr, no-any-return]

    # -- where the error enters, and why ------------------------------------------

    def _name(self, i: int, depth: int = 3) -> str:
        """Node ``i`` as the text calls it: its label, a leaf's value, else its formula."""
        node = self._read[i]
        if node.label:
            return printable(node.label)
        if not node.children:
            return _show(node.data)
        reading = self._readings[i]
        if depth <= 1:
            return "…"
        if not isinstance(reading, _Reading):  # (a str: why it is not recognised)
            return f"{node.op or '?'}(…)"
        args = [self._name(j, depth - 1) for j in reading.operands]
        if "({}" not in reading.gate.form:  # an operand of an operator is grouped; a call's argument is not
            args = [a if _atomic(a) else f"({a})" for a in args]
        text = reading.gate.form.format(*args)
        return self._name(i, depth - 1) if len(text) > _NAME_CHARS and depth > 2 else text

    def _title(self, i: int) -> str:
        """Node ``i`` as the subject of a sentence: as ``_name`` has it, but ``leaf 2`` for a bare 2."""
        read = self._read[i]
        return f"leaf {_show(read.data)}" if not read.label and not read.children else self._name(i)

    def _contribution(self, user: int, k: int) -> float:
        """What ``user`` passes to its ``k``-th operand: its true gradient times its local gradient."""
        g = self._expected[user]
        return 0.0 if g == 0.0 else g * self._local(user)[k]

    def _diagnose(self, i: int) -> Finding:
        """Why node ``i`` (wrong, its users right) is wrong: the first explanation that fits its numbers."""
        node = self._read[i]
        uses = self._users[i]
        for explain in (self._seed, self._stored_local, self._assigned, self._out_of_order, self._rule):
            found = explain(i, uses)
            if found:
                fault, gate, why = found
                return Finding(self._nodes[i], self._expected[i], node.grad, fault, gate, why)
        raise AssertionError("unreachable: _rule always explains")

    def _seed(self, i: int, uses: list[tuple[int, int]]) -> _Explanation | None:
        if uses:
            return None
        actual = self._read[i].grad
        said = "was never seeded" if actual == 0.0 else f"was seeded with {_show(actual)}"
        return "seed", None, f"the root's gradient {said}: backward must start with root.grad = 1"

    def _stored_local(self, i: int, uses: list[tuple[int, int]]) -> _Explanation | None:
        """microgpt style: a user stored a wrong local gradient for it (the one that changed most)."""
        worst, size = None, 0.0
        for u, k in uses:
            theirs = self._read[u].stored[k] if self._read[u].stored is not None else None
            if theirs is not None and not agrees(theirs, self._local(u)[k]):
                change = abs(self._expected[u] * (theirs - self._local(u)[k]))
                if change > size or change != change:
                    worst, size = (u, k, theirs), change
        if worst is None:
            return None
        u, k, theirs = worst
        self._at_fault.add(u)
        self._explained.add((u, k))
        gate = self._gate(u)
        stored, true = _apart(theirs, self._local(u)[k])
        return "local gradient", gate, (f"{self._name(u)} (a {gate}) stores the local gradient "
                                        f"{stored} for {self._title(i)}; it is {true}")

    def _assigned(self, i: int, uses: list[tuple[int, int]]) -> _Explanation | None:
        """Used several times, it holds some of the contributions only: ``=`` where ``+=`` belongs."""
        parts = [self._contribution(u, k) for u, k in uses]
        for subset in _proper_subsets(range(len(uses)) if len(uses) > 1 else range(0)):
            if agrees(self._read[i].grad, sum(parts[s] for s in subset)):
                u = uses[subset[0]][0]
                gate = self._gate(u)
                held = (f"only what {self._name(u)} (`{gate}`) passed" if len(subset) == 1
                        else f"{len(subset)} of its {len(uses)} contributions")
                why = (f"{self._title(i)} is used {len(uses)} times and its grad holds {held}, not the sum "
                       f"of them all: gradients must be added up (+=), not assigned (=)")
                if len(subset) > 1 or self.style == "microgpt":  # one loop adds them all up
                    return "accumulation", None, why
                self._at_fault.add(u)
                return "accumulation", gate, why
        return None

    def _out_of_order(self, i: int, uses: list[tuple[int, int]]) -> _Explanation | None:
        """A user passed its gradient on before all of it had arrived: backward out of topological order.

        Where nothing at all had arrived (the node got nothing from that user), its gate's
        rule may as well give 0, or its backward never run: that is the order only where a
        gate of the same name is seen passing gradients right (else see ``_rule``).
        """
        expected, actual = self._expected[i], self._read[i].grad
        for u, k in uses:
            arrived = [self._contribution(v, m) for v, m in self._users[u]]
            rest = expected - self._contribution(u, k)
            for subset in _proper_subsets(range(len(arrived)), empty=True):
                partial = sum(arrived[s] for s in subset)
                if agrees(partial, self._expected[u]) or not agrees(actual, rest + partial * self._local(u)[k]):
                    continue
                if not subset and self.style != "microgpt" and self._gate(u) not in self._rules_right:
                    break
                return "order", None, (f"{self._name(u)} passed its gradient on to {self._title(i)} when "
                                       f"{_show(partial)} of its {_show(self._expected[u])} had arrived: backward "
                                       f"must visit the nodes in topological order, each after all of its users")
        return None

    def _rule(self, i: int, uses: list[tuple[int, int]]) -> _Explanation:
        """A gate's local-gradient rule (micrograd style), or the accumulation (microgpt style)."""
        fault, gate, why = self._rule_or_accumulation(i, uses)
        if self._stale:
            why += "; or the grads were not zeroed after an earlier backward (each pass adds to them)"
        return fault, gate, why

    @cached_property
    def _stale(self) -> bool:
        """Whether the wrong gradients look left over from earlier passes: only leaves wrong, or
        every first node holding a whole multiple (2, 3, ...) of its gradient."""
        if all(not self._read[j].children for j in self._wrong):
            return True
        ratios = [self._read[j].grad / self._expected[j] if self._expected[j] else 0.0 for j in self._first]
        return all(r >= 1.5 and agrees(self._read[j].grad, round(r) * self._expected[j])
                   for j, r in zip(self._first, ratios))

    def _rule_or_accumulation(self, i: int, uses: list[tuple[int, int]]) -> _Explanation:
        name = self._title(i)
        if self.style == "microgpt":
            return "accumulation", None, (f"every local gradient into {name} is right, and so is every gradient "
                                          f"they multiply, but its grad is not what they add up to")
        gates = {self._gate(u) for u, _ in uses}
        suspects = gates - self._rules_right or gates
        maybe = ("; or a node passed its gradient on too early or more than once (backward out of "
                 "topological order)")
        if len(suspects) > 1:
            return "rule", None, f"the rule of one of `{'`, `'.join(sorted(suspects))}` is wrong{maybe}"
        (gate,) = suspects
        users = [(u, k) for u, k in uses if self._gate(u) == gate]
        self._at_fault.update(u for u, _ in users)
        u, k = users[0]
        if len(uses) > 1 or self._read[u].grad == 0.0:
            return "rule", gate, f"the rule of `{gate}` is wrong{maybe}"
        passed, true = self._read[i].grad / self._read[u].grad, self._local(u)[k]
        if passed == 0.0:  # nothing arrived from it
            return "rule", gate, (f"{self._name(u)} passed nothing to {name}: the backward of `{gate}` gives 0 or "
                                  f"never runs, or ran before its gradient arrived (backward out of topological "
                                  f"order); d({self._name(u)})/d({name}) is {_show(true)}")
        shown = _apart(passed, true)
        return "rule", gate, (f"the rule of `{gate}` is wrong: {self._name(u)} passes {name} the local gradient "
                              f"{shown[0]}, where d({self._name(u)})/d({name}) is {shown[1]}")

    @cached_property
    def _rules_right(self) -> set[str]:
        """The gates seen passing a right, nonzero gradient to a node that only they use."""
        return {self._gate(users[0][0]) for j, users in enumerate(self._users)
                if len(users) == 1 and j not in self._unchecked and self._expected[j] != 0.0
                and agrees(self._read[j].grad, self._expected[j])}

    # -- showing it ------------------------------------------------------------------

    def __str__(self) -> str:
        head = f"audit of a {self.style}-style graph of {_count(len(self._read), 'node')}: "
        if self.ok:
            return head + "every gradient is right"
        if self.wrong:
            head += f"{_count(len(self.wrong), 'gradient')} wrong; the error enters at {_count(len(self.first), 'node')}"
        else:
            head += "no gradient that could be checked is wrong"
        parts = [head]
        for i, f in zip(self._first, self.findings):
            at_fault = f"gate at fault: `{f.gate}`, {_FAULTS[f.fault]}" if f.gate else f"at fault: {_FAULTS[f.fault]}"
            actual, expected = _apart(f.actual, f.expected)
            parts.append(f"{self._title(i)}: grad {actual}, expected {expected}\n"
                         f"  {at_fault}\n  {f.why}")
        others = [(i, k, theirs, true) for i, k, theirs, true in self._bad_locals if (i, k) not in self._explained]
        if others:
            lines = ["  {} ({}), operand {}: {}, should be {}".format(self._title(i), self._gate(i), k, *_apart(theirs, true))
                     for i, k, theirs, true in others[:10]]
            more = [f"  and {len(others) - 10} more"] if len(others) > 10 else []
            parts.append("\n".join(["stored local gradients that are wrong:", *lines, *more]))
        if self.unrecognised:
            lines = [f"  {self._title(i)}: {self._readings[i]}" for i in self._unrecognised]
            parts.append("\n".join([f"not recognised, so {_count(len(self.unchecked), 'node')} below "
                                     f"{'it' if len(lines) == 1 else 'them'} unchecked (neither right nor wrong):",
                                     *lines]))
        return "\n\n".join(parts)

    def __repr__(self) -> str:
        if self.ok:
            return f"<Audit: {len(self._read)} nodes, every gradient right>"
        return (f"<Audit: {len(self.wrong)} wrong, {len(self.unchecked)} unchecked, "
                f"first at {', '.join(self._name(i) for i in self._first) or 'none'}>")

    def draw(self, rankdir: str = "LR", max_nodes: int = 2000) -> Any:  # (viz.DRAW_MAX_NODES; a graphviz.Digraph)
        """Their graph as a ``graphviz.Digraph``: wrong nodes marked, the expected gradient beside theirs.

        See ``autograd.viz.draw_audit`` for the legend. A graph of more than
        ``max_nodes`` nodes raises ``ValueError``, as ``draw_graph`` does.
        """
        from .viz import draw_audit

        return draw_audit(self._picture(), rankdir, max_nodes)

    def _picture(self) -> list[dict[str, object]]:
        """Every node as the drawing needs it, root last; operands by their place in this list."""
        wrong, first = set(self._wrong), set(self._first)
        at_fault = self._at_fault | {i for i, *_ in self._bad_locals}
        rows = []
        for i, (node, reading) in enumerate(zip(self._read, self._readings)):
            checked = i not in self._unchecked
            rows.append({
                "label": node.label, "data": node.data, "grad": node.grad,
                "expected": self._expected[i] if checked else None,
                "status": ("first" if i in first else "wrong" if i in wrong else
                           "right" if checked else "unchecked"),
                "gate": None if reading is None else (node.op or "?") if isinstance(reading, str)
                else reading.gate.name,
                "gate_status": ("unrecognised" if isinstance(reading, str) else
                                "fault" if i in at_fault else "right"),
                "operands": list(reading.operands) if isinstance(reading, _Reading) else list(node.children),
            })
        return rows

    def _repr_mimebundle_(self, include: object = None, exclude: object = None) -> dict[str, str]:
        bundle = {"text/plain": str(self)}
        try:
            from .viz import RenderError, render

            bundle["image/svg+xml"] = render(self.draw(), "svg").decode("utf-8")
        except (ValueError, RenderError):
            pass  # too large to draw, or no dot: the words alone
        return bundle


def audit(root: Any) -> Audit:
    """Check the gradients of a graph built by someone else's engine, after their own ``backward()``.

    ``root`` is the output node: micrograd style (``data``, ``grad``, ``_prev``,
    ``_op``), microgpt style (``data``, ``grad``, ``_children``,
    ``_local_grads``) or a valuegrad ``Value``. Returns an :class:`Audit`:
    ``ok``, ``wrong``, ``first`` (where the error enters), ``expected`` (their
    node -> true gradient), ``str()`` in words and ``draw()`` in a picture.
    A gradient is wrong when it is off by more than 1e-6, relative (absolute
    below 1). Nothing of theirs is changed.

    >>> from autograd import Value
    >>> a = Value(3.0, "a")
    >>> b = a * a
    >>> b.backward()
    >>> a.grad = 3.0   # as if only one of the two uses had been counted
    >>> report = audit(b)
    >>> report.ok, [n.label for n in report.first], report.expected[a]
    (False, ['a'], 6.0)
    """
    return Audit(root)


def _below(tops: list[int], read: list[_Node]) -> set[int]:
    """Every node under the operands of ``tops``: their gradients pass through those operations."""
    seen: set[int] = set()
    stack = [j for i in tops for j in read[i].children]
    while stack:
        j = stack.pop()
        if j not in seen:
            seen.add(j)
            stack.extend(read[j].children)
    return seen


def _proper_subsets(items: range, empty: bool = False) -> Iterator[tuple[int, ...]]:
    """The subsets of ``items`` short of all of them, smallest first (prefixes and suffixes only past 10)."""
    n = len(items)
    if n > 10:
        yield from (tuple(items[:k]) for k in range(0 if empty else 1, n))
        yield from (tuple(items[k:]) for k in range(1, n))
        return
    for size in range(0 if empty else 1, n):
        yield from combinations(items, size)


def _atomic(text: str) -> bool:
    """Whether a name reads as one operand as it is: a word, a number, a call such as exp(x), or …."""
    return text == "…" or atomic(text)


_FAULTS = {
    "seed": "the seed of backward", "rule": "its local-gradient rule", "local gradient": "its stored local gradient",
    "accumulation": "the adding up of gradients", "order": "the order in which backward visits the nodes",
}


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}{'s' * (n != 1)}"


def _apart(x: float, y: float) -> tuple[str, str]:
    """``x`` and ``y`` as :func:`_show` shows them, with more digits where 6 would show them alike."""
    for digits in (6, 10, 17):
        shown = _show(x, digits), _show(y, digits)
        if shown[0] != shown[1]:
            break
    return shown


def _show(x: float, digits: int = 6) -> str:
    """A number as the text shows it: up to ``digits`` significant digits, ``-0.0`` as ``0``."""
    return "0" if x == 0.0 else f"{x:.{digits}g}"
