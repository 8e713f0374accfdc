"""The primitives table (autograd/ops.py): its float functions, its inline
templates, and the engine's hot paths, each checked against the table's own
rules bit for bit."""

import math
import operator
import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograd import Tape, Value, ops
from autograd.engine import _interior_order
from autograd.graph import topological_order
from autograd.ops import FORWARD, LOCAL_GRADS, PRIMITIVES

from expressions import OPS, random_program, replay, resolve


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


SPECIALS = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 1e-310, -1e-310, 1e300, -1e300,
            math.inf, -math.inf, math.nan, 3.0, 7.25]


# -- the table --------------------------------------------------------------


def test_the_table_has_the_documented_operations():
    assert set(PRIMITIVES) == {"+", "*", "exp", "log", "1/x", "max", "**", "tanh", "sigmoid",
                               "relu", "leaky_relu", "elu"}


@pytest.mark.parametrize("name", sorted(PRIMITIVES))
def test_every_rule_gives_one_gradient_per_operand(name):
    arity = 2 if name in ("+", "*", "max", "**", "leaky_relu", "elu") else 1
    args = [1.5, 2.0][:arity]
    out = FORWARD[name](*args)
    grads = LOCAL_GRADS[name](out, *args)
    assert isinstance(grads, tuple) and len(grads) == arity
    assert all(isinstance(g, float) for g in grads)


def test_the_hot_forwards_are_the_operators():
    # Value.__add__ / __mul__ write ``a + b`` / ``a * b`` inline on this basis.
    assert FORWARD["+"] is operator.add
    assert FORWARD["*"] is operator.mul


@pytest.mark.parametrize("a", SPECIALS)
@pytest.mark.parametrize("b", SPECIALS)
def test_the_hot_rules_are_what_the_engine_spells_out(a, b):
    # backward adds ``upstream`` for "+" (its rule says 1.0, 1.0) and
    # ``b * upstream``, ``a * upstream`` for "*" (its rule says b, a).
    assert LOCAL_GRADS["+"](a + b, a, b) == (1.0, 1.0)
    da, db = LOCAL_GRADS["*"](a * b, a, b)
    assert (bits(da), bits(db)) == (bits(b), bits(a))


@pytest.mark.parametrize("g", SPECIALS)
def test_one_times_g_is_g_bit_for_bit(g):
    # Why a pass-through gradient (template "1.0") needs no multiplication.
    assert bits(1.0 * g) == bits(g)


# -- the inline templates, compiled by the tape, against the functions ---------


def _one_op_graph(name, a, b):
    """``op(x[, k]) * c`` over leaves, so the op's upstream gradient is c."""
    x, k, c = Value(a), Value(b), Value(1.0)
    node = x.relu() if name == "relu" else (x + k if name == "+" else x * k)
    return (node * c), x, k, c


@pytest.mark.parametrize("name", [n for n, p in PRIMITIVES.items() if p.inline])
def test_inline_templates_compute_exactly_what_the_functions_do(name):
    rng = random.Random(7)
    values = SPECIALS + [rng.uniform(-5, 5) for _ in range(40)]
    root, x, k, c = _one_op_graph(name, 1.0, 1.0)
    node = root.parents[0]
    tape = Tape(root)  # compiled once; only the data changes below
    for a in values:
        for b in (values if name != "relu" else [0.0]):
            for upstream in (1.0, -0.75, 0.0, -0.0):
                x.data, k.data, c.data = a, b, upstream
                x.grad = k.grad = 0.0
                tape.forward()
                args = (a,) if name == "relu" else (a, b)
                expected = FORWARD[name](*args)
                assert bits(node.data) == bits(expected)
                tape.backward()
                local = LOCAL_GRADS[name](expected, *args)
                # leaves start at 0.0 and receive exactly one contribution each
                assert bits(x.grad) == bits(0.0 + local[0] * upstream)
                if name != "relu":
                    assert bits(k.grad) == bits(0.0 + local[1] * upstream)


# -- the engine's backward against the table alone ---------------------------------


def reference_backward(root: Value) -> dict:
    """Gradients from LOCAL_GRADS only (no hot path), in the same order as backward."""
    order = topological_order(root, lambda n: n.parents)
    grads = {n: (0.0 if n.op else n.grad) for n in order}
    if root.op:
        grads[root] = 1.0
    else:
        grads[root] += 1.0
    for node in order:
        if not node.op:
            continue
        upstream = grads[node]
        local = LOCAL_GRADS[node.op](node.data, *[p.data for p in node.parents])
        for parent, d in zip(node.parents, local):
            grads[parent] = grads[parent] + d * upstream
    return grads


def _apply(op, a, b):
    return op.ours(a, b)


def _random_graph(program, inputs, rng):
    leaves = [Value(x) for x in inputs]
    steps = resolve(program, leaves, _apply, lambda v: v.data)
    interior = replay(steps, leaves, _apply)[len(leaves):]
    root = sum(interior[1:], interior[0])
    for leaf in leaves:
        leaf.grad = rng.choice([0.0, -0.0, rng.uniform(-1, 1)])
    return root


def _check_backward_is_the_table(root):
    expected = reference_backward(root)
    root.backward()
    for node, g in expected.items():
        assert bits(node.grad) == bits(g), (node, g)


def test_backward_walks_the_graph_in_topological_order():
    # Value.backward inlines graph.topological_order's walk; the tape and
    # grad() use the generic one. Same order, same float sums.
    rng = random.Random(13)
    for _ in range(200):
        inputs = [rng.uniform(-2, 2) for _ in range(rng.randint(1, 4))]
        root = _random_graph(random_program(rng, rng.randint(1, 25)), inputs, rng)
        generic = [n for n in topological_order(root, lambda n: n.parents) if n.op]
        assert _interior_order(root) == generic
        assert all(n.grad == 0.0 for n in generic)


def test_backward_equals_the_table_rules_bit_for_bit_on_random_graphs():
    rng = random.Random(11)
    for _ in range(300):
        inputs = [rng.uniform(-2, 2) for _ in range(rng.randint(1, 4))]
        _check_backward_is_the_table(_random_graph(random_program(rng, rng.randint(1, 25)),
                                                   inputs, rng))


@settings(max_examples=150, deadline=None)
@given(program=st.lists(st.tuples(st.integers(0, len(OPS) - 1), st.integers(0, 10**6),
                                  st.integers(0, 10**6)), min_size=1, max_size=15),
       inputs=st.lists(st.floats(-3.0, 3.0), min_size=1, max_size=4))
def test_backward_equals_the_table_rules_bit_for_bit_property(program, inputs):
    _check_backward_is_the_table(_random_graph(program, inputs, random.Random(0)))


# -- the float functions ---------------------------------------------------------


def test_exp_overflow_names_the_input():
    assert ops.exp(1.0) == math.e
    with pytest.raises(OverflowError, match="710.0"):
        ops.exp(710.0)


@pytest.mark.parametrize("a", [0.0, -0.0, -1.0, -math.inf])
def test_log_of_a_non_positive_number_names_it(a):
    with pytest.raises(ValueError, match="positive"):
        ops.log(a)


def test_log_of_a_positive_number():
    assert ops.log(math.e) == 1.0
    assert ops.log(math.inf) == math.inf


@pytest.mark.parametrize("a", [0.0, -0.0])
def test_reciprocal_of_zero_raises(a):
    with pytest.raises(ZeroDivisionError, match="1/x"):
        ops.reciprocal(a)


def test_reciprocal():
    assert ops.reciprocal(4.0) == 0.25
    assert ops.reciprocal(-0.5) == -2.0


def test_power_edge_cases():
    assert ops.power(-2.0, 3.0) == -8.0
    assert ops.power(4.0, 0.5) == 2.0
    assert ops.power(0.0, 0.0) == 1.0
    with pytest.raises(ZeroDivisionError):
        ops.power(0.0, -1.0)
    with pytest.raises(ValueError, match="not a real number"):
        ops.power(-8.0, 1 / 3)
    with pytest.raises(OverflowError, match="overflows"):
        ops.power(10.0, 400.0)


def test_maximum_and_its_tie():
    assert ops.maximum(1.0, 2.0) == 2.0
    assert ops.maximum(3.0, -2.0) == 3.0
    assert LOCAL_GRADS["max"](1.0, 1.0, 1.0) == (0.5, 0.5)
    assert LOCAL_GRADS["max"](3.0, 3.0, -2.0) == (1.0, 0.0)
    assert LOCAL_GRADS["max"](2.0, 1.0, 2.0) == (0.0, 1.0)


@pytest.mark.parametrize("a, expected", [(2.5, 2.5), (0.0, 0.0), (-0.0, 0.0), (-3.0, 0.0),
                                         (math.inf, math.inf), (-math.inf, 0.0)])
def test_relu(a, expected):
    assert bits(ops.relu(a)) == bits(expected)
    assert LOCAL_GRADS["relu"](ops.relu(a), a) == ((1.0,) if a > 0 else (0.0,))


@pytest.mark.parametrize("x", [-1000.0, -745.0, -50.0, -1.0, 0.0, 1.0, 50.0, 745.0, 1000.0,
                               -math.inf, math.inf])
def test_sigmoid_is_finite_and_overflow_free(x):
    s = ops.sigmoid(x)
    assert 0.0 <= s <= 1.0
    if abs(x) <= 50:
        assert s == pytest.approx(1.0 / (1.0 + math.exp(-x)), rel=1e-15)
        assert s + ops.sigmoid(-x) == pytest.approx(1.0, rel=1e-15)


def test_sigmoid_at_zero_and_its_gradient():
    assert ops.sigmoid(0.0) == 0.5
    assert LOCAL_GRADS["sigmoid"](0.5, 0.0) == (0.25,)


@pytest.mark.parametrize("x", [-1000.0, -20.0, 0.0, 0.3, 20.0, 1000.0])
def test_tanh_is_finite_and_its_gradient(x):
    t = FORWARD["tanh"](x)
    assert -1.0 <= t <= 1.0
    (d,) = LOCAL_GRADS["tanh"](t, x)
    assert d == pytest.approx(1.0 - math.tanh(x) ** 2, abs=1e-15)
