"""Coming from micrograd: each of its habits gets an error that names valuegrad's equivalent.

(The lecture's flow with valuegrad's names is docs/from_micrograd.md, run by tests/test_docs.py.)
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import autograd
from autograd import Value
from nn import MLP, Layer, Neuron

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name, ours", [
    ("_prev", "v.parents"),
    ("_op", "v.op"),
    ("_backward", "f.backward()"),
])
def test_micrograds_attributes_name_ours(name, ours):
    a, b = Value(2.0), Value(3.0)
    with pytest.raises(AttributeError, match="micrograd's name") as caught:
        getattr(a * b, name)
    assert ours in str(caught.value)
    assert not hasattr(a * b, name)  # still absent: code that probes for micrograd's nodes sees none


def test_other_misspellings_keep_pythons_did_you_mean():
    result = subprocess.run([sys.executable, "-c", "from autograd import Value\nValue(1.0).backwrd()"],
                            capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.stderr.splitlines()[-1] == (
        "AttributeError: 'Value' object has no attribute 'backwrd'. Did you mean: 'backward'?")


def test_attributes_that_exist_are_untouched():
    x = Value(2.0, "x")
    y = x * x
    assert (y.op, y.parents, y.label, x.label) == ("*", (x, x), "", "x")
    y.label = "y"
    assert y.label == "y"


@pytest.mark.parametrize("call", [
    lambda a, b: Value(6.0, (a, b), "*"),
    lambda a, b: Value(6.0, (a, b)),
    lambda a, b: Value(6.0, _children=(a, b), _op="*"),
    lambda a, b: Value(6.0, {a, b}, "*"),
])
def test_micrograds_constructor_with_operands_says_to_write_the_operation(call):
    with pytest.raises(TypeError, match=r"takes no operands .*a \* b makes the node"):
        call(Value(2.0), Value(3.0))


def test_the_constructor_still_takes_data_and_label_and_names_other_mistakes():
    assert Value(2, "a").data == 2.0 and Value(2.0, label="a").label == "a"
    with pytest.raises(TypeError, match="takes a str label, got int"):
        Value(1.0, 5)
    with pytest.raises(TypeError, match="takes an int or a float, got str"):
        Value("1")


def test_draw_dot_names_draw_graph():
    with pytest.raises(ImportError, match=r"no draw_dot \(micrograd's name\): valuegrad's is draw_graph"):
        from autograd import draw_dot  # noqa: F401
    with pytest.raises(ImportError, match="valuegrad's is draw_graph"):
        autograd.draw_dot(Value(1.0))
    with pytest.raises(AttributeError, match="has no attribute 'draw_dots'"):
        autograd.draw_dots  # noqa: B018 (any other name: the usual AttributeError)


@pytest.mark.parametrize("make, meant", [
    (lambda: Neuron(3, nonlin=False), "nonlin=False is activation='linear'"),
    (lambda: Neuron(3, nonlin=True), "nonlin=True is activation='relu'"),
    (lambda: Layer(3, 2, nonlin=False), "nonlin=False is activation='linear'"),
])
def test_nonlin_names_the_activation(make, meant):
    with pytest.raises(TypeError, match="not micrograd's nonlin=") as caught:
        make()
    assert meant in str(caught.value)


@pytest.mark.parametrize("make, message", [
    (lambda: MLP(3, 4, 4, 1), "MLP(3, [4, 4, 1]), not MLP(3, 4, 4, 1)"),
    (lambda: MLP(2, 1), "MLP(2, [1]), not MLP(2, 1)"),
])
def test_sizes_not_in_a_list_get_the_list(make, message):
    with pytest.raises(TypeError, match="takes the layer sizes as one list") as caught:
        make()
    assert message in str(caught.value)


def test_a_layer_of_one_is_a_list_of_one_and_the_mlp_unwraps_it():
    out = Layer(3, 1)([1.0, 2.0, 3.0])
    assert isinstance(out, list) and len(out) == 1 and isinstance(out[0], Value)
    assert isinstance(MLP(3, [4, 1], seed=0)([1.0, 2.0, 3.0]), Value)


def test_the_lecture_network_with_relu_sticks_and_with_tanh_trains():
    # micrograd's lecture: MLP(3, [4, 4, 1]) on four samples. With the default ReLU many seeds
    # stick at loss 4.0 (every hidden unit dark for every sample: the output is its bias alone;
    # 8 of these 20); the lecture's network is tanh, and it trains in every one.
    xs = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
    ys = [1.0, -1.0, -1.0, 1.0]

    def final_loss(activation, seed):
        model = MLP(3, [4, 4, 1], activation=activation, seed=seed)
        for _ in range(100):
            loss = sum(((model(x) - y) ** 2 for x, y in zip(xs, ys)), Value(0.0))
            model.zero_grad()
            loss.backward()
            for p in model.parameters():
                p.data -= 0.05 * p.grad
        return loss.data

    relu = [final_loss("relu", seed) for seed in range(20)]
    tanh = [final_loss("tanh", seed) for seed in range(20)]
    assert sum(loss == pytest.approx(4.0) for loss in relu) >= 6
    assert max(tanh) < 0.01
