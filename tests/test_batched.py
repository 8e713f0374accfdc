"""The batched tape, ``Tape(root, inputs=[...])`` (API.md, "Batched replay"; issue 9).

Its forward and mean gradient equal the engine's, sample by sample, on seeded
random graphs over every primitive (``expressions.OPS``, from ``TEST_ROWS``),
with batches that hold ties, zeros, nan and rows that raise; every row's
vectorised form against the row itself at the edges of the floats; an MLP
trained with it against the engine; and the errors.

On the random graphs the tape runs as the engine does, operation for
operation, and it is checked so:

* NumPy's own ``exp``, ``log``, ``tanh`` and ``expm1`` may differ from the
  math module's by an ulp (they are vectorised differently), and a random
  graph can amplify an ulp without bound (``log`` of ``tanh(11)``, which is
  1 - 6e-10, turns it into 1e-7). So the random graphs run on NumPy with the
  math module's elementary functions (``libm_numpy``); each row's vectorised
  form is checked against the row with NumPy's own functions, element by
  element, where an ulp stays an ulp;
* the weighted sums (matrix products) sum in another order than the chain of
  ``+``: the random graphs run without them (``unfused``), and they are
  checked on their own, on well-conditioned graphs;
* then every value is the engine's, bit for bit; a gradient differs only in
  the order its contributions are added (by depth, and over the rows by
  NumPy's sums), so "1e-12 relative" is relative to the size of what is
  added: the sum, over every path from the root, of the magnitude of each
  contribution (``_magnitudes``).
"""

import math
import random
import sys

import numpy as np
import pytest

from autograd import Tape, Value
from autograd.batched import array_lib, array_rule
from autograd.engine import _apply
from autograd.graph import topological_order
from autograd.ops import FLOATS, PRIMITIVES, Batched, Primitive

from expressions import OPS, random_program, replay, resolve
from rows import TEST_ROWS, apply

REL = 1e-12
LIB = array_lib(np)


def same(a: float, b: float, rel: float = REL, scale: float = 0.0) -> bool:
    """Equal to ``rel`` relative (of the larger of them and ``scale``); nan equals nan; infinities exactly."""
    if a != a or b != b:
        return a != a and b != b
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= rel * max(abs(a), abs(b), scale) or abs(a - b) <= 1e-300


# -- every row's vectorised form, against the row, at the edges ----------------------


def _row_outcome(row, args):
    try:
        return row.forward(*args), None
    except (ArithmeticError, ValueError) as error:
        return None, type(error)


@pytest.mark.parametrize("op", PRIMITIVES)
def test_every_row_has_a_batched_form(op):
    assert PRIMITIVES[op].batched is not None
    array_rule(PRIMITIVES[op], LIB)  # runs on arrays: its own rule, or its batched vjp


@pytest.mark.parametrize("op", PRIMITIVES)
def test_each_batched_form_computes_what_its_row_does(op):
    """Forward and vjp, element by element, against the row on floats: at every edge
    point and sample, for upstream gradients 1, -0.75 and 1e300 (0 is the tape's to skip)."""
    row, test_row = PRIMITIVES[op], TEST_ROWS[op]
    points = [p for p in test_row.edges + test_row.samples if _row_outcome(row, p)[1] is None]
    columns = [np.array([p[j] for p in points]) for j in range(row.arity)]
    with np.errstate(all="ignore"):
        out = row.batched.forward(LIB, *columns)
        for upstream in (1.0, -0.75, 1e300):
            g = np.full(len(points), upstream)
            received = array_rule(row, LIB)(LIB, g, out, *columns)
            for k, p in enumerate(points):
                expected_out = row.forward(*p)
                assert same(float(out[k]), expected_out), (p, out[k], expected_out)
                expected = row.vjp(FLOATS, upstream, expected_out, *p)
                for j in range(row.arity):
                    got = float(np.broadcast_to(received[j], g.shape)[k])
                    assert same(got, expected[j]), (p, upstream, j, got, expected[j])


# -- random graphs over every primitive: the tape against the engine, per sample ------


class _LibmNumpy:
    """numpy, but with the math module's elementary functions (the engine's, bit for bit)."""

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def _libm(name, f):
        def elementwise(*arrays):
            arrays = np.broadcast_arrays(*[np.asarray(a, dtype=np.float64) for a in arrays])
            own = getattr(np, name)(*arrays)  # numpy's value where math raises (inf, nan)
            out = own.copy()
            for k, args in enumerate(zip(*[a.ravel().tolist() for a in arrays])):
                try:
                    out.flat[k] = f(*args)
                except (ArithmeticError, ValueError):
                    pass
            return out

        return staticmethod(elementwise)


for _name, _f in [("exp", math.exp), ("log", math.log), ("tanh", math.tanh), ("expm1", math.expm1),
                  ("sin", math.sin), ("cos", math.cos), ("power", lambda a, b: a**b)]:
    setattr(_LibmNumpy, _name, _LibmNumpy._libm(_name, _f))


@pytest.fixture
def libm_numpy(monkeypatch):
    """The batched tape on :class:`_LibmNumpy` for this test."""
    import autograd.batched

    proxy = _LibmNumpy()
    monkeypatch.setattr(autograd.batched, "numpy", lambda: proxy)
    yield proxy
    array_lib(np)  # the real one again for what follows


def _engine(steps, leaves, inputs, params, batch):
    """Per row: the root's value (or the error type), and the mean's gradients (with the
    size of the terms each sums), by building one graph per row as a user would."""
    outcomes, roots = [], []
    for values in batch:
        fresh = dict(zip(inputs, (Value(float(v)) for v in values)))
        pool = [fresh.get(leaf, leaf) for leaf in leaves]
        try:
            interior = replay(steps, pool, lambda op, a, b: op.ours(a, b))[len(pool):]
            root = sum(interior[1:], interior[0])
        except (ArithmeticError, ValueError) as error:
            outcomes.append((None, type(error)))
            continue
        outcomes.append((root.data, None))
        roots.append(root)
    if len(roots) < len(batch):
        return outcomes, None, None
    n = len(roots)
    for p in params:
        p.grad = 0.0
    mean = sum(roots[1:], roots[0]) * (1.0 / n)  # "building the N graphs, averaging them"
    mean.backward()
    return outcomes, [p.grad for p in params], _magnitudes(mean, params)


def _magnitudes(root, params):
    """For each of ``params``: the sum of the magnitudes of every contribution backward adds
    on the way to it (after ``root.backward()``, whose interior gradients it reads for the
    zero rule): what rounding in another order of addition is relative to."""
    order = topological_order(root)
    size = dict.fromkeys(order, 0.0)
    size[root] = 1.0
    for node in order:
        if not node.op or (node.grad == 0.0 and node.op != "+"):
            continue
        parents = node.parents
        received = PRIMITIVES[node.op].vjp(FLOATS, size[node], node.data, *[p.data for p in parents])
        for p, c in zip(parents, received):
            size[p] += abs(c) if c == c else 0.0
    return [size.get(p, 0.0) for p in params]


def _rows(rng, first, n_inputs, params):
    """A batch around the first sample: small moves, and rows with ties, zeros and nan."""
    rows = [first]
    for k in range(11):
        kind = k % 6
        row = [x + rng.choice([0.0, rng.uniform(-0.3, 0.3)]) for x in first]
        if kind == 1 and n_inputs > 1:  # two inputs tie
            row[1] = row[0]
        elif kind == 2:  # an input equals a parameter: ties between them
            row[0] = rng.choice(params).data if params else row[0]
        elif kind == 3:
            row[rng.randrange(n_inputs)] = rng.choice([0.0, -0.0])
        elif kind == 4:
            row[rng.randrange(n_inputs)] = rng.uniform(-3.0, 3.0)  # far: other branches, maybe errors
        rows.append(row)
    if rng.random() < 0.3:
        rows.append([math.nan] + first[1:])
    return rows


def _check_random_graph(rng):
    n_leaves = rng.randint(2, 5)
    leaves = [Value(rng.uniform(-2, 2)) for _ in range(n_leaves)]
    n_inputs = rng.randint(1, n_leaves - 1)
    inputs, params = leaves[:n_inputs], leaves[n_inputs:]
    steps = resolve(random_program(rng, rng.randint(1, 16)), leaves, lambda op, a, b: op.ours(a, b),
                    lambda v: v.data)
    interior = replay(steps, leaves, lambda op, a, b: op.ours(a, b))[n_leaves:]
    root = sum(interior[1:], interior[0])
    tape = Tape(root, inputs=inputs)
    batch = _rows(rng, [x.data for x in inputs], n_inputs, params)
    outcomes, grads, scale = _engine(steps, leaves, inputs, params, batch)
    failing = [r for r, (_, error) in enumerate(outcomes) if error]
    if failing:
        # The tape raises the first failing row's error, naming it.
        first = failing[0]
        with pytest.raises(outcomes[first][1], match=f"^row {first} of the batch: "):
            tape.forward(batch)
        with pytest.raises(RuntimeError, match="forward"):
            tape.backward()  # nothing half-made is used
        batch = [row for row, (_, error) in zip(batch, outcomes) if not error]
        outcomes, grads, scale = _engine(steps, leaves, inputs, params, batch)
    values = tape.forward(batch)
    assert values.dtype == np.float64 and values.shape == (len(batch),)
    for got, (expected, _) in zip(values.tolist(), outcomes):
        assert got == expected or got != got and expected != expected, (got, expected)  # bit for bit
    for p in params:
        p.grad = 0.0
    for x in inputs:
        x.grad = 0.25
    tape.backward()
    for p, expected, size in zip(params, grads, scale):
        assert same(p.grad, expected, scale=size), (p.grad, expected, size)
    assert all(x.grad == 0.25 for x in inputs)  # inputs get no gradient
    return len(failing)


@pytest.fixture
def unfused(monkeypatch):
    """The batched tape without weighted sums: every ``+`` a step of its own."""
    import autograd.batched

    monkeypatch.setattr(autograd.batched._Plan, "_fused", lambda self, root: None)


def test_the_tape_equals_the_engine_on_random_graphs_over_every_primitive(libm_numpy, unfused):
    rng = random.Random(9)
    failing = sum(_check_random_graph(rng) for _ in range(300))
    assert failing > 10  # rows that raise were tried, not only rows that work


def test_random_graphs_reach_every_primitive():
    assert {op.name for op in OPS} >= set(PRIMITIVES)


# -- semantics, one at a time -------------------------------------------------------------


def _mean_grads(build, params, rows):
    """The engine's mean gradient over ``rows``: one graph per row, averaged, backward."""
    for p in params:
        p.grad = 0.0
    roots = [build(*map(Value, row)) for row in rows]
    mean = sum(roots[1:], roots[0]) * (1.0 / len(roots))
    mean.backward()
    return [p.grad for p in params]


def test_ties_split_and_relu_has_no_slope_at_zero():
    w = Value(1.0, "w")
    x = Value(0.0)

    def build(x):
        return x.max(w) + (x - 1.0).relu() * w

    tape = Tape(build(x), inputs=[x])
    rows = [[1.0], [2.0], [0.5], [1.0]]  # a tie (x = w = 1), relu at exactly 0 (x = 1)
    assert tape.forward(rows).tolist() == [1.0, 3.0, 1.0, 1.0]
    w.grad = 0.0
    tape.backward()
    assert w.grad == _mean_grads(build, [w], rows)[0] == (0.5 + 1.0 + 1.0 + 0.5) / 4


def test_nan_propagates_row_by_row():
    w = Value(2.0)
    x = Value(0.0)
    tape = Tape((x * w).tanh(), inputs=[x])
    values = tape.forward([[0.5], [math.nan], [-1.0]])
    assert math.isnan(values[1]) and values[0] == math.tanh(1.0) and values[2] == math.tanh(-2.0)
    tape.backward()
    assert math.isnan(w.grad)  # the mean of a row that is nan


def test_a_zero_gradient_passes_nothing_on_row_by_row():
    # In row 0 the product is -inf and relu is off, so the product's gradient is 0 there:
    # 0 × inf must give no nan.
    w, c = Value(1.0), Value(0.5)
    x, big = Value(0.0), Value(0.0)

    def build(x, big):
        return ((x * w) * big + c).relu()

    tape = Tape(build(x, big), inputs=[x, big])
    rows = [[-1.0, math.inf], [2.0, 3.0]]
    tape.forward(rows)
    w.grad = c.grad = 0.0
    tape.backward()
    assert (w.grad, c.grad) == (3.0, 0.5)  # row 0 gives nothing, row 1 gives 2 * 3 / 2 and 1 / 2
    assert [w.grad, c.grad] == _mean_grads(build, [w, c], rows)


def test_a_quotient_is_valued_as_the_engine_values_it():
    y = Value(49.0)
    x = Value(0.0)
    tape = Tape(x / y, inputs=[x])
    assert tape.forward([[49.0]]).tolist() == [1.0]  # 49 * (1/49) would be 0.9999999999999999


@pytest.mark.parametrize("sample", ["a", "b", "c", "ac"])
def test_a_quotient_whose_gate_share_overflows_hands_y_its_gradient_directly(sample):
    # Issue 21 item 8: f = (a / b) * c at 1e200, 1e60, 1e120. The 1/x gate's share g·a
    # overflows; b gets PyTorch's -(g·((a/b)/b)), -1e200 (lower.divided), row by row.
    leaves = {"a": Value(1e200), "b": Value(1e60), "c": Value(1e120)}
    inputs = [leaves[name] for name in sample]
    params = [v for name, v in leaves.items() if name not in sample]

    def build(*given):
        v = dict(leaves, **dict(zip(sample, given)))
        return (v["a"] / v["b"]) * v["c"]

    first = [x.data for x in inputs]
    rows = [first, [2.0 * x for x in first], [x * 1e-150 for x in first]]  # the last one does not overflow
    tape = Tape(build(*inputs), inputs=inputs)
    tape.forward(rows)
    for p in params:
        p.grad = 0.0
    tape.backward()
    got = [p.grad for p in params]
    assert all(math.isfinite(g) for g in got)
    assert all(same(a, b) for a, b in zip(got, _mean_grads(build, params, rows))), got
    if sample == "a":
        tape.forward([first])
        leaves["b"].grad = 0.0
        tape.backward()
        assert same(leaves["b"].grad, -1e200)


def test_the_error_names_the_first_row_that_fails():
    w = Value(1.0)
    x = Value(1.0)
    tape = Tape((x * w).log() + ((x - 5.0) * w).reciprocal(), inputs=[x])
    with pytest.raises(ValueError, match=r"^row 2 of the batch: log is defined only for positive numbers, "
                                         r"got -3.0$"):
        tape.forward([[1.0], [2.0], [-3.0], [-4.0]])
    # Row 1 fails at a deeper step (1/x) than row 2 (log): the engine stops at row 1.
    with pytest.raises(ZeroDivisionError, match="^row 1 of the batch: 1/x"):
        tape.forward([[1.0], [5.0], [-3.0]])


def test_inputs_get_no_gradient_and_leaves_accumulate():
    w, c = Value(3.0), Value(2.0)
    x = Value(0.0)
    tape = Tape(x * w + c, inputs=[x])
    tape.forward([[1.0], [3.0]])
    tape.backward()
    tape.backward()
    assert (w.grad, c.grad, x.grad) == (4.0, 2.0, 0.0)


def test_forward_reads_the_parameters_current_data():
    w = Value(3.0)
    x = Value(0.0)
    tape = Tape(x * w, inputs=[x])
    assert tape.forward([[2.0]]).tolist() == [6.0]
    w.data = -1.0
    assert tape.forward([[2.0]]).tolist() == [-2.0]


def test_a_root_that_does_not_depend_on_the_inputs():
    w = Value(3.0)
    x = Value(0.0)
    tape = Tape(w * w, inputs=[x])
    assert tape.forward([[1.0], [2.0]]).tolist() == [9.0, 9.0]
    tape.backward()
    assert w.grad == 6.0


def test_values_of_kept_nodes():
    w = Value(2.0)
    x = Value(0.0)
    hidden = (x * w).tanh()
    tape = Tape(hidden * 3.0, inputs=[x], keep=[hidden])
    tape.forward([[0.5], [1.0]])
    assert tape.values(hidden).tolist() == [math.tanh(1.0), math.tanh(2.0)]
    assert tape.values(x).tolist() == [0.5, 1.0] and tape.values(w).tolist() == [2.0, 2.0]
    with pytest.raises(ValueError, match="keep"):
        tape.values(hidden.parents[0])


def test_a_layer_is_one_matrix_product():
    import nn

    model = nn.MLP(3, [8, 8, 1], seed=1)
    xs = [Value(0.0) for _ in range(3)]
    tape = Tape(model(xs), inputs=xs)
    # three layers: a product each, and the two hidden layers' relu
    assert repr(tape).startswith("Tape(") and "5 batched steps" in repr(tape)
    rows = np.random.default_rng(0).normal(size=(20, 3))
    expected = [model(list(map(float, row))).data for row in rows]
    assert all(same(a, b) for a, b in zip(tape.forward(rows).tolist(), expected))


def test_an_mlp_trained_with_the_batched_tape_follows_the_engine():
    import nn

    rng = random.Random(4)
    X = [[rng.uniform(-1, 1), rng.uniform(-1, 1)] for _ in range(40)]
    Y = [1.0 if a * b > 0 else -1.0 for a, b in X]
    taped, engine = nn.MLP(2, [8, 8, 1], seed=3), nn.MLP(2, [8, 8, 1], seed=3)
    x0, x1, y = Value(0.0), Value(0.0), Value(0.0)
    tape = Tape((1.0 + -y * taped([x0, x1])).relu(), inputs=[x0, x1, y])
    batch = [[a, b, t] for (a, b), t in zip(X, Y)]
    ours, theirs = [], []
    for _ in range(5):
        ours.append(float(tape.forward(batch).mean()))
        taped.zero_grad()
        tape.backward()
        loss = nn.hinge_loss([engine(x) for x in X], Y)
        theirs.append(loss.data)
        engine.zero_grad()
        loss.backward()
        for model in (taped, engine):
            for p in model.parameters():
                p.data -= 0.5 * p.grad
    assert all(same(a, b) for a, b in zip(ours, theirs)), (ours, theirs)


# -- errors ---------------------------------------------------------------------------


def test_without_numpy_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "numpy", None)  # import numpy now fails
    x = Value(1.0)
    with pytest.raises(ImportError, match=r"valuegrad\[fast\]"):
        Tape(x * 2.0, inputs=[x])
    assert Tape(x * 2.0).forward() == 2.0  # the scalar tape needs nothing


def _scratch_row(monkeypatch, **fields):
    row = Primitive("scratch", "scratch", 1, lambda a: a + 1.0,
                    lambda lib, g, out, a: (g,) if a > 0.0 else (g * 2.0,), "A scratch row.", **fields)
    monkeypatch.setitem(PRIMITIVES, "scratch", row)
    return row


def test_a_row_without_a_batched_form_is_refused_by_name(monkeypatch):
    row = _scratch_row(monkeypatch)
    x = Value(1.0)
    node = _apply(row, x * 2.0)
    with pytest.raises(NotImplementedError, match="'scratch'.*batched"):
        Tape(node, inputs=[x])
    assert Tape(node).forward() == 3.0  # the scalar tape replays it


def test_a_row_whose_rule_branches_needs_a_batched_vjp(monkeypatch):
    row = _scratch_row(monkeypatch, batched=Batched(lambda lib, a: a + 1.0))
    x = Value(1.0)
    with pytest.raises(NotImplementedError, match="'scratch'.*branches"):
        Tape(_apply(row, x * 2.0), inputs=[x])


@pytest.mark.parametrize(
    "inputs, error, message",
    [
        (["x"], TypeError, "input 0 is str"),
        ([None], TypeError, "NoneType"),
    ],
)
def test_inputs_must_be_values(inputs, error, message):
    with pytest.raises(error, match=message):
        Tape(Value(1.0) * 2.0, inputs=inputs)


def test_inputs_must_be_distinct_leaves():
    x = Value(1.0)
    y = x * 2.0
    with pytest.raises(ValueError, match="not a leaf"):
        Tape(y * 3.0, inputs=[y])
    with pytest.raises(ValueError, match="distinct"):
        Tape(y, inputs=[x, x])


@pytest.mark.parametrize("batch", [[1.0, 2.0], [[1.0, 2.0]], [], [["a"]], np.zeros((0, 1))])
def test_a_batch_of_the_wrong_shape_is_refused(batch):
    x = Value(1.0)
    tape = Tape(x * 2.0, inputs=[x])
    with pytest.raises((ValueError, TypeError), match=r"shape|numbers|convert"):
        tape.forward(batch)


def test_backward_before_forward():
    x = Value(1.0)
    with pytest.raises(RuntimeError, match="forward"):
        Tape(x * 2.0, inputs=[x]).backward()


def test_same_graph_with_apply_of_each_row():
    """Each primitive alone, applied to an input and a parameter, over a batch: a direct check
    of the grouping machinery with every row (the random graphs check them mixed)."""
    for op in PRIMITIVES:
        sample = TEST_ROWS[op].samples[0]
        x = Value(sample[0])
        params = [Value(v) for v in sample[1:]]
        root = apply(op, x, *params) * 1.5
        tape = Tape(root, inputs=[x])
        rows = [[sample[0]], [sample[0] * 0.9], [sample[0] * 1.1]]
        got = tape.forward(rows).tolist()
        expected = [(apply(op, Value(r[0]), *params) * 1.5).data for r in rows]
        assert all(same(a, b) for a, b in zip(got, expected)), op


# -- nn.fit(..., tape="batched") ---------------------------------------------------------


def _moons(n, seed=0):
    rng = random.Random(seed)
    X, y = [], []
    for i in range(n):
        t = math.pi * rng.random()
        upper = i % 2 == 0
        X.append([math.cos(t) + (0.0 if upper else 1.0) + rng.gauss(0, 0.1),
                  (math.sin(t) if upper else 0.5 - math.sin(t)) + rng.gauss(0, 0.1)])
        y.append(-1 if upper else 1)
    return X, y


@pytest.mark.parametrize("batch_size", [None, 7])
@pytest.mark.parametrize(
    "loss_name, sizes, targets",
    [
        ("hinge_loss", [2, 8, 1], "labels"),  # a tape per label: hinge takes no Value target
        ("mse_loss", [2, 8, 1], "labels"),  # the target is an input
        ("cross_entropy", [2, 8, 2], "classes"),  # a tape per class
        ("binary_cross_entropy", [2, 8, 1], "probabilities"),
    ],
)
def test_fit_batched_follows_fit_on_the_engine(loss_name, sizes, targets, batch_size):
    import nn

    X, y = _moons(30)
    if targets == "classes":
        y = [(t + 1) // 2 for t in y]
    elif targets == "probabilities":
        y = [(t + 1) / 2 for t in y]
    loss = getattr(nn, loss_name)
    output = "sigmoid" if targets == "probabilities" else "linear"
    histories = []
    for tape in (False, "batched"):
        model = nn.MLP(sizes[0], sizes[1:], activation="tanh", output_activation=output, seed=5)
        histories.append(nn.fit(model, X, y, loss, nn.Adam(model.parameters(), lr=0.05), epochs=5,
                                batch_size=batch_size, progress=False, tape=tape))
    engine, batched = histories
    assert all(same(a, b) for a, b in zip(batched["loss"], engine["loss"])), (batched, engine)
    assert batched.get("accuracy") == engine.get("accuracy")


def test_fit_batched_shows_the_progress_bar(capsys):
    import nn

    pytest.importorskip("tqdm")
    X, y = _moons(20)
    model = nn.MLP(2, [4, 1], seed=0)
    nn.fit(model, X, y, nn.hinge_loss, nn.SGD(model.parameters(), lr=0.1), epochs=3, tape="batched")
    assert "3/3" in capsys.readouterr().err


def test_fit_refuses_an_unknown_tape():
    import nn

    model = nn.MLP(2, [1], seed=0)
    with pytest.raises(ValueError, match="tape must be"):
        nn.fit(model, [[0.0, 1.0]], [1.0], nn.mse_loss, nn.SGD(model.parameters(), lr=0.1), epochs=1,
               progress=False, tape="fast")


def test_fit_batched_without_numpy_names_the_extra(monkeypatch):
    import nn

    monkeypatch.setitem(sys.modules, "numpy", None)
    model = nn.MLP(2, [1], seed=0)
    with pytest.raises(ImportError, match=r"valuegrad\[fast\]"):
        nn.fit(model, [[0.0, 1.0]], [1.0], nn.mse_loss, nn.SGD(model.parameters(), lr=0.1), epochs=1,
               progress=False, tape="batched")


@pytest.mark.parametrize("enabled", [True, False])
def test_fit_pauses_the_cycle_collector_and_restores_it(enabled):
    import gc

    import nn

    seen = []

    def loss(preds, targets):
        seen.append(gc.isenabled())
        return nn.mse_loss(preds, targets)

    model = nn.MLP(2, [1], seed=0)
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        nn.fit(model, [[0.0, 1.0]], [1.0], loss, nn.SGD(model.parameters(), lr=0.1), epochs=2,
               progress=False)
        assert seen == [False, False] and gc.isenabled() == enabled
    finally:
        (gc.enable if was else gc.disable)()


# -- the weighted sums: what the matrix products must still get right ----------------------


def _against_engine(build, params, inputs, rows):
    """The tape of ``build(*inputs)`` against one engine graph per row: values and mean gradients."""
    tape = Tape(build(*inputs), inputs=inputs)
    got = tape.forward(rows).tolist()
    for p in params:
        p.grad = 0.0
    tape.backward()
    grads = [p.grad for p in params]
    expected = [build(*map(Value, row)).data for row in rows]
    assert all(same(a, b) for a, b in zip(got, expected)), (got, expected)
    assert all(same(a, b) for a, b in zip(grads, _mean_grads(build, params, rows))), grads
    return tape


def test_a_weight_that_is_not_finite_passes_nothing_where_the_gradient_is_zero():
    # w1 = inf: relu is off in the rows where x < 0, so the sum's gradient is 0 there, and
    # W.T @ G would give inf * 0 = nan; the engine passes nothing.
    p, w1, w2, b = Value(2.0), Value(math.inf), Value(0.5), Value(0.1)

    def build(x):
        h = x * p
        return (w1 * h + w2 * h.tanh() + b).relu() * 2.0

    _against_engine(build, [p, w1, w2, b], [Value(0.0)], [[1.0], [-1.0], [0.5], [-2.0]])


def test_an_input_that_is_not_finite_passes_nothing_where_the_gradient_is_zero():
    w1, w2, b, c = Value(0.5), Value(-1.5), Value(0.1), Value(0.0)

    def build(x, z):
        return (w1 * x + w2 * z + b) * c  # c = 0: the sum's gradient is 0, x is inf in row 1

    _against_engine(build, [w1, w2, b, c], [Value(0.0), Value(0.0)], [[1.0, 2.0], [math.inf, 1.0]])


def test_a_weighted_sum_that_reads_one_node_twice():
    w1, w2, w3, b = Value(0.5), Value(-1.5), Value(2.0), Value(0.1)

    def build(x, z):
        h = (x * w3).tanh()
        return (w1 * h + w2 * h + z * w3 + b + h).sigmoid()  # h three times, a plain term among them

    tape = _against_engine(build, [w1, w2, w3, b], [Value(0.0), Value(0.0)],
                           [[1.0, 2.0], [-0.5, 1.0], [0.0, 0.0]])
    assert "batched steps" in repr(tape)


@pytest.mark.parametrize("which", ["input", "parameter"])
def test_a_root_that_is_a_leaf(which):
    x, w = Value(0.0), Value(3.0)
    tape = Tape(x if which == "input" else w, inputs=[x])
    values = tape.forward([[1.0], [2.0]]).tolist()
    tape.backward()
    assert values == ([1.0, 2.0] if which == "input" else [3.0, 3.0])
    assert (x.grad, w.grad) == ((0.0, 0.0) if which == "input" else (0.0, 1.0))


def test_fit_batched_reports_the_models_own_errors_and_ragged_data():
    import nn

    model = nn.MLP(3, [2, 1], seed=0)
    X, y = [[0.1 * i, 0.2] for i in range(150)], [0.01 * i for i in range(150)]
    for tape in (False, "batched"):
        with pytest.raises(ValueError, match="expects 3 inputs, got 2"):
            nn.fit(model, X, y, nn.mse_loss, nn.SGD(model.parameters(), lr=0.1), epochs=1,
                   progress=False, tape=tape)
    with pytest.raises(ValueError, match=r"X\[2\] \(sample 2\) has 2 features, X\[0\] has 3"):
        nn.fit(model, [[1, 2, 3], [1, 2, 3], [1, 2]], [0, 1, 0], nn.mse_loss,
               nn.SGD(model.parameters(), lr=0.1), epochs=1, progress=False, tape="batched")


def test_fit_batched_names_the_sample_of_X_that_hits_an_undefined_point():
    import nn

    class LogOfInput(nn.Module):
        def __init__(self):
            self.w = Value(1.0)

        def __call__(self, x):
            return (x[0] * self.w).log()

    X = [[1.0 + i] for i in range(20)]
    X[13] = [-2.0]
    model = LogOfInput()
    with pytest.raises(ValueError, match=r"^fit: sample 13: log is defined only for positive"):
        nn.fit(model, X, [0.0] * 20, nn.mse_loss, nn.SGD(model.parameters(), lr=0.1), epochs=1,
               batch_size=6, progress=False, tape="batched")


def test_a_node_of_parameters_only_is_undefined_for_no_row_in_particular():
    x, p = Value(1.0), Value(3.0)
    tape = Tape(x * p.log(), inputs=[x])
    p.data = -3.0  # an optimizer's step, say
    with pytest.raises(ValueError) as info:
        tape.forward([[1.0], [2.0]])
    assert "row" not in str(info.value) and "positive" in str(info.value)


# -- what forward and backward refuse, the engine's error for each row, threads (issue 21) ------


@pytest.mark.parametrize("batch, named", [
    ([["1.5"]], "str"),
    ([[b"1"]], "bytes"),
    ([[True]], "bool"),
    (np.array([[False]]), "bool"),
    ([[None]], "NoneType"),
    (np.array([["2020-01-02"]], dtype="datetime64[D]"), "datetime64"),
    (np.array([[1 + 2j]]), "complex"),
    ([[1.0], [2 + 0j]], "complex"),
    (np.array([[1.0], ["2"]], dtype=object), "str"),
    (np.array([[1.0], [True]], dtype=object), "bool"),
    (np.array([[1.0], [None]], dtype=object), "NoneType"),
    (np.array([[np.datetime64("2020-01-02")]], dtype=object), "datetime64"),
])
def test_forward_refuses_what_is_not_a_real_number_by_name(batch, named):
    x, w = Value(1.0), Value(2.0)
    tape = Tape(x * w, inputs=[x])
    with pytest.raises(TypeError, match=named):
        tape.forward(batch)


def test_forward_takes_ints_and_numpy_numbers():
    x, w = Value(1.0), Value(2.0)
    tape = Tape(x * w, inputs=[x])
    assert tape.forward([[1], [np.int64(2)], [np.float32(0.5)]]).tolist() == [2.0, 4.0, 1.0]
    assert tape.forward(np.array([[3]], dtype=np.uint8)).tolist() == [6.0]


def test_an_int_too_large_for_a_float_is_named_by_row_and_column():
    x, z = Value(1.0), Value(1.0)
    tape = Tape(x * z, inputs=[x, z])
    with pytest.raises(OverflowError, match="row 1, column 0"):
        tape.forward([[1, 2], [10**400, 3]])


@pytest.mark.parametrize("gradient", ["2", True, None, 1j])
def test_backward_refuses_a_gradient_that_is_not_a_number(gradient):
    x, w = Value(1.0), Value(2.0)
    tape = Tape(x * w, inputs=[x])
    tape.forward([[1.0]])
    with pytest.raises(TypeError, match=type(gradient).__name__):
        tape.backward(gradient)
    assert w.grad == 0.0


@pytest.mark.parametrize("x0", [0.0, -0.0])
def test_the_error_is_the_first_the_engine_meets_in_the_row(x0):
    # The engine builds (-x) ** -2 (undefined at 0: ZeroDivisionError) before x.log() (ValueError),
    # though log is shallower.
    x = Value(1.0)
    tape = Tape(-x + (-x) ** -2 + x.log(), inputs=[x])
    with pytest.raises(ZeroDivisionError):
        -Value(x0) + (-Value(x0)) ** -2 + Value(x0).log()
    with pytest.raises(ZeroDivisionError, match="^row 1 of the batch: "):
        tape.forward([[1.0], [x0], [-1.0]])
    with pytest.raises(ValueError, match="^row 0 of the batch: log"):
        tape.forward([[-1.0], [x0]])  # row 0 fails first (log of -1; -1 ** -2 is fine)


def test_many_failing_rows_cost_one_forward(monkeypatch):
    import autograd.batched

    calls = []
    forward = autograd.batched._Operation.forward
    monkeypatch.setattr(autograd.batched._Operation, "forward",
                        lambda self, *args: calls.append(self) or forward(self, *args))
    x, w = Value(1.0), Value(2.0)
    tape = Tape(((x * w).log() * w + (x * w).reciprocal()).exp(), inputs=[x])
    operations = len([s for s in tape._replay._steps if isinstance(s, autograd.batched._Operation)])
    rows = [[1.0 + r] if r % 3 else [-1.0 - r] for r in range(300)]  # 100 rows fail
    with pytest.raises(ValueError, match="^row 0 of the batch: log"):
        tape.forward(rows)
    assert len(calls) == operations  # every step once: no rerun per failing row


def _values(tape, batch, trials):
    """``trials`` forward passes: each one's values."""
    return [np.asarray(tape.forward(batch[k % len(batch)]) if batch else tape.forward()).tolist()
            for k in range(trials)]


@pytest.mark.parametrize("batched", [True, False])
def test_two_threads_sharing_one_tape_get_what_one_thread_gets(batched):
    import threading

    import nn

    model = nn.MLP(2, [16, 16, 1], seed=0)
    params = model.parameters()
    x0, x1 = Value(0.3), Value(-0.2)
    root = model([x0, x1]).tanh()
    rng = np.random.default_rng(0)
    batches = [rng.normal(size=(n, 2)) for n in (5, 40, 200)] if batched else []
    tape = Tape(root, inputs=[x0, x1]) if batched else Tape(root)
    trials = 60
    expected = _values(tape, batches, trials)
    results, errors = {}, []

    def run(name):
        try:
            mine = []
            for k in range(trials):
                values = tape.forward(batches[k % len(batches)]) if batched else tape.forward()
                values = np.asarray(values).tolist()
                mine.append(values)
            results[name] = mine
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for mine in results.values():
        assert mine == expected
    # gradients: backward passes from both threads at once, after one forward
    tape.forward(batches[1]) if batched else tape.forward()
    for p in params:
        p.grad = 0.0
    tape.backward()
    single = [p.grad for p in params]
    for p in params:
        p.grad = 0.0
    threads = [threading.Thread(target=lambda: [tape.backward() for _ in range(trials)]) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = [0.0] * len(params)
    for _ in range(2 * trials):  # the same additions, one after another
        total = [a + g for a, g in zip(total, single)]
    assert [p.grad for p in params] == total


# -- attention: dot products as matrix products, chains of max (issue 19) ---------------------


def _attention(xs, us, weights, swap=False):
    """A causal attention head from Values, as a learner writes one: q, k from each position's
    features, v its input u times weights, then per position a softmax (shift by max gates) of the
    scores q · k over the positions so far, and Σ_t w_t v_t plus a parameter; ``swap`` writes
    each product the other way round (k · q, v_t w_t). Its loss: the sum of the outputs' relu."""
    wq, wk, wv, bias = weights
    q = [[sum(w * x for w, x in zip(row, xp)) for row in wq] for xp in xs]
    k = [[sum(w * x for w, x in zip(row, xp)) for row in wk] for xp in xs]
    v = [[u * w for w in wv] for u in us]
    outs = []
    for p in range(len(xs)):
        pairs = [(k[t], q[p]) if swap else (q[p], k[t]) for t in range(p + 1)]
        scores = [sum(a * b for a, b in zip(*pair)) for pair in pairs]
        shift = scores[0]
        for s in scores[1:]:
            shift = shift.max(s)
        exps = [(s - shift).exp() for s in scores]
        total = sum(exps)
        w = [e / total for e in exps]
        for j in range(len(wv)):
            outs.append(sum((v[t][j] * w[t] if swap else w[t] * v[t][j] for t in range(p + 1)), bias))
    return sum(o.relu() for o in outs)


def _attention_weights(features=2, size=3, seed=0):
    rng = random.Random(seed)
    return [[[Value(rng.uniform(-1, 1)) for _ in range(features)] for _ in range(size)] for _ in range(2)] + \
        [[Value(rng.uniform(0.5, 1.5)) for _ in range(size)], Value(0.25)]  # v's weights > 0: u = -inf, v = -inf


def _parameters(weights):
    wq, wk, wv, bias = weights
    return [p for m in (wq, wk) for row in m for p in row] + wv + [bias]


@pytest.mark.parametrize("swap", [False, True])
def test_attention_dot_products_are_matrix_products_equal_to_the_engine(swap):
    from autograd.batched import _Contraction, _MaxChains

    positions, features = 5, 2
    weights = _attention_weights(features)
    params = _parameters(weights)
    xs = [[Value(0.0) for _ in range(features)] for _ in range(positions)]
    us = [Value(0.0) for _ in range(positions)]
    inputs = [x for xp in xs for x in xp] + us

    def build(*values):
        it = iter(values)
        return _attention([[next(it) for _ in range(features)] for _ in range(positions)],
                          [next(it) for _ in range(positions)], weights, swap)

    rng = np.random.default_rng(1)
    rows = rng.normal(size=(6, len(inputs))).tolist()
    rows.append([0.5] * (positions * features) + [1.0] * positions)  # every score ties: ties split
    rows.append(rows[0][:positions * features] + [-2.0] * positions)  # every output < 0: no gradient
    tape = _against_engine(build, params, inputs, rows)
    steps = tape._replay._steps
    # q · k for every pair of positions, Σ_t w_t v_t for every position and coordinate
    assert sum(isinstance(s, _Contraction) for s in steps) == 2
    assert any(isinstance(s, _MaxChains) for s in steps)


def test_a_matrix_product_padded_against_an_infinite_entry_adds_term_by_term():
    # u = -inf at the last position: its v is -inf, and each earlier position's Σ_t w_t v_t meets
    # it only through the padding of the product (0 × -inf, nan). The engine adds the real terms
    # only; the last position's outputs are -inf, relu 0, their gradient 0: nothing passes on.
    positions, features = 4, 2
    weights = _attention_weights(features, seed=2)
    params = _parameters(weights)
    xs = [[Value(0.0) for _ in range(features)] for _ in range(positions)]
    us = [Value(0.0) for _ in range(positions)]

    def build(*values):
        it = iter(values)
        return _attention([[next(it) for _ in range(features)] for _ in range(positions)],
                          [next(it) for _ in range(positions)], weights)

    rng = np.random.default_rng(3)
    rows = rng.normal(size=(3, positions * (features + 1)))
    rows[:, positions * features:] = np.abs(rows[:, positions * features:])  # outputs > 0: gradients
    rows[1, -1] = -math.inf
    rows = rows.tolist()
    _against_engine(build, params, [x for xp in xs for x in xp] + us, rows)
    expected = [build(*map(Value, row)).data for row in rows]
    assert all(math.isfinite(v) for v in expected)
    assert all(math.isfinite(p.grad) for p in params)  # as the engine: no nan from 0 × inf


def test_which_dot_products_are_cells_of_matrix_products():
    from autograd.batched import _matrix_products

    # q · k over the pairs t <= p: a 3 x 3 product, 6 cells (of 9) used
    q, k = [(10 * p, 10 * p + 1) for p in range(3)], [(100 + 10 * t, 101 + 10 * t) for t in range(3)]
    dots = [(q[p], k[t]) for p in range(3) for t in range(p + 1)]
    (products, rest) = _matrix_products(np, dots)
    assert rest == [] and len(products) == 1
    cells, A, B, order = products[0]
    assert A.shape == (1, 3, 2) and B.shape == (1, 2, 3) and sorted(order) == list(range(6))
    assert [A.ravel()[3 * 0:2].tolist(), B[0, :, 0].tolist()] == [list(q[0]), list(k[0])]
    # Σ_t w[p, t] v[t, j] over t <= p: rows of different lengths, columns read as prefixes
    w = {(p, t): 200 + 10 * p + t for p in range(3) for t in range(3)}
    v = {(t, j): 300 + 10 * t + j for t in range(3) for j in range(2)}
    dots = [(tuple(w[p, t] for t in range(p + 1)), tuple(v[t, j] for t in range(p + 1)))
            for p in range(1, 3) for j in range(2)]
    (products, rest) = _matrix_products(np, dots)
    cells, A, B, order = products[0]
    assert rest == [] and A.shape == (1, 2, 3) and B.shape == (1, 3, 2)
    assert A[0, 0].tolist() == [w[1, 0], w[1, 1], -1]  # padding where row p = 1 stops
    # not products: a row read with two slots at one k; one cell twice; a cell that would add
    # a term beyond its own; a lone dot
    assert _matrix_products(np, [((1, 2), (5, 6)), ((1, 3), (7, 8))]) == ([], [0, 1])
    assert _matrix_products(np, [((1, 2), (5, 6)), ((1, 2), (5, 6))]) == ([], [0, 1])
    assert _matrix_products(np, [((1, 2, 3), (7, 8, 9)), ((1, 2), (5, 6)), ((11, 12, 13), (5, 6, 14))]) == \
        ([], [0, 1, 2])
    assert _matrix_products(np, [((1, 2), (5, 6))]) == ([], [0])


@pytest.mark.parametrize("shared", [False, True])
def test_chains_of_max_of_different_lengths_follow_the_engine_row_by_row(shared):
    # Two chains in one step (the shorter padded), of their own terms or sharing some: one term
    # the largest (it takes all), ties at the largest (halves at each gate), a tie below it, nan
    # (in one chain while the other ties), and every term -inf.
    from autograd.batched import _MaxChains

    w, c1, c2 = Value(1.5), Value(0.5), Value(-2.0)

    def chain(terms):
        m = terms[0]
        for t in terms[1:]:
            m = m.max(t)
        return m

    def build(*xs):
        h = [x * w for x in xs]
        return chain(h[:3]) * c1 + chain(h[3:] + h[1:2] if shared else h[3:]) * c2

    inputs = [Value(0.0) for _ in range(7)]
    rows = [[0.1, 0.7, -0.3, 0.2, 0.4, -1.0, 0.3], [1.0, 2.0, 2.0, 2.0, 0.0, 2.0, 1.0],
            [3.0, 1.0, 1.0, 0.0, 0.0, 3.0, 0.5], [2.0, 2.0, 0.5, 2.0, 1.0, 2.0, 2.0],
            [0.1, 5.0, 0.3, 0.2, 0.4, -1.0, 0.3]]  # (the shared term the largest of both chains)
    tape = _against_engine(build, [w, c1, c2], inputs, rows)
    assert any(isinstance(s, _MaxChains) and s.padded for s in tape._replay._steps)
    for edge in ([0.1, math.nan, 0.3, 0.2, 0.4, 0.4, 0.1], [-math.inf] * 7, rows[4]):
        _against_engine(build, [w, c1, c2], inputs, [edge, rows[0]])  # (a tie in a batch changes its path)


@pytest.mark.parametrize("lengths, layout", [([4, 4], "view"), ([3, 5], "gather"), ([3, 3, 3, 12], "reduceat")])
@pytest.mark.parametrize("dot", [False, True])
def test_sums_of_one_vector_and_dot_products_follow_the_engine(lengths, layout, dot):
    # Sums Σ t_j and dot products Σ a_j b_j of one level, of equal lengths lying in order (a view),
    # of different lengths (padded), or too different (np.add.reduceat). In the last row a term
    # is inf and its node's gradient 0: the zero rule, no nan from 0 × inf.
    from autograd.batched import _Reduction

    w, v = Value(0.5), Value(1.5)
    cs = [Value(0.25 * (k + 1)) for k in range(len(lengths))]
    ends = np.cumsum(lengths).tolist()

    def build(*xs):
        a = [(x * w).relu() for x in xs]
        terms = [ai * (x * v).tanh() for ai, x in zip(a, xs)] if dot else a
        sums = [sum(terms[end - n:end]) for n, end in zip(lengths, ends)]
        return sum(c * (1.0 - s).relu() for c, s in zip(cs, sums))

    rows = np.random.default_rng(5).uniform(-0.3, 0.3, size=(4, ends[-1]))
    rows[3, 0] = math.inf
    tape = _against_engine(build, [w, v, *cs] if dot else [w, *cs], [Value(0.0) for _ in range(ends[-1])],
                           rows.tolist())
    (step,) = [s for s in tape._replay._steps if isinstance(s, _Reduction)]
    assert {"view": step.view, "gather": step.index is not None, "reduceat": step.starts is not None}[layout]


@pytest.mark.parametrize("uses", [5, 100])
def test_a_node_read_by_many_nodes_of_one_step_gets_all_their_contributions(uses):
    # h is read by every product of one step: its contributions are summed rank by rank (a few
    # uses), or sorted and summed by np.add.reduceat (many).
    from autograd.batched import _Slots

    w = Value(0.7)
    cs = [Value(0.01 * (k - uses / 2)) for k in range(uses)]

    def build(x):
        h = (x * w).tanh()
        return sum((h * c).relu() for c in cs) + h * h

    tape = _against_engine(build, [w, *cs], [Value(0.0)], [[0.3], [-1.2], [2.0], [0.0]])
    (product,) = [s for s in tape._replay._steps if getattr(s, "row", None) is PRIMITIVES["*"] and
                  len(s.positions) == uses]
    reads = product.operands[0]
    assert isinstance(reads, _Slots) and not reads.unique and (reads.ranks is None) == (uses > 64)
