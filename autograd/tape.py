"""``Tape``: a graph lowered once, then replayed forward and backward.

Training a fixed model rebuilds the same graph every step only to change the
numbers in it. A tape lowers the graph once (:func:`autograd.lower.lower`)
and replays that program: ``forward`` recomputes it from the leaves'
current ``.data``, ``backward`` adds into the leaves' ``.grad`` exactly, bit
for bit, what ``root.backward()`` would: the same float operations in the
same order, the table's own float functions (or its inline templates,
checked equal to them bit for bit by tests/test_ops.py), the same rules,
the same zero rule.

Given ``inputs``, the tape replays one sample's graph over a whole batch
with NumPy instead (:mod:`autograd.batched`).

How the scalar tape is fast to build and to replay
--------------------------------------------------
A training graph is mostly copies of one structure: the loss of a batch is
the same per-sample graph, once per sample, over the same parameters. The
tape finds such repeated **blocks** (:func:`_repeats`): a node whose
structure occurs again and again, with everything under it that nothing
else uses (its inputs and constants included; the parameters are shared).
One block's code is generated and compiled once and run in a loop over its
copies; what is left (the sum over the samples, an L2 term) is compiled as
straight-line code. Building then costs a few microseconds a node, and
replaying a few tens of nanoseconds.

The order of the floating-point additions is kept exactly: the loop visits
the copies in the order ``backward()`` does, and the straight-line code runs
before or after the loops only where that changes no gradient's order of
additions (:class:`_Schedule` checks it, leaf by leaf, or gives up the
blocks). A graph whose straight-line part would be larger than
:data:`COMPILE_LIMIT` operations is replayed by the engine's own loop
instead (:class:`_Interpreted`).

Where the compiled code comes from: the source is generated here, from the
graph's structure and the primitives table only. It contains nothing but
generated variable names, names bound to our own table's functions (``F3``,
``L3``, numbered by their row), the table's inline templates, traced rules
and the literals ``0.0`` and ``1.0``. No label, number or op name from the
graph is ever pasted into it, and nothing a user typed is evaluated.

A tape is valid while the graph's structure does not depend on the data: the
same nodes, the same operations on the same operands. ``max`` and ``relu``
still choose their branch on each replay (their rules look at the current
values); an ``if`` in the user's code that built the graph does not.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from functools import cache
from string import Formatter
from typing import TYPE_CHECKING, Any, NoReturn, overload
from weakref import WeakValueDictionary

from .engine import Value, backward_seed, gradients_lock, run_backward
from .lower import QUOTIENT, Program, divided, lower
from .ops import FLOATS, PRIMITIVES, Primitive

if TYPE_CHECKING:
    from typing import Protocol

    from .lower import Node

    class _Replay(Protocol):
        """What a ``Tape`` asks of its replay: a scalar one (:func:`_scalar_replay`) or ``batched.Replay``."""

        @property
        def forward(self) -> Callable[..., Any]: ...  # () -> float, or (batch) -> a NumPy array

        def backward(self, gradient: float) -> None: ...  # (a float from engine.backward_seed)

        def values(self, node: Value) -> Any: ...

    _Key = tuple[int, ...]  # a block's structure, flat (see _structure)
    """A block's structure: per member, its op and operands (a member's index, or -1 - an external slot)."""

    _Op = tuple[int, Primitive, Primitive, tuple[int, ...], tuple[int, ...]]
    """One operation of a ``_Segment``: ``(id, row, forward_row, reads, args)``."""

COMPILE_LIMIT = 100_000
"""Straight-line parts with more operations than this are replayed by the engine's loop, not compiled."""

MIN_COPIES = 2
"""A structure becomes a block when it occurs at least this often..."""
MIN_BLOCK = 24
"""...and has at least this many operations (a loop's turn costs about as much as 20 inline nodes)."""

_UNPACK = 1000  # names per unpacking statement: the compiler slows down on longer ones
_MAX_NESTING = 40  # inline expressions at most this deep (the parser allows 200 parentheses)


class Tape:
    """A graph lowered once, for replay with changed leaf values.

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

    **Without** ``inputs`` (the scalar tape): ``forward()`` recomputes
    every node from the leaves' current ``.data`` and returns the root's
    value, also kept as ``tape.value`` and written into the root's
    ``.data``, and into the ``.data`` of each node named in ``keep`` (say,
    a model's predictions); other nodes' ``.data`` are left as they are or
    updated, whichever is faster (rebuild the graph to look at interior
    values and gradients). ``backward(gradient=1.0)`` adds into every
    leaf's ``.grad`` exactly what ``root.backward(gradient)`` would on a
    graph rebuilt from the leaves' current data, using the values of the
    latest ``forward()`` (before the first one, the values the graph was
    built with); interior nodes' ``.grad``, like their ``.data``, are left
    as they are or updated, whichever is faster. After a ``forward()`` that
    raised, ``backward()`` raises ``RuntimeError`` until a ``forward()``
    succeeds.

    **With** ``inputs`` (the batched tape, API.md "Batched replay"): one
    sample's graph replayed over a batch with NumPy.
    ``forward(batch)`` takes a 2-D array-like of shape ``(N, len(inputs))``
    and returns the N root values (float64), also kept as ``tape.value``.
    ``backward(gradient=1.0)`` adds ``gradient`` times the gradient of their
    mean into every leaf that is not an input (inputs get none).
    ``values(node)`` gives the latest forward's N values of the root, an
    input, a parameter or a node named in ``keep``. Nothing is written into
    any node's ``.data``.

    >>> x, w = Value(0.0), Value(3.0)
    >>> tape = Tape((x * w).relu(), inputs=[x])
    >>> tape.forward([[1.0], [-1.0], [2.0]]).tolist()
    [3.0, 0.0, 6.0]
    >>> tape.backward()         # the mean's gradient: (1 + 0 + 2) / 3
    >>> w.grad
    1.0

    One tape replays one pass at a time: calls from several threads on one
    tape wait for each other, and ``backward`` holds the engine's
    ``gradients_lock`` while it writes ``.grad``. Building a tape costs a
    few microseconds a node and pays off for a graph replayed many times,
    as in training. The tape keeps its graph alive; ``tape.root`` is the
    node it was built from.
    """

    def __init__(self, root: Value, inputs: Sequence[Value] | None = None, *,
                 keep: Sequence[Value] = ()) -> None:
        if not isinstance(root, Value):
            raise TypeError(f"Tape() takes a Value, got {type(root).__name__}")
        keep = list(keep)
        for k, node in enumerate(keep):
            if not isinstance(node, Value):
                raise TypeError(f"Tape() keep must hold Values; keep[{k}] is {type(node).__name__}")
        program = lower(root, () if inputs is None else inputs, keep)
        for step in program.steps:
            if step.op not in PRIMITIVES:
                raise ValueError(f"Tape cannot replay the operation {step.op!r}")
        if keep:
            members = program.position
            for k, node in enumerate(keep):
                if node not in members:
                    raise ValueError(f"Tape() keep[{k}] is not a node of the graph under root")
        self.root = root
        self._lock = threading.Lock()
        self.inputs: list[Node] | None
        self._replay: _Replay
        self.value: Any  # the root's value: a float; with inputs, a NumPy array (None before forward)
        if inputs is None:
            self.inputs = None
            self._replay = _scalar_replay(program)
            self.value = root.data
        else:
            from .batched import Replay  # NumPy, only now

            replay = Replay(program)
            self._replay, self.inputs = replay, replay.inputs
            self.value = None

    @overload
    def forward(self, batch: None = None) -> float: ...

    @overload
    def forward(self, batch: Any) -> Any: ...

    def forward(self, batch: Any = None) -> Any:
        """Recompute the graph from the leaves' ``.data``: the root's value (scalar tape), or the
        root's value for each row of ``batch``, shape ``(N, len(inputs))`` (batched tape: a NumPy array)."""
        with self._lock:
            if self.inputs is None:
                if batch is not None:
                    raise TypeError("Tape.forward() takes no batch: this tape was built without inputs")
                self.value = self._replay.forward()
            else:
                if batch is None:
                    raise TypeError(f"Tape.forward() needs a batch of shape (N, {len(self.inputs)}): "
                                    "this tape was built with inputs")
                self.value = self._replay.forward(batch)
            return self.value

    def backward(self, gradient: float = 1.0) -> None:
        """Add ``gradient`` times d(root)/d(leaf) into every leaf's ``.grad`` (every leaf but the inputs,
        of the mean over the rows, for the batched tape), exactly as ``root.backward(gradient)``."""
        with self._lock:
            self._replay.backward(backward_seed(gradient))  # (checked here for both tapes: issue 21)

    def values(self, node: Value) -> Any:
        """The latest ``forward``'s value of ``node``: the root or a node named in ``keep`` (and, for
        the batched tape, an input or a parameter: one value per row)."""
        with self._lock:
            return self._replay.values(node)

    def __repr__(self) -> str:
        return repr(self._replay)


def _scalar_replay(program: Program) -> _Interpreted | _Compiled:
    """The compiled replay, or the engine's loop for a graph too large and too irregular to compile."""
    schedule = _Schedule(program)
    if schedule.compiled_operations > COMPILE_LIMIT:
        return _Interpreted(program)
    return _Compiled(program, schedule)


class _Unready:
    """What a scalar replay shares: the check that ``backward`` follows a ``forward`` that succeeded."""

    ready = True
    program: Program
    kept: set[Node]

    def _check_ready(self) -> None:
        if not self.ready:
            raise RuntimeError("Tape.backward() after a forward() that raised: "
                               "call forward() again (with valid data) first")

    def values(self, node: Value) -> float:
        if node is not self.program.root and node not in self.kept:
            raise ValueError("Tape.values(): that node is not kept by this tape (name it in keep=...)")
        return node.data


# -- the engine's loop: graphs too large and too irregular to compile ---------------------


class _Interpreted(_Unready):
    """Forward by the rows' float functions node by node (writing every ``.data``); backward by the
    engine's own loop over the program (``Value.backward``'s, without sorting again)."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self.kept = set(program.keep)
        nodes, reads, rows = program.nodes, program.reads, program.forward_rows
        self.code = [(nodes[i], row.forward, [nodes[j] for j in reads[i]])
                     for i, row in enumerate(rows) if row is not None]
        self.operations = len(self.code)

    def forward(self) -> float:
        self.ready = False
        for node, forward, operands in self.code:
            node.data = forward(*[p.data for p in operands])
        self.ready = True
        return self.program.root.data

    def backward(self, gradient: float) -> None:  # (Tape.backward has made it a float)
        self._check_ready()
        run_backward(self.program.root, self.program.steps, gradient)

    def __repr__(self) -> str:
        return f"Tape({self.operations} operations, {len(self.program.leaves)} leaves, interpreted)"


# -- repeated blocks ------------------------------------------------------------------------


class _Block:
    """One copy of a repeated structure: its operations (positions, forward order) and the leaves it reads."""

    __slots__ = ("root", "members", "externals", "key")

    def __init__(self, root: int, members: list[int], externals: list[int], key: _Key) -> None:
        self.root, self.members, self.externals, self.key = root, members, externals, key


class _Group:
    """The copies of one block structure: ``blocks`` in backward order; ``shared[s]`` is the leaf read
    at external slot ``s`` by every copy, or ``None`` where each copy reads its own."""

    def __init__(self, blocks: list[_Block]) -> None:
        self.blocks = blocks
        first = blocks[0].externals
        self.shared = [p if all(b.externals[s] == p for b in blocks) else None for s, p in enumerate(first)]
        self.own = [s for s, p in enumerate(self.shared) if p is None]  # slots each copy has its own leaf at


def _repeats(program: Program, protected: set[int]) -> list[_Group]:
    """The repeated blocks of ``program``, grouped by structure.

    A node's *shape* names the function it computes of its leaves (the
    same op on operands of the same shapes); a node whose shape occurs at
    least :data:`MIN_COPIES` times, with at least :data:`MIN_BLOCK`
    operations under it, heads a block if every operation under it is used
    only inside it (nodes in ``protected``, such as kept ones, count as used
    outside). Tried in backward order, so the largest blocks win.
    """
    rows, args = program.rows, program.args
    n = len(rows)
    shape = [0] * n
    size = [0] * n
    users = [0] * n  # (a quotient x * (1/y) writes y as well: a block must not hide it)
    for written in program.writes:
        for j in written:
            users[j] += 1
    shapes: dict[tuple[str | int, ...], int] = {}
    count = [0]  # per shape id
    for i, (row, a) in enumerate(zip(rows, args)):
        if row is None:
            continue
        key: tuple[str | int, ...]
        if len(a) == 2:
            j, k = a
            key, s = (row.op, shape[j], shape[k]), size[j] + size[k]
        else:
            (j,) = a
            key, s = (row.op, shape[j]), size[j]
        sid = shapes.get(key)
        if sid is None:
            sid = shapes[key] = len(count)
            count.append(0)
        count[sid] += 1
        shape[i] = sid
        size[i] = s + 1 if s < 1 << 40 else s
    for i in protected:
        users[i] += 1

    taken = [False] * n
    uses = [0] * n  # a candidate's uses of each operation under it (set back to 0 after each)
    local = [-1] * n  # a block's own numbering of its members (likewise)
    budget = 4 * n + 1000  # failed tries cost at most a few passes over the graph
    groups: dict[_Key, list[_Block]] = {}
    for i in range(n - 1, -1, -1):
        if taken[i] or rows[i] is None or size[i] < MIN_BLOCK or count[shape[i]] < MIN_COPIES:
            continue
        members = [i]
        stack = [i]
        while stack:
            for j in args[stack.pop()]:
                if rows[j] is not None:
                    if not uses[j]:
                        members.append(j)
                        stack.append(j)
                    uses[j] += 1
        budget -= len(members)
        private = all(users[j] == uses[j] for j in members[1:])  # else used elsewhere too: not a block
        for j in members:
            uses[j] = 0
        if budget < 0:
            break
        if not private or len(members) < MIN_BLOCK:
            continue
        members.sort()
        block = _Block(i, members, *_structure(program, members, local, shape))
        for j in members:
            taken[j] = True
        groups.setdefault(block.key, []).append(block)
    return [_Group(blocks) for blocks in groups.values() if len(blocks) >= MIN_COPIES]


def _structure(program: Program, members: list[int], local: list[int],
               shape: list[int]) -> tuple[list[int], _Key]:
    """The leaves a block reads (in order of first use) and a key equal for blocks of the same
    structure: each member's shape and its operands, by the block's own numbering (or, for a leaf,
    ``-1 -`` its place among the leaves). ``local``: all -1, a scratch array the size of the program,
    left as it was found."""
    args = program.args
    for k, j in enumerate(members):
        local[j] = k
    externals: dict[int, int] = {}
    key: list[int] = []
    add = key.append
    for j in members:
        add(shape[j])
        for p in args[j]:
            k = local[p]
            add(k if k >= 0 else -1 - externals.setdefault(p, len(externals)))
    for j in members:
        local[j] = -1
    return list(externals), tuple(key)


class _Schedule:
    """Which operations run where: the straight line before the loops (``before``), the loops over
    each group's copies, and the straight line after them (``after``); positions, forward order.

    A loop runs its copies in the order ``backward()`` visits them. The
    straight-line operations that hand a gradient to a block, and every one
    above those, run before the loops; the others after. That moves some
    additions into a gradient, so it is checked, node by node, that each
    gradient still receives its contributions in ``backward()``'s order; if
    not, the groups are given up one by one, the smallest first.
    """

    def __init__(self, program: Program) -> None:
        self.program = program
        root = len(program.nodes) - 1
        protected = {root, *program.keep_positions}
        groups = [g for g in _repeats(program, protected) if all(b.root != root for b in g.blocks)]
        groups.sort(key=lambda g: len(g.blocks) * len(g.blocks[0].members))
        while not self._plan(groups):
            groups.pop(0)
        self.compiled_operations = (len(self.before) + len(self.after)
                                    + sum(len(g.blocks[0].members) for g in self.groups))

    def _plan(self, groups: list[_Group]) -> bool:
        """Schedule ``groups``; False when some gradient would receive its contributions out of order."""
        rows, args = self.program.rows, self.program.args
        n = len(rows)
        block_of = [-1] * n  # the block an operation belongs to (an index into ``blocks``)
        phase = [0] * n  # 0: before the loops; 1 + g: group g's loop; 1 + len(groups): after
        roots = {block.root for group in groups for block in group.blocks}
        k = 0
        for g, group in enumerate(groups):
            for block in group.blocks:
                for j in block.members:
                    block_of[j] = k
                    phase[j] = 1 + g
                k += 1
        after = 1 + len(groups)
        # Before the loops: what backward() reaches before any block, what hands a block's root
        # its gradient, and everything above those (operands come before their users, so one
        # pass in forward order closes it upwards); the others after.
        top = max(roots, default=n)
        before = [False] * n
        for i in range(n):
            if rows[i] is not None and block_of[i] < 0:
                before[i] = i > top or any(j in roots or before[j] for j in args[i])
                if not before[i]:
                    phase[i] = after
        # A copy's own leaves must be its alone.
        owner: dict[int, int] = {}
        k = 0
        for group in groups:
            for block in group.blocks:
                for s in group.own:
                    p = block.externals[s]
                    if p in owner:
                        return False
                    owner[p] = k
                k += 1
        reads = self.program.reads
        for i in range(n):  # (a quotient outside the blocks reading a copy's own leaf)
            if rows[i] is not None and block_of[i] < 0 and any(j in owner for j in reads[i]):
                return False
        # Every gradient must get its contributions in backward()'s order (from the root down):
        # from operations whose phases never go back.
        last: dict[int, int] = {}
        writes = self.program.writes
        for i in range(n - 1, -1, -1):
            if rows[i] is None:
                continue
            for j in writes[i]:
                if block_of[j] >= 0 and j not in roots:
                    continue  # inside a block: only its own copy writes it, in order
                if phase[i] < last.get(j, 0) or (j in owner and owner[j] != block_of[i]):
                    return False
                last[j] = phase[i]
        self.groups = groups
        self.before = [i for i in range(n) if rows[i] is not None and block_of[i] < 0 and before[i]]
        self.after = [i for i in range(n) if rows[i] is not None and block_of[i] < 0 and not before[i]]
        return True


# -- tracing the rules into templates ----------------------------------------------------


class _Untraceable(Exception):
    """A rule that calls a function of ``lib`` or branches in Python: the tape calls it instead."""


class _Source(str):
    """Python source of an expression: what a rule computes when run on names.

    Tracing a row's ``vjp`` with operands ``{0}``, ``{1}``, ``{out}`` and
    upstream ``{g}`` gives its contributions as templates, so the tape pastes
    the table's own arithmetic and never spells a rule a second time.
    """

    def __neg__(self) -> _Source:
        return _Source(f"(-{self})")

    def __bool__(self) -> bool:
        raise _Untraceable


def _infix(symbol: str, reflected: bool) -> Callable[[_Source, object], _Source]:
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
    def where(condition: object, x: object, y: object) -> _Source:
        return _Source(f"({x!s} if {condition!s} else {y!s})")

    def __getattr__(self, name: str) -> NoReturn:
        raise _Untraceable


_TEMPLATES: dict[Primitive, tuple[str, ...] | None] = {}  # row -> its traced rule (None: called), traced when first met


def _template(row: Primitive) -> tuple[str, ...] | None:
    """The contributions of ``row`` as templates over ``{g}``, ``{out}``, ``{0}``, ``{1}``,
    or None when the rule cannot be traced (the tape then calls it)."""
    if row not in _TEMPLATES:
        operands = [_Source(f"{{{k}}}") for k in range(row.arity)]
        try:
            rule = tuple(map(str, row.vjp(_Tracing(), _Source("{g}"), _Source("{out}"), *operands)))
        except (_Untraceable, TypeError):  # TypeError: it called something that wants a number
            rule = None
        _TEMPLATES[row] = rule
    return _TEMPLATES[row]


@cache  # a few templates, parsed for each of thousands of operations otherwise
def _fields(templates: tuple[str, ...]) -> frozenset[str]:
    """The placeholders (``"0"``, ``"out"``, ...) that templates such as ``"({g} * {1})"`` use."""
    return frozenset(field for t in templates for _, field, _, _ in Formatter().parse(t) if field)


# -- one segment of straight-line code ------------------------------------------------------


class _Registers:
    """Local variable names for short-lived values, reused once a value is dead.

    Keeping tens of thousands of intermediate floats alive makes a replay
    slower than the arithmetic (allocator and cache misses); reusing a few
    names lets CPython recycle the same float objects.
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
        if name.startswith(self.prefix):
            self.free.append(name)


class _Segment:
    """Straight-line code for some operations of the program: the forward lines and the backward lines.

    ``ops``: ``(id, row, forward_row, reads, args)`` per operation, in
    forward order (``reads``: the ids the forward reads; ``args``: the
    operands). An id not among the operations is *outside*: its value is
    read from ``values[id]``, and its gradient, if it has a name in
    ``grads``, is added into that variable; otherwise it gets a fresh one
    (found in ``self.grad`` afterwards). ``kept``: operations whose values
    must end up in their own variable (``{prefix}v{id}``), such as outputs.
    ``seeds``: the incoming gradient of operations that get theirs from
    outside (a root's). Used for the straight line and for one block's body.
    """

    def __init__(self, ops: list[_Op], values: dict[int, str], grads: dict[int, str], kept: set[int],
                 seeds: dict[int, str], prefix: str) -> None:
        self.ops, self.values, self.prefix = ops, values, prefix
        self.inside = {op[0] for op in ops}
        self.number = {op: k for k, op in enumerate(PRIMITIVES)}  # F3, L3: the table's functions by row
        # Which values backward reads: the output and operands its templates name, and the
        # output and operands of every rule that is called.
        needed: dict[int, None] = {}
        for i, row, frow, reads, args in reversed(ops):
            rule = _template(row)
            if frow is QUOTIENT:  # lower.divided reads x, 1/y, the quotient and y
                named = [i, *args, reads[1]]
            elif rule is None:
                named = [i, *args]
            else:
                fields = _fields(rule)
                named = ([i] if "out" in fields else []) + [args[int(f)] for f in sorted(fields) if f.isdigit()]
            needed.update(dict.fromkeys(j for j in named if j in self.inside))
        self.needed = list(needed)
        self.kept = set(needed) | set(kept)
        self.name = {i: f"{prefix}v{i}" for i in self.kept}
        self.grads, self.seeds = grads, seeds

    def value(self, j: int) -> str:
        """The variable holding ``j``'s value once the forward lines have run (``j`` kept, or outside)."""
        if j not in self.inside:
            return self.values[j]
        return self.name[j] if j in self.kept else "_"  # (a value no template reads: never pasted)

    def forward(self) -> list[str]:
        """One statement per operation, or inline in its one user's expression; short-lived values
        in reused registers."""
        ops, kept = self.ops, self.kept
        forms: dict[int, str] = {}
        for i, _, frow, reads, _ in ops:
            if frow.inline is not None:
                forms[i] = frow.inline
            else:
                forms[i] = f"F{self.number[frow.op]}({', '.join(f'{{{k}}}' for k in range(len(reads)))})"
        readers: dict[int, int] = {}
        reader: dict[int, int] = {}
        for i, _, _, reads, _ in ops:
            for p in reads:
                readers[p] = readers.get(p, 0) + 1
                reader[p] = i
        inlined: dict[int, bool]
        nesting: dict[int, int]
        inlined, nesting = {}, {}
        for i, row, _, reads, _ in ops:
            nesting[i] = max((nesting[p] + 1 for p in reads if inlined.get(p)), default=0)
            user = forms.get(reader.get(i), "")  # type: ignore[arg-type]  # (None: no reader)
            inlined[i] = (row.op in ("+", "*") and readers.get(i) == 1 and i not in kept
                          and nesting[i] < _MAX_NESTING
                          and all(user.count(f"{{{k}}}") == 1 for k in range(2)))  # its user reads it once
        host: dict[int, int] = {}  # the statement that evaluates each operation
        for i, *_ in reversed(ops):
            host[i] = host[reader[i]] if inlined[i] else i
        last_read: dict[int, int] = {}  # the last statement that reads each named value (ids grow in forward order)
        for i, _, _, reads, _ in ops:
            for p in reads:
                if not inlined.get(p):
                    last_read[p] = max(last_read.get(p, -1), host[i])
        expression: dict[int, str] = {}
        registers: dict[int, list[int]] = {}  # the named operations an inline expression reads
        lines = []
        regs = _Registers(f"{self.prefix}t")
        for i, _, _, reads, _ in ops:
            args, read = [], []
            for p in reads:
                if inlined.get(p):
                    args.append(f"({expression[p]})")
                    read += registers[p]
                else:
                    args.append(self.name[p] if p in self.inside else self.values[p])
                    read.append(p)
            source = forms[i].format(*args)
            if inlined[i]:
                expression[i], registers[i] = source, read
                continue
            for p in dict.fromkeys(read):
                if p in self.inside and p not in kept and last_read[p] == i:
                    regs.give(self.name[p])  # read for the last time here: free before the assignment
            if i not in kept:
                self.name[i] = regs.take()
            lines.append(f"{self.name[i]} = {source}")
        return lines

    def backward(self, phases: list[list[int]] | None = None) -> list[list[str]]:
        """The rules, in ``Value.backward``'s order (see :class:`_BackwardLines`).

        ``phases``: the operations' ids in the order to process them, cut
        where other code runs in between (a node comes after all its users);
        by default all of them, from the last. Returns the lines of each phase.
        Afterwards ``self.grad`` names the variable holding each outside
        node's gradient (a block's root, say).
        """
        by_id = {op[0]: op for op in self.ops}
        if phases is None:
            phases = [[op[0] for op in reversed(self.ops)]]
        out = _BackwardLines(self)
        cuts = []
        for phase in phases:
            for i in phase:
                out.step(*by_id[i])
            cuts.append(len(out.lines))
            out.guard = None  # other code runs here: no if-block spans it
        self.grad = out.grad
        return [out.lines[a:b] for a, b in zip([0, *cuts], cuts)]


class _BackwardLines:
    """The backward lines of a segment, operation by operation, as ``Value.backward`` applies them.

    ``+`` hands its gradient on without copying it, and the rules guarded by
    the same gradient (the zero rule: a zero gradient passes nothing on) share
    one ``if``. Gradients of the segment's nodes live in reused registers.
    """

    def __init__(self, segment: _Segment) -> None:
        self.segment = segment
        self.users: dict[int, int] = {}
        for _, _, frow, reads, args in segment.ops:
            for p in args + reads[1:] if frow is QUOTIENT else args:  # (a quotient may write y too)
                self.users[p] = self.users.get(p, 0) + 1
        self.grad = dict(segment.grads)
        self.grad.update(segment.seeds)
        self.holders: dict[str, int] = {name: 1 for name in segment.seeds.values()}
        self.regs = _Registers(f"{segment.prefix}u")
        self.lines: list[str] = []
        self.guard: str | None = None  # the gradient that guards the if-block the lines end with, if any

    def emit(self, line: str) -> None:
        self.lines.append(line)
        self.guard = None

    def fresh(self, p: int) -> str:
        """A new register for ``p``'s gradient."""
        self.grad[p] = r = self.regs.take()
        self.holders[r] = 1
        return r

    def guarded(self, g: str, body: list[str]) -> None:
        """``body`` under ``if g:``, joining the if-block the lines end with when it is ``g``'s."""
        if body:
            if self.guard != g:
                self.emit(f"if {g}:")
                self.guard = g
            self.lines.extend(f"    {line}" for line in body)

    def step(self, i: int, row: Primitive, frow: Primitive, reads: tuple[int, ...], args: tuple[int, ...]) -> None:
        g = self.grad.pop(i, None)
        if g is None:  # nothing arrives here: no contribution to hand on
            return
        rule = _template(row)
        if frow is QUOTIENT:
            self.quotient(i, g, args, reads[1])
        elif row.op == "+" and rule == ("{g}", "{g}"):
            self.sum(g, args)
        else:
            self.rule(i, row, rule, g, args)
        self.holders[g] = self.holders.get(g, 1) - 1
        if self.holders[g] == 0:
            self.regs.give(g)

    def quotient(self, i: int, g: str, args: tuple[int, ...], y: int) -> None:
        """The gates' own rules inline, as the engine's loop has them; where the 1/x gate's share
        g * x is not finite, ``lower.divided`` says who gets what, as in every driver."""
        grad, value = self.grad, self.segment.value
        x, r = args
        for p in dict.fromkeys((x, r, y)):
            if p not in grad:
                self.emit(f"{self.fresh(p)} = 0.0")
        vx, t = value(x), f"{self.segment.prefix}q"
        self.guarded(g, [f"{grad[x]} += ({g} * {value(r)})", f"{t} = {g} * {vx}",
                         f"if {t} - {t} == 0.0:",
                         f"    {grad[r]} += {t}",
                         "else:",
                         f"    _, {t}r, {t}y = divided(lib, {g}, {vx}, {value(r)}, {value(i)}, {value(y)})",
                         f"    if {t}y is None:",
                         f"        {grad[r]} += {t}r",
                         "    else:",
                         f"        {grad[y]} += {t}y"])

    def sum(self, g: str, args: tuple[int, ...]) -> None:
        """``+`` passes g on as it is (a zero too: see autograd.lower). A parent that only this node
        uses has g itself as its gradient: it shares the variable. Otherwise the first parent may
        take g's register over, if no one shares it (an interior gradient is never -0.0, so 0.0 + g
        is g); the others get a copy."""
        grad, holders, users, outside = self.grad, self.holders, self.users, self.segment.grads
        for p in args:
            if p not in grad and users[p] == 1 and p not in outside:
                grad[p] = g
                holders[g] = holders.get(g, 0) + 1
        for p in dict.fromkeys(args):
            if grad.get(p) == g and users[p] == 1 and p not in outside:
                continue
            if p in grad:
                self.emit(f"{grad[p]} += {g}")
            elif holders.get(g) == 1 and g.startswith(self.regs.prefix):
                grad[p] = g
                holders[g] += 1
            else:
                self.emit(f"{self.fresh(p)} = {g}")
            if args.count(p) == 2:  # x + x
                self.emit(f"{grad[p]} += {g}")

    def rule(self, i: int, row: Primitive, rule: tuple[str, ...] | None, g: str, args: tuple[int, ...]) -> None:
        """A row's rule: its traced templates pasted, or its function called; under the zero rule."""
        grad, value = self.grad, self.segment.value
        body: list[str] = []
        if rule is not None:
            contributions = [t.format(*[value(q) for q in args], g=g, out=value(i)) for t in rule]
        else:
            contributions = [f"{self.segment.prefix}d{k}" for k in range(len(args))]
            operands = ", ".join(value(j) for j in [i, *args])
            body.append(f"({', '.join(contributions)},) = L{self.segment.number[row.op]}(lib, {g}, {operands})")
        for p, c in zip(args, contributions):
            if p in grad:
                body.append(f"{grad[p]} += {c}")
            elif self.users[p] == 1 and rule is not None:
                # Its whole gradient, in one line: Value.backward's 0.0, plus c
                # unless g is zero (0.0 + c is not c when c is -0.0).
                self.emit(f"{self.fresh(p)} = 0.0 + {c} if {g} else 0.0")
            else:
                self.emit(f"{self.fresh(p)} = 0.0")
                body.append(f"{grad[p]} += {c}")
        self.guarded(g, body)


# -- the compiled replay ----------------------------------------------------------------------


class _Code:
    """Compiled tape code, shared by the live tapes of one graph shape."""

    __slots__ = ("code", "__weakref__")

    def __init__(self, source: str) -> None:
        self.code = compile(source, "<autograd.tape>", "exec")


# Graphs of the same shape (the equal-sized batches of one model) generate the
# same source, since no number from the graph is pasted into it: they share one
# compile. Weakly: the code dies with the last tape that uses it.
_live_code: WeakValueDictionary[str, _Code] = WeakValueDictionary()


def _code(source: str) -> _Code:
    code = _live_code.get(source)
    if code is None:
        code = _live_code[source] = _Code(source)
    return code


def _unpack(names: list[str], source: str, indent: str = "    ") -> list[str]:
    """``(a, b, ...,) = source[...]``, a thousand names a statement."""
    return [f"{indent}({', '.join(names[k:k + _UNPACK])},) = {source}[{k}:{k + len(names[k:k + _UNPACK])}]"
            for k in range(0, len(names), _UNPACK)]


def _pack(names: list[str], target: str, indent: str = "    ") -> list[str]:
    """``target[...] = (a, b, ...,)``, a thousand names a statement."""
    return [f"{indent}{target}[{k}:{k + len(names[k:k + _UNPACK])}] = ({', '.join(names[k:k + _UNPACK])},)"
            for k in range(0, len(names), _UNPACK)]


def _indented(lines: list[str], indent: str) -> list[str]:
    return [indent + line for line in lines]


class _Compiled(_Unready):
    """The program as generated Python: each group's block compiled once and run in a loop over its
    copies, the rest as straight-line code (see the module docstring and :class:`_Schedule`)."""

    def __init__(self, program: Program, schedule: _Schedule) -> None:
        self.program = program
        self.kept = set(program.keep)
        nodes, rows, frows, args, reads = (program.nodes, program.rows, program.forward_rows,
                                           program.args, program.reads)
        self.root = root = len(nodes) - 1
        self.groups = groups = schedule.groups
        for group in groups:
            group.blocks.sort(key=lambda b: b.root)  # forward order
        straight = sorted(schedule.before + schedule.after)
        # The leaves: those the straight line reads or the copies share, then each group's own, copy by copy.
        leaves: set[int] = set()
        for i in straight:
            leaves.update(j for j in args[i] + reads[i] if rows[j] is None)
        for group in groups:
            leaves.update(p for p in group.shared if p is not None)
        if rows[root] is None:
            leaves.add(root)
        self.named = named = sorted(leaves)
        own = [[b.externals[s] for b in group.blocks for s in group.own] for group in groups]
        self.leaves = tuple(nodes[i] for i in named + [p for ps in own for p in ps])
        self.operations = sum(1 for row in rows if row is not None)
        self.shown = shown = list(dict.fromkeys(i for i in [root, *program.keep_positions]
                                                if rows[i] is not None))
        self.shown_nodes = tuple(nodes[i] for i in shown)
        self.outputs = {b.root: f"o{b.root}" for group in groups for b in group.blocks}
        values = {i: f"v{i}" for i in named}
        values.update(self.outputs)
        # (rows[i] is None only for a leaf, and these are operations)
        self.line = _Segment([(i, rows[i], frows[i], reads[i], args[i]) for i in straight],  # type: ignore[misc]
                             values, {i: f"g{i}" for i in named}, {root, *shown} & set(straight),
                             {root: "gradient"}, "")
        self.bodies = [self._body(k, group) for k, group in enumerate(groups)]
        self.source = "\n".join(self._forward_source() + [""] + self._backward_source(schedule) + [""])
        self._load(self.source)
        self.L = [leaf.data for leaf in self.leaves]
        self.S = self._saved_now()

    def _forward_source(self) -> list[str]:
        """``forward(L)``: the loops, then the straight line; it returns the root's value, what
        backward needs (``S``) and the shown nodes' values."""
        line, named = self.line, self.named
        src = ["def forward(L):"] + _unpack([f"v{i}" for i in named], "L")
        start = len(named)
        for k, (group, body) in enumerate(zip(self.groups, self.bodies)):
            width, copies = len(group.own), len(group.blocks)
            src.append(f"    O{k} = []")
            src.append(f"    S{k} = []")
            if width:
                own_names = ", ".join(f"x{k}_{s}" for s in group.own)
                src.append(f"    for ({own_names},) in zip(*[iter(L[{start}:{start + width * copies}])] * {width}):")
            else:
                src.append(f"    for _ in range({copies}):")
            src += _indented(body.forward(), "        ")
            src.append(f"        O{k}.append({body.name[len(group.blocks[0].members) - 1]})")
            src.append(f"        S{k}.append(({''.join(body.name[j] + ', ' for j in body.needed)}))")
            src += _unpack([self.outputs[b.root] for b in group.blocks], f"O{k}")
            start += width * copies
        src += _indented(line.forward(), "    ")
        shown = "".join(f"{line.value(i)}, " for i in self.shown)
        root = line.value(self.root) if self.program.rows[self.root] is not None else f"v{self.root}"
        src.append(f"    return {root}, {self._saved_names()}, ({shown})")
        return src

    def _saved_names(self) -> str:
        """What forward hands backward, as the tuple's source: the straight line's values, each loop's."""
        line = self.line
        saved = "".join(f"{line.name[j]}, " for j in line.needed)
        loops = "".join(f"S{k}, O{k}, " for k in range(len(self.groups)))
        return f"(({saved}), {loops})"

    def _backward_source(self, schedule: _Schedule) -> list[str]:
        """``backward(gradient, L, S, G)``: the straight line before the loops, the loops (copies in
        backward()'s order), the straight line after them; it returns the leaves' new gradients G."""
        line, named, groups = self.line, self.named, self.groups
        src = ["def backward(gradient, L, S, G):"]
        src += _unpack([f"v{i}" for i in named], "L") + _unpack([f"g{i}" for i in named], "G")
        src.append(f"    {self._saved_names()} = S")
        if groups:
            src += _unpack([self.outputs[b.root] for group in groups for b in group.blocks],
                           "(" + " + ".join(f"O{k}" for k in range(len(groups))) + ")")
        before, after = line.backward([sorted(schedule.before, reverse=True), sorted(schedule.after, reverse=True)])
        src += _indented(before, "    ")
        start = len(named)
        for k, (group, body) in enumerate(zip(groups, self.bodies)):
            width, copies = len(group.own), len(group.blocks)
            src.append(f"    GO{k} = [{', '.join(line.grad.get(b.root, '0.0') for b in group.blocks)}]")
            src.append(f"    for c in range({copies - 1}, -1, -1):")
            src.append(f"        ({''.join(body.name[j] + ', ' for j in body.needed)}) = S{k}[c]")
            src.append(f"        go{k} = GO{k}[c]")
            if width:
                gxs = ", ".join(f"gx{k}_{s}" for s in group.own)
                src.append(f"        j = {start} + c * {width}")
                src.append(f"        ({', '.join(f'x{k}_{s}' for s in group.own)},) = L[j:j + {width}]")
                src.append(f"        ({gxs},) = G[j:j + {width}]")
            src += _indented(body.backward()[0], "        ")
            if width:
                src.append(f"        G[j:j + {width}] = ({gxs},)")
            start += width * copies
        src += _indented(after, "    ")
        if self.program.rows[self.root] is None:
            src.append(f"    g{self.root} += gradient")
        return src + _pack([f"g{i}" for i in named], "G") + ["    return G"]

    def _load(self, source: str) -> None:
        """Compile ``source`` (or take the live compile of the same source) and keep its two functions."""
        namespace: dict[str, Any] = {"__builtins__": {"zip": zip, "iter": iter, "range": range}, "lib": FLOATS,
                                   "divided": divided}
        for k, row in enumerate(PRIMITIVES.values()):
            namespace[f"F{k}"] = row.forward
            namespace[f"L{k}"] = row.vjp
        # The code is generated from the graph's structure and our table only (see the module
        # docstring), never from user text; it runs in a namespace that holds nothing but the
        # table's functions and zip, iter and range.
        self.code = _code(source)
        exec(self.code.code, namespace)
        # Popped, not read: a namespace holding its own functions would be a reference cycle,
        # and the compiled code would wait for the cycle collector instead of dying with the tape.
        self._forward: Callable[[list[float]], tuple[float, tuple[object, ...], tuple[float, ...]]]
        self._backward: Callable[[float, list[float], tuple[object, ...], list[float]], list[float]]
        self._forward = namespace.pop("forward")
        self._backward = namespace.pop("backward")

    def _body(self, k: int, group: _Group) -> _Segment:
        """The code of one copy of ``group``'s block, in local ids (the same for every copy)."""
        program = self.program
        rows, frows, args, reads = program.rows, program.forward_rows, program.args, program.reads
        block = group.blocks[0]
        local = {j: m for m, j in enumerate(block.members)}
        slot = {p: -1 - s for s, p in enumerate(block.externals)}

        def ref(j: int) -> int:
            return local[j] if j in local else slot[j]

        ops: list[_Op] = [(local[j], rows[j], frows[j], tuple(map(ref, reads[j])),  # type: ignore[misc]
                           tuple(map(ref, args[j]))) for j in block.members]  # (operations: rows)
        values, grads = {}, {}
        for s, p in enumerate(group.shared):
            values[-1 - s] = f"v{p}" if p is not None else f"x{k}_{s}"
            grads[-1 - s] = f"g{p}" if p is not None else f"gx{k}_{s}"
        out = len(block.members) - 1
        return _Segment(ops, values, grads, {out}, {out: f"go{k}"}, f"b{k}_")

    def _saved_now(self) -> tuple[object, ...]:
        """What ``forward`` would hand ``backward``, from the values the graph holds now."""
        nodes = self.program.nodes
        saved = tuple(nodes[j].data for j in self.line.needed)
        loops: list[list[tuple[float, ...]] | list[float]] = []
        for group, body in zip(self.groups, self.bodies):
            loops.append([tuple(nodes[b.members[j]].data for j in body.needed) for b in group.blocks])
            loops.append([nodes[b.root].data for b in group.blocks])
        return (saved, *loops)

    def forward(self) -> float:
        self.ready = False
        L = [leaf.data for leaf in self.leaves]
        value, S, shown = self._forward(L)
        self.L, self.S = L, S
        for node, data in zip(self.shown_nodes, shown):
            node.data = data
        self.ready = True
        return value

    def backward(self, gradient: float) -> None:  # (Tape.backward has made it a float)
        self._check_ready()
        leaves = self.leaves
        with gradients_lock:
            G = self._backward(gradient, self.L, self.S, [leaf.grad for leaf in leaves])
            for leaf, g in zip(leaves, G):
                leaf.grad = g

    def __repr__(self) -> str:
        return f"Tape({self.operations} operations, {len(self.leaves)} leaves)"
