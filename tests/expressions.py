"""Random expressions over every primitive, for property and cross-checks.

A program is a list of steps ``(op_draw, i, j)``; each step applies an
operation (``op_of(op_draw)``) to two earlier nodes of a pool that starts
with the leaves. The operation is chosen by rendezvous hashing over the
operations' names, not by an index into ``OPS``: adding a row to the table
changes only the steps that the new row wins (about one in ``len(OPS)``),
where an index modulo ``len(OPS)`` would reshuffle every random graph. The
same program can be run on any backend that offers the operations (ours, or
PyTorch's tensors), in lockstep, so both see the very same expression.
Operations whose argument lies outside their domain (or too close to a kink,
where a derivative jumps) fall back to ``tanh`` of the first operand.
"""

from __future__ import annotations

import functools
import hashlib
import math
import struct
from dataclasses import dataclass
from typing import Callable

from rows import TEST_ROWS, apply, arity


@dataclass(frozen=True)
class Op:
    name: str
    valid: Callable[[float, float], bool]
    ours: Callable
    torch: Callable  # (torch module, a, b) -> tensor


def _far_from(x: float, kink: float, margin: float = 1e-3) -> bool:
    return abs(x - kink) > margin


def _row_op(op: str) -> Op:
    """The primitive ``op`` as a random-graph step, from its test row.

    A second operand that PyTorch takes as a plain number (elu's alpha) is the
    row's first sample value rather than a node of the pool.
    """
    row = TEST_ROWS[op]
    if arity(op) == 1:
        return Op(op, lambda a, b: row.valid(a), lambda a, b: apply(op, a),
                  lambda t, a, b: row.torch(t, a))
    if 1 in row.constant:
        k = row.samples[0][1]
        return Op(op, lambda a, b: row.valid(a, k), lambda a, b: apply(op, a, k),
                  lambda t, a, b: row.torch(t, a, t.tensor(k)))
    return Op(op, row.valid, lambda a, b: apply(op, a, b), lambda t, a, b: row.torch(t, a, b))


OPS = [_row_op(op) for op in TEST_ROWS] + [
    # Composites: expressions of the primitives, as users write them.
    Op("sub", lambda a, b: True, lambda a, b: a - b, lambda t, a, b: a - b),
    Op("div", lambda a, b: abs(b) > 0.2, lambda a, b: a / b, lambda t, a, b: a / b),
    Op("neg", lambda a, b: True, lambda a, b: -a, lambda t, a, b: -a),
    Op("add_const", lambda a, b: True, lambda a, b: 1.5 + a, lambda t, a, b: 1.5 + a),
    Op("rsub_const", lambda a, b: True, lambda a, b: 2.0 - a, lambda t, a, b: 2.0 - a),
    Op("rdiv_const", lambda a, b: abs(a) > 0.2, lambda a, b: 3.0 / a, lambda t, a, b: 3.0 / a),
    Op("div_const", lambda a, b: True, lambda a, b: a / 7.0, lambda t, a, b: a / 7.0),
    Op("square", lambda a, b: abs(a) < 10, lambda a, b: a**2, lambda t, a, b: a**2),
    Op("cube", lambda a, b: abs(a) < 5, lambda a, b: a**3, lambda t, a, b: a**3),
    Op("sqrt", lambda a, b: a > 0.05, lambda a, b: a**0.5, lambda t, a, b: a**0.5),
    Op("pow_neg", lambda a, b: abs(a) > 0.2, lambda a, b: a**-2, lambda t, a, b: a**-2),
    Op("rpow", lambda a, b: abs(a) < 5, lambda a, b: 2.0**a, lambda t, a, b: 2.0**a),
]
FALLBACK = next(op for op in OPS if op.name == "tanh")
DRAWS = 10**6
"""Each component of a step is drawn from ``range(DRAWS)``."""
_KEYS = {op.name: op for op in OPS}


@functools.cache
def op_of(draw: int) -> Op:
    """The operation of a step drawn as ``draw``: of every operation, the one whose name hashes
    highest together with ``draw`` (rendezvous hashing: stable when operations are added)."""
    name = max(_KEYS, key=lambda n: hashlib.blake2b(f"{n}:{draw}".encode(), digest_size=8).digest())
    return _KEYS[name]


def run(program, leaves, apply, data):
    """Run ``program`` on ``leaves``; ``apply(op, a, b)`` makes a node and
    ``data(node)`` reads its float. Returns the pool of all nodes."""
    return replay(resolve(program, leaves, apply, data), leaves, apply)


def resolve(program, leaves, apply, data):
    """The program's steps as ``(Op, i, j)``, with every fallback decided at
    this point, so that nearby points (finite differences) evaluate the very
    same expression."""
    pool = list(leaves)
    steps = []
    for op_draw, i, j in program:
        op = op_of(op_draw)
        i, j = i % len(pool), j % len(pool)
        if not op.valid(data(pool[i]), data(pool[j])):
            op = FALLBACK
        steps.append((op, i, j))
        pool.append(apply(op, pool[i], pool[j]))
    return steps


def replay(steps, leaves, apply):
    pool = list(leaves)
    for op, i, j in steps:
        pool.append(apply(op, pool[i], pool[j]))
    return pool


def random_program(rng, n_steps: int):
    return [(rng.randrange(DRAWS), rng.randrange(DRAWS), rng.randrange(DRAWS)) for _ in range(n_steps)]


def bits(x: float) -> bytes:
    """The float's bytes, for bit-for-bit comparisons; every nan counts as one.

    Which nan survives ``nan + (-nan)`` (its sign bit) depends on how CPython's
    specialised float paths were compiled, not on the arithmetic: IEEE leaves
    it open, so the tests do too.
    """
    return struct.pack("<d", math.nan if x != x else x)


def close(a: float, b: float, rel: float) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=rel * 1e-3)
