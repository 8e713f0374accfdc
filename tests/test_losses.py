"""nn's losses: values against their formulas and PyTorch, gradients against
finite differences, stability at extreme logits, and shapes (one sample or a
batch, mismatches named)."""

import math
import random

import pytest

from autograd import Value, gradcheck
from nn import binary_cross_entropy, cross_entropy, hinge_loss, mse_loss, softmax

# -- mse --------------------------------------------------------------------


@pytest.mark.parametrize("preds, targets, expected", [
    (Value(3.0), 1.0, 4.0),                                    # one scalar sample
    (2.0, 1.0, 1.0),                                           # numbers are fine too
    ([Value(1.0), Value(3.0)], [0.0, 0.0], 5.0),              # one sample, 2 outputs (or 2 samples)
    ([[Value(1.0), Value(3.0)], [Value(0.0), Value(2.0)]], [[0.0, 0.0], [0.0, 0.0]], 3.5),
])
def test_mse_is_the_mean_over_every_output(preds, targets, expected):
    loss = mse_loss(preds, targets)
    assert isinstance(loss, Value) and loss.data == pytest.approx(expected)


def test_mse_gradient():
    gradcheck(lambda v: mse_loss([[v[0], v[1]], [v[2], v[3]]], [[1.0, -1.0], [0.5, 2.0]]),
              [0.3, 0.2, -1.0, 4.0])


@pytest.mark.parametrize("preds, targets, message", [
    ([Value(1.0)] * 3, [1.0, 2.0], "preds has 3 entries but targets has 2"),
    ([[Value(1.0)] * 2], [[1.0] * 3], "a prediction has 2 entries but its target has 3"),
    (Value(1.0), [1.0, 2.0], "one sample but targets has 2 entries"),
    ([Value(1.0)], 1.0, "must both be lists"),
    ([], [], "empty"),
])
def test_mse_shape_mismatch_names_both(preds, targets, message):
    with pytest.raises(ValueError, match=message):
        mse_loss(preds, targets)


# -- hinge ------------------------------------------------------------------


def test_hinge_is_the_mean_of_relu_one_minus_margin():
    scores = [Value(2.0), Value(0.5), Value(-0.5), Value(-3.0)]
    labels = [1, 1, 1, -1]
    loss = hinge_loss(scores, labels)
    assert loss.data == pytest.approx((0.0 + 0.5 + 1.5 + 0.0) / 4)
    loss.backward()
    assert [s.grad for s in scores] == pytest.approx([0.0, -0.25, -0.25, 0.0])
    assert hinge_loss(Value(0.25), -1).data == pytest.approx(1.25)  # one sample


@pytest.mark.parametrize("label", [0, 2, 0.5, True])
def test_hinge_labels_must_be_plus_or_minus_one(label):
    with pytest.raises(ValueError, match=r"labels must be -1 or \+1; label 1 is"):
        hinge_loss([Value(1.0), Value(1.0)], [1, label])


# -- softmax and cross-entropy -----------------------------------------------


def test_softmax_sums_to_one_and_matches_the_formula():
    logits = [0.5, -1.2, 3.0, 0.0]
    probs = softmax([Value(x) for x in logits])
    total = sum(math.exp(x) for x in logits)
    assert [p.data for p in probs] == pytest.approx([math.exp(x) / total for x in logits], rel=1e-12)
    assert sum(p.data for p in probs) == pytest.approx(1.0, abs=1e-15)


def test_softmax_is_finite_for_huge_logits():
    probs = softmax([Value(1000.0), Value(-1000.0), Value(0.0)])
    assert [p.data for p in probs] == pytest.approx([1.0, 0.0, 0.0])
    assert sum(p.data for p in probs) == 1.0


def test_softmax_gradient():
    gradcheck(lambda v: softmax(v)[1] * 2.0 + softmax(v)[2], [0.3, -0.7, 1.1])


@pytest.mark.parametrize("target, expected", [(0, 0.0), (2, 1000.0), (1, 2000.0)])
def test_cross_entropy_is_finite_for_logits_in_the_thousands(target, expected):
    logits = [Value(1000.0), Value(-1000.0), Value(0.0)]
    loss = cross_entropy(logits, target)
    assert math.isfinite(loss.data) and loss.data == pytest.approx(expected)
    loss.backward()
    onehot = [1.0 if i == target else 0.0 for i in range(3)]
    assert [x.grad for x in logits] == pytest.approx([p - o for p, o in zip([1.0, 0.0, 0.0], onehot)])


def test_cross_entropy_gradient_is_softmax_minus_onehot():
    rng = random.Random(0)
    for target in range(4):
        logits = [Value(rng.gauss(0, 3)) for _ in range(4)]
        cross_entropy(logits, target).backward()
        probs = [p.data for p in softmax(logits)]
        expected = [p - (i == target) for i, p in enumerate(probs)]
        assert [x.grad for x in logits] == pytest.approx(expected, abs=1e-15)


def test_cross_entropy_batch_is_the_mean():
    a, b = [Value(1.0), Value(2.0)], [Value(0.5), Value(-0.5)]
    batch = cross_entropy([a, b], [0, 1]).data
    assert batch == pytest.approx((cross_entropy(a, 0).data + cross_entropy(b, 1).data) / 2)


def test_cross_entropy_matches_torch(torch):
    rng = random.Random(1)
    logits = [[rng.gauss(0, 2) for _ in range(5)] for _ in range(3)]
    targets = [4, 0, 2]
    ours = [[Value(x) for x in row] for row in logits]
    loss = cross_entropy(ours, targets)
    loss.backward()
    t = torch.tensor(logits, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(t, torch.tensor(targets))
    expected.backward()
    assert loss.data == pytest.approx(expected.item(), rel=1e-12)
    grads = [x.grad for row in ours for x in row]
    assert grads == pytest.approx(t.grad.flatten().tolist(), abs=1e-15)


@pytest.mark.parametrize("logits, target, message", [
    ([1.0, 2.0], 2, r"target 0 must be a class index in \[0, 2\), got 2"),
    ([1.0, 2.0], -1, r"got -1"),
    ([1.0, 2.0], 1.0, r"got 1.0"),
    ([1.0, 2.0], True, r"got True"),
    ([[1.0, 2.0], [1.0, 2.0]], [0], "logits has 2 entries but targets has 1"),
    ([], 0, "non-empty"),
])
def test_cross_entropy_rejects_bad_targets(logits, target, message):
    with pytest.raises(ValueError, match=message):
        cross_entropy(logits, target)


# -- binary cross-entropy -----------------------------------------------------


def test_binary_cross_entropy_matches_torch(torch):
    probs = [0.1, 0.5, 0.93, 0.999, 0.0, 1.0, 0.3]
    targets = [0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.25]
    ours = [Value(p) for p in probs]
    loss = binary_cross_entropy(ours, targets)
    loss.backward()
    t = torch.tensor(probs, requires_grad=True)
    expected = torch.nn.functional.binary_cross_entropy(t, torch.tensor(targets))
    expected.backward()
    # Exactly 0 or 1 gives PyTorch's clamp of the log at -100: finite.
    assert loss.data == pytest.approx(expected.item(), rel=1e-12)
    # Gradients agree where the log is not clamped (PyTorch's clamped gradient is its own rule).
    for i in range(4):
        assert ours[i].grad == pytest.approx(t.grad[i].item(), rel=1e-9), i
    assert ours[-1].grad == pytest.approx(t.grad[-1].item(), rel=1e-9)


def test_binary_cross_entropy_one_sample_and_gradient():
    assert binary_cross_entropy(Value(0.8), 1).data == pytest.approx(-math.log(0.8))
    gradcheck(lambda v: binary_cross_entropy(v[0].sigmoid(), 0.3), [0.4])


@pytest.mark.parametrize("prob, target, message", [
    (Value(0.5), 1.5, r"target 0 must be a number in \[0, 1\], got 1.5"),
    (Value(0.5), -1, r"got -1"),
    (Value(0.5), True, r"got True"),
    (Value(1.5), 1.0, r"probability 0 must be in \[0, 1\], got 1.5"),
    ([Value(0.5)], [1.0, 0.0], "probabilities has 1 entries but targets has 2"),
])
def test_binary_cross_entropy_rejects_bad_input(prob, target, message):
    with pytest.raises(ValueError, match=message):
        binary_cross_entropy(prob, target)


# -- NumPy numbers as targets (a y taken from a NumPy array) ------------------

NUMPY_TARGETS = [
    # (loss, prediction, a plain target, a NumPy dtype to make the same target of)
    (mse_loss, Value(0.5), 2.0, "float32"),
    (mse_loss, Value(0.5), 2.0, "float64"),
    (mse_loss, Value(0.5), 2, "int64"),
    (hinge_loss, Value(0.25), -1, "int64"),
    (hinge_loss, Value(0.25), -1, "int8"),
    (hinge_loss, Value(0.25), 1.0, "float32"),
    (cross_entropy, [1.0, -2.0, 0.5], 2, "int64"),
    (cross_entropy, [1.0, -2.0, 0.5], 1, "uint8"),
    (binary_cross_entropy, Value(0.5), 1, "int64"),
    (binary_cross_entropy, Value(0.5), 1.0, "float32"),
    (binary_cross_entropy, Value(0.8), 0.25, "float64"),
]


@pytest.mark.parametrize("loss, pred, target, dtype", NUMPY_TARGETS)
def test_numpy_targets_count_as_the_numbers_they_are(loss, pred, target, dtype):
    np = pytest.importorskip("numpy")
    expected = loss(pred, target).data
    one = loss(pred, np.array(target, dtype=dtype)[()])  # a NumPy scalar, such as np.int64(1)
    batch = loss([pred, pred], np.array([target, target], dtype=dtype))
    assert type(one.data) is float and one.data == pytest.approx(expected, rel=1e-7)
    assert batch.data == pytest.approx(expected, rel=1e-7)


def test_mse_targets_may_be_values():
    pred, target = Value(3.0), Value(1.0)
    mse_loss(pred, target).backward()
    assert (pred.grad, target.grad) == (4.0, -4.0)


def test_numpy_predictions_are_numbers_too():
    np = pytest.importorskip("numpy")
    assert mse_loss(np.float32(3.0), 1.0).data == 4.0
    assert cross_entropy([np.float32(1000.0), np.float64(0.0)], 0).data == pytest.approx(0.0)


@pytest.mark.parametrize("loss, pred, target, message", [
    (mse_loss, Value(1.0), "1.0", r"mse_loss target 0 must be a number or a Value, got '1.0'"),
    (mse_loss, Value(1.0), None, r"got None"),
    (mse_loss, [Value(1.0), Value(1.0)], [1.0, True], r"target 1 .* got True"),
    (hinge_loss, Value(1.0), "1", r"label 0 is '1'"),
    (binary_cross_entropy, Value(0.5), "1", r"got '1'"),
    (binary_cross_entropy, Value(0.5), float("nan"), r"got nan"),
    (cross_entropy, [1.0, 2.0], 1.5, r"got 1.5"),
])
def test_targets_that_are_not_numbers_are_named(loss, pred, target, message):
    with pytest.raises(ValueError, match=message):
        loss(pred, target)


@pytest.mark.parametrize("loss, pred, target", [
    (hinge_loss, Value(1.0), "bool_"),
    (binary_cross_entropy, Value(0.5), "bool_"),
    (cross_entropy, [1.0, 2.0], "bool_"),
    (cross_entropy, [1.0, 2.0], "float64"),  # a class index is an integer, as in PyTorch
])
def test_numpy_bools_and_float_class_indices_are_refused(loss, pred, target):
    np = pytest.importorskip("numpy")
    with pytest.raises(ValueError, match="target|label"):
        loss(pred, np.array(1, dtype=target)[()])


# -- the shift under the tapes (issue 21 item 5): computed in the graph, per replay and per row ------


def test_the_shift_is_in_the_graph():
    a, b = Value(1.0), Value(3.0)
    loss = cross_entropy([a, b], 0)
    b.data = 2000.0  # a tape replaying the graph recomputes the shift from here
    from autograd import Tape

    tape = Tape(loss)
    assert math.isclose(tape.forward(), 1999.0)  # log(1 + e^-1999) + 1999: no overflow


@pytest.mark.parametrize("tape", [True, "batched"])
def test_fit_with_a_tape_trains_as_plain_fit_at_a_huge_learning_rate(tape):
    import nn

    rng = random.Random(0)
    X = [[rng.uniform(-1, 1), rng.uniform(-1, 1)] for _ in range(30)]
    y = [int(a > b) + int(a + b > 0.5) for a, b in X]
    histories = []
    for which in (False, tape):
        model = nn.MLP(2, [8, 3], seed=1)
        histories.append(nn.fit(model, X, y, cross_entropy, nn.SGD(model.parameters(), lr=2000.0), epochs=4,
                                progress=False, tape=which)["loss"])
    plain, taped = histories
    assert max(plain) > 500  # logits in the thousands: a shift frozen at the first replay overflows
    assert taped == pytest.approx(plain, rel=1e-9)


def test_logits_of_opposite_signs_in_different_rows_under_the_batched_tape():
    from autograd import Tape

    w = Value(1.0)
    x0, x1 = Value(1000.0), Value(-1000.0)
    tape = Tape(cross_entropy([x0 * w, x1 * w], 1), inputs=[x0, x1])
    rows = [[1000.0, -1000.0], [-1000.0, 1000.0], [0.0, 0.0]]
    values = tape.forward(rows).tolist()
    assert values == [cross_entropy([a, b], 1).data for a, b in rows] == [2000.0, 0.0, math.log(2.0)]
    tape.backward()
    assert w.grad == pytest.approx((2000.0 + 0.0 + 0.0) / 3)


def test_a_list_where_one_number_belongs_is_named():
    """A Layer's output (always a list) given as a score, or a batch of logits with one target:
    an error that names the loss and what it got, not Value()'s complaint about a list."""
    import nn

    layer = nn.Layer(2, 1, rng=random.Random(0))
    with pytest.raises(TypeError, match=r"hinge_loss: score 0 is a list of 1 .*Layer's output"):
        nn.hinge_loss([layer([1.0, 2.0]), layer([0.0, 1.0])], [1, -1])
    with pytest.raises(ValueError, match=r"cross_entropy: logits is a batch of 2 samples .* one class index"):
        nn.cross_entropy([[1.0, 2.0], [3.0, 4.0]], 0)
