"""autograd.Tape: replaying a lowered graph gives, bit for bit, what
rebuilding the graph and calling backward() gives (API.md, issues 6, 9 and 16),
in every representation: repeated blocks compiled once and looped over, plain
straight-line code, and the engine's own loop that large graphs get
(``representation`` runs a test in each)."""

import gc
import math
import random
import weakref

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograd import Tape, Value
from autograd import tape as tape_module
from autograd.graph import topological_order

from expressions import DRAWS, bits, random_program, replay, resolve
from helpers import live_values

REPRESENTATIONS = {
    # Blocks wherever a structure repeats, however small (the tests' graphs are small).
    "blocks": {"MIN_BLOCK": 1, "MIN_COPIES": 2},
    "straight": {"MIN_COPIES": 10**9},  # no blocks: all straight-line code
    "interpreted": {"COMPILE_LIMIT": -1},  # the engine's loop, as for large irregular graphs
}


@pytest.fixture(params=list(REPRESENTATIONS))
def representation(request, monkeypatch):
    """Run the test with each way the scalar tape replays a graph."""
    for name, value in REPRESENTATIONS[request.param].items():
        monkeypatch.setattr(tape_module, name, value)
    return request.param


def _apply(op, a, b):
    return op.ours(a, b)


def _order(root):
    return topological_order(root)


def _build(steps, leaves):
    interior = replay(steps, leaves, _apply)[len(leaves):]
    return sum(interior[1:], interior[0])


def _outcome(fn):
    """(value, None) or (None, exception type).

    Only the type: a rebuilt graph may refuse earlier, with its own words
    (``a ** b`` checks its base before building ``exp(b * log(a))``, whose
    replay then fails in ``log``).
    """
    try:
        return fn(), None
    except (ValueError, ZeroDivisionError, OverflowError) as e:
        return None, type(e)


def _check_program(program, inputs, rng):
    leaves = [Value(x) for x in inputs]
    steps = resolve(program, leaves, _apply, lambda v: v.data)
    root = _build(steps, leaves)
    tape = Tape(root)

    # 1. backward before any replay: exactly root.backward(), accumulating
    #    onto whatever the leaves held (including a -0.0).
    start = [rng.choice([0.0, -0.0, rng.uniform(-1, 1)]) for _ in leaves]
    for leaf, g in zip(leaves, start):
        leaf.grad = g
    root.backward()
    expected = [bits(leaf.grad) for leaf in leaves]
    for leaf, g in zip(leaves, start):
        leaf.grad = g
    tape.backward()
    assert [bits(leaf.grad) for leaf in leaves] == expected

    # 2. new leaf data: forward and backward equal a graph rebuilt on it.
    for _ in range(3):
        new = [x + rng.choice([0.0, rng.uniform(-0.5, 0.5)]) for x in inputs]
        fresh = [Value(x) for x in new]
        rebuilt, error = _outcome(lambda: _build(steps, fresh))  # noqa: B023
        for leaf, x in zip(leaves, new):
            leaf.data = x
        value, tape_error = _outcome(tape.forward)
        assert tape_error == error
        if error:
            continue
        assert bits(value) == bits(rebuilt.data) == bits(tape.value) == bits(root.data)
        for leaf, g in zip(leaves, start):
            leaf.grad = g
        for leaf, g in zip(fresh, start):
            leaf.grad = g
        _, error = _outcome(rebuilt.backward)
        _, tape_error = _outcome(tape.backward)
        assert tape_error == error
        if not error:
            assert [bits(x.grad) for x in leaves] == [bits(x.grad) for x in fresh]


def test_tape_equals_backward_bit_for_bit_on_random_graphs(representation):
    rng = random.Random(5)
    for _ in range(150):
        inputs = [rng.uniform(-2, 2) for _ in range(rng.randint(1, 4))]
        _check_program(random_program(rng, rng.randint(1, 20)), inputs, rng)


@settings(max_examples=100, deadline=None)
@given(program=st.lists(st.tuples(st.integers(0, DRAWS - 1), st.integers(0, 10**6),
                                  st.integers(0, 10**6)), min_size=1, max_size=12),
       inputs=st.lists(st.floats(-3.0, 3.0), min_size=1, max_size=4),
       seed=st.integers(0, 2**16))
def test_tape_equals_backward_bit_for_bit_property(program, inputs, seed):
    for settings_ in REPRESENTATIONS.values():  # (hypothesis runs without function-scoped fixtures)
        with pytest.MonkeyPatch.context() as patch:
            for name, value in settings_.items():
                patch.setattr(tape_module, name, value)
            _check_program(program, inputs, random.Random(seed))


def _per_sample(program, samples, shared, reg_first, resolved=None):
    """A batch's graph: the same random program over each sample's own leaves and the shared ones,
    summed, with an L2-like term on the shared leaves before or after it. ``resolved`` (a list)
    keeps each sample's steps, decided the first time, so that a rebuild has the same structure."""
    terms = []
    for k, sample in enumerate(samples):
        leaves = [Value(x) for x in sample] + shared
        if resolved is not None and len(resolved) > k:
            steps = resolved[k]
        else:
            steps = resolve(program, leaves, _apply, lambda v: v.data)
            if resolved is not None:
                resolved.append(steps)
        terms.append(_build(steps, leaves))
    data = sum(terms[1:], terms[0]) * (1.0 / len(terms))
    reg = sum(p * p for p in shared) * 0.01
    return reg + data if reg_first else data + reg


def test_repeated_blocks_replay_bit_for_bit_as_backward(representation):
    rng = random.Random(11)
    for _ in range(60):
        program = random_program(rng, rng.randint(2, 14))
        width, n_shared = rng.randint(1, 3), rng.randint(1, 3)
        samples = [[rng.uniform(-2, 2) for _ in range(width)] for _ in range(rng.randint(2, 6))]
        shared = [Value(rng.uniform(-1, 1)) for _ in range(n_shared)]
        reg_first, resolved = rng.random() < 0.5, []
        try:
            root = _per_sample(program, samples, shared, reg_first, resolved)
        except (ValueError, ZeroDivisionError, OverflowError):
            continue
        tape = Tape(root)
        for _ in range(3):
            for p in shared:
                p.data += rng.uniform(-0.3, 0.3)
                p.grad = rng.choice([0.0, 0.5])
            starts = [p.grad for p in shared]
            twin = [Value(p.data) for p in shared]
            for q, g in zip(twin, starts):
                q.grad = g
            try:
                rebuilt = _per_sample(program, samples, twin, reg_first, resolved)
            except (ValueError, ZeroDivisionError, OverflowError):
                continue
            value, error = _outcome(tape.forward)
            if error:
                continue
            tape.backward()
            rebuilt.backward()
            assert bits(value) == bits(rebuilt.data)
            assert [bits(p.grad) for p in shared] == [bits(q.grad) for q in twin]


def test_the_demo_loss_is_replayed_by_one_block_looped_over_the_samples():
    rng = random.Random(4)
    layers = _mlp(rng, [2, 8, 8, 1])
    X = [[rng.uniform(-1, 1), rng.uniform(-1, 1)] for _ in range(30)]
    Y = [rng.choice([-1.0, 1.0]) for _ in X]
    root, params = _loss(layers, X, Y)
    tape = Tape(root)
    (group,) = tape._replay.groups  # one structure, the sample's, looped over
    assert len(group.blocks) == 30
    assert len(group.blocks[0].members) > 100
    for p in params:
        p.data *= 1.1
        p.grad = 0.0
    value = tape.forward()
    tape.backward()
    again, params_again = _loss(_clone(layers), X, Y)
    again.backward()
    assert bits(value) == bits(again.data)
    assert [bits(p.grad) for p in params] == [bits(p.grad) for p in params_again]


def _clone(layers):
    return [[([Value(w.data) for w in ws], Value(b.data)) for ws, b in layer] for layer in layers]


# -- an MLP of plain Values over several SGD steps ------------------------------------


def _mlp(rng, sizes):
    return [[([Value(rng.uniform(-1, 1)) for _ in range(nin)], Value(0.0)) for _ in range(nout)]
            for nin, nout in zip(sizes, sizes[1:])]


def _forward(layers, x):
    for i, layer in enumerate(layers):
        out = [sum((w * xi for w, xi in zip(ws, x)), b) for ws, b in layer]
        x = [a.relu() for a in out] if i < len(layers) - 1 else out
    return x[0]


def _loss(layers, X, Y):
    params = [p for layer in layers for ws, b in layer for p in (*ws, b)]
    scores = [_forward(layers, [Value(v) for v in x]) for x in X]
    data = sum((1 + -y * s).relu() for y, s in zip(Y, scores)) * (1.0 / len(X))
    return data + 1e-4 * sum(p * p for p in params), params


def test_tape_trains_an_mlp_exactly_as_rebuilding_the_graph(representation):
    rng = random.Random(3)
    X = [[rng.uniform(-1, 1), rng.uniform(-1, 1)] for _ in range(12)]
    Y = [1.0 if a * b > 0 else -1.0 for a, b in X]
    init = random.Random(9)
    taped, rebuilt = _mlp(init, [2, 6, 6, 1]), _mlp(random.Random(9), [2, 6, 6, 1])
    root, tape_params = _loss(taped, X, Y)
    tape = Tape(root)
    for k in range(6):
        value = tape.forward() if k else root.data
        for p in tape_params:
            p.grad = 0.0
        tape.backward()
        loss, params = _loss(rebuilt, X, Y)
        for p in params:
            p.grad = 0.0
        loss.backward()
        assert bits(value) == bits(loss.data)
        assert [bits(p.grad) for p in tape_params] == [bits(p.grad) for p in params]
        lr = 0.5 - 0.05 * k
        for p in (*tape_params, *params):
            p.data -= lr * p.grad
    assert [bits(p.data) for p in tape_params] == [bits(p.data) for p in params]


# -- semantics ---------------------------------------------------------------------


def test_forward_uses_the_leaves_current_data_and_writes_the_root_and_kept_nodes(representation):
    x, y = Value(2.0), Value(3.0)
    s = x * y
    t = s * 2.0
    f = s + x + t
    tape = Tape(f, keep=[s])
    x.data = 5.0
    assert tape.forward() == 50.0 and tape.value == 50.0
    assert (s.data, f.data) == (15.0, 50.0)
    # Not kept: compiled code leaves it as it was built (writing every node would cost more than the
    # replay); the engine's loop, for graphs too large to compile, writes every node.
    assert t.data == (30.0 if representation == "interpreted" else 12.0)


def test_backward_accumulates_into_leaves_and_leaves_interior_grads_alone(representation):
    x = Value(3.0)
    s = x * x
    f = s * 2.0
    tape = Tape(f)
    tape.backward()
    tape.backward()
    assert x.grad == 24.0  # leaves accumulate, as with root.backward()
    # Documented: the compiled tape does not store interior gradients; the engine's loop does.
    assert s.grad == (2.0 if representation == "interpreted" else 0.0)


def test_max_and_relu_choose_on_each_replay(representation):
    a, b = Value(1.0), Value(2.0)
    f = a.max(b) + (a - 1.5).relu()
    tape = Tape(f)
    tape.backward()
    assert (a.grad, b.grad) == (0.0, 1.0)
    a.data = 4.0
    assert tape.forward() == 4.0 + 2.5
    a.grad = b.grad = 0.0
    tape.backward()
    assert (a.grad, b.grad) == (2.0, 0.0)
    a.data = b.data = 2.0  # a tie splits, relu at 0.5 active
    a.grad = b.grad = 0.0
    tape.forward()
    tape.backward()
    assert (a.grad, b.grad) == (1.5, 0.5)


def test_constants_are_leaves_the_tape_reads(representation):
    x = Value(2.0)
    f = x * 3 + 1
    tape = Tape(f)
    assert tape.forward() == 7.0
    three = f.parents[0].parents[1]
    assert three.op == "" and three.data == 3.0
    three.data = 10.0  # a constant is a leaf like any other
    assert tape.forward() == 21.0
    tape.backward()
    assert x.grad == 10.0


def test_a_value_used_twice(representation):
    x = Value(3.0)
    f = x * x + x
    tape = Tape(f)
    x.data = -2.0
    assert tape.forward() == 2.0
    tape.backward()
    assert x.grad == -3.0


def test_a_leaf_root(representation):
    x = Value(4.0)
    tape = Tape(x)
    x.data = 5.0
    assert tape.forward() == 5.0
    tape.backward()
    tape.backward()
    assert x.grad == 2.0


def test_signed_zeros_are_kept_exactly(representation):
    # relu is off, so its input's gradient is exactly zero, and a zero passes
    # nothing on: the leaf keeps its -0.0, in backward and in the tape alike.
    x = Value(-1.0)
    f = (x * 1.0).relu() * -1.0
    x.grad = -0.0
    f.backward()
    assert bits(x.grad) == bits(-0.0)
    x.grad = -0.0
    Tape(f).backward()
    assert bits(x.grad) == bits(-0.0)
    # "+" passes a zero on as it is: -0.0 + 0.0 is +0.0, in both.
    g = (x + 1.0).relu() * 2.0
    for run_backward in (g.backward, Tape(g).backward):
        x.grad = -0.0
        run_backward()
        assert bits(x.grad) == bits(0.0)
    h = (x * 0.0) + x * 0.0
    x.grad = -0.0
    h.backward()
    tape_x = x.grad
    x.grad = -0.0
    Tape(h).backward()
    assert bits(x.grad) == bits(tape_x)


@pytest.mark.parametrize(
    "build, bad, error, message",
    [
        (lambda x: x.log(), -1.0, ValueError, "positive"),
        (lambda x: x.exp(), 1000.0, OverflowError, "1000.0"),
        (lambda x: x.reciprocal(), 0.0, ZeroDivisionError, "1/x"),
        (lambda x: x ** 0.5, -4.0, ValueError, "not a real number"),
    ],
)
def test_errors_after_a_data_change_are_the_engines(build, bad, error, message, representation):
    x = Value(2.0)
    tape = Tape(build(x) * 2.0)
    x.data = bad
    with pytest.raises(error, match=message) as from_tape:
        tape.forward()
    with pytest.raises(error) as from_engine:
        build(Value(bad))
    assert str(from_tape.value) == str(from_engine.value)


def test_a_deep_chain(representation):
    x = Value(0.0)
    y = x
    for _ in range(20_000):
        y = (y * 1.0000001 + 0.1).relu()
    tape = Tape(y)
    x.data = 1.0
    value = tape.forward()
    tape.backward()
    x2 = Value(1.0)
    y2 = x2
    for _ in range(20_000):
        y2 = (y2 * 1.0000001 + 0.1).relu()
    y2.backward()
    assert bits(value) == bits(y2.data) and bits(x.grad) == bits(x2.grad)


def test_the_generated_code_holds_no_text_from_the_graph():
    x = Value(1.0, label="__import__('os').system('echo pwned')")
    y = (x * 2.0 + 1.0).tanh()
    y.label = "\"); import os #"
    source = Tape(y)._replay.source
    assert "import" not in source and "echo" not in source and "pwned" not in source
    assert "2.0" not in source  # numbers are read from the leaves, never pasted


def test_tape_rejects_a_non_value():
    with pytest.raises(TypeError, match="float"):
        Tape(1.0)


def test_repr_says_how_big_it_is(representation):
    x = Value(1.0)
    assert repr(Tape(x * 2.0 + 1.0)).startswith("Tape(2 operations, 3 leaves")


def test_tanh_sigmoid_exp_log_pow_through_the_tape(representation):
    x = Value(0.7)
    f = x.tanh() * x.sigmoid() + x.exp().log() ** 2 + (x * 3.0).reciprocal()
    tape = Tape(f)
    for v in (0.7, 1.3, -0.4):
        x.data = v
        x.grad = 0.0
        tape.forward()
        tape.backward()
        y = Value(v)
        g = y.tanh() * y.sigmoid() + y.exp().log() ** 2 + (y * 3.0).reciprocal()
        g.backward()
        assert bits(tape.value) == bits(g.data) and bits(x.grad) == bits(y.grad)
        assert math.isfinite(x.grad)


def test_a_dropped_tape_and_its_graph_are_freed_by_reference_counting():
    gc.collect()
    gc.disable()
    try:
        before = live_values()
        x = Value(1.0)
        y = (x * 2.0 + 1.0).tanh()
        tape = Tape(y)
        tape.forward()
        refs = [weakref.ref(tape._replay._forward), weakref.ref(tape._replay._backward)]
        del tape, y
        assert [r() for r in refs] == [None, None]
        assert live_values() == before + 1  # the graph went with the tape: only x is left
    finally:
        gc.enable()


def test_graphs_of_the_same_shape_share_one_compile():
    def graph(a, b):
        x, y = Value(a, "x"), Value(b, "y")
        return (x * y + 2.0).tanh() * x

    first, second, other = Tape(graph(1.0, 2.0)), Tape(graph(-3.0, 0.5)), Tape(Value(1.0).exp())
    assert first._replay._forward.__code__ is second._replay._forward.__code__
    assert first._replay._forward.__code__ is not other._replay._forward.__code__
    # Sharing code, not numbers: each replays its own graph.
    assert (first.forward(), second.forward()) == (graph(1.0, 2.0).data, graph(-3.0, 0.5).data)


def test_shared_code_dies_with_the_last_tape():
    from autograd.tape import _live_code

    x = Value(2.0)
    first, second = Tape(x * 3.0 + 1.0), Tape(x * 5.0 + 2.0)
    assert len(_live_code) >= 1
    code = weakref.ref(first._replay.code)
    del first
    assert code() is not None  # the other tape still uses it
    del second
    assert code() is None


def test_a_quotient_whose_gate_overflows_replays_as_backward(representation):
    """(a / b) * c at a = 1e200, b = 1e60, c = 1e120: the 1/x gate's share overflows, the true
    gradient to b (-1e200) does not; every replay gives the engine's (issue 21 item 8)."""
    a, b, c = Value(1e200), Value(1e60), Value(1e120)
    tape = Tape((a / b) * c)
    for scale in (1.0, 2.0):
        a.data, b.data = 1e200 * scale, 1e60 * scale
        for x in (a, b, c):
            x.grad = 0.0
        tape.forward()
        tape.backward()
        twin = [Value(a.data), Value(b.data), Value(c.data)]
        ((twin[0] / twin[1]) * twin[2]).backward()
        assert [bits(x.grad) for x in (a, b, c)] == [bits(x.grad) for x in twin]
        assert math.isfinite(b.grad) and b.grad == pytest.approx(-1e200 / scale)


def test_a_seed_of_minus_zero_replays_as_backward(representation):
    """backward(-0.0) seeds 0.0 (no interior gradient is ever -0.0), in the engine and the tapes,
    even into leaves whose gradient was set to -0.0 by hand."""
    x, y = Value(1.5), Value(-2.0)
    f = (x + y) + (x * y).tanh()
    tape = Tape(f)
    for leaf in (x, y):
        leaf.grad = -0.0
    tape.backward(-0.0)
    taped = [bits(leaf.grad) for leaf in (x, y)]
    for leaf in (x, y):
        leaf.grad = -0.0
    f.backward(-0.0)
    assert [bits(leaf.grad) for leaf in (x, y)] == taped
    assert bits(f.grad) == bits(0.0)


def test_backward_after_a_forward_that_raised_is_refused(representation):
    """Issue 21 item 6: after forward() raises, backward() is a RuntimeError (it would otherwise
    add gradients at the previous leaf values), until a forward() succeeds."""
    x = Value(2.0)
    tape = Tape((x * 3.0).log() + x)
    x.data = -1.0
    with pytest.raises(ValueError, match="log"):
        tape.forward()
    x.grad = 0.0
    with pytest.raises(RuntimeError, match="forward"):
        tape.backward()
    assert x.grad == 0.0
    x.data = 1.0
    tape.forward()
    tape.backward()
    assert x.grad == pytest.approx(1.0 / 1.0 + 1.0)
