"""backward_steps and the HTML player: the lecture's numbers step by step, sums equal to
backward(), nothing changed, and a page that is self-contained, escaped and written atomically."""

import math
import random
from operator import attrgetter

import pytest

from autograd import Step, Value, backward_steps
from autograd.graph import topological_order
from autograd.walk import describe, gate, number, short_names

from expressions import bits, random_program, replay, resolve
from players import circuit


def sigmoid_neuron():
    """The seed's sigmoid neuron built gate by gate, every gate labelled (as in notebook 02)."""
    w0, x0, w1, x1, w2 = (Value(v, n) for v, n in
                          ((2.0, "w0"), (-1.0, "x0"), (-3.0, "w1"), (-2.0, "x1"), (-3.0, "w2")))
    gates = {}

    def gate(label, node):
        node.label = label
        gates[label] = node
        return node

    z = gate("z", gate("s", gate("w0x0", w0 * x0) + gate("w1x1", w1 * x1)) + w2)
    d = gate("d", 1 + gate("e", gate("-z", -z).exp()))
    return gate("f", 1 / d), gates


def close(value, printed, digits=2):
    """``value`` agrees with a number printed to ``digits`` decimals."""
    return abs(value - printed) <= 0.5 * 10**-digits + 1e-12


# -- backward_steps -------------------------------------------------------------


def test_circuit_steps_are_the_lectures_arithmetic():
    f = circuit()
    steps = backward_steps(f)
    assert [s.node.label for s in steps] == ["f", "q"]
    assert [(s.upstream, s.local_grads, s.contributions) for s in steps] == [
        (1.0, (-4.0, 3.0), (-4.0, 3.0)),    # df/dq = z = -4, df/dz = q = 3
        (-4.0, (1.0, 1.0), (-4.0, -4.0)),   # the add gate distributes -4
    ]
    assert isinstance(steps[0], Step) and steps[0]._fields == (
        "node", "upstream", "local_grads", "contributions")
    assert "\n".join(map(str, steps)) == (
        "f = q * z: upstream 1\n"
        "  q.grad += 1 × -4 = -4\n"
        "  z.grad += 1 × 3 = 3\n"
        "q = x + y: upstream -4\n"
        "  x.grad += -4 × 1 = -4\n"
        "  y.grad += -4 × 1 = -4"
    )


def test_sigmoid_neuron_gate_by_gate_has_the_seeds_numbers():
    f, gates = sigmoid_neuron()
    steps = backward_steps(f)
    # (gate, upstream, local gradients), as the seed works them out to two decimals;
    # the add gates get 1, 1 and the two products swap their inputs.
    seed = [
        ("f", 1.0, [-0.53]),          # 1/x: -1/d² at d = 1.37
        ("d", -0.53, [1.0, 1.0]),     # + 1
        ("e", -0.53, [0.37]),         # exp: e^-1
        ("-z", -0.20, [-1.0, 1.0]),   # * -1 (and z = 1 to the constant)
        ("z", 0.20, [1.0, 1.0]),
        ("s", 0.20, [1.0, 1.0]),
        ("w1x1", 0.20, [-2.0, -3.0]),  # w1 gets x1, x1 gets w1
        ("w0x0", 0.20, [-1.0, 2.0]),   # w0 gets x0, x0 gets w0
    ]
    assert [s.node.label for s in steps] == [label for label, _, _ in seed]
    for step, (label, upstream, local) in zip(steps, seed):
        assert close(step.upstream, upstream), label
        assert all(close(a, b) for a, b in zip(step.local_grads, local)), label
        assert len(step.local_grads) == len(local) == len(step.node.parents)
    # "Gradient = local gradient * upstream gradient": w0 gets (-1)(0.20) = -0.20,
    # x0 gets (2)(0.20) = 0.39 (the slides' 0.40 is 2 x the rounded 0.20)
    w0_step = steps[-1]
    assert close(w0_step.contributions[0], -0.20) and close(w0_step.contributions[1], 0.39)
    assert str(w0_step).splitlines()[1:] == ["  w0.grad += 0.1966 × -1 = -0.1966",
                                             "  x0.grad += 0.1966 × 2 = 0.3932"]
    sig = 1 / (1 + math.exp(-1.0))
    assert abs(gates["z"].data - 1.0) < 1e-15 and abs(steps[4].upstream - sig * (1 - sig)) < 1e-15


def _sum_contributions(steps):
    totals = {}
    for step in steps:
        for parent, c in zip(step.node.parents, step.contributions):
            totals[parent] = totals.get(parent, 0.0) + c
    return totals


def _assert_steps_replay_backward(root):
    order = topological_order(root)
    for node in order:
        node.grad = 0.0
    steps = backward_steps(root)
    assert [s.node for s in steps] == [n for n in order if n.parents]  # backward()'s order
    totals = _sum_contributions(steps)
    root.backward()
    for node in order:
        if node is not root:  # bit for bit: the same terms added in the same order
            assert bits(totals[node]) == bits(node.grad), (node, totals[node], node.grad)
    for step in steps:  # each upstream is complete when its step comes
        assert step.upstream == step.node.grad
        # local × upstream, but for rounding: the rows compute it overflow-free (1/x: -(g/a)/a)
        assert step.contributions == pytest.approx([g * step.upstream for g in step.local_grads],
                                                   rel=1e-12, nan_ok=True)


def _apply(op, a, b):
    return op.ours(a, b)


@pytest.mark.parametrize("seed", range(40))
def test_contributions_add_up_to_backward_on_random_graphs(seed):
    rng = random.Random(seed)
    leaves = [Value(rng.uniform(-2, 2), f"x{i}") for i in range(rng.randint(1, 4))]
    steps = resolve(random_program(rng, rng.randint(1, 12)), leaves, _apply, attrgetter("data"))
    interior = replay(steps, leaves, _apply)[len(leaves):]
    _assert_steps_replay_backward(sum(interior[1:], interior[0]))


def test_x_times_x_sends_two_contributions():
    x = Value(3.0, "x")
    (step,) = backward_steps(x * x)
    assert step.node.parents == (x, x)
    assert step.local_grads == (3.0, 3.0) and step.contributions == (3.0, 3.0)
    _assert_steps_replay_backward(x * x)


def test_a_node_reused_three_times_gets_its_whole_gradient_first():
    a = Value(0.7, "a")
    t = a.tanh()
    t.label = "t"
    f = t * t + t  # t is used three times
    steps = backward_steps(f)
    t_step = next(s for s in steps if s.node is t)
    received = [c for s in steps[: steps.index(t_step)] for p, c in zip(s.node.parents, s.contributions)
                if p is t]
    assert len(received) == 3
    assert t_step.upstream == 0.0 + received[0] + received[1] + received[2]
    assert abs(t_step.upstream - (2 * t.data + 1)) < 1e-15
    _assert_steps_replay_backward(f)


def test_nothing_is_changed_and_grads_are_not_read():
    f, gates = sigmoid_neuron()
    order = topological_order(f)
    clean = [(s.node, s.upstream, s.local_grads, s.contributions) for s in backward_steps(f)]
    for i, node in enumerate(order):
        node.grad = 100.0 + i  # garbage, as left by some earlier call
    before = [n.grad for n in order]
    assert [tuple(s) for s in backward_steps(f)] == clean
    assert [n.grad for n in order] == before


def test_a_zero_upstream_or_local_gradient_contributes_exactly_zero():
    # relu at a negative input passes nothing back, even an infinite upstream
    x = Value(-1.0, "x")
    big = Value(math.inf, "big")
    (mul, relu) = backward_steps(x.relu() * big)
    assert relu.upstream == math.inf and relu.local_grads == (0.0,)
    assert relu.contributions == (0.0,)


def test_a_leaf_has_no_steps_and_bad_input_is_named():
    assert backward_steps(Value(1.0)) == []
    with pytest.raises(TypeError, match="float"):
        backward_steps(1.0)


def test_unlabelled_nodes_are_named_by_their_formula():
    x = Value(2.0, "x")
    f = 1 / (1 + (-(x * 3)).exp())
    text = "\n".join(map(str, backward_steps(f)))
    assert text.splitlines()[0] == "1/(1 + exp(…)): upstream 1"
    assert "  (-1).grad += " in text           # the constant of -(...)
    assert "  x.grad += " in text and "(x * 3) * -1" in text
    # a label is shown as text, control characters as escapes
    v = Value(1.0, "a\nb")
    assert str(backward_steps(v * 2)[0]).startswith("(a\\nb) * 2: upstream 1")


def test_labels_that_are_formulas_are_grouped():
    z = Value(1.0, "z")
    neg = -z
    neg.label = "-z"
    e = neg.exp()
    e.label = "exp(-z)"
    d = 1 + e
    d.label = "1+exp(-z)"
    f = 1 / d
    f.label = "f"
    lines = "\n".join(map(str, backward_steps(f))).splitlines()
    assert lines[0] == "f = 1/(1+exp(-z)): upstream 1"
    assert lines[1].startswith("  (1+exp(-z)).grad += ")
    assert lines[2] == "1 + exp(-z): upstream -0.5344"  # a label that is its own formula is said once
    assert lines[4].startswith("  exp(-z).grad += ")   # a call reads as one operand
    assert lines[6].startswith("  (-z).grad += ")


@pytest.mark.parametrize("x, text", [
    (0.0, "0"), (-0.0, "0"), (1.0, "1"), (-4.0, "-4"), (0.19661193, "0.1966"), (-12.5, "-12.5"),
    (1e-7, "1e-07"), (2.5e12, "2.5e+12"), (math.inf, "inf"), (math.nan, "nan"),
])
def test_numbers_read_as_in_the_lecture(x, text):
    assert number(x) == text


def test_short_names_number_unlabelled_gates_in_forward_order():
    x = Value(1.0, "x")
    t2 = Value(1.0, "t2")  # a label that looks like a short name is never given to another node
    f = (x * 3 + t2).exp()
    steps = backward_steps(f)
    names = short_names(steps)
    assert sorted(names.values()) == ["t1", "t3", "t4"]
    assert names[f] == "t4" and names[f.parents[0]] == "t3" and names[f.parents[0].parents[0]] == "t1"
    text = [describe(step, names) for step in steps]
    assert text[0] == "t4 = exp(t3): upstream 1\n  t3.grad += 1 × 54.5982 = 54.5982"
    assert text[2] == "t1 = x * 3: upstream 54.5982\n  x.grad += 54.5982 × 3 = 163.7945\n  (3).grad += 54.5982 × 1 = 54.5982"
    # printed on its own, with no picture beside it, a step spells the formula out
    assert str(steps[0]).splitlines() == ["exp((x * 3) + t2): upstream 1", "  ((x * 3) + t2).grad += 1 × 54.5982 = 54.5982"]
    assert gate(f.parents[0], names) == "t3 = t1 + t2" and gate(f.parents[0]) == "(x * 3) + t2"
