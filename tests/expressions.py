"""Random expressions over every primitive, for property and cross-checks.

A program is a list of steps ``(op_index, i, j)``; each step applies an
operation to two earlier nodes of a pool that starts with the leaves. The
same program can be run on any backend that offers the operations (ours, or
PyTorch's tensors), in lockstep, so both see the very same expression.
Operations whose argument lies outside their domain (or too close to a kink,
where a derivative jumps) fall back to ``tanh`` of the first operand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Op:
    name: str
    valid: Callable[[float, float], bool]
    ours: Callable
    torch: Callable  # (torch module, a, b) -> tensor


def _far_from(x: float, kink: float, margin: float = 1e-3) -> bool:
    return abs(x - kink) > margin


OPS = [
    Op("add", lambda a, b: True, lambda a, b: a + b, lambda t, a, b: a + b),
    Op("sub", lambda a, b: True, lambda a, b: a - b, lambda t, a, b: a - b),
    Op("mul", lambda a, b: True, lambda a, b: a * b, lambda t, a, b: a * b),
    Op("div", lambda a, b: abs(b) > 0.2, lambda a, b: a / b, lambda t, a, b: a / b),
    Op("neg", lambda a, b: True, lambda a, b: -a, lambda t, a, b: -a),
    Op("add_const", lambda a, b: True, lambda a, b: 1.5 + a, lambda t, a, b: 1.5 + a),
    Op("rsub_const", lambda a, b: True, lambda a, b: 2.0 - a, lambda t, a, b: 2.0 - a),
    Op("rdiv_const", lambda a, b: abs(a) > 0.2, lambda a, b: 3.0 / a, lambda t, a, b: 3.0 / a),
    Op("exp", lambda a, b: abs(a) < 4, lambda a, b: a.exp(), lambda t, a, b: t.exp(a)),
    Op("log", lambda a, b: a > 0.05, lambda a, b: a.log(), lambda t, a, b: t.log(a)),
    Op("reciprocal", lambda a, b: abs(a) > 0.2, lambda a, b: a.reciprocal(), lambda t, a, b: 1.0 / a),
    Op("max", lambda a, b: _far_from(a, b), lambda a, b: a.max(b), lambda t, a, b: t.maximum(a, b)),
    Op("relu", lambda a, b: _far_from(a, 0.0), lambda a, b: a.relu(), lambda t, a, b: t.relu(a)),
    Op("tanh", lambda a, b: True, lambda a, b: a.tanh(), lambda t, a, b: t.tanh(a)),
    Op("sigmoid", lambda a, b: True, lambda a, b: a.sigmoid(), lambda t, a, b: t.sigmoid(a)),
    Op("square", lambda a, b: abs(a) < 10, lambda a, b: a**2, lambda t, a, b: a**2),
    Op("cube", lambda a, b: abs(a) < 5, lambda a, b: a**3, lambda t, a, b: a**3),
    Op("sqrt", lambda a, b: a > 0.05, lambda a, b: a**0.5, lambda t, a, b: a**0.5),
    Op("pow_neg", lambda a, b: abs(a) > 0.2, lambda a, b: a**-2, lambda t, a, b: a**-2),
    Op("pow_value", lambda a, b: a > 0.05 and abs(b) < 3, lambda a, b: a**b, lambda t, a, b: a**b),
    Op("rpow", lambda a, b: abs(a) < 5, lambda a, b: 2.0**a, lambda t, a, b: 2.0**a),
    Op("leaky_relu", lambda a, b: _far_from(a, 0.0),
       lambda a, b: a.leaky_relu(0.1), lambda t, a, b: t.nn.functional.leaky_relu(a, 0.1)),
    Op("elu", lambda a, b: _far_from(a, 0.0) and a < 10,
       lambda a, b: a.elu(0.7), lambda t, a, b: t.nn.functional.elu(a, 0.7)),
]
FALLBACK = next(op for op in OPS if op.name == "tanh")


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
    for op_index, i, j in program:
        op = OPS[op_index % len(OPS)]
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
    return [(rng.randrange(len(OPS)), rng.randrange(10**6), rng.randrange(10**6)) for _ in range(n_steps)]


def close(a: float, b: float, rel: float) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=rel * 1e-3)
