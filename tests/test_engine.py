"""The engine's contract (API.md): construction, operators, the edge-case
table, the semantics of backward, memory, and no_grad."""

import gc
import math
import random
import re
import sys
import threading

import pytest

from autograd import Value, grad, no_grad

from helpers import live_values

# -- construction ---------------------------------------------------------


def test_value_stores_floats_and_starts_as_a_leaf():
    v = Value(3, "x")
    assert type(v.data) is float and v.data == 3.0
    assert (v.grad, v.label, v.op, v.parents) == (0.0, "x", "", ())


@pytest.mark.parametrize(
    "bad, type_name",
    [("1", "str"), (None, "NoneType"), (True, "bool"), (1j, "complex"), ([1.0], "list"),
     (Value(1.0), "Value")],
)
def test_value_rejects_non_numbers_naming_the_type(bad, type_name):
    with pytest.raises(TypeError, match=type_name):
        Value(bad)


def test_value_rejects_a_non_string_label():
    with pytest.raises(TypeError, match="label"):
        Value(1.0, label=3)


def test_repr_shows_data_grad_and_label():
    v = Value(2.5, "w")
    v.grad = -1.0
    assert repr(v) == "Value(data=2.5, grad=-1.0, label='w')"


# -- operators and their graphs -------------------------------------------

BINARY = [
    ("+", lambda a, b: a + b, 5.0),
    ("*", lambda a, b: a * b, 6.0),
    ("-", lambda a, b: a - b, -1.0),
    ("/", lambda a, b: a / b, 2.0 / 3.0),
    ("**", lambda a, b: a**b, 8.0),
]


@pytest.mark.parametrize("name, fn, expected", BINARY, ids=[r[0] for r in BINARY])
def test_operators_with_numbers_on_either_side(name, fn, expected):
    a, b = Value(2.0), Value(3.0)
    assert fn(a, b).data == pytest.approx(expected, rel=1e-15)
    assert fn(a, 3).data == pytest.approx(expected, rel=1e-15)
    assert fn(2, b).data == pytest.approx(expected, rel=1e-15)
    assert fn(2.0, b).data == pytest.approx(expected, rel=1e-15)


def test_unary_minus():
    x = Value(3.0)
    y = -x
    y.backward()
    assert (y.data, x.grad) == (-3.0, -1.0)


@pytest.mark.parametrize("other", ["2", None, [1.0], True, 1j, object()])
@pytest.mark.parametrize(
    "op",
    [lambda a, b: a + b, lambda a, b: b + a, lambda a, b: a * b, lambda a, b: b * a,
     lambda a, b: a - b, lambda a, b: b - a, lambda a, b: a / b, lambda a, b: b / a,
     lambda a, b: a**b, lambda a, b: b**a],
)
def test_operator_with_other_types_raises_type_error(op, other):
    with pytest.raises(TypeError):
        op(Value(2.0), other)


def test_max_with_a_bad_type_names_it():
    with pytest.raises(TypeError, match="str"):
        Value(1.0).max("2")


def test_composites_are_built_from_primitives():
    a, b = Value(2.0), Value(3.0)
    d = a - b
    assert d.op == "+" and d.parents[0] is a and d.parents[1].op == "*"
    assert d.parents[1].parents[0] is b and d.parents[1].parents[1].data == -1.0
    q = a / b
    assert q.op == "*" and q.parents[0] is a and q.parents[1].op == "1/x"
    assert q.parents[1].parents == (b,)
    n = -a
    assert n.op == "*" and n.parents[0] is a and n.parents[1].data == -1.0
    r = 1 / a
    assert r.op == "1/x" and r.parents == (a,)


def test_constant_operands_are_leaves_in_order():
    x = Value(4.0)
    y = 2 * x
    assert y.op == "*" and y.parents[0].data == 2.0 and y.parents[1] is x
    assert y.parents[0].op == "" and y.parents[0].parents == ()


def test_x_times_x_has_two_edges_and_gradient_2x():
    x = Value(3.0)
    y = x * x
    assert y.parents == (x, x)
    y.backward()
    assert x.grad == 6.0


def test_node_reused_in_three_places_sums_gradients():
    x = Value(2.0)
    y = x * 3.0 + x.exp() + x.tanh()
    y.backward()
    assert x.grad == pytest.approx(3.0 + math.exp(2.0) + 1 - math.tanh(2.0) ** 2, rel=1e-15)


def test_gradients_add_at_branches():
    x = Value(1.5)
    a, b = x * 2.0, x * 5.0
    (a + b).backward()
    assert x.grad == 7.0


# -- the edge-case table ---------------------------------------------------


def test_exp_overflow_names_the_input():
    with pytest.raises(OverflowError, match="1000"):
        Value(1000.0).exp()


def test_exp_largest_finite():
    assert math.isfinite(Value(709.0).exp().data)


@pytest.mark.parametrize("x", [0.0, -1.0, -1e-300, -math.inf])
def test_log_of_non_positive_names_the_value(x):
    with pytest.raises(ValueError, match=re.escape(repr(x))):
        Value(x).log()


def test_log_gradient():
    x = Value(4.0)
    x.log().backward()
    assert x.grad == 0.25


def test_reciprocal_of_zero_raises_zero_division():
    with pytest.raises(ZeroDivisionError):
        Value(0.0).reciprocal()
    with pytest.raises(ZeroDivisionError):
        1 / Value(0.0)
    with pytest.raises(ZeroDivisionError):
        Value(1.0) / Value(-0.0)
    with pytest.raises(ZeroDivisionError):
        Value(1.0) / 0


def test_reciprocal_gradient_is_minus_one_over_a_squared():
    x = Value(-4.0)
    y = x.reciprocal()
    y.backward()
    assert (y.op, y.data, x.grad) == ("1/x", -0.25, -1 / 16)


@pytest.mark.parametrize("a, b, ga, gb", [(3.0, 1.0, 1.0, 0.0), (1.0, 3.0, 0.0, 1.0), (2.0, 2.0, 0.5, 0.5)])
def test_max_routes_the_gradient_and_splits_a_tie(a, b, ga, gb):
    x, y = Value(a), Value(b)
    m = x.max(y)
    m.backward()
    assert (m.op, m.data, x.grad, y.grad) == ("max", max(a, b), ga, gb)


def test_max_tie_with_itself_gives_full_gradient():
    x = Value(2.0)
    x.max(x).backward()
    assert x.grad == 1.0


def test_max_with_a_number():
    x = Value(-1.0)
    m = x.max(0)
    m.backward()
    assert (m.data, x.grad) == (0.0, 0.0)


@pytest.mark.parametrize("x, y, g", [(2.0, 2.0, 1.0), (-2.0, 0.0, 0.0), (0.0, 0.0, 0.0)])
def test_relu_and_its_gradient_zero_at_zero(x, y, g):
    v = Value(x)
    r = v.relu()
    r.backward()
    assert (r.op, r.data, v.grad) == ("relu", y, g)


@pytest.mark.parametrize("x", [-1e308, -1000.0, -50.0, -1.0, 0.0, 1.0, 50.0, 1000.0, 1e308])
@pytest.mark.parametrize("fn", ["sigmoid", "tanh"])
def test_sigmoid_and_tanh_finite_everywhere(fn, x):
    v = Value(x)
    y = getattr(v, fn)()
    y.backward()
    assert y.op == fn
    assert math.isfinite(y.data) and math.isfinite(v.grad)
    low = 0.0 if fn == "sigmoid" else -1.0
    assert low <= y.data <= 1.0


@pytest.mark.parametrize("x", [-3.0, -0.5, 0.0, 0.7, 4.0])
def test_sigmoid_and_tanh_local_gradients(x):
    s, t = Value(x), Value(x)
    ys, yt = s.sigmoid(), t.tanh()
    ys.backward()
    yt.backward()
    sig = 1 / (1 + math.exp(-x))
    assert ys.data == pytest.approx(sig, rel=1e-15)
    assert s.grad == pytest.approx(sig * (1 - sig), rel=1e-14)
    assert t.grad == pytest.approx(1 - math.tanh(x) ** 2, rel=1e-14)


@pytest.mark.parametrize(
    "x, expected, slope",
    [(2.0, 2.0, 1.0), (-2.0, -0.02, 0.01), (0.0, 0.0, 0.01)],  # at 0: alpha, as in PyTorch
)
def test_leaky_relu(x, expected, slope):
    v = Value(x)
    y = v.leaky_relu()
    y.backward()
    assert y.data == pytest.approx(expected, abs=1e-15)
    assert v.grad == pytest.approx(slope, abs=1e-15)


@pytest.mark.parametrize("x", [3.0, -0.5, -1000.0, 0.0])
def test_elu(x):
    v = Value(x)
    y = v.elu(alpha=2.0)
    y.backward()
    expected = x if x > 0 else 2.0 * (math.exp(x) - 1)
    slope = 1.0 if x > 0 else 2.0 * math.exp(x)  # at 0: alpha, as in PyTorch
    assert y.data == pytest.approx(expected, rel=1e-12)
    assert v.grad == pytest.approx(slope, rel=1e-12, abs=1e-300)


def test_elu_is_smooth_at_zero_for_alpha_one():
    from autograd import gradcheck

    assert gradcheck(lambda v: v[0].elu(), [0.0])


def test_leaky_relu_with_a_value_slope_learns_it():
    x, alpha = Value(-3.0), Value(0.25)
    y = x.leaky_relu(alpha)
    y.backward()
    assert (y.data, x.grad, alpha.grad) == (-0.75, 0.25, -3.0)


@pytest.mark.parametrize(
    "make",
    [lambda v: v.relu(), lambda v: v.max(1.0), lambda v: Value(1.0).max(v), lambda v: v.log(),
     lambda v: v.tanh(), lambda v: v.sigmoid(), lambda v: v.exp(), lambda v: v.reciprocal(),
     lambda v: v**2, lambda v: v.leaky_relu(), lambda v: v.elu()],
)
def test_nan_propagates_as_in_pytorch(make):
    # A nan must not be swallowed (say, by relu returning 0): it is how a
    # diverging computation shows itself.
    assert math.isnan(make(Value(math.nan)).data)


def test_negative_base_with_a_nan_exponent_is_a_clear_error():
    with pytest.raises(ValueError, match="not a real number"):
        Value(-2.0) ** math.nan


def test_pow_with_a_constant_exponent():
    x = Value(3.0)
    y = x**2
    assert y.op == "**" and y.parents[0] is x and y.parents[1].data == 2.0
    y.backward()
    assert (y.data, x.grad) == (9.0, 6.0)


def test_pow_with_a_value_exponent():
    a, b = Value(2.0), Value(3.0)
    y = a**b
    y.backward()
    assert y.data == pytest.approx(8.0, rel=1e-14)
    assert a.grad == pytest.approx(12.0, rel=1e-14)
    assert b.grad == pytest.approx(8.0 * math.log(2.0), rel=1e-14)


def test_number_to_the_power_of_a_value():
    x = Value(3.0)
    y = 2**x
    y.backward()
    assert y.data == pytest.approx(8.0, rel=1e-14)
    assert x.grad == pytest.approx(8.0 * math.log(2.0), rel=1e-14)


@pytest.mark.parametrize(
    "make, error",
    [
        (lambda: Value(-2.0) ** Value(2.5), ValueError),
        (lambda: Value(0.0) ** Value(-2.0), ZeroDivisionError),
        (lambda: (-2) ** Value(0.5), ValueError),
        (lambda: Value(-8.0) ** 0.5, ValueError),
        (lambda: Value(0.0) ** -1, ZeroDivisionError),
        (lambda: Value(10.0) ** 400, OverflowError),
    ],
)
def test_pow_domain_errors(make, error):
    with pytest.raises(error):
        make()


@pytest.mark.parametrize("base, exponent, value", [(0.0, 2.0, 0.0), (-2.0, 2.0, 4.0), (-2.0, 3.0, -8.0),
                                                    (2.0, 3.0, 8.0), (2.0, 0.5, math.sqrt(2.0))])
def test_a_value_exponent_is_exact_and_real_where_floats_are(base, exponent, value):
    # Issue 13: 0 ** Value(2) and (-2) ** Value(2) are finite (as in PyTorch), not errors;
    # issue 11: 2 ** Value(3) is 8.0 exactly, one "**" node with both operands as parents.
    for result in (Value(base) ** Value(exponent), base ** Value(exponent)):
        assert result.data == value and result.op == "**" and len(result.parents) == 2


def test_negative_base_integer_exponent():
    x = Value(-2.0)
    y = x**3
    y.backward()
    assert (y.data, x.grad) == (-8.0, 12.0)


def test_division_gradients():
    a, b = Value(3.0), Value(-2.0)
    (a / b).backward()
    assert a.grad == -0.5 and b.grad == pytest.approx(-3.0 / 4.0, rel=1e-15)


# -- backward semantics -----------------------------------------------------


def test_repeated_backward_accumulates_on_leaves_only():
    a = Value(2.0)
    c = (a * a) * 3
    c.backward()
    assert a.grad == 12.0
    inner = c.parents[0]
    assert inner.grad == 3.0
    c.backward()
    assert a.grad == 24.0  # leaves accumulate, as in PyTorch
    assert inner.grad == 3.0  # interior nodes hold the latest call only
    assert c.grad == 1.0


def test_backward_on_a_leaf():
    x = Value(1.0)
    x.backward()
    x.backward()
    assert x.grad == 2.0


def test_backward_from_an_interior_node():
    x = Value(2.0)
    y = x * 3
    z = y * y
    z.backward()
    assert x.grad == 36.0
    x.grad = 0.0
    y.backward()
    assert (y.grad, x.grad) == (1.0, 3.0)


def test_million_node_chain_backward_is_exact():
    n = 1_000_000
    x = Value(0.5)
    y = x
    for _ in range(n):
        y = y + 1.0
    y.backward()
    assert y.data == 0.5 + n
    assert x.grad == 1.0


def test_deep_chain_of_multiplications_gradient():
    x = Value(1.0)
    y = x
    for _ in range(200_000):
        y = y * 1.000001
    y.backward()
    assert x.grad == pytest.approx(1.000001**200_000, rel=1e-9)


def test_graph_is_freed_by_reference_counting():
    gc.collect()
    gc.disable()
    try:
        before = live_values()
        x = Value(1.0)
        y = ((x * 2).tanh() + x.exp()).relu() / (x + 3)
        y.backward()
        assert live_values() - before > 10
        del y
        assert live_values() == before + 1  # only the leaf we still hold survives
    finally:
        gc.enable()


def test_grad_of_a_graph_with_a_million_nodes_needs_no_recursion():
    x = Value(0.0)
    y = x
    for _ in range(300_000):
        y = (y * 1.0000001 + 0.1).relu()
    (g,) = grad(y, [x])
    assert g == pytest.approx(1.0000001**300_000, rel=1e-9)


# -- grad, no_grad -----------------------------------------------------------


def test_grad_leaves_every_grad_untouched():
    x, y = Value(2.0), Value(3.0)
    f = x * y + x
    assert grad(f, [x, y]) == [4.0, 2.0]
    assert (x.grad, y.grad, f.grad) == (0.0, 0.0, 0.0)


def test_grad_of_an_unrelated_input_is_zero():
    x, y = Value(2.0), Value(3.0)
    assert grad(x * 2, [y]) == [0.0]
    (g,) = grad(x * 2, [y], create_graph=True)
    assert isinstance(g, Value) and g.data == 0.0


def test_grad_rejects_non_values():
    with pytest.raises(TypeError, match="float"):
        grad(1.0, [Value(1.0)])
    with pytest.raises(TypeError, match="input 1"):
        grad(Value(1.0), [Value(1.0), 2.0])


def test_no_grad_builds_no_graph_and_restores():
    x = Value(2.0)
    with no_grad():
        y = x * 3 + 1
        z = y.tanh()
    assert (y.op, y.parents, z.op, z.parents) == ("", (), "", ())
    assert y.data == 7.0
    w = x * 3
    assert w.parents[0] is x


def test_no_grad_restores_after_an_error():
    with pytest.raises(RuntimeError):
        with no_grad():
            raise RuntimeError
    assert (Value(1.0) * 2).op == "*"


def test_no_grad_is_per_thread():
    import threading

    inside, leave = threading.Event(), threading.Event()
    seen = {}

    def worker():
        with no_grad():
            inside.set()
            leave.wait(5)
            seen["op"] = (Value(2.0) * 3).op  # this thread still records nothing

    thread = threading.Thread(target=worker)
    thread.start()
    assert inside.wait(5)
    try:
        w = Value(3.0)
        loss = w * w  # the main thread records, while the other is in no_grad
        loss.backward()
        assert loss.op == "*" and w.grad == 6.0
    finally:
        leave.set()
        thread.join(5)
    assert seen["op"] == ""
    assert (Value(1.0) * 2).op == "*"


def test_no_grad_nests_and_works_as_a_decorator():
    @no_grad()
    def frozen(v):
        return v * 2

    x = Value(1.0)
    y = x * x
    with no_grad():
        with no_grad():
            pass
        assert (x * 2).op == ""
        (g,) = grad(y, [x], create_graph=True)  # create_graph records even here
        assert g.parents and g.data == 2.0
        assert (x * 2).op == ""  # and no_grad holds again after it
    assert frozen(x).op == ""
    assert (x * 2).op == "*"


# -- threads, comparisons, a starting gradient (issue 13) ---------------------------


@pytest.fixture
def tiny_switch_interval():
    """Threads switch every microsecond, so races that a long interval hides show."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def _run_in_threads(work, n_threads: int = 4) -> None:
    errors = []

    def guarded():
        try:
            work()
        except BaseException as e:  # noqa: BLE001 - reported below, in the test's thread
            errors.append(e)

    threads = [threading.Thread(target=guarded) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_concurrent_backward_over_a_shared_interior_node_is_exact(tiny_switch_interval):
    # The red team's reproducer: with the visit marks in .grad, 240,192 instead of 240,000.
    n = 10_000
    w = Value(0.5)
    h = w * 3

    def work():
        for _ in range(n):
            (h + 0.0).backward()

    _run_in_threads(work)
    assert w.grad == 3.0 * 4 * n


def test_concurrent_backward_tape_and_grad_on_one_graph_are_exact(tiny_switch_interval):
    from autograd import Tape

    x, y = Value(1.5), Value(-2.0)
    shared = (x * y).tanh()
    roots = [shared * x + y, shared.exp() * y, (shared - x).relu() + shared]
    expected = {x: 0.0, y: 0.0}
    for root in roots:
        for v, g in zip((x, y), grad(root, [x, y])):
            expected[v] += g
    tapes = [Tape(root) for root in roots]
    n = 300
    x.grad = y.grad = 0.0

    def work():
        for _ in range(n):
            for root, tape in zip(roots, tapes):
                root.backward()
                tape.backward()
                assert grad(root, [x, y]) == grad(root, [x, y])

    _run_in_threads(work)
    for v in (x, y):
        assert v.grad == pytest.approx(2 * 4 * n * expected[v], rel=1e-12)


@pytest.mark.parametrize("a, b", [(1.0, 0.0), (0.0, 1.0), (2.0, 2.0), (-1.0, math.inf), (math.nan, 1.0)])
def test_comparisons_read_data_and_give_plain_bools(a, b):
    x, y = Value(a), Value(b)
    for result, expected in [(x < y, a < b), (x <= y, a <= b), (x > y, a > b), (x >= y, a >= b),
                             (x < b, a < b), (a < y, a < b), (x >= b, a >= b), (b <= x, b <= a)]:
        assert type(result) is bool and result == expected


def test_equality_stays_identity_so_values_key_dicts():
    a, b = Value(1.0), Value(1.0)
    assert a == a and a != b and not (a == 1.0)
    assert len({a: 1, b: 2}) == 2 and len({a, b, a}) == 2
    assert sorted([Value(3.0), Value(1.0), Value(2.0)])[0].data == 1.0
    if Value(2.0) > 1:  # what a Python user writes in an if
        pass
    with pytest.raises(TypeError):
        Value(1.0) < "2"  # noqa: B015


def test_backward_takes_a_starting_gradient():
    x, y = Value(2.0), Value(3.0)
    (x * y).backward(gradient=2.5)
    assert (x.grad, y.grad) == (7.5, 5.0)
    z = Value(4.0)
    z.backward(gradient=-1.5)  # a leaf: its own gradient
    assert z.grad == -1.5
    a = Value(1.0)
    a.exp().backward(gradient=0.0)  # zero passes nothing on
    assert a.grad == 0.0
    with pytest.raises(TypeError, match="str"):
        (x * y).backward(gradient="1")


# -- subclasses of Value are operands like Value (issue 21 item 9) ----------------------------


class _Scalar(Value):
    """A minitorch-style adapter: a subclass of Value with something of its own."""

    __slots__ = ("note",)


_SUBCLASS_EXPRESSIONS = {
    "1 + s": lambda s, a: 1 + s, "s + 1": lambda s, a: s + 1, "a + s": lambda s, a: a + s,
    "s * a": lambda s, a: s * a, "2.0 * s": lambda s, a: 2.0 * s, "s - a": lambda s, a: s - a,
    "a - s": lambda s, a: a - s, "1 - s": lambda s, a: 1 - s, "s / a": lambda s, a: s / a,
    "a / s": lambda s, a: a / s, "1 / s": lambda s, a: 1 / s, "s ** 2": lambda s, a: s**2,
    "2 ** s": lambda s, a: 2**s, "a ** s": lambda s, a: a**s, "-s": lambda s, a: -s,
    "a.max(s)": lambda s, a: a.max(s), "s < a": lambda s, a: s < a,
}


@pytest.mark.parametrize("name", list(_SUBCLASS_EXPRESSIONS))
def test_a_subclass_is_an_operand_like_value(name):
    build = _SUBCLASS_EXPRESSIONS[name]
    s, a = _Scalar(3.0), Value(2.0)
    ts, ta = Value(3.0), Value(2.0)
    out, twin = build(s, a), build(ts, ta)
    if isinstance(twin, bool):
        assert out is twin
        return
    assert out.data == twin.data
    out.backward()
    twin.backward()
    assert (s.grad, a.grad) == (ts.grad, ta.grad)


_REFUSED = {
    "s + 'x'": lambda s, v: s + "x", "'x' * s": lambda s, v: "x" * s, "[1] + s": lambda s, v: [1] + s,
    "s ** 'x'": lambda s, v: s ** "x", "None - s": lambda s, v: None - s, "s * {}": lambda s, v: s * {},
    "v < 'x'": lambda s, v: v < "x", "s / b'1'": lambda s, v: s / b"1",
}


@pytest.mark.parametrize("name", list(_REFUSED))
def test_other_operands_give_the_usual_type_error_not_a_recursion(name):
    """``1 + Sub()`` once recursed forever through ``__radd__``; anything but a number or a Value
    is Python's plain TypeError."""
    with pytest.raises(TypeError):
        _REFUSED[name](_Scalar(1.5), Value(1.5))


def test_backward_walks_the_graph_in_the_one_topological_order():
    """Value.backward's own walk (which marks the nodes it has reached by the 0.0 it writes into
    their gradients) visits them exactly as graph.topological_order does, also when an earlier
    backward left gradients at 0.0."""
    from autograd.engine import gradients_lock
    from autograd.graph import topological_order
    from autograd.lower import lower

    rng = random.Random(3)
    for _ in range(100):
        pool = [Value(rng.uniform(-1, 1)) for _ in range(3)]
        for _ in range(rng.randint(1, 40)):
            a, b = rng.choice(pool), rng.choice(pool)
            pool.append(rng.choice([a + b, a * b, a.tanh(), a.max(b), (a * 0.0).relu()]))
        root = pool[-1]
        for _ in range(2):
            root.backward()
            with gradients_lock:
                walked = lower(root, clear_grads=True).steps
            assert walked == topological_order(root, leaves=False)
            assert all(node.grad == 0.0 for node in walked)
