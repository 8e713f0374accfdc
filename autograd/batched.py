"""Batched replay: the graph of one sample, evaluated over a whole batch with NumPy.

``Tape(root, inputs=[...])`` is built from a graph made for **one** sample:
``inputs`` are the leaves that stand for the sample (its features, its
label); every other leaf is a parameter (or a constant), the same for every
sample. ``forward(batch)`` evaluates the graph for the N rows of ``batch``
at once; ``backward()`` adds the gradient of the mean over the rows into the
parameters. Per row, the numbers are the engine's (to rounding): the same
rules from :mod:`autograd.ops`, run on arrays.

How it is fast (a NumPy call costs about a microsecond, whatever its size,
so the count of calls is what matters), planned from the lowering's program
(:func:`autograd.lower.lower`):

* every node is a row of a 2-D array (one column per sample), or a single
  number when it does not depend on the inputs (the parameters, and what is
  computed from them only: a *uniform* node);
* nodes of the same kind at the same *level* are computed by one call: their
  operands gathered, the row's vectorised ``forward`` (``ops.Batched``)
  applied, the results stored side by side; ``backward`` scatters the
  contributions back. A node's level is its depth (the longest path from
  the leaves), or later where that lets it join a group of its kind that
  its users wait for anyway (so one short path, such as a softmax over one
  element, does not split every group after it);
* sums are recognised whatever built them (``sum()`` from 0, a chain of
  ``+``, a tree), each as one node over its terms (single-use ``+`` nodes
  inside it are absorbed; terms that do not depend on the inputs are its
  bias):

  - a **weighted sum** ``b + w0*x0 + w1*x1 + ...`` with at least two
    uniform weights (a neuron's): the sums of a layer, which read the same
    ``x``, are one matrix product, and the layers that share their weights
    (the same linear map at every position of a sequence) one batched
    product: ``W @ X`` forward, ``W.T @ G`` and ``G @ X.T`` backward;
  - a **sum of products of two computed vectors** ``Σ a_j * b_j`` (a dot
    product: attention's ``q · k``, ``Σ_t w_t * v_t``). The dot products
    of a level that are the cells of matrix products ``A @ B`` (rows of
    ``A``: the vectors they share as first operands, columns of ``B``: as
    second, where a shorter vector may be a prefix of a longer one, as
    ``v``'s column up to position ``p``) are one ``np.einsum`` each way
    per shape, with the samples as a batch dimension: ``q · k`` for every
    pair of positions of a head, ``Σ_t w_t v_t`` for every position and
    coordinate. The others are multiplied and summed as the next ones;
  - a **sum over one vector** ``Σ t_j`` (a softmax's sum of exps): every
    such node of the level, one sum along its terms, viewed where they lie
    in order, else gathered and padded with 0;

* a chain of ``max`` over computed nodes (``m = m.max(x)``, a softmax's
  shift) is one node too: one ``np.maximum.reduce``, and backward the
  chain's own rule (ties split at each gate) by a cumulative product, or
  where every chain has one largest term in every sample, one scatter to it.

The fused sums add in another order than the chain of ``+`` does: the same
numbers to rounding, not bit for bit. A matrix product computes cells no
node asked for and pads shorter vectors with 0; where that meets something
not finite (0 × inf), it hands the level's dot products to the reduction,
which adds each node's own terms only.

The engine's semantics, row by row: ``max`` ties split, ``relu'(0) = 0``,
nan propagates, a zero gradient passes nothing on (so 0 × inf gives no nan:
contributions that are not finite are masked where the upstream gradient is
0), ``x * (1/y)`` is valued as the quotient ``x / y`` and, where its ``1/x``
gate's share overflows, hands ``y`` its gradient directly
(:func:`autograd.lower.divided`, element by element). Where a row hits an
undefined point (``log`` of a negative number, ...), the vectorised form
gives something not finite; the tape then asks the row's own float
``forward`` about those elements and notes the errors, and the forward runs
on to its end (an error costs one forward, however many rows fail). It
raises the error the engine raises: that of the first row that fails, at
the first operation that fails in the engine's order of evaluation for that
row (the program's forward order), naming the row.

What ``forward`` takes is checked as the rest of valuegrad checks numbers:
real numbers only (ints and floats of any kind); strings, bytes, bools,
``None``, complex numbers and dates are a ``TypeError`` naming what was
found and where.
"""

from __future__ import annotations

import operator
import struct
from bisect import bisect_right
from functools import partial
from types import SimpleNamespace

from .engine import Value, gradients_lock, is_number
from .lower import QUOTIENT, Program
from .ops import PRIMITIVES, Primitive

TYPE_CHECKING = False  # typing's flag without importing typing (3 ms); checkers take it as True
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from types import ModuleType
    from typing import Any, Protocol

    from numpy import float64, intp
    from numpy.typing import NDArray

    from .lower import Node

    Floats = NDArray[float64]
    """Values or gradients: ``V`` and ``GV`` (a row per varying node, a column per sample), ``U`` and
    ``GU`` (an entry per uniform node), and what is read from them. (``np``, the numpy module, is
    handed in: a ``ModuleType``, so what its functions return is ``Any`` to checkers.)"""
    Indices = NDArray[intp]
    """Slots, to gather from or scatter to."""
    Rule = Callable[..., tuple[Any, ...]]
    """A row's vjp on arrays (:func:`array_rule`): ``rule(lib, g, out, *operands)``, what each receives."""
    Dot = tuple[tuple[int, ...], tuple[int, ...]]
    """A dot product ``Σ a_k * b_k`` (:func:`_matrix_products`): the slots of its ``a`` s and its ``b`` s."""
    Product = tuple[list[int], Indices, Indices, list[int]]
    """Dot products that are the cells of matrix products of one shape (:func:`_matrix_products`):
    ``(cells, A, B, order)``."""
    Block = tuple[tuple[int, int, int], list[int], list[int], list[tuple[int, int]]]
    """One matrix product (:func:`_block`): ``((R, K, C), A, B, placed)``."""
    Fused = tuple[str, list[Any], list[int], list[int]]
    """A fused node (:meth:`_Plan._fused`): ``(kind, terms, bias, plain)``, positions; the terms of a
    ``"weighted"`` sum are ``(w, x)`` pairs, of a ``"dot"`` ``(a, b)`` pairs, else positions."""
    Key = tuple[Any, object, object]
    """A group of nodes computed by one step (:class:`_Plan`): ``(op, quotient, which operands
    vary)``, or ``(_FUSED, kind, shape)`` for fused nodes."""

    class BatchedStep(Protocol):
        """One step of a :class:`_Plan`: nodes of one kind at one level, computed by one call each way."""

        def forward(self, lib: SimpleNamespace, V: Floats, U: Floats, watch: _Watch) -> None: ...

        def backward(self, lib: SimpleNamespace, V: Floats, U: Floats, GV: Floats, GU: Floats) -> None: ...

_NEVER_RAISE = (operator.add, operator.mul, operator.truediv)  # float forwards without an undefined point
# (a quotient x * (1/y) divides by a y its 1/x node has already checked)
_ZERO = 0  # the uniform slot holding 0.0 (its gradient is dropped)
_FUSED = object()  # marks the group key of a fused node (the others start with their op)
_MAX_RANKS = 64  # a node read more often than this by one step: its contributions summed by reduceat
MIN_WEIGHTS = 2
"""A sum becomes a matrix product when it has at least this many uniform weights."""


def numpy() -> ModuleType:
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


def array_lib(np: ModuleType) -> SimpleNamespace:
    """``lib`` on arrays: each row's batched forward by name, ``where`` as ``np.where``, and ``np``."""
    global _lib
    if _lib is None or _lib.np is not np:
        lib = SimpleNamespace(np=np, where=np.where, expm1=np.expm1, power_or_inf=np.power)
        for row in PRIMITIVES.values():
            if row.batched is not None:
                setattr(lib, row.name, partial(row.batched.forward, lib))
        _lib = lib
    return _lib


def array_rule(row: Primitive, lib: SimpleNamespace) -> Rule:
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
        return row.batched.vjp  # type: ignore[no-any-return]  # a plain namedtuple's field
    probe = lib.np.array([0.5, 2.0])
    try:
        row.vjp(lib, probe, probe, *[probe] * row.arity)
    except (ValueError, TypeError):
        raise NotImplementedError(
            f"the batched tape cannot replay the operation {row.op!r}: its vjp branches in Python, "
            "which arrays cannot do; give its row a batched vjp (Batched(forward, vjp))"
        ) from None
    return row.vjp  # type: ignore[no-any-return]  # a plain namedtuple's field


def as_batch(np: ModuleType, batch: object, width: int) -> Floats:
    """``batch`` as a float64 array of shape ``(N, width)``, or the error that names what is wrong.

    Real numbers only, as ``Value()`` takes them: a str, bytes, bool, None, complex number or
    date is a ``TypeError`` naming it (with its row and column when it is one element of many),
    an int too large for a float an ``OverflowError`` naming its row and column.
    """
    try:
        array = np.asarray(batch)
    except (TypeError, ValueError) as error:
        raise TypeError(f"Tape.forward() takes a 2-D array of numbers: {error}") from None
    if array.ndim != 2 or array.shape[1] != width or array.shape[0] == 0:
        raise ValueError(f"Tape.forward() takes a batch of shape (N, {width}) with N >= 1 "
                         f"(one column per input), got shape {array.shape}")
    if array.dtype.kind in "iuf":
        return array.astype(np.float64, copy=False)  # type: ignore[no-any-return]  # (np: Any to checkers)
    if array.dtype.kind != "O":
        raise TypeError(f"Tape.forward() takes real numbers, got an array of {array.dtype.name} "
                        f"(for example {array.flat[0]!r} at row 0, column 0)")
    out: Floats = np.empty(array.shape)
    for (r, c), x in np.ndenumerate(array):
        if not is_number(x):
            raise TypeError(f"Tape.forward() takes real numbers, got {type(x).__name__} {x!r} "
                            f"at row {r}, column {c}")
        try:
            out[r, c] = float(x)
        except OverflowError:
            raise OverflowError(f"Tape.forward(): the int at row {r}, column {c} is too large for a "
                                "float") from None
    return out


class _Slots:
    """Where a list of nodes lives: rows of the varying array ``V``, or entries of the uniform ``U``.

    Reads give a ``(k, N)`` array (``(k, 1)`` for uniform nodes, which
    broadcasts); a run of consecutive rows is read as a slice (a view, no
    copy). ``add`` accumulates contributions: summed over the samples for a
    uniform node; where a node appears more than once, rank by rank (its
    first contributions, then its second, ...: no temporary larger than
    the contributions), or where one appears very often, sorted by slot and
    summed by ``np.add.reduceat``.
    """

    __slots__ = ("varying", "key", "index", "unique", "order", "first", "starts", "ranks")

    def __init__(self, np: ModuleType, slots: list[int], varying: bool) -> None:
        self.varying = varying
        self.index = np.asarray(slots, dtype=np.intp)
        first = slots[0]
        contiguous = slots == list(range(first, first + len(slots)))
        self.key = slice(first, first + len(slots)) if contiguous else self.index
        self.unique = len(set(slots)) == len(slots)
        if not self.unique:
            self.order = np.argsort(self.index, kind="stable")
            self.first, self.starts, counts = np.unique(self.index[self.order], return_index=True,
                                                        return_counts=True)
            self.ranks = None if counts.max() > _MAX_RANKS else [
                (self.first[counts > r], self.order[self.starts[counts > r] + r]) for r in range(counts.max())]

    def read(self, V: Floats, U: Floats) -> Floats:
        return V[self.key] if self.varying else U[self.key][:, None]

    def add(self, np: ModuleType, GV: Floats, GU: Floats, c: Floats) -> None:
        if self.varying:
            if self.unique:
                GV[self.key] += c
            elif self.ranks is not None:
                c = np.broadcast_to(c, (len(self.index), GV.shape[1]))
                for slots, rows in self.ranks:  # (each slot at most once per rank)
                    GV[slots] += c[rows]
            else:
                c = np.broadcast_to(c, (len(self.index), GV.shape[1]))
                GV[self.first] += np.add.reduceat(c[self.order], self.starts, axis=0)
            return
        c = c.sum(axis=1)
        if self.unique:
            GU[self.key] += c
        else:
            np.add.at(GU, self.index, c)


def _padded(np: ModuleType, lengths: list[int]) -> Indices | None:
    """Segments of ``lengths[i]`` positions each, one after another, as the rows of a matrix of
    their positions, padded with -1 after each one's last: or None where the padding would
    outnumber the positions (a sum along the rows then costs more than ``np.add.reduceat``,
    which is otherwise slow: it adds row by row)."""
    counts = np.asarray(lengths)
    width = int(counts.max())
    if 2 * int(counts.sum()) < len(counts) * width:
        return None
    real = np.arange(width) < counts[:, None]
    index: Indices = np.full(real.shape, -1, dtype=np.intp)
    index[real] = np.arange(int(counts.sum()))
    return index


class _Watch:
    """A forward's undefined points: for each row, the first operation (in the program's forward
    order) whose row forward raised, and the same for nodes that depend on no input."""

    def __init__(self, np: ModuleType, n: int) -> None:
        self.np = np
        self.failed_at = np.full(n, np.inf)  # per row: the position of its first failure so far
        self.errors: dict[int, Exception] = {}
        self.uniform: tuple[float, Exception | None] = (np.inf, None)

    def look(self, step: _Operation, out: Floats, args: list[Floats]) -> None:
        """Ask the row's float forward about each element of ``out`` that is not finite and could
        be a row's first failure (later elements of a row that failed are its consequences)."""
        np, forward, positions = self.np, step.forward_row.forward, step.positions
        if not step.out.varying:
            for k in np.flatnonzero(~np.isfinite(out[:, 0])).tolist():
                if positions[k] < self.uniform[0]:
                    try:
                        forward(*[float(a[k, 0]) for a in args])
                    except (ArithmeticError, ValueError) as error:
                        self.uniform = (positions[k], error)
            return
        suspects = ~np.isfinite(out) & (step.position_column < self.failed_at)
        for k, r in np.argwhere(suspects).tolist():
            if positions[k] >= self.failed_at[r]:
                continue
            try:
                forward(*[float(a[k, r if a.shape[1] > 1 else 0]) for a in args])
            except (ArithmeticError, ValueError) as error:
                self.failed_at[r] = positions[k]
                self.errors[r] = error

    def error(self) -> Exception | None:
        """The engine's error for the first row that fails, or None: each row's first failure, with
        the nodes of no input failing in every row (then the error names no row)."""
        position, error = self.uniform
        if error is None and not self.errors:
            return None
        row = 0 if error is not None else min(self.errors)
        if error is not None and position < self.failed_at[0]:
            return error
        error = self.errors[row]
        named = type(error)(f"row {row} of the batch: {error}")
        # For a caller that knows the rows by other names: attributes of this exception only.
        named.row, named.reason = row, error  # type: ignore[attr-defined]
        return named


class _Operation:
    """Nodes of one primitive at one level, with the same kinds of operands: one call each way."""

    def __init__(self, np: ModuleType, row: Primitive, forward_row: Primitive, rule: Rule,
                 reads: list[_Slots], operands: list[_Slots], out: _Slots, needs_grad: list[bool],
                 positions: list[int]) -> None:
        # forward_row: the row itself, or lower.QUOTIENT for x * (1/y) (it then reads x and y)
        self.row, self.forward_row, self.rule, self.reads, self.operands = row, forward_row, rule, reads, operands
        self.out, self.needs_grad = out, needs_grad
        if row.op == "*" and needs_grad.count(True) == 1:  # the rule is (g·b, g·a): only its needed half
            self.rule = (lambda lib, g, out, a, b: (g * b, 0.0)) if needs_grad[0] else \
                (lambda lib, g, out, a, b: (0.0, g * a))
        self.checked = forward_row.forward not in _NEVER_RAISE
        self.passes_zero = row.op == "+"
        self.positions = positions  # each node's position in the program: the engine's order
        self.position_column = np.asarray(positions, dtype=float)[:, None]

    def forward(self, lib: SimpleNamespace, V: Floats, U: Floats, watch: _Watch) -> None:
        args = [s.read(V, U) for s in self.reads]
        out = self.forward_row.batched.forward(lib, *args)
        if self.checked and not lib.np.isfinite(out).all():
            watch.look(self, out, args)
        if self.out.varying:
            V[self.out.key] = out
        else:
            U[self.out.key] = out[:, 0]

    def backward(self, lib: SimpleNamespace, V: Floats, U: Floats, GV: Floats, GU: Floats) -> None:
        np = lib.np
        g = self.out.read(GV, GU)
        args = [s.read(V, U) for s in self.operands]
        received = self.rule(lib, g, self.out.read(V, U), *args)
        if self.forward_row is QUOTIENT and self.needs_grad[1]:
            received = received[0], self._divided(np, g, args[0], received[1], V, U, GV, GU)
        for slots, c, needed in zip(self.operands, received, self.needs_grad):
            if not needed or (type(c) is float and c == 0.0):
                continue
            c = np.broadcast_to(c, g.shape) if np.ndim(c) < 2 else c
            if not self.passes_zero and not np.isfinite(c).all():
                c = np.where(g == 0.0, 0.0, c)  # a zero gradient passes nothing on: no 0 × inf
            slots.add(np, GV, GU, c)

    def _divided(self, np: ModuleType, g: Floats, x: Floats, to_r: Floats, V: Floats, U: Floats, GV: Floats,
                 GU: Floats) -> Floats:
        """:func:`autograd.lower.divided`, element by element: where the 1/x gate's share ``g·x``
        overflows while ``g`` and ``x`` are finite, ``y`` gets ``-(g·(q/y))`` and the gate 0."""
        if np.isfinite(to_r).all():
            return to_r
        overflows = ~np.isfinite(to_r) & np.isfinite(g) & np.isfinite(x)
        if not overflows.any():
            return to_r
        y = self.reads[1].read(V, U)
        self.reads[1].add(np, GV, GU, np.where(overflows, -(g * (self.out.read(V, U) / y)), 0.0))
        return np.where(overflows, 0.0, to_r)  # type: ignore[no-any-return]  # (np: Any to checkers)


class _Biases:
    """The uniform terms of fused sums, one list of slots per node (a neuron's ``b``, the 0 that
    ``sum()`` starts from): added forward; backward, each node's gradient summed over the samples
    goes to them, when one of them needs it (a constant does not)."""

    def __init__(self, np: ModuleType, biases: list[list[int]], needs_grad: bool) -> None:
        width = max(len(b) for b in biases)
        self.index = np.asarray([b + [_ZERO] * (width - len(b)) for b in biases], dtype=np.intp)
        self.needs_grad = needs_grad

    def values(self, U: Floats) -> Floats:
        """Each node's uniform terms summed: ``(nodes, 1)``."""
        return U[self.index].sum(axis=1)[:, None]  # type: ignore[no-any-return]  # NumPy's sum(axis=): Any

    def backward(self, np: ModuleType, GU: Floats, G: Floats) -> None:
        """Add each node's gradient (a row of ``G``), summed over the samples, into its terms."""
        if self.needs_grad:
            dB = np.repeat(G.sum(axis=1)[:, None], self.index.shape[1], axis=1)
            GU += np.bincount(self.index.ravel(), dB.ravel(), minlength=len(GU))


def _biases(np: ModuleType, biases: list[list[int]], needs_grad: bool) -> _Biases | None:
    """:class:`_Biases`, or None when no node has a uniform term."""
    return _Biases(np, biases, needs_grad) if any(biases) else None


class _WeightedSums:
    """Sums ``Σ_j W[i, j] x_j + b_i`` over blocks of ``x`` s that share ``W``: one (batched) matrix product.

    A block is the sums that read the same ``x`` (a layer's neurons);
    blocks with the same weights (one linear map at every position of a
    sequence) are one ``np.matmul`` of ``W`` (``o × n``, uniform nodes) with
    ``X`` (``blocks × n × N``).
    The outputs lie block after block; ``b`` is each one's uniform terms;
    ``plain`` the computed terms each adds with no weight (a residual
    connection's), as many for each.
    """

    def __init__(self, np: ModuleType, xs: _Slots, blocks: int, weights: list[list[int]],
                 biases: _Biases | None, plain: _Slots | None, out: _Slots, x_needs_grad: bool) -> None:
        self.xs, self.out, self.x_needs_grad, self.blocks = xs, out, x_needs_grad, blocks
        self.weights = np.asarray(weights, dtype=np.intp)
        self.biases = biases
        self.plain = plain

    def _arrays(self, V: Floats, U: Floats) -> tuple[Floats, Floats]:
        n = self.weights.shape[1]
        return U[self.weights], self.xs.read(V, U).reshape(self.blocks, n, -1)

    def forward(self, lib: SimpleNamespace, V: Floats, U: Floats, watch: _Watch) -> None:
        W, X = self._arrays(V, U)
        out = V[self.out.key].reshape(self.blocks, W.shape[0], -1)
        for b in range(self.blocks):  # 2-D products: BLAS's (a stack of them may not be)
            lib.np.matmul(W, X[b], out=out[b])
        if self.biases is not None:
            out += self.biases.values(U).reshape(self.blocks, -1, 1)
        if self.plain is not None:
            out += self.plain.read(V, U).reshape(out.shape[0], out.shape[1], -1, out.shape[2]).sum(axis=2)

    def backward(self, lib: SimpleNamespace, V: Floats, U: Floats, GV: Floats, GU: Floats) -> None:
        np = lib.np
        W, X = self._arrays(V, U)
        G = GV[self.out.key].reshape(self.blocks, W.shape[0], -1)
        zero = None
        if self.plain is not None:
            k = self.weights.shape[0] * self.blocks
            each = len(self.plain.index) // k  # plain terms per sum
            self.plain.add(np, GV, GU, G.reshape(k, -1) if each == 1 else np.repeat(G.reshape(k, -1), each, axis=0))
        if self.x_needs_grad and not np.isfinite(W).all():
            zero = G[:, :, None, :] == 0.0  # a zero gradient passes nothing on, even to a weight inf or nan
            dX = np.where(zero, 0.0, W[None, :, :, None] * G[:, :, None, :]).sum(axis=1)
            self.xs.add(np, GV, GU, dX.reshape(-1, G.shape[2]))
        elif self.x_needs_grad and isinstance(self.xs.key, slice):
            GX = GV[self.xs.key].reshape(X.shape)
            for b in range(self.blocks):  # block by block, into the x's gradients (a block stays in the cache)
                GX[b] += W.T @ G[b]
        elif self.x_needs_grad:
            self.xs.add(np, GV, GU, np.stack([W.T @ g for g in G]).reshape(-1, G.shape[2]))
        if np.isfinite(X).all():
            dW = sum(g @ x.T for g, x in zip(G, X))
        else:
            zero = G[:, :, None, :] == 0.0 if zero is None else zero
            dW = np.where(zero, 0.0, G[:, :, None, :] * X[:, None, :, :]).sum(axis=(0, 3))
        GU += np.bincount(self.weights.ravel(), dW.ravel(), minlength=len(GU))
        if self.biases is not None:
            self.biases.backward(np, GU, G.reshape(-1, G.shape[2]))


class _Reduction:
    """Sums over the terms of each node, ``Σ t_j`` or ``Σ a_j * b_j`` (``b`` given), plus a uniform bias.

    Forward, the terms as a ``(nodes × width × N)`` array summed along its middle axis (term
    after term, as the chain of ``+`` adds them): a view where every node has ``width`` terms
    and they lie in order, else gathered, each node's terms padded after its last with the row
    of 0.0 (0 + 0 and 0 × 0 add nothing); where the padding would outnumber the terms, every
    term side by side, one ``np.add.reduceat``. Backward, each term receives its node's
    gradient: broadcast over a view, else gathered.
    """

    def __init__(self, np: ModuleType, a: _Slots, b: _Slots | None, lengths: list[int],
                 biases: _Biases | None, out: _Slots, needs_grad: tuple[bool, bool], zero: int) -> None:
        self.a, self.b, self.out, self.needs_grad = a, b, out, needs_grad
        self.operands = [s for s in (a, b) if s is not None]
        self.biases = biases
        width = max(lengths)
        self.shape = (len(lengths), width)
        self.owner = np.repeat(np.arange(len(lengths)), lengths)  # the node of each term
        self.starts = self.index = None
        self.view = min(lengths) == width and all(isinstance(s.key, slice) for s in self.operands)
        if self.view:
            return
        padded = _padded(np, lengths)
        if padded is None:
            self.starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.intp)
        else:
            self.index = [np.where(padded >= 0, s.index[padded], zero) for s in self.operands]

    def forward(self, lib: SimpleNamespace, V: Floats, U: Floats, watch: _Watch) -> None:
        np = lib.np
        if self.index is not None:
            terms = [V[index] for index in self.index]
        else:
            terms = [s.read(V, U) for s in self.operands]
            if self.view:
                terms = [t.reshape(*self.shape, -1) for t in terms]
        terms = terms[0] * terms[1] if self.b is not None else terms[0]
        in_place = isinstance(self.out.key, slice)  # else the cells of a _Contraction's products
        into = V[self.out.key] if in_place else None
        out = np.add.reduceat(terms, self.starts, axis=0, out=into) if self.starts is not None else \
            terms.sum(axis=1, out=into)
        if self.biases is not None:
            out += self.biases.values(U)
        if not in_place:
            V[self.out.key] = out

    def backward(self, lib: SimpleNamespace, V: Floats, U: Floats, GV: Floats, GU: Floats) -> None:
        np = lib.np
        G = GV[self.out.key]
        n = G.shape[1]
        each = G[:, None, :] if self.view else G[self.owner]  # what each term receives
        if self.b is None:
            received = [(self.a, np.broadcast_to(each, (*self.shape, n)) if self.view else each)]
        else:
            A, B = [s.read(V, U) for s in self.operands]
            if self.view:
                A, B = A.reshape(*self.shape, n), B.reshape(*self.shape, n)
            finite = np.isfinite(V[self.out.key]).all()  # then every product, and operand, is finite
            received = [(slots, each * other if finite else np.where(each == 0.0, 0.0, each * other))
                        for slots, other, needed in ((self.a, B, self.needs_grad[0]), (self.b, A, self.needs_grad[1]))
                        if needed]
        for slots, c in received:
            slots.add(np, GV, GU, c.reshape(-1, n))
        if self.biases is not None:
            self.biases.backward(np, GU, G)


class _Contraction:
    """Dot products that are the cells of matrix products ``A @ B`` (``q · k`` for every pair of
    positions of a head, ``Σ_t w_t v_t`` for every position and coordinate): one ``np.einsum`` each
    way over blocks of the same shape, with the samples as a batch dimension.

    ``A`` (``blocks × R × K``) and ``B`` (``blocks × K × C``) are gathered from the rows of their
    entries (the row of 0.0 where a product's terms stop); every cell of the products has its
    slot (``out``), the nodes' and the others, which nothing reads (their gradient stays 0). Where
    something is not finite (a 0 of the padding times an inf, or a zero gradient times one), the
    products of matrices are not the engine's sums term by term: then ``exact``, the nodes as a
    :class:`_Reduction`, computes them.
    """

    def __init__(self, np: ModuleType, a_index: Indices, b_index: Indices, zero: int, out: _Slots,
                 biases: _Biases | None, exact: _Reduction) -> None:
        self.out, self.biases, self.needs_grad, self.exact = out, biases, exact.needs_grad, exact
        self.shape = (a_index.shape[0], a_index.shape[1], b_index.shape[2], -1)  # blocks, R, C, samples
        self.index, self.real, self.slots = [], [], []
        for index in (a_index, b_index):
            real = (index >= 0).ravel()
            self.real.append(None if real.all() else np.flatnonzero(real))
            self.slots.append(_Slots(np, index.ravel()[real].tolist(), True))
            self.index.append(np.where(index >= 0, index, zero))

    def forward(self, lib: SimpleNamespace, V: Floats, U: Floats, watch: _Watch) -> None:
        np = lib.np
        out = V[self.out.key]
        np.einsum("brkn,bkcn->brcn", V[self.index[0]], V[self.index[1]], out=out.reshape(self.shape))
        if self.biases is not None:
            out += self.biases.values(U)
        if not np.isfinite(out).all():
            self.exact.forward(lib, V, U, watch)

    def backward(self, lib: SimpleNamespace, V: Floats, U: Floats, GV: Floats, GU: Floats) -> None:
        np = lib.np
        G = GV[self.out.key]
        # Every entry of A (B) meets some cell, and its node's own terms (exact's, when it ran) a
        # node's: the cells are all finite only where A and B are.
        if not (np.isfinite(V[self.out.key]).all() and np.isfinite(G).all()):
            self.exact.backward(lib, V, U, GV, GU)  # the zero rule, term by term
            return
        cells = G.reshape(self.shape)

        def add(k: int, product: Floats) -> None:
            c = product.reshape(-1, G.shape[1])
            self.slots[k].add(np, GV, GU, c if self.real[k] is None else c[self.real[k]])

        if self.needs_grad[0]:  # (each gathers only the operand it multiplies by)
            add(0, np.einsum("brcn,bkcn->brkn", cells, V[self.index[1]]))
        if self.needs_grad[1]:
            add(1, np.einsum("brkn,brcn->bkcn", V[self.index[0]], cells))
        if self.biases is not None:
            self.biases.backward(np, GU, G)


def _components(n: int, links: Iterable[tuple[int, int]]) -> list[int]:
    """A label for each of ``0 .. n-1``: the same for two when ``links`` (pairs) connect them."""
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = i = parent[parent[i]]
        return i

    for i, j in links:
        parent[find(i)] = find(j)
    return [find(i) for i in range(n)]


def _matrix_products(np: ModuleType, dots: list[Dot]) -> tuple[list[Product], list[int]]:
    """Which dot products ``Σ_k a_k * b_k`` are the cells of matrix products, ``(products, rest)``.

    ``dots``: each one's ``(a, b)``, the slots of its terms' operands in the order it adds them.
    A *row* is what dots share when they have an ``a_k`` at the same ``k`` (so a row may be read
    by dots of different lengths: a prefix each), a *column* the same for ``b``; a *block* the
    rows and columns that dots connect. A block is a matrix product ``A @ B``, with
    ``A[r, k] = a_k`` of row ``r`` and ``B[k, c] = b_k`` of column ``c``, when each row and column
    has one slot at each ``k``, each cell is one dot, and each dot's ``(r, c)`` cell adds
    nothing beyond its own terms (``A`` or ``B`` is padding there); and it is worth it when it
    has two cells or more and its cells hold at least a quarter of the products it computes.

    ``products``: for each shape ``(R, K, C)``, ``(cells, A, B, order)``: the dots (indices into
    ``dots``, ``order``) and each one's flat cell in ``blocks × R × C``, and the slot arrays
    ``A`` and ``B`` (-1: padding). ``rest``: the other dots.
    """
    n = len(dots)
    maps, labels = [], []
    for side in (0, 1):  # rows (a), then columns (b)
        first: dict[tuple[int, int], int] = {}
        label = _components(n, ((d, first.setdefault((k, x), d)) for d in range(n)
                                for k, x in enumerate(dots[d][side])))
        entries: dict[int, dict[int, int]] = {}
        broken: set[int] = set()
        for d in range(n):
            entry = entries.setdefault(label[d], {})
            for k, x in enumerate(dots[d][side]):
                if entry.setdefault(k, x) != x:
                    broken.add(label[d])
        maps.append((entries, broken))
        labels.append(label)
    rows, columns = labels
    block = _components(2 * n, ((rows[d], n + columns[d]) for d in range(n)))
    blocks: dict[int, list[int]] = {}
    for d in range(n):
        blocks.setdefault(block[rows[d]], []).append(d)
    shapes: dict[tuple[int, int, int], list[tuple[list[int], list[int], list[tuple[int, int]]]]] = {}
    rest: list[int] = []
    for members in blocks.values():
        found = _block(members, dots, rows, columns, maps)
        if found is None:
            rest += members
        else:
            shapes.setdefault(found[0], []).append(found[1:])
    products: list[Product] = []
    for (R, K, C), alike in shapes.items():
        A = np.asarray([a for a, _, _ in alike], dtype=np.intp).reshape(-1, R, K)
        B = np.asarray([b for _, b, _ in alike], dtype=np.intp).reshape(-1, K, C)
        cells = sorted((k * R * C + cell, d) for k, (_, _, placed) in enumerate(alike) for cell, d in placed)
        products.append(([cell for cell, _ in cells], A, B, [d for _, d in cells]))
    return products, sorted(rest)


def _block(members: list[int], dots: list[Dot], rows: list[int], columns: list[int],
           maps: list[tuple[dict[int, dict[int, int]], set[int]]]) -> Block | None:
    """One block of :func:`_matrix_products`: ``((R, K, C), A, B, placed)`` or None."""
    (row_entries, broken_rows), (column_entries, broken_columns) = maps
    rs = list(dict.fromkeys(rows[d] for d in members))
    cs = list(dict.fromkeys(columns[d] for d in members))
    if len(members) < 2 or any(r in broken_rows for r in rs) or any(c in broken_columns for c in cs):
        return None
    K = 1 + max(max(row_entries[r]) for r in rs)
    R, C = len(rs), len(cs)
    if R * K * C > 4 * sum(len(dots[d][0]) for d in members):
        return None
    at_r, at_c = {r: i for i, r in enumerate(rs)}, {c: i for i, c in enumerate(cs)}
    placed, taken = [], set()
    for d in members:
        r, c = rows[d], columns[d]
        cell = at_r[r] * C + at_c[c]
        if cell in taken or any(k in row_entries[r] and k in column_entries[c]
                                for k in range(len(dots[d][0]), K)):
            return None
        taken.add(cell)
        placed.append((cell, d))
    A = [row_entries[r].get(k, -1) for r in rs for k in range(K)]
    B = [column_entries[c].get(k, -1) for k in range(K) for c in cs]
    return (R, K, C), A, B, placed


class _MaxChains:
    """Chains ``max(...max(max(x0, x1), x2)..., xL)`` over computed nodes: one reduction each way.

    Each chain is a row of an ``(k, L, N)`` gather, padded in front with a
    row of -inf. Backward follows the chain's own gates: at each one the
    larger input takes the gradient, a tie splits it in halves, nan gives it
    to both; what reaches the gate before is the product of the factors
    after it (0, 1/2 or 1: exact), one reversed ``np.cumprod``. Where the
    largest term of every chain and sample is the only one (no tie with it,
    no nan), that term takes it all: one comparison of the terms as they lie
    (a view where they lie in order) with their chain's max, one scatter.
    """

    def __init__(self, np: ModuleType, index: list[list[int]], first: list[int], terms: _Slots,
                 out: _Slots) -> None:
        self.index = np.asarray(index, dtype=np.intp)
        self.terms, self.out = terms, out
        k, L = self.index.shape
        self.real = np.zeros((k, L), dtype=bool)  # the chain's own terms, not the padding
        for i, f in enumerate(first):
            self.real[i, f:] = True
        self.padded = not self.real.all()
        self.owner = np.repeat(np.arange(k), self.real.sum(axis=1))  # the chain of each term
        # at the first term of a padded chain, nothing passes on to the padding before it
        self.cut = np.zeros((k, L - 1, 1))
        for i, f in enumerate(first):
            if f > 0:
                self.cut[i, f - 1] = 1.0
        self.kept = 1.0 - self.cut

    def forward(self, lib: SimpleNamespace, V: Floats, U: Floats, watch: _Watch) -> None:
        lib.np.maximum.reduce(V[self.index], axis=1, out=V[self.out.key])

    def backward(self, lib: SimpleNamespace, V: Floats, U: Floats, GV: Floats, GU: Floats) -> None:
        np = lib.np
        M, G = V[self.out.key], GV[self.out.key]
        if self.terms.unique and not np.isnan(M).any():
            term, sample = np.nonzero(self.terms.read(V, U) == M[self.owner])
            if len(sample) == M.size:  # in each chain and sample one term is the largest: it takes all
                GV.reshape(-1)[self.terms.index[term] * GV.shape[1] + sample] += G[self.owner[term], sample]
                return
        X = V[self.index]
        running = X.copy()  # the running max after each term (a loop: NumPy's accumulate along
        for i in range(1, X.shape[1]):  # a middle axis is ten times slower)
            np.maximum(running[:, i - 1], X[:, i], out=running[:, i])
        before, x = running[:, :-1], X[:, 1:]
        less, tie = before < x, (before == x) * 0.5
        # per gate: the share passed on to the running max before it (1, 0, 1/2 at a tie, and 1
        # when unordered: nan) and the share its new term takes (0, 1, 1/2, 1)
        passes = (1.0 - less - tie) * self.kept
        takes = (1.0 - (before > x) - tie) * self.kept + self.cut
        share = np.ones(X.shape)  # of the chain's gradient, what each term receives
        for i in range(X.shape[1] - 2, -1, -1):
            np.multiply(share[:, i + 1], passes[:, i], out=share[:, i])
        share[:, 1:] *= takes
        c = G[:, None, :] * share
        if not np.isfinite(G).all():
            c = np.where(share == 0.0, 0.0, c)  # a gate's 0 is exact: no nan × 0
        self.terms.add(np, GV, GU, c[self.real] if self.padded else c.reshape(-1, c.shape[2]))


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
        plan = _Plan(np, program, self._lib)
        # (the plan itself is not kept: what it built on the way would outlive the build)
        self._n_varying, self._pad, self._zero = plan.n_varying, plan.pad, plan.zero
        self._operations = len(program.steps)
        self._steps, self._leaves, self._slot_of = plan.steps, plan.leaves, plan.slot_of
        self._U = np.zeros(plan.n_uniform)
        for slot, value in plan.constants.items():
            self._U[slot] = value
        self._leaf_slots = np.asarray([plan.uniform_slot[i] for i in plan.leaf_positions], dtype=np.intp)
        self._root_slots = plan.slot_of[program.root]
        self._V: Floats | None = None  # the values of the latest forward: one row per varying node
        # V and its gradients, reused while N stays the same
        self._buffers: tuple[Floats | None, Floats | None] = (None, None)

    def forward(self, batch: object) -> Floats:
        """The root's value for each row of ``batch`` (shape ``(N, len(inputs))``), as a float64 array."""
        batch = as_batch(self._np, batch, len(self.inputs))
        self._V = None  # until this forward is through: backward() must not use a half-made one
        self._U[self._leaf_slots] = [leaf.data for leaf in self._leaves]
        V = self._buffer(batch.shape[0])[0]
        V[: len(self.inputs)] = batch.T
        watch = _Watch(self._np, batch.shape[0])
        with self._np.errstate(all="ignore"):
            for step in self._steps:
                step.forward(self._lib, V, self._U, watch)
        error = watch.error()
        if error is not None:
            raise error from None
        self._V = V
        return self.values(self.root)

    def backward(self, gradient: float = 1.0) -> None:
        """Add d(mean of the root over the rows)/d(leaf) into every parameter
        (times ``gradient``, as ``Value.backward(gradient)``)."""
        np, V, U = self._np, self._V, self._U
        if V is None:
            raise RuntimeError("Tape.backward() needs a forward(batch) that succeeded first")
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

    def _buffer(self, n: int) -> tuple[Floats, Floats]:
        """Arrays of N columns for the values and their gradients: allocated once per batch size
        (a fresh array of megabytes costs more in page faults than the arithmetic in it)."""
        V, GV = self._buffers
        if V is None or V.shape[1] != n:
            size = (self._n_varying, n)
            V, GV = self._buffers = (self._np.empty(size), self._np.empty(size))
            V[self._pad] = -self._np.inf  # what a max chain shorter than others is padded with
            V[self._zero] = 0.0  # and a matrix of a product whose entries are not all terms
        return V, GV  # type: ignore[return-value]  # (GV is None only where V is: then both are set)

    def values(self, node: Node) -> Floats:
        """The latest ``forward``'s value of ``node`` for each row: the root, an input, a leaf,
        or a node named in ``keep`` (others may live inside a fused sum, unstored)."""
        if self._V is None:
            raise RuntimeError("Tape.values() needs a forward(batch) first")
        slots = self._slot_of.get(node)
        if slots is None:
            raise ValueError("Tape.values(): that node is not kept by this tape (name it in keep=...)")
        row = slots.read(self._V, self._U)[0]
        return self._np.broadcast_to(row, self._V.shape[1]).copy()  # type: ignore[no-any-return]  # (np: Any)

    def __repr__(self) -> str:
        return (f"Tape({self._operations} operations in {len(self._steps)} batched steps, "
                f"{len(self.inputs)} inputs, {len(self._leaves)} parameters)")


class _Plan:
    """One sample's program (:func:`autograd.lower.lower`) as NumPy steps over a batch.

    ``steps``: the steps to run in order; where each node lives (``slot``
    in the varying array, ``uniform_slot`` in the uniform one; ``slot_of``
    for the nodes a caller may ask for); ``leaf_positions``/``leaves``: the
    parameters; ``constants``: the uniform slots of the constants (one per
    value) and their values; ``n_varying``, ``n_uniform``: the arrays' sizes;
    ``pad``: the varying row of -inf that pads max chains; ``zero``: the row of 0.0 that pads the
    matrices of products.
    """

    def __init__(self, np: ModuleType, program: Program, lib: SimpleNamespace) -> None:
        nodes, inputs = program.nodes, program.inputs
        self.np = np
        self.quotients = program.quotients
        self.ops = ops = [node.op for node in nodes]
        self.parents = parents = program.args
        rules = {op: array_rule(PRIMITIVES[op], lib) for op in dict.fromkeys(ops) if op}
        positions = [i for i in program.input_positions if i is not None]
        self.varying = varying = [False] * len(nodes)
        for i in positions:
            varying[i] = True
        for i, op in enumerate(ops):
            if op:
                varying[i] = any(varying[p] for p in parents[i])
        # Which nodes need a gradient: those with a parameter below them.
        needs = [False] * len(nodes)
        for i in program.parameters:
            needs[i] = True
        for i, op in enumerate(ops):
            if op:
                needs[i] = any(needs[p] for p in parents[i])
        users = [0] * len(nodes)
        for ps in parents:
            for p in ps:
                users[p] += 1
        kept_positions = program.keep_positions
        protected = {*kept_positions, len(nodes) - 1}
        self.single = [users[i] == 1 and i not in protected for i in range(len(nodes))]

        # -- sums and max chains fused into one node each, and what they absorb ------
        absorbed: set[int] = set()
        fused: dict[int, Fused] = {}
        for i in range(len(nodes) - 1, -1, -1):
            if varying[i] and i not in absorbed and ops[i] in ("+", "max"):
                found = self._fused(i)
                if found is not None:
                    fused[i], inner = found
                    absorbed |= inner

        # -- levels: depth first, then later where that joins a group of the same kind ----
        computed = [i for i, op in enumerate(ops) if op and i not in absorbed]
        deps: dict[int, list[int]] = {}
        keys: dict[int, Key] = {}
        for i in computed:
            if i in fused:
                kind, terms, bias, plain = fused[i]
                deps[i] = [p for t in terms for p in (t if isinstance(t, tuple) else (t,))] + bias + plain
                keys[i] = (_FUSED, kind, (len(terms), len(plain)) if kind == "weighted" else 0)
            else:
                deps[i] = [*parents[i], *program.reads[i]]  # x * (1/y) reads x and y (lower.QUOTIENT)
                keys[i] = (ops[i], program.quotients[i], tuple(varying[p] for p in program.reads[i]))
        level = self._levels(computed, deps, keys)

        # -- storage: inputs first in V, then the padding row; then each step's outputs ----
        self.slot = {p: k for k, p in enumerate(program.input_positions) if p is not None}
        self.pad = len(inputs)
        self.zero = len(inputs) + 1
        self.constants: dict[int, float] = {}
        self.uniform_slot: dict[int, int] = {}
        n_uniform = 1  # after _ZERO
        by_value: dict[bytes, int] = {}
        for i in program.constants:  # one slot per value: constants never change
            value = nodes[i].data
            bits = struct.pack("<d", value)
            if bits not in by_value:
                by_value[bits], n_uniform = n_uniform, n_uniform + 1
                self.constants[by_value[bits]] = value
            self.uniform_slot[i] = by_value[bits]
        leaves = program.parameters
        for i in leaves:
            self.uniform_slot[i], n_uniform = n_uniform, n_uniform + 1
        n_varying = len(inputs) + 2
        groups: dict[tuple[int, Key], list[int]] = {}
        for i in computed:
            groups.setdefault((level[i], keys[i]), []).append(i)
        steps: list[BatchedStep] = []
        for lvl, key in sorted(groups, key=lambda k: k[0]):
            members = groups[lvl, key]
            fused_kind = key[1] if key[0] is _FUSED else None
            if fused_kind in ("weighted", "dot"):
                make = self._weighted_steps if fused_kind == "weighted" else self._dot_steps
                made, n_varying = make(members, fused, needs, n_varying)
                steps += made
                continue
            for i in members:
                if varying[i]:
                    self.slot[i], n_varying = n_varying, n_varying + 1
                else:
                    self.uniform_slot[i], n_uniform = n_uniform, n_uniform + 1
            out = self._slots([[i] for i in members])[0]
            if fused_kind == "sum":
                steps.append(self._reduction(members, fused, needs))
            elif fused_kind == "max":
                terms = [fused[i][1] for i in members]
                width = max(len(ts) for ts in terms)
                index_rows = [[self.pad] * (width - len(ts)) + [self.slot[t] for t in ts] for ts in terms]
                flat = self._slots([[t] for ts in terms for t in ts])[0]
                steps.append(_MaxChains(np, index_rows, [width - len(ts) for ts in terms], flat, out))
            else:
                op, quotient, _ = key
                row = PRIMITIVES[op]
                operand = self._slots([parents[i] for i in members])
                read = self._slots([program.reads[i] for i in members]) if quotient else operand
                needed = [any(needs[parents[i][j]] for i in members) for j in range(row.arity)]
                steps.append(_Operation(np, row, QUOTIENT if quotient else row, rules[op], read, operand, out,
                                        needed, members))
        self.steps = steps
        self.n_varying, self.n_uniform = n_varying, n_uniform
        self.leaf_positions = leaves
        self.leaves = [nodes[i] for i in leaves]
        kept = [len(nodes) - 1, *kept_positions, *positions, *leaves]
        self.slot_of = {nodes[i]: self._slots([[i]])[0] for i in kept}

    def _levels(self, computed: list[int], deps: dict[int, list[int]],
                keys: dict[int, Key]) -> dict[int, int]:
        """Each computed node's level: its depth, then (from the root down) the latest level that
        still comes before all its users and already holds a group of its kind, if any is later."""
        level: dict[int, int] = {}
        for i in computed:
            level[i] = 1 + max((level.get(d, 0) for d in deps[i]), default=0)
        users: dict[int, list[int]] = {}
        held: dict[Key, dict[int, int]] = {}
        for i in computed:
            for d in deps[i]:
                users.setdefault(d, []).append(i)
            count = held.setdefault(keys[i], {})
            count[level[i]] = count.get(level[i], 0) + 1
        sorted_levels = {key: sorted(count) for key, count in held.items()}
        for i in reversed(computed):
            if i not in users:
                continue
            latest = min(level[u] for u in users[i]) - 1
            if latest <= level[i]:
                continue
            levels = sorted_levels[keys[i]]
            j = bisect_right(levels, latest) - 1
            target = levels[j]
            if target <= level[i]:
                continue
            count = held[keys[i]]
            count[level[i]] -= 1
            if not count[level[i]]:
                del count[level[i]]
                levels.remove(level[i])
            level[i] = target
            count[target] += 1
        return level

    def _slots(self, positions: Sequence[Sequence[int]]) -> list[_Slots]:
        """Operand ``j`` of each of a step's nodes (``positions[k][j]``), as one :class:`_Slots` per ``j``."""
        slots = []
        for column in zip(*positions):
            varying = self.varying[column[0]]
            table = self.slot if varying else self.uniform_slot
            slots.append(_Slots(self.np, [table[i] for i in column], varying))
        return slots

    def _weighted_steps(self, members: list[int], fused: dict[int, Fused], needs: list[bool],
                        first_slot: int) -> tuple[list[BatchedStep], int]:
        """The weighted sums of one level: blocks of sums that read the same ``x`` s, and blocks with
        the same weights in one batched product; outputs in slots from ``first_slot`` on, block by
        block. Returns the steps and the next free slot."""
        blocks: dict[tuple[int, ...], list[int]] = {}
        for i in members:
            blocks.setdefault(tuple(x for _, x in fused[i][1]), []).append(i)
        shared: dict[tuple[tuple[int, ...], ...], list[tuple[int, ...]]] = {}
        for xs, sums in blocks.items():
            weights = tuple(tuple(self.uniform_slot[w] for w, _ in fused[i][1]) for i in sums)
            shared.setdefault(weights, []).append(xs)
        steps: list[BatchedStep] = []
        for weights, xs_list in shared.items():
            start = first_slot
            biases, plain, bias_grads = [], [], False
            for xs in xs_list:
                for i in blocks[xs]:
                    self.slot[i], first_slot = first_slot, first_slot + 1
                    biases.append([self.uniform_slot[b] for b in fused[i][2]])
                    bias_grads = bias_grads or any(needs[b] for b in fused[i][2])
                    plain += fused[i][3]
            out = _Slots(self.np, list(range(start, first_slot)), True)
            x_slots = self._slots([[x] for xs in xs_list for x in xs])[0]
            steps.append(_WeightedSums(self.np, x_slots, len(xs_list), [list(w) for w in weights],
                                       _biases(self.np, biases, bias_grads),
                                       self._slots([[t] for t in plain])[0] if plain else None, out,
                                       any(needs[x] for xs in xs_list for x in xs)))
        return steps, first_slot

    def _reduction(self, members: list[int], fused: dict[int, Fused], needs: list[bool]) -> _Reduction:
        """The fused sums (``Σ t_j``) or dot products (``Σ a_j * b_j``) ``members``, whose slots are
        given, as one :class:`_Reduction`."""
        terms = [fused[i][1] for i in members]
        flat = [t for ts in terms for t in ts]
        pairs = fused[members[0]][0] == "dot"
        a = self._slots([[t[0] if pairs else t] for t in flat])[0]
        b = self._slots([[t[1]] for t in flat])[0] if pairs else None
        need = (any(needs[t[0]] for t in flat), any(needs[t[1]] for t in flat)) if pairs else \
            (any(needs[t] for t in flat), False)
        biases = _biases(self.np, [[self.uniform_slot[j] for j in fused[i][2]] for i in members],
                         any(needs[j] for i in members for j in fused[i][2]))
        return _Reduction(self.np, a, b, [len(ts) for ts in terms], biases, self._slots([[i] for i in members])[0],
                          need, self.zero)

    def _dot_steps(self, members: list[int], fused: dict[int, Fused], needs: list[bool],
                   first_slot: int) -> tuple[list[BatchedStep], int]:
        """The dot products of one level: those that are cells of matrix products (see
        :func:`_matrix_products`) as one :class:`_Contraction` per shape (the products' every cell
        a slot, from ``first_slot`` on), the rest one :class:`_Reduction`. Returns the steps and
        the next free slot."""
        slot = self.slot
        dots = [(tuple(slot[a] for a, _ in fused[i][1]), tuple(slot[b] for _, b in fused[i][1])) for i in members]
        products, rest = _matrix_products(self.np, dots)
        steps: list[BatchedStep] = []
        for cells, a_index, b_index, order in products:
            group = [members[d] for d in order]
            size = a_index.shape[0] * a_index.shape[1] * b_index.shape[2]
            biases: list[list[int]] = [[]] * size
            for i, cell in zip(group, cells):
                slot[i] = first_slot + cell
                biases[cell] = [self.uniform_slot[j] for j in fused[i][2]]
            exact = self._reduction(group, fused, needs)  # the same nodes, term by term
            out = _Slots(self.np, list(range(first_slot, first_slot + size)), True)
            bias = _biases(self.np, biases, exact.biases is not None and exact.biases.needs_grad)
            steps.append(_Contraction(self.np, a_index, b_index, self.zero, out, bias, exact))
            first_slot += size
        if rest:
            for d in rest:
                slot[members[d]], first_slot = first_slot, first_slot + 1
            steps.append(self._reduction([members[d] for d in rest], fused, needs))
        return steps, first_slot

    def _fused(self, root: int) -> tuple[Fused, set[int]] | None:
        """``root`` (a ``+`` or ``max`` over computed nodes) as one fused node ``(kind, terms, bias,
        plain)`` and the nodes it absorbs, or None when single operations do as well. A weighted sum's
        terms are ``(w, x)`` pairs, its ``plain`` the computed terms it adds with no weight."""
        ops, parents, varying, single = self.ops, self.parents, self.varying, self.single
        if ops[root] == "max":  # a left chain: max(max(max(x0, x1), x2), x3)
            terms, inner, i = [], set(), root
            while ops[i] == "max" and varying[i] and (i == root or single[i]):
                if i != root:
                    inner.add(i)
                terms.append(parents[i][1])
                i = parents[i][0]
            terms.append(i)
            if len(terms) < 3 or not all(varying[t] for t in terms):
                return None
            return ("max", terms[::-1], [], []), inner
        terms, bias, inner = [], [], set()
        stack = [root]
        while stack:  # left operand first: the terms in the order the chain adds them
            i = stack.pop()
            if ops[i] == "+" and varying[i] and (i == root or single[i]):
                if i != root:
                    inner.add(i)
                stack.extend(reversed(parents[i]))
            elif varying[i]:
                terms.append(i)
            else:
                bias.append(i)
        products = [ops[t] == "*" and single[t] and not self.quotients[t] for t in terms]
        weighted = [p and varying[parents[t][0]] != varying[parents[t][1]] for p, t in zip(products, terms)]
        if sum(weighted) >= MIN_WEIGHTS:
            inner.update(t for t, w in zip(terms, weighted) if w)
            pairs = [(b, a) if varying[a] else (a, b) for a, b in (parents[t] for t, w in zip(terms, weighted) if w)]
            return ("weighted", pairs, bias, [t for t, w in zip(terms, weighted) if not w]), inner
        if len(terms) >= 2 and all(p and varying[parents[t][0]] and varying[parents[t][1]]
                                   for p, t in zip(products, terms)):
            inner.update(terms)
            return ("dot", [parents[t] for t in terms], bias, []), inner
        if len(terms) >= 3:
            return ("sum", terms, bias, []), inner
        return None
