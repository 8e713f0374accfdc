"""Batched replay: the graph of one sample, evaluated over a whole batch with NumPy.

``Tape(root, inputs=[...])`` is built from a graph made for **one** sample:
``inputs`` are the leaves that stand for the sample (its features, its
label); every other leaf is a parameter (or a constant), the same for every
sample. ``forward(batch)`` evaluates the graph for the N rows of ``batch``
at once; ``backward()`` adds the gradient of the mean over the rows into the
parameters. Per row, the numbers are the engine's (to rounding): the same
rules from :mod:`autograd.ops`, run on arrays.

How it is fast (a NumPy call costs about a microsecond, whatever its size,
so the count of calls is what matters):

* every node is a row of a 2-D array (one column per sample), or a single
  number when it does not depend on the inputs (the parameters, and what is
  computed from them only: a *uniform* node);
* nodes of the same operation at the same depth (the longest path from the
  leaves) are computed by one call: their operands gathered, the row's
  vectorised ``forward`` (``ops.Batched``) applied, the results stored side
  by side; ``backward`` scatters the contributions back with ``+=`` (or
  ``np.add.at`` where one node is an operand twice);
* a weighted sum, ``b + w0*x0 + w1*x1 + ...`` with uniform weights (a
  neuron's), is one node, and the sums of one layer, which read the same
  ``x``, are one matrix product: ``W @ X`` forward, ``W.T @ G`` and
  ``G @ X.T`` backward. (It sums in another order than the chain of ``+``
  does: the same numbers to rounding, not bit for bit.)

The engine's semantics, row by row: ``max`` ties split, ``relu'(0) = 0``,
nan propagates, a zero gradient passes nothing on (so 0 × inf gives no nan:
contributions that are not finite are masked where the upstream gradient is
0), ``x * (1/y)`` is valued as the quotient ``x / y``. Where a row hits an
undefined point (``log`` of a negative number, ...), the vectorised form
gives something not finite; the tape then asks the row's own float
``forward`` about those elements, and raises its error, naming the row.
"""

from __future__ import annotations

import operator
from functools import partial
from types import SimpleNamespace

from .engine import Value, gradients_lock
from .lower import QUOTIENT, Program
from .ops import PRIMITIVES, Primitive

_NEVER_RAISE = (operator.add, operator.mul, operator.truediv)  # float forwards without an undefined point
# (a quotient x * (1/y) divides by a y its 1/x node has already checked)
_ZERO, _ONE = 0, 1  # uniform slots holding the constants 0.0 and 1.0 (their gradients are dropped)


def numpy():
    """The numpy module, or an ``ImportError`` that says how to install it."""
    try:
        import numpy as np
    except ImportError:
        raise ImportError(
            "the batched tape, Tape(root, inputs=...), needs NumPy: pip install 'valuegrad[fast]' "
            "(or pip install numpy). Tape(root) without inputs needs nothing."
        ) from None
    return np


_lib: SimpleNamespace | None = None


def array_lib(np) -> SimpleNamespace:
    """``lib`` on arrays: each row's batched forward by name, ``where`` as ``np.where``, and ``np``."""
    global _lib
    if _lib is None or _lib.np is not np:
        lib = SimpleNamespace(np=np, where=np.where, expm1=np.expm1, power_or_inf=np.power)
        for row in PRIMITIVES.values():
            if row.batched is not None:
                setattr(lib, row.name, partial(row.batched.forward, lib))
        _lib = lib
    return _lib


def array_rule(row: Primitive, lib: SimpleNamespace):
    """The row's vjp on arrays: its batched vjp, or its own rule when that runs on arrays.

    A rule that branches in Python (``if a > 0.0``) fails on an array of two
    elements (NumPy will not say whether it is true): such a row needs a
    batched vjp, and the error says so.
    """
    if row.batched is None:
        raise NotImplementedError(
            f"the batched tape cannot replay the operation {row.op!r}: its row in autograd/ops.py has "
            "no vectorised form (batched=...); Tape(root) without inputs replays it sample by sample"
        )
    if row.batched.vjp is not None:
        return row.batched.vjp
    probe = lib.np.array([0.5, 2.0])
    try:
        row.vjp(lib, probe, probe, *[probe] * row.arity)
    except (ValueError, TypeError):
        raise NotImplementedError(
            f"the batched tape cannot replay the operation {row.op!r}: its vjp branches in Python, "
            "which arrays cannot do; give its row a batched vjp (Batched(forward, vjp))"
        ) from None
    return row.vjp


class _Undefined(Exception):
    """Row ``row`` hits an undefined point: ``error`` is the engine's error, naming the row."""

    def __init__(self, row: int, error: Exception) -> None:
        super().__init__(row, error)
        self.row, self.error = row, error


class _Slots:
    """Where a list of nodes lives: rows of the varying array ``V``, or entries of the uniform ``U``.

    Reads give a ``(k, N)`` array (``(k, 1)`` for uniform nodes, which
    broadcasts); a run of consecutive rows is read as a slice (a view, no
    copy). ``add`` accumulates contributions: summed over the samples for a
    uniform node, with ``np.add.at`` when a node appears twice.
    """

    __slots__ = ("varying", "key", "index", "unique")

    def __init__(self, np, slots: list[int], varying: bool) -> None:
        self.varying = varying
        self.index = np.asarray(slots, dtype=np.intp)
        first = slots[0]
        contiguous = slots == list(range(first, first + len(slots)))
        self.key = slice(first, first + len(slots)) if contiguous else self.index
        self.unique = len(set(slots)) == len(slots)

    def read(self, V, U):
        return V[self.key] if self.varying else U[self.key][:, None]

    def add(self, np, GV, GU, c) -> None:
        if self.varying:
            if self.unique:
                GV[self.key] += c
            else:
                np.add.at(GV, self.index, np.broadcast_to(c, (len(self.index), GV.shape[1])))
            return
        c = c.sum(axis=1)
        if self.unique:
            GU[self.key] += c
        else:
            np.add.at(GU, self.index, c)


class _Operation:
    """Nodes of one primitive at one depth, with the same kinds of operands: one call each way."""

    def __init__(self, row: Primitive, forward_row: Primitive, rule, reads: list[_Slots],
                 operands: list[_Slots], out: _Slots, needs_grad: list[bool]) -> None:
        # forward_row: the row itself, or lower.QUOTIENT for x * (1/y) (it then reads x and y)
        self.row, self.forward_row, self.rule, self.reads, self.operands = row, forward_row, rule, reads, operands
        self.out, self.needs_grad = out, needs_grad
        self.checked = forward_row.forward not in _NEVER_RAISE
        self.passes_zero = row.op == "+"

    def forward(self, lib, V, U) -> None:
        args = [s.read(V, U) for s in self.reads]
        out = self.forward_row.batched.forward(lib, *args)
        if self.checked and not lib.np.isfinite(out).all():
            self._raise_where_undefined(lib.np, out, args)
        if self.out.varying:
            V[self.out.key] = out
        else:
            U[self.out.key] = out[:, 0]

    def _raise_where_undefined(self, np, out, args) -> None:
        """Ask the row's float forward about each element that is not finite; raise its error for
        the first row where it is undefined (nan and inf are fine where the engine gives them too)."""
        suspects = np.argwhere(~np.isfinite(out))
        for k, r in sorted(suspects.tolist(), key=lambda kr: (kr[1], kr[0])):
            operands = [float(a[k, r if a.shape[1] > 1 else 0]) for a in args]
            try:
                self.forward_row.forward(*operands)
            except (ArithmeticError, ValueError) as error:
                if not self.out.varying:  # it depends on no input: undefined for every row alike
                    raise _Undefined(0, error) from None
                named = type(error)(f"row {r} of the batch: {error}")
                named.row, named.reason = r, error  # for a caller that knows the rows by other names
                raise _Undefined(r, named) from None

    def backward(self, lib, V, U, GV, GU) -> None:
        np = lib.np
        g = self.out.read(GV, GU)
        args = [s.read(V, U) for s in self.operands]
        received = self.rule(lib, g, self.out.read(V, U), *args)
        for slots, c, needed in zip(self.operands, received, self.needs_grad):
            if not needed or (type(c) is float and c == 0.0):
                continue
            c = np.broadcast_to(c, g.shape) if np.ndim(c) < 2 else c
            if not self.passes_zero and not np.isfinite(c).all():
                c = np.where(g == 0.0, 0.0, c)  # a zero gradient passes nothing on: no 0 × inf
            slots.add(np, GV, GU, c)


class _WeightedSums:
    """Sums ``Σ_j W[i, j] x_j + b_i`` that read the same ``x``: a layer's neurons, one matrix product.

    ``W`` gathers uniform nodes (weights; the constant 1.0 for a term with no
    weight), ``b`` the sum of each one's uniform terms (its bias).
    """

    def __init__(self, np, xs: _Slots, weights: list[list[int]], biases: list[list[int]], out: _Slots,
                 x_needs_grad: bool) -> None:
        self.xs, self.out, self.x_needs_grad = xs, out, x_needs_grad
        self.weights = np.asarray(weights, dtype=np.intp)
        width = max(len(b) for b in biases)
        self.biases = (np.asarray([b + [_ZERO] * (width - len(b)) for b in biases], dtype=np.intp)
                       if width else None)

    def forward(self, lib, V, U) -> None:
        out = V[self.out.key]
        lib.np.matmul(U[self.weights], self.xs.read(V, U), out=out)
        if self.biases is not None:
            out += U[self.biases].sum(axis=1)[:, None]

    def backward(self, lib, V, U, GV, GU) -> None:
        np = lib.np
        G = GV[self.out.key]
        W, X = U[self.weights], self.xs.read(V, U)
        zero = None
        if self.x_needs_grad:
            if np.isfinite(W).all():
                dX = W.T @ G
            else:  # a zero gradient passes nothing on, even to a weight that is inf or nan
                zero = G[:, None, :] == 0.0
                dX = np.where(zero, 0.0, W[:, :, None] * G[:, None, :]).sum(axis=0)
            self.xs.add(np, GV, GU, dX)
        if np.isfinite(X).all():
            dW = G @ X.T
        else:
            zero = G[:, None, :] == 0.0 if zero is None else zero
            dW = np.where(zero, 0.0, G[:, None, :] * X[None, :, :]).sum(axis=2)
        GU += np.bincount(self.weights.ravel(), dW.ravel(), minlength=len(GU))
        if self.biases is not None:
            dB = np.repeat(G.sum(axis=1)[:, None], self.biases.shape[1], axis=1)
            GU += np.bincount(self.biases.ravel(), dB.ravel(), minlength=len(GU))


class Replay:
    """The batched tape's replay (``Tape(root, inputs=...)``): a plan of NumPy steps, and its arrays."""

    def __init__(self, program: Program) -> None:
        np = numpy()
        self._np, self._lib = np, array_lib(np)
        inputs = program.inputs
        for k, x in enumerate(inputs):
            if not isinstance(x, Value):
                raise TypeError(f"Tape() inputs must be Values; input {k} is {type(x).__name__}")
            if x.op:
                raise ValueError(f"Tape() input {k} is not a leaf (it is made by {x.op!r}): "
                                 "inputs stand for the sample's data")
        if len(set(inputs)) != len(inputs):
            raise ValueError("Tape() inputs must be distinct Values")
        self.root, self.inputs = program.root, inputs
        plan = self._plan = _Plan(np, program, self._lib)
        self._steps, self._leaves, self._slot_of = plan.steps, plan.leaves, plan.slot_of
        self._U = np.zeros(plan.n_uniform)
        self._U[_ONE] = 1.0
        self._leaf_slots = np.asarray([plan.uniform_slot[i] for i in plan.leaf_positions], dtype=np.intp)
        self._root_slots = plan.slot_of[program.root]
        self._V = None  # the values of the latest forward: one row per varying node
        self._buffers = (None, None)  # V and its gradients, reused while N stays the same

    def forward(self, batch):
        """The root's value for each row of ``batch`` (shape ``(N, len(inputs))``), as a float64 array."""
        np = self._np
        try:
            batch = np.asarray(batch, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise TypeError(f"Tape.forward() takes a 2-D array of numbers: {error}") from None
        if batch.ndim != 2 or batch.shape[1] != len(self.inputs) or batch.shape[0] == 0:
            raise ValueError(f"Tape.forward() takes a batch of shape (N, {len(self.inputs)}) with N >= 1 "
                             f"(one column per input), got shape {batch.shape}")
        self._V = None  # until this forward is through: backward() must not use a half-made one
        self._U[self._leaf_slots] = [leaf.data for leaf in self._leaves]
        try:
            V = self._run(batch)
        except _Undefined as failure:
            # The steps go by depth, not by row: an earlier row may fail at a later step.
            # The engine, sample after sample, would stop at the first row that fails.
            while failure.row > 0:
                try:
                    self._run(batch[: failure.row])
                    break
                except _Undefined as earlier:
                    failure = earlier
            raise failure.error from None
        self._V = V
        return self.values(self.root)

    def _run(self, batch):
        V = self._buffer(batch.shape[0])[0]
        V[: len(self.inputs)] = batch.T
        with self._np.errstate(all="ignore"):
            for step in self._steps:
                step.forward(self._lib, V, self._U)
        return V

    def backward(self, gradient: float = 1.0) -> None:
        """Add d(mean of the root over the rows)/d(leaf) into every leaf that is not an input
        (times ``gradient``, as ``Value.backward(gradient)``)."""
        np, V, U = self._np, self._V, self._U
        if V is None:
            raise RuntimeError("Tape.backward() needs a forward(batch) first")
        GV, GU = self._buffer(V.shape[1])[1], np.zeros(U.shape)
        GV.fill(0.0)
        if self._root_slots.varying:
            GV[self._root_slots.key] = float(gradient) / V.shape[1]  # the mean: each row weighs 1/N
        else:
            GU[self._root_slots.key] = float(gradient)
        with np.errstate(all="ignore"):
            for step in reversed(self._steps):
                step.backward(self._lib, V, U, GV, GU)
        grads = GU[self._leaf_slots].tolist()
        with gradients_lock:
            for leaf, g in zip(self._leaves, grads):
                leaf.grad += g

    def _buffer(self, n: int):
        """Arrays of N columns for the values and their gradients: allocated once per batch size
        (a fresh array of megabytes costs more in page faults than the arithmetic in it)."""
        V, GV = self._buffers
        if V is None or V.shape[1] != n:
            size = (self._plan.n_varying, n)
            V, GV = self._buffers = (self._np.empty(size), self._np.empty(size))
        return V, GV

    def values(self, node: Value):
        """The latest ``forward``'s value of ``node`` for each row: the root, an input, a leaf,
        or a node named in ``keep`` (others may live inside a fused sum, unstored)."""
        if self._V is None:
            raise RuntimeError("Tape.values() needs a forward(batch) first")
        slots = self._slot_of.get(node)
        if slots is None:
            raise ValueError("Tape.values(): that node is not kept by this tape (name it in keep=...)")
        row = slots.read(self._V, self._U)[0]
        return self._np.broadcast_to(row, self._V.shape[1]).copy()

    def __repr__(self) -> str:
        return (f"Tape({self._plan.operations} operations in {len(self._steps)} batched steps, "
                f"{len(self.inputs)} inputs, {len(self._leaves)} parameters)")


class _Plan:
    """One sample's program (:func:`autograd.lower.lower`) as NumPy steps over a batch.

    ``steps``: the :class:`_Operation` and :class:`_WeightedSums` to run in
    order; where each node lives (``slot`` in the varying array,
    ``uniform_slot`` in the uniform one; ``slot_of`` for the nodes a caller
    may ask for); ``leaf_positions``/``leaves``: the parameters (and
    constants); ``n_varying``, ``n_uniform``: the arrays' sizes.
    """

    def __init__(self, np, program: Program, lib) -> None:
        nodes, index = program.nodes, program.position
        inputs, keep = program.inputs, program.keep
        self.np, self.nodes = np, nodes
        self.ops = ops = [node.op for node in nodes]
        self.parents = parents = program.args
        rules = {op: array_rule(PRIMITIVES[op], lib) for op in dict.fromkeys(ops) if op}
        is_input = [False] * len(nodes)
        for i in program.input_positions:
            if i is not None:
                is_input[i] = True
        self.varying = varying = list(is_input)
        for i, op in enumerate(ops):
            if op:
                varying[i] = any(varying[p] for p in parents[i])
        # Which nodes need a gradient: those with a parameter below them.
        needs = [not op and not is_input[i] for i, op in enumerate(ops)]
        for i, op in enumerate(ops):
            if op:
                needs[i] = any(needs[p] for p in parents[i])
        self.needs = needs
        users = [0] * len(nodes)
        for ps in parents:
            for p in ps:
                users[p] += 1
        protected = {index[x] for x in keep if x in index} | {len(nodes) - 1}
        self.single = [users[i] == 1 and i not in protected for i in range(len(nodes))]

        # -- fused weighted sums, and what they absorb -----------------------------
        absorbed: set[int] = set()
        sums: dict[int, tuple] = {}
        for i in range(len(nodes) - 1, -1, -1):
            if ops[i] == "+" and varying[i] and i not in absorbed:
                fused = self._weighted_sum(i)
                if fused is not None:
                    sums[i], inner = fused
                    absorbed |= inner

        # -- depth of each computed node; steps grouped by (depth, kind) ----------
        depth = [0] * len(nodes)
        groups: dict[tuple, list[int]] = {}
        reads: dict[int, list[int]] = {}
        for i, op in enumerate(ops):
            if not op or i in absorbed:
                continue
            if i in sums:
                terms, bias = sums[i]
                deps = [x for _, x in terms] + [w for w, _ in terms if w is not None] + bias
                key = ("sum", tuple(x for _, x in terms))
            else:
                ps = parents[i]
                reads[i] = program.reads[i]  # x * (1/y) reads x and y: it is valued as x / y (lower.QUOTIENT)
                deps = ps + reads[i]
                key = (op, program.quotients[i], tuple(varying[p] for p in reads[i]))
            depth[i] = 1 + max((depth[d] for d in deps), default=0)
            groups.setdefault((depth[i], *key), []).append(i)

        # -- storage: inputs first in V; then each step's outputs, side by side ----
        self.slot = {index[x]: k for k, x in enumerate(inputs) if x in index}
        leaves = [i for i, op in enumerate(ops) if not op and not is_input[i]]
        self.uniform_slot = {i: 2 + k for k, i in enumerate(leaves)}  # after _ZERO and _ONE
        n_varying, n_uniform = len(inputs), 2 + len(leaves)
        steps = []
        for key in sorted(groups, key=lambda k: k[0]):
            members = groups[key]
            for i in members:
                if varying[i]:
                    self.slot[i], n_varying = n_varying, n_varying + 1
                else:
                    self.uniform_slot[i], n_uniform = n_uniform, n_uniform + 1
            out = self._slots([[i] for i in members])[0]
            if key[1] == "sum":
                terms = [sums[i][0] for i in members]
                xs = self._slots([[x] for _, x in terms[0]])[0]
                weights = [[_ONE if w is None else self.uniform_slot[w] for w, _ in t] for t in terms]
                biases = [[self.uniform_slot[b] for b in sums[i][1]] for i in members]
                steps.append(_WeightedSums(np, xs, weights, biases, out, any(needs[x] for _, x in terms[0])))
                continue
            row = PRIMITIVES[key[1]]
            operand = self._slots([parents[i] for i in members])
            read = self._slots([reads[i] for i in members]) if key[2] else operand
            needed = [any(needs[parents[i][j]] for i in members) for j in range(row.arity)]
            steps.append(_Operation(row, QUOTIENT if key[2] else row, rules[row.op], read, operand, out, needed))
        self.steps = steps
        self.operations = sum(1 for op in ops if op)
        self.n_varying, self.n_uniform = n_varying, n_uniform
        self.leaf_positions = leaves
        self.leaves = [nodes[i] for i in leaves]
        root_i = len(nodes) - 1
        kept = [root_i, *(index[x] for x in keep if x in index), *(index[x] for x in inputs if x in index),
                *leaves]
        self.slot_of = {nodes[i]: self._slots([[i]])[0] for i in kept}

    def _slots(self, positions: list[list[int]]) -> list[_Slots]:
        """Operand ``j`` of each of a step's nodes (``positions[k][j]``), as one :class:`_Slots` per ``j``."""
        slots = []
        for column in zip(*positions):
            varying = self.varying[column[0]]
            table = self.slot if varying else self.uniform_slot
            slots.append(_Slots(self.np, [table[i] for i in column], varying))
        return slots

    def _weighted_sum(self, root: int):
        """``root``'s tree of ``+`` as a weighted sum ``(terms, bias)``, and the nodes it absorbs;
        None when it has no weighted term (then plain ``+`` steps do as well)."""
        ops, parents, varying, single = self.ops, self.parents, self.varying, self.single
        terms, bias, inner = [], [], set()
        stack = [root]
        while stack:  # left operand first: the terms in the order the chain adds them
            i = stack.pop()
            if ops[i] == "+" and varying[i] and (i == root or single[i]):
                if i != root:
                    inner.add(i)
                stack.extend(reversed(parents[i]))
            elif not varying[i]:
                bias.append(i)
            elif ops[i] == "*" and single[i] and self._weighted(i):
                a, b = parents[i]
                w, x = (a, b) if varying[b] else (b, a)
                terms.append((w, x))
                inner.add(i)
            else:
                terms.append((None, i))  # a plain term: weight 1
        if all(w is None for w, _ in terms):
            return None
        return (terms, bias), inner

    def _weighted(self, i: int) -> bool:
        """A product of a uniform weight and a varying node (not a quotient ``x * (1/y)``)."""
        a, b = self.parents[i]
        return self.varying[a] != self.varying[b] and self.ops[b] != "1/x"
