"""The primitives table (autograd/ops.py) and what is derived from it.

Every row: complete, covered by a test row, offered as a method, by both
``lib`` namespaces and by the command line; its rule right to the third
derivative (against central differences of the one below, so a rule that
silently loses a derivative fails here); its inline forward and its traced
rule (what the tape pastes) equal to its functions bit for bit; and the
engine's hand-written ``+`` and ``*`` equal to the rows bit for bit.
"""

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograd import Tape, Value, grad, ops
from autograd.engine import OPERATORS, VALUES
from autograd.graph import topological_order
from autograd.ops import FLOATS, PRIMITIVES

from expressions import DRAWS, OPS, bits, random_program, replay, resolve
from rows import TEST_ROWS, apply

SPECIALS = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 1e-310, -1e-310, 1e300, -1e300,
            math.inf, -math.inf, math.nan, 3.0, 7.25]


# -- the table and its test rows ------------------------------------------------


def test_the_test_rows_are_the_table():
    assert list(TEST_ROWS) == list(PRIMITIVES)


@pytest.mark.parametrize("op", PRIMITIVES)
def test_every_row_is_complete(op):
    row = PRIMITIVES[op]
    assert row.op == op and row.name.isidentifier() and row.doc
    assert row.arity in (1, 2) and len(row.defaults) <= row.arity - 1
    for sample in TEST_ROWS[op].samples:
        assert len(sample) == row.arity
        out = row.forward(*sample)
        received = row.vjp(FLOATS, 1.0, out, *sample)
        assert isinstance(out, float) and isinstance(received, tuple) and len(received) == row.arity


def test_names_are_unique():
    names = [row.name for row in PRIMITIVES.values()]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("op", [op for op in PRIMITIVES if op not in OPERATORS])
def test_each_method_is_its_row(op):
    row = PRIMITIVES[op]
    method = getattr(Value, row.name)
    assert method.__doc__ == row.doc
    sample = TEST_ROWS[op].samples[0]
    node = apply(op, *map(Value, sample))
    assert node.op == op and node.data == row.forward(*sample)


@pytest.mark.parametrize("op", PRIMITIVES)
def test_both_lib_namespaces_offer_every_row(op):
    name = PRIMITIVES[op].name
    sample = TEST_ROWS[op].samples[0]
    assert getattr(FLOATS, name)(*sample) == PRIMITIVES[op].forward(*sample)
    node = getattr(VALUES, name)(*map(Value, sample))
    assert isinstance(node, Value) and node.op == op


def test_random_graphs_exercise_every_row():
    assert {op.name for op in OPS} >= set(PRIMITIVES)


@pytest.mark.parametrize("op", OPERATORS)
def test_the_operators_are_their_rows_bit_for_bit(op):
    # Value.__add__ / __mul__ build their node inline (for speed): the same value as the row's forward.
    row = PRIMITIVES[op]
    for a in SPECIALS:
        for b in SPECIALS:
            try:
                expected = row.forward(a, b)
            except (ArithmeticError, ValueError):
                continue
            node = apply(op, Value(a), Value(b))
            assert bits(node.data) == bits(expected) and node.op == op, (a, b)


def test_a_product_with_a_reciprocal_gate_is_the_quotient():
    for a in SPECIALS:
        for b in SPECIALS:
            if b == 0.0:
                continue
            x, y = Value(a), Value(b)
            for q in (x / y, x * y.reciprocal(), a * y.reciprocal()):
                assert bits(q.data) == bits(a / b) and q.op == "*" and q.parents[1].op == "1/x"


# -- derivatives of every row: against central differences of the one below --------


def _partials(f, point, order):
    """d^order f / dx_i dx_j ... at ``point``: a dict keyed by the index tuple."""
    xs = [Value(x) for x in point]
    layer = {(): f(*xs)}
    for k in range(order):
        last = k == order - 1
        layer = {key + (j,): d for key, y in layer.items()
                 for j, d in enumerate(grad(y, xs, create_graph=not last))}
    return {key: (d if isinstance(d, float) else d.data) for key, d in layer.items()}


def _central(f, point, order, j, h):
    up, down = list(point), list(point)
    up[j] += h
    down[j] -= h
    hi, lo = _partials(f, up, order), _partials(f, down, order)
    return {key: (hi[key] - lo[key]) / (2 * h) for key in hi}


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("op", PRIMITIVES)
def test_every_rule_to_the_third_derivative(op, order):
    """d^k f against central differences of d^(k-1) f, for k = 1, 2, 3: a rule
    that lost a derivative (say, math.cos on a Value) would give 0 here."""
    f = lambda *xs: apply(op, *xs)  # noqa: E731
    for point in TEST_ROWS[op].samples:
        exact = _partials(f, point, order)
        for j in range(len(point)):
            h = 1e-5 * max(1.0, abs(point[j]))
            numeric = _central(f, point, order - 1, j, h)
            for key, slope in numeric.items():
                assert exact[key + (j,)] == pytest.approx(slope, rel=1e-5, abs=1e-6), (point, key, j)


# -- the inline forwards and the traced rules, through the tape, against the rows ---


def _one_op_graph(op, operands):
    """``op(x[, k]) * c`` over leaves, so the op's upstream gradient is c."""
    leaves = [Value(x) for x in operands]
    c = Value(1.0)
    return apply(op, *leaves) * c, leaves, c


@pytest.mark.parametrize("op", PRIMITIVES)
def test_the_tape_computes_exactly_what_the_rows_do(op):
    row = PRIMITIVES[op]
    rng = random.Random(7)
    values = SPECIALS + [rng.uniform(-5, 5) for _ in range(20)]
    second = values if row.arity == 2 else [None]
    sample = TEST_ROWS[op].samples[0]
    root, leaves, c = _one_op_graph(op, sample)
    node = root.parents[0]
    tape = Tape(root, keep=[node])  # compiled once; only the data changes below
    for a in values:
        for b in second:
            args = (a,) if b is None else (a, b)
            try:
                expected = row.forward(*args)
            except (ArithmeticError, ValueError):
                continue
            for upstream in (1.0, -0.75, 0.0, -0.0):
                for leaf, x in zip(leaves, args):
                    leaf.data, leaf.grad = x, 0.0
                c.data = upstream
                tape.forward()
                assert bits(node.data) == bits(expected)
                tape.backward()
                if upstream == 0.0:
                    received = (0.0,) * row.arity
                else:
                    received = row.vjp(FLOATS, upstream, expected, *args)
                for leaf, d in zip(leaves, received):
                    # leaves start at 0.0 and receive at most one contribution each
                    assert bits(leaf.grad) == bits(0.0 + d), (args, upstream)


# -- the engine's backward against the rows alone ------------------------------------


def reference_backward(root: Value) -> dict:
    """Gradients from the rows' vjp only (no hand-written path), in backward's order,
    with its rule for zeros: "+" passes a zero on, every other row passes nothing."""
    order = topological_order(root)
    grads = {n: (0.0 if n.op else n.grad) for n in order}
    if root.op:
        grads[root] = 1.0
    else:
        grads[root] += 1.0
    for node in order:
        if not node.op or (grads[node] == 0.0 and node.op != "+"):
            continue
        received = PRIMITIVES[node.op].vjp(FLOATS, grads[node], node.data, *[p.data for p in node.parents])
        for parent, d in zip(node.parents, received):
            grads[parent] = grads[parent] + d
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


def test_backward_equals_the_rows_bit_for_bit_on_random_graphs():
    rng = random.Random(11)
    for _ in range(300):
        inputs = [rng.uniform(-2, 2) for _ in range(rng.randint(1, 4))]
        _check_backward_is_the_table(_random_graph(random_program(rng, rng.randint(1, 25)),
                                                   inputs, rng))


@settings(max_examples=150, deadline=None)
@given(program=st.lists(st.tuples(st.integers(0, DRAWS - 1), st.integers(0, 10**6),
                                  st.integers(0, 10**6)), min_size=1, max_size=15),
       inputs=st.lists(st.floats(-3.0, 3.0), min_size=1, max_size=4))
def test_backward_equals_the_rows_bit_for_bit_property(program, inputs):
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
    assert ops.power(2.0, 3.0) == 8.0  # exactly: not exp(3 log 2)
    with pytest.raises(ZeroDivisionError):
        ops.power(0.0, -1.0)
    with pytest.raises(ValueError, match="not a real number"):
        ops.power(-8.0, 1 / 3)
    with pytest.raises(ValueError, match="not a real number"):
        ops.power(-8.0, math.nan)
    with pytest.raises(OverflowError, match="overflows"):
        ops.power(10.0, 400.0)


def test_maximum_and_its_tie():
    assert ops.maximum(1.0, 2.0) == 2.0
    assert ops.maximum(3.0, -2.0) == 3.0
    vjp = PRIMITIVES["max"].vjp
    assert vjp(FLOATS, 1.0, 1.0, 1.0, 1.0) == (0.5, 0.5)
    assert vjp(FLOATS, 1.0, 3.0, 3.0, -2.0) == (1.0, 0.0)
    assert vjp(FLOATS, 1.0, 2.0, 1.0, 2.0) == (0.0, 1.0)


@pytest.mark.parametrize("a, expected", [(2.5, 2.5), (0.0, 0.0), (-0.0, -0.0), (-3.0, 0.0),
                                         (math.inf, math.inf), (-math.inf, 0.0)])
def test_relu(a, expected):
    assert bits(ops.relu(a)) == bits(expected)
    assert PRIMITIVES["relu"].vjp(FLOATS, 1.0, ops.relu(a), a) == ((1.0,) if a > 0 else (0.0,))


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
    assert PRIMITIVES["sigmoid"].vjp(FLOATS, 1.0, 0.5, 0.0) == (0.25,)


@pytest.mark.parametrize("x", [-1000.0, -20.0, 0.0, 0.3, 20.0, 1000.0])
def test_tanh_is_finite_and_its_gradient(x):
    t = PRIMITIVES["tanh"].forward(x)
    assert -1.0 <= t <= 1.0
    (d,) = PRIMITIVES["tanh"].vjp(FLOATS, 1.0, t, x)
    assert d == pytest.approx(1.0 - math.tanh(x) ** 2, abs=1e-15)


def test_every_public_name_of_the_core_has_a_docstring():
    import inspect

    from autograd import check, engine, files, graph

    for module in (ops, graph, engine, check, files):
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj) or inspect.isclass(obj):
                assert (obj.__doc__ or "").strip(), f"{module.__name__}.{name}"
    for name, obj in vars(Value).items():
        if not name.startswith("_") and callable(obj):
            assert (obj.__doc__ or "").strip(), f"Value.{name}"


def test_every_cross_check_iterates_the_whole_table():
    """Each per-row check is parametrized over every row (so a new row is checked everywhere)."""
    import importlib

    def ops_of(module_name: str, test_name: str) -> set:
        test = getattr(importlib.import_module(module_name), test_name)
        for mark in test.pytestmark:
            names, values = mark.args[0], list(mark.args[1])
            if names.split(",")[0].strip() in ("op", "name"):
                return {v[0] if isinstance(v, tuple) else v for v in values}
        raise AssertionError(f"{module_name}.{test_name} is not parametrized by op")

    by_name = {row.name: op for op, row in PRIMITIVES.items()}
    checks = [("test_ops", "test_every_rule_to_the_third_derivative"),
              ("test_ops", "test_the_tape_computes_exactly_what_the_rows_do"),
              ("test_ops", "test_every_row_is_complete"),
              ("test_edges", "test_every_primitive_at_the_edges_matches_pytorch"),
              ("test_check", "test_gradcheck_passes_on_every_row"),
              ("test_viz", "test_every_row_is_drawn_as_its_gate")]
    for module_name, test_name in checks:
        assert ops_of(module_name, test_name) >= set(PRIMITIVES), test_name
    offered = ops_of("test_cli", "test_every_function_of_the_engine_is_offered_and_evaluates")
    assert {by_name[n] for n in offered if n in by_name} >= set(PRIMITIVES) - set(OPERATORS)


def test_random_graphs_keep_their_operations_when_a_row_is_added(monkeypatch):
    """Adding an operation changes only the random steps it wins, never reshuffles the others."""
    import expressions

    draws = range(3000)
    before = [expressions.op_of(d).name for d in draws]
    extra = expressions.Op("extra", lambda a, b: True, lambda a, b: a, lambda t, a, b: a)
    monkeypatch.setattr(expressions, "_KEYS", {**expressions._KEYS, "extra": extra})
    expressions.op_of.cache_clear()
    try:
        after = [expressions.op_of(d).name for d in draws]
    finally:
        monkeypatch.undo()
        expressions.op_of.cache_clear()
    changed = [(b, a) for b, a in zip(before, after) if b != a]
    assert all(a == "extra" for _, a in changed)  # a step changes only to the new operation
    assert 0 < len(changed) < 2 * len(draws) / len(expressions.OPS)
