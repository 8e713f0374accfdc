"""nn's modules (API.md): the 2-2-2 network of seed 003 to every printed digit,
neurons and activations, layers and MLPs, state dicts and state files, and
training with fit (XOR, two moons, the progress bar, the tape)."""

import json
import math
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

import autograd
import nn
from autograd import Value, gradcheck
from nn import MLP, SGD, Adam, Layer, Neuron, cross_entropy, fit, hinge_loss, mse_loss

ROOT = Path(__file__).resolve().parent.parent

# -- the 2-2-2 network of seeds/003 (Mazur's worked example) --------------

# w1..w4 feed the hidden neurons h1, h2; w5..w8 the outputs o1, o2.
SEED_003_STATE = {
    "layers.0.neurons.0.w.0": 0.15, "layers.0.neurons.0.w.1": 0.20, "layers.0.neurons.0.b": 0.35,
    "layers.0.neurons.1.w.0": 0.25, "layers.0.neurons.1.w.1": 0.30, "layers.0.neurons.1.b": 0.35,
    "layers.1.neurons.0.w.0": 0.40, "layers.1.neurons.0.w.1": 0.45, "layers.1.neurons.0.b": 0.60,
    "layers.1.neurons.1.w.0": 0.50, "layers.1.neurons.1.w.1": 0.55, "layers.1.neurons.1.b": 0.60,
}
SEED_003_INPUTS = [0.05, 0.10]
SEED_003_TARGETS = [0.01, 0.99]
# Every updated weight the seed prints, after one SGD step with lr 0.5.
SEED_003_UPDATED = {
    "layers.1.neurons.0.w.0": 0.35891648,   # w5
    "layers.1.neurons.0.w.1": 0.408666186,  # w6
    "layers.1.neurons.1.w.0": 0.511301270,  # w7
    "layers.1.neurons.1.w.1": 0.561370121,  # w8
    "layers.0.neurons.0.w.0": 0.149780716,  # w1
    "layers.0.neurons.0.w.1": 0.19956143,   # w2
    "layers.0.neurons.1.w.0": 0.24975114,   # w3
    "layers.0.neurons.1.w.1": 0.29950229,   # w4
}
PRINTED = 5e-9  # the seed prints 8 or 9 decimals


def seed_003_network():
    model = MLP(2, [2, 2], activation="sigmoid", output_activation="sigmoid")
    model.load_state_dict(SEED_003_STATE)
    return model


def test_seed_003_forward_pass():
    model = seed_003_network()
    hidden = model.layers[0](SEED_003_INPUTS)
    assert [h.data for h in hidden] == pytest.approx([0.593269992, 0.596884378], abs=PRINTED)
    outputs = model(SEED_003_INPUTS)
    assert [o.data for o in outputs] == pytest.approx([0.75136507, 0.772928465], abs=PRINTED)
    # mse_loss (mean over the 2 outputs) is the seed's E_total = Σ ½(target - out)².
    loss = mse_loss(outputs, SEED_003_TARGETS)
    assert loss.data == pytest.approx(0.298371109, abs=PRINTED)


def test_seed_003_gradients():
    model = seed_003_network()
    mse_loss(model(SEED_003_INPUTS), SEED_003_TARGETS).backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    assert grads["layers.1.neurons.0.w.0"] == pytest.approx(0.082167041, abs=PRINTED)  # ∂E/∂w5
    assert grads["layers.0.neurons.0.w.0"] == pytest.approx(0.000438568, abs=PRINTED)  # ∂E/∂w1


def test_seed_003_one_sgd_step_reproduces_every_printed_weight():
    model = seed_003_network()
    optimizer = SGD(model.parameters(), lr=0.5)
    optimizer.zero_grad()
    mse_loss(model(SEED_003_INPUTS), SEED_003_TARGETS).backward()
    optimizer.step()
    state = model.state_dict()
    for name, expected in SEED_003_UPDATED.items():
        assert abs(state[name] - expected) <= PRINTED, (name, state[name], expected)


# -- neurons and activations ------------------------------------------------

DEFINITIONS = {
    "relu": lambda x: max(0.0, x),
    "tanh": math.tanh,
    "sigmoid": lambda x: 1.0 / (1.0 + math.exp(-x)),
    "leaky_relu": lambda x: x if x > 0 else 0.01 * x,
    "elu": lambda x: x if x > 0 else math.exp(x) - 1.0,
    "prelu": lambda x: x if x > 0 else 0.25 * x,  # the slope starts at 0.25
    "linear": lambda x: x,
}
PRE_ACTIVATIONS = [-3.0, -0.5, 0.7, 2.0]


@pytest.mark.parametrize("activation", sorted(DEFINITIONS))
@pytest.mark.parametrize("z", PRE_ACTIVATIONS)
def test_activations_match_their_definitions(activation, z):
    # w = 2, b = 1, x = (z - 1) / 2: the pre-activation is z.
    n = Neuron(1, activation=activation)
    n.w[0].data, n.b.data = 2.0, 1.0
    assert n([(z - 1.0) / 2.0]).data == pytest.approx(DEFINITIONS[activation](z), rel=1e-12)


@pytest.mark.parametrize("activation", sorted(DEFINITIONS))
def test_neuron_gradients_agree_with_finite_differences(activation):
    def f(v):
        n = Neuron(2, activation=activation)
        n.w[0], n.w[1], n.b = v[0], v[1], v[2]
        return n([v[3], v[4]])

    gradcheck(f, [0.3, -0.8, 0.1, 1.5, 0.4])
    gradcheck(f, [0.3, -0.8, 0.1, -1.5, 0.4])


def test_neuron_has_weights_bias_and_takes_numbers_or_values():
    n = Neuron(3, activation="linear", rng=random.Random(0))
    assert len(n.w) == 3 and all(isinstance(w, Value) for w in n.w)
    assert isinstance(n.b, Value) and n.b.data == 0.0
    assert n.parameters() == [*n.w, n.b]
    x = [Value(1.0), 2, 3.5]
    out = n(x)
    assert isinstance(out, Value)
    assert out.data == pytest.approx(sum(w.data * float(xi) for w, xi in zip(n.w, x)))
    out.backward()
    assert x[0].grad == n.w[0].data  # gradients reach Value inputs


def test_neuron_forward_builds_no_needless_nodes():
    # b + w0*x0 + w1*x1 + w2*x2: 3 products and 3 sums, no 0 constant.
    n = Neuron(3, activation="linear")
    out = n([1.0, 2.0, 3.0])
    interior, stack, seen = 0, [out], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        interior += bool(node.parents)
        stack.extend(node.parents)
    assert interior == 6


def test_wrong_input_length_names_both_lengths():
    with pytest.raises(ValueError, match="expects 3 inputs, got 2"):
        Neuron(3)([1.0, 2.0])
    with pytest.raises(ValueError, match="expects 2 inputs, got 3"):
        MLP(2, [4, 1], seed=0)([1.0, 2.0, 3.0])


@pytest.mark.parametrize("make", [
    lambda: Neuron(2, activation="swish"),
    lambda: Layer(2, 2, activation="ReLU"),
    lambda: MLP(2, [2, 1], activation="softplus"),
    lambda: MLP(2, [2, 1], output_activation="softmax"),
])
def test_unknown_activation_lists_the_known_ones(make):
    with pytest.raises(ValueError) as info:
        make()
    message = str(info.value)
    assert "unknown activation" in message
    for name in DEFINITIONS:
        assert repr(name) in message


@pytest.mark.parametrize("make", [
    lambda: Neuron(0), lambda: Neuron(2.0), lambda: Neuron(True), lambda: Layer(2, 0),
    lambda: MLP(2, []), lambda: MLP(2, [3, -1]), lambda: MLP(0, [1]),
])
def test_bad_sizes_are_rejected(make):
    with pytest.raises(ValueError, match="positive int|at least one"):
        make()


def test_prelu_slope_is_learnable_and_a_parameter():
    n = Neuron(1, activation="prelu")
    assert n.alpha.data == 0.25
    assert n.parameters() == [*n.w, n.b, n.alpha]
    assert "alpha" in n.state_dict()
    n.w[0].data = 1.0
    out = n([-2.0])  # pre-activation -2: output alpha * -2
    assert out.data == pytest.approx(-0.5)
    out.backward()
    assert n.alpha.grad == pytest.approx(-2.0)
    SGD(n.parameters(), lr=0.1).step()
    assert n.alpha.data == pytest.approx(0.45)
    model = MLP(2, [3, 1], activation="prelu", seed=0)
    assert sum(name.endswith(".alpha") for name in model.state_dict()) == 3
    assert Neuron(2, activation="relu").alpha is None


@pytest.mark.parametrize("activation, variance", [
    ("relu", 2.0), ("leaky_relu", 2.0), ("elu", 2.0), ("prelu", 2.0),   # He
    ("tanh", 1.0), ("sigmoid", 1.0), ("linear", 1.0),                    # Xavier (fan-in)
])
def test_weight_init_scale_suits_the_activation(activation, variance):
    nin = 2000
    w = [p.data for p in Neuron(nin, activation=activation, rng=random.Random(0)).w]
    bound = math.sqrt(3.0 * variance / nin)
    assert max(abs(x) for x in w) <= bound
    assert sum(x * x for x in w) / nin == pytest.approx(variance / nin, rel=0.1)


def test_rng_none_leaves_the_global_random_state_alone():
    state = random.getstate()
    Neuron(5)
    Layer(3, 4)
    MLP(2, [3, 1])
    assert random.getstate() == state


# -- layers and MLPs --------------------------------------------------------


def test_layer_always_returns_a_list():
    assert isinstance(Layer(2, 1)([1.0, 2.0]), list)
    out = Layer(2, 3)([1.0, 2.0])
    assert isinstance(out, list) and len(out) == 3


def test_mlp_returns_a_value_for_one_output_else_a_list():
    assert isinstance(MLP(2, [4, 1], seed=0)([1.0, 2.0]), Value)
    out = MLP(2, [4, 3], seed=0)([1.0, 2.0])
    assert isinstance(out, list) and len(out) == 3


def test_mlp_activations_hidden_and_output():
    model = MLP(2, [4, 4, 2], activation="tanh", output_activation="sigmoid", seed=0)
    assert [n.activation for layer in model.layers for n in layer.neurons] == ["tanh"] * 8 + ["sigmoid"] * 2
    assert all(0.0 < o.data < 1.0 for o in model([3.0, -1.0]))
    assert repr(model) == "MLP(nin=2, nouts=[4, 4, 2], activation='tanh', output_activation='sigmoid')"


def test_same_seed_same_weights():
    a, b, c = MLP(3, [5, 2], seed=7), MLP(3, [5, 2], seed=7), MLP(3, [5, 2], seed=8)
    assert a.state_dict() == b.state_dict()
    assert a.state_dict() != c.state_dict()


def test_parameter_names_are_stable_dotted_paths():
    model = MLP(2, [3, 1], seed=0)
    names = list(model.state_dict())
    assert len(names) == len(model.parameters()) == 3 * 3 + 4
    assert names[:4] == ["layers.0.neurons.0.w.0", "layers.0.neurons.0.w.1",
                         "layers.0.neurons.0.b", "layers.0.neurons.1.w.0"]
    assert names[-1] == "layers.1.neurons.0.b"
    # ...and each parameter carries its name as its label, for draw_graph.
    assert [p.label for p in model.parameters()] == names


def test_your_own_module_finds_its_parameters_by_attribute():
    class TwoHeads(nn.Module):
        def __init__(self):
            self.trunk = MLP(2, [3], seed=0)
            self.heads = [Neuron(3, activation="linear"), Neuron(3, activation="linear")]
            self.temperature = Value(1.0)
            self.tied = self.temperature      # shared: listed once
            self._cache = Value(0.0)          # private: not a parameter
            self.name = "two heads"

    model = TwoHeads()
    names = list(model.state_dict())
    assert names[0] == "trunk.layers.0.neurons.0.w.0"
    assert "heads.1.b" in names and names[-1] == "temperature"
    assert len(names) == len(model.parameters()) == 9 + 2 * 4 + 1
    SGD(model.parameters(), lr=0.1)  # no duplicate to complain about


class _Child(nn.Module):
    def __init__(self, parent):
        self.w = Value(1.0)
        self.parent = parent  # refers back: parent -> child -> parent -> ...


class _Parent(nn.Module):
    def __init__(self):
        self.b = Value(0.0)
        self.child = _Child(self)
        self.me = self
        self.items = [Value(2.0)]
        self.items.append(self.items)  # a list that holds itself


def test_a_module_that_refers_back_is_walked_once(tmp_path):
    model = _Parent()
    names = ["b", "child.w", "items.0"]
    assert [name for name, _ in model.named_parameters()] == names
    assert model.parameters() == [model.b, model.child.w, model.items[0]]
    assert model.state_dict() == {"b": 0.0, "child.w": 1.0, "items.0": 2.0}
    model.child.w.grad = 3.0
    model.zero_grad()
    assert model.child.w.grad == 0.0
    model.save(tmp_path / "cycle.json")
    other = _Parent()
    other.b.data = 5.0
    assert other.load(tmp_path / "cycle.json").state_dict() == model.state_dict()


def test_deeply_nested_modules_are_walked_without_recursion():
    class Box(nn.Module):
        def __init__(self, inner):
            self.w = Value(1.0)
            self.inner = inner

    model = None
    for _ in range(5000):
        model = Box(model)
    names = list(model.state_dict())
    assert len(names) == 5000
    assert names[0] == "w" and names[1] == "inner.w" and names[-1] == "inner." * 4999 + "w"


def test_zero_grad_resets_every_parameter():
    model = MLP(2, [3, 1], seed=0)
    model([1.0, -1.0]).backward()
    assert any(p.grad != 0.0 for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())


# -- state dicts ------------------------------------------------------------


def test_state_dict_is_json_and_round_trips():
    model, other = MLP(2, [3, 2], activation="prelu", seed=0), MLP(2, [3, 2], activation="prelu", seed=1)
    state = json.loads(json.dumps(model.state_dict()))
    other.load_state_dict(state)
    assert other.state_dict() == model.state_dict()
    assert [o.data for o in other([0.3, -0.2])] == [o.data for o in model([0.3, -0.2])]


def test_load_state_dict_accepts_ints():
    n = Neuron(1, activation="linear")
    n.load_state_dict({"w.0": 2, "b": -1})
    assert (n.w[0].data, n.b.data) == (2.0, -1.0) and type(n.w[0].data) is float


def test_load_state_dict_accepts_numpy_numbers():
    # As the losses do: a state computed with NumPy holds NumPy scalars.
    np = pytest.importorskip("numpy")
    n = Neuron(2, activation="linear")
    n.load_state_dict({"w.0": np.float32(0.5), "w.1": np.int64(-2), "b": np.float64(0.25)})
    assert n.state_dict() == {"w.0": 0.5, "w.1": -2.0, "b": 0.25}
    assert all(type(v) is float for v in n.state_dict().values())
    before = n.state_dict()
    for bad, message in [(np.float32("nan"), "must be finite"), (np.float64("inf"), "must be finite"),
                         (np.bool_(True), "got bool"), (np.complex128(1), "got complex128")]:
        with pytest.raises(ValueError, match=message):
            n.load_state_dict({"w.0": 1.0, "w.1": 1.0, "b": bad})
        assert n.state_dict() == before


def _with(state, **changes):
    new = dict(state)
    for key, value in changes.items():
        key = key.replace("__", ".")
        if value is _DROP:
            del new[key]
        else:
            new[key] = value
    return new


_DROP = object()
GOOD = {"w.0": 1.0, "w.1": 2.0, "b": 3.0}


@pytest.mark.parametrize("state, message", [
    (_with(GOOD, b=_DROP), r"missing 'b'"),
    (_with(GOOD, extra=0.0), r"unexpected 'extra'"),
    (_with(GOOD, w__1=_DROP, W__1=2.0), r"missing 'w.1'.*unexpected 'W.1'"),
    (_with(GOOD, b=True), r"'b' must be a real number .*, got bool"),
    (_with(GOOD, b="3.0"), r"'b' must be a real number .*, got str"),
    (_with(GOOD, b=None), r"'b' must be a real number .*, got NoneType"),
    (_with(GOOD, b=[3.0]), r"'b' must be a real number .*, got list"),
    (_with(GOOD, b=1j), r"'b' must be a real number .*, got complex"),
    (_with(GOOD, b=float("nan")), r"'b' must be finite, got nan"),
    (_with(GOOD, b=float("-inf")), r"'b' must be finite, got -inf"),
    (_with(GOOD, b=10**400), r"'b' is too large"),
    ([("w.0", 1.0)], r"must be a mapping"),
])
def test_load_state_dict_rejects_a_bad_state_and_changes_nothing(state, message):
    n = Neuron(2, activation="linear", rng=random.Random(0))
    before = n.state_dict()
    # The good entries come first: nothing may be applied before all are checked.
    with pytest.raises(ValueError, match=message):
        n.load_state_dict(state)
    assert n.state_dict() == before


def test_a_long_list_of_missing_names_is_cut_short():
    with pytest.raises(ValueError, match=r"and \d+ more"):
        MLP(2, [16, 1], seed=0).load_state_dict({})


# -- state files ------------------------------------------------------------


def test_save_and_load_round_trip(tmp_path):
    path = tmp_path / "model.json"
    model = MLP(2, [4, 1], seed=0)
    model.save(path)
    document = json.loads(path.read_text())
    assert document["format"] == "valuegrad.state_dict" and document["version"] == 1
    assert document["state"] == model.state_dict()
    other = MLP(2, [4, 1], seed=1)
    assert other.load(str(path)) is other  # load fills this model and returns it
    assert other.state_dict() == model.state_dict()


def _valid_file_text():
    return json.dumps({"format": "valuegrad.state_dict", "version": 1, "state": dict(GOOD)})


@pytest.mark.parametrize("content, message", [
    (b"", r"invalid or truncated JSON"),
    (_valid_file_text()[:40].encode(), r"invalid or truncated JSON"),
    (b"{\"format\": ", r"invalid or truncated JSON"),
    (b"\xff\xfe\x00garbage", r"not UTF-8"),
    (b"[]", r"not a valuegrad state file"),
    (json.dumps({"format": "other", "version": 1, "state": GOOD}).encode(), r"expected \"format\""),
    (json.dumps({"format": "valuegrad.state_dict", "version": 2, "state": GOOD}).encode(),
     r"unsupported state file version 2"),
    (json.dumps({"format": "valuegrad.state_dict", "state": GOOD}).encode(), r"version None"),
    (json.dumps({"format": "valuegrad.state_dict", "version": 1}).encode(), r"no \"state\""),
    (json.dumps({"format": "valuegrad.state_dict", "version": 1, "state": [1, 2]}).encode(),
     r"must be a mapping"),
    (json.dumps({"format": "valuegrad.state_dict", "version": 1,
                 "state": _with(GOOD, b=_DROP)}).encode(), r"missing 'b'"),
    (b'{"format": "valuegrad.state_dict", "version": 1, '
     b'"state": {"w.0": 1, "w.1": 2, "b": NaN}}', r"'b' must be finite"),
    # Hostile files: json.loads itself fails in ways other than a JSONDecodeError.
    (b"[" * 100_000 + b"]" * 100_000, r"not a valuegrad state file \(invalid JSON: nested too deeply"),
    (b'{"format": "valuegrad.state_dict", "version": 1, "state": {"b": ' + b"1" * 5000 + b"}}",
     r"not a valuegrad state file \(invalid JSON: .*digits"),
    (b'{"format": "valuegrad.state_dict", "version": ' + b"[" * 900 + b"]" * 900 + b"}",
     r"unsupported state file version \[\[.*\.\.\..*\]\] \(this"),
    # Duplicate keys: JSON would keep the last one silently.
    (b'{"format": "valuegrad.state_dict", "version": 1, '
     b'"state": {"w.0": 1, "w.1": 2, "b": 3, "w.0": 4}}', r"the key 'w\.0' appears twice"),
    (b'{"format": "valuegrad.state_dict", "version": 1, "state": {}, '
     b'"state": {"w.0": 1, "w.1": 2, "b": 3}}', r"the key 'state' appears twice"),
    (b'{"format": "other", "format": "valuegrad.state_dict", "version": 1, '
     b'"state": {"w.0": 1, "w.1": 2, "b": 3}}', r"the key 'format' appears twice"),
    (b'{"format": "valuegrad.state_dict", "version": 2, "version": 1, '
     b'"state": {"w.0": 1, "w.1": 2, "b": 3}}', r"the key 'version' appears twice"),
    (b'{"format": "valuegrad.state_dict", "version": 1, '
     b'"state": {"w.0": 1, "w.1": 2, "b": 3}, "extra": {"a": 1, "a": 2}}', r"the key 'a' appears twice"),
    (b'{"' + b"k" * 100_000 + b'": 1, "' + b"k" * 100_000 + b'": 2}', r"the key 'kkk+\.\.\.k+' appears twice"),
    # The version is the int 1, not a number or a text that equals it.
    (b'{"format": "valuegrad.state_dict", "version": 1.0, '
     b'"state": {"w.0": 1, "w.1": 2, "b": 3}}', r"unsupported state file version 1\.0 \(this"),
    (b'{"format": "valuegrad.state_dict", "version": true, '
     b'"state": {"w.0": 1, "w.1": 2, "b": 3}}', r"unsupported state file version True \(this"),
    (b'{"format": "valuegrad.state_dict", "version": "1", '
     b'"state": {"w.0": 1, "w.1": 2, "b": 3}}', r"unsupported state file version '1' \(this"),
])
def test_load_rejects_a_bad_file_naming_it_and_changes_nothing(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    n = Neuron(2, activation="linear", rng=random.Random(0))
    before = n.state_dict()
    with pytest.raises(ValueError, match=message) as info:
        n.load(path)
    assert str(path) in str(info.value)
    assert len(str(info.value)) < 400 + len(str(path))  # hostile content is not echoed whole
    assert n.state_dict() == before


def test_load_of_a_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        Neuron(1).load(tmp_path / "nowhere.json")


@pytest.mark.parametrize("failing", ["replace", "fsync"])
@pytest.mark.parametrize("error", [OSError("disk on fire"), KeyboardInterrupt()])
def test_an_interrupted_save_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch, failing, error):
    path = tmp_path / "model.json"
    MLP(2, [3, 1], seed=0).save(path)
    old = path.read_bytes()

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(os, failing, fail)
    with pytest.raises(type(error)):
        MLP(2, [3, 1], seed=1).save(path)
    monkeypatch.undo()
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == ["model.json"]
    assert MLP(2, [3, 1]).load(path).state_dict() == MLP(2, [3, 1], seed=0).state_dict()


def test_a_model_with_nan_is_not_saved(tmp_path):
    path = tmp_path / "model.json"
    model = Neuron(2)
    model.save(path)
    old = path.read_bytes()
    model.b.data = float("nan")
    with pytest.raises(ValueError, match="'b' is nan"):
        model.save(path)
    assert path.read_bytes() == old and os.listdir(tmp_path) == ["model.json"]


def test_save_refuses_to_replace_a_symlink(tmp_path):
    # write_atomic replaces only regular files: the link (and what it points to) stay.
    (tmp_path / "real.json").write_bytes(b"{}")
    (tmp_path / "model.json").symlink_to("real.json")
    with pytest.raises(OSError, match=r"model\.json.*a symbolic link.*not a regular file"):
        MLP(1, [1], seed=0).save(tmp_path / "model.json")
    assert (tmp_path / "model.json").is_symlink()
    assert (tmp_path / "real.json").read_bytes() == b"{}"


def test_save_keeps_the_mode_of_the_file_it_replaces(tmp_path):
    path = tmp_path / "model.json"
    old_umask = os.umask(0o022)
    try:
        Neuron(2).save(path)
    finally:
        os.umask(old_umask)
    assert os.stat(path).st_mode & 0o777 == 0o644  # a new file: as open() would make it
    os.chmod(path, 0o600)
    Neuron(2).save(path)
    assert os.stat(path).st_mode & 0o777 == 0o600  # a private file stays private


def test_no_pickle_in_nn():
    for source in (ROOT / "nn").glob("*.py"):
        imports = re.findall(r"^\s*(?:import|from)\s+(\w+)", source.read_text(), flags=re.M)
        assert not {"pickle", "marshal", "shelve", "dill"} & set(imports), source


# -- training ---------------------------------------------------------------

XOR_X = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
XOR_Y = [-1, 1, 1, -1]


def test_xor_trains_to_full_accuracy():
    model = MLP(2, [8, 1], activation="tanh", seed=0)
    history = fit(model, XOR_X, XOR_Y, hinge_loss, Adam(model.parameters(), lr=0.05),
                  epochs=100, progress=False)
    assert [(model(x).data > 0) == (t > 0) for x, t in zip(XOR_X, XOR_Y)] == [True] * 4
    assert history["accuracy"][-1] == 1.0
    assert history["loss"][-1] < history["loss"][0]


def test_two_moons_demo_reaches_full_accuracy_and_writes_the_png(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "two_moons.py"), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert result.returncode == 0, result.stderr
    assert "training accuracy: 100%" in result.stdout
    png = (tmp_path / "out" / "decision_boundary.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert os.listdir(tmp_path / "out") == ["decision_boundary.png"]
    assert "fit" in result.stderr  # the progress bar


def test_fit_history_has_one_loss_per_epoch_and_accuracy_for_classifiers():
    model = MLP(2, [4, 3], seed=0)
    X = [[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.5, 0.2], [0.1, 0.9]]
    y = [0, 1, 2, 1, 0]
    history = fit(model, X, y, cross_entropy, SGD(model.parameters(), lr=0.1), epochs=3,
                  batch_size=2, progress=False)
    assert len(history["loss"]) == len(history["accuracy"]) == 3
    assert all(0.0 <= a <= 1.0 for a in history["accuracy"])
    regression = fit(model, X, [[0.0, 0.0, 0.0]] * 5, mse_loss, SGD(model.parameters(), lr=0.1),
                     epochs=2, progress=False)
    assert set(regression) == {"loss"} and len(regression["loss"]) == 2


@pytest.mark.parametrize("loss, dtype, outputs", [
    (hinge_loss, "int64", 1), (hinge_loss, "float32", 1),
    (nn.binary_cross_entropy, "int64", 1), (nn.binary_cross_entropy, "float32", 1),
    (cross_entropy, "int64", 2), (mse_loss, "float32", 1),
])
def test_fit_history_holds_plain_floats_with_numpy_data(loss, dtype, outputs):
    np = pytest.importorskip("numpy")
    X = np.array(XOR_X)
    labels = np.array([0, 1, 1, 0])
    y = (2 * labels - 1 if loss is hinge_loss else labels).astype(dtype)
    model = MLP(2, [4, outputs], output_activation="sigmoid" if loss is nn.binary_cross_entropy
                else "linear", seed=0)
    history = fit(model, X, y, loss, SGD(model.parameters(), lr=0.1), epochs=2, batch_size=3,
                  progress=False)
    assert set(history) == ({"loss"} if loss is mse_loss else {"loss", "accuracy"})
    for values in history.values():
        assert len(values) == 2 and all(type(v) is float for v in values), values
    # ...and each prediction is judged right or wrong with a plain bool.
    correct = nn.train._CORRECT.get(loss)
    if correct is not None:
        assert all(type(correct(model(x), t)) is bool for x, t in zip(X, y))


def test_full_batch_fit_is_the_plain_loop():
    # fit with batch_size=None does exactly zero_grad, backward, step per epoch.
    X, y = XOR_X, XOR_Y
    a, b = MLP(2, [4, 1], seed=3), MLP(2, [4, 1], seed=3)
    history = fit(a, X, y, hinge_loss, SGD(a.parameters(), lr=0.1, momentum=0.9), epochs=5,
                  progress=False)
    optimizer, losses = SGD(b.parameters(), lr=0.1, momentum=0.9), []
    for _ in range(5):
        loss = hinge_loss([b(x) for x in X], y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.data)
    assert history["loss"] == losses
    assert a.state_dict() == b.state_dict()


def test_batched_fit_is_reproducible_with_its_seed():
    X = [[math.cos(i), math.sin(i)] for i in range(12)]
    y = [1 if i % 3 else -1 for i in range(12)]

    def run(seed):
        model = MLP(2, [4, 1], seed=0)
        fit(model, X, y, hinge_loss, SGD(model.parameters(), lr=0.1), epochs=3, batch_size=5,
            progress=False, seed=seed)
        return model.state_dict()

    assert run(0) == run(0)
    assert run(0) != run(1)


@pytest.mark.parametrize("kwargs, message", [
    ({"epochs": 0}, "epochs must be a positive int"),
    ({"epochs": 2.0}, "epochs must be a positive int"),
    ({"epochs": True}, "epochs must be a positive int"),
    ({"epochs": 1, "batch_size": 0}, "batch_size must be a positive int or None"),
    ({"epochs": 1, "batch_size": 1.5}, "batch_size must be a positive int or None"),
    ({"epochs": 1, "y": [1, -1]}, "X has 4 samples but y has 2"),
    ({"epochs": 1, "X": [], "y": []}, "X is empty"),
])
def test_fit_checks_its_arguments(kwargs, message):
    model = MLP(2, [2, 1], seed=0)
    args = {"X": XOR_X, "y": XOR_Y, **kwargs}
    with pytest.raises(ValueError, match=message):
        fit(model, args.pop("X"), args.pop("y"), hinge_loss, SGD(model.parameters(), lr=0.1),
            progress=False, **args)


@pytest.mark.parametrize("X, y, error, message", [
    ([[0.0, 1.0], ["a", "b"]], [1, -1], TypeError, r"X\[1\]\[0\] \(sample 1, feature 0\) is a str \('a'\)"),
    ([[0.0, None]], [1], TypeError, r"X\[0\]\[1\] \(sample 0, feature 1\) is a NoneType"),
    ([[0.0, True]], [1], TypeError, r"X\[0\]\[1\] .* is a bool"),
    ([[0.0, 1.0], 2.0], [1, -1], TypeError, r"X\[1\] \(sample 1\) must be a list of numbers, got float"),
    (["ab"], [1], TypeError, r"X\[0\] \(sample 0\) must be a list of numbers, got str"),
    ([[0.0, 1.0]], ["1"], TypeError, r"y\[0\] \(sample 0\) is a str \('1'\)"),
    ([[0.0, 1.0]], [[1.0, None]], TypeError, r"y\[0\]\[1\] \(sample 0, output 1\) is a NoneType"),
    ([[0.0, 1.0], [float("nan"), 0.0]], [1, -1], ValueError,
     r"X\[1\]\[0\] \(sample 1, feature 0\) is nan"),
    ([[0.0, float("-inf")]], [1], ValueError, r"X\[0\]\[1\] \(sample 0, feature 1\) is -inf"),
    ([[0.0, 10**400]], [1], ValueError, r"X\[0\]\[1\] .* is too large for a float"),
    ([[0.0, 1.0], [1.0, 0.0]], [1, float("inf")], ValueError, r"y\[1\] \(sample 1\) is inf"),
    ([[0.0, Value(float("nan"))]], [1], ValueError, r"X\[0\]\[1\] .* is nan"),
])
def test_fit_checks_the_data_before_training(X, y, error, message):
    model = MLP(2, [2, 1], seed=0)
    before = model.state_dict()
    with pytest.raises(error, match=r"^fit: " + message):
        fit(model, X, y, mse_loss, SGD(model.parameters(), lr=0.1), epochs=3, progress=False)
    assert model.state_dict() == before  # not a single step taken


def test_fit_checks_numpy_data_too():
    np = pytest.importorskip("numpy")
    model = MLP(2, [2, 1], seed=0)
    X = np.array(XOR_X)
    X[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"X\[2\]\[1\] \(sample 2, feature 1\) is nan"):
        fit(model, X, np.array(XOR_Y), hinge_loss, SGD(model.parameters(), lr=0.1), epochs=1,
            progress=False)
    with pytest.raises(TypeError, match=r"X\[0\]\[0\] \(sample 0, feature 0\) is a str_"):
        fit(model, np.array([["a", "b"]]), [1], hinge_loss, SGD(model.parameters(), lr=0.1),
            epochs=1, progress=False)
    with pytest.raises(TypeError, match=r"X\[0\] \(sample 0\) must be a list of numbers"):
        fit(model, np.array([0.5, 1.0]), [1, -1], hinge_loss, SGD(model.parameters(), lr=0.1),
            epochs=1, progress=False)


def test_progress_bar_with_tqdm(capsys):
    pytest.importorskip("tqdm")
    model = MLP(2, [2, 1], seed=0)
    fit(model, XOR_X, XOR_Y, hinge_loss, SGD(model.parameters(), lr=0.1), epochs=3)
    err = capsys.readouterr().err
    assert "3/3" in err and "loss=" in err


def test_progress_without_tqdm_is_a_text_line(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # makes `import tqdm` fail
    model = MLP(2, [2, 1], seed=0)
    fit(model, XOR_X, XOR_Y, hinge_loss, SGD(model.parameters(), lr=0.1), epochs=3)
    err = capsys.readouterr().err
    assert re.search(r"epoch 3/3 loss=\d+\.\d{4}\n$", err)


def test_nn_uses_only_autograds_public_names():
    public = {
        "autograd": set(autograd.__all__),
        "autograd.files": {"write_atomic"},  # the public module both packages write through
    }
    for source in (ROOT / "nn").glob("*.py"):
        for line in source.read_text().splitlines():
            found = re.match(r"\s*from (autograd\S*) import (.*)", line)
            if found is None:
                assert not re.match(r"\s*import autograd", line), (source, line)
                continue
            module, names = found.group(1), found.group(2).split("#")[0]
            assert module in public, (source, line)
            assert {n.strip() for n in names.split(",")} <= public[module], (source, line)
    assert set(nn.__all__) >= {"Module", "Neuron", "Layer", "MLP", "mse_loss", "hinge_loss",
                               "softmax", "cross_entropy", "binary_cross_entropy", "SGD", "Adam",
                               "fit"}


# -- fit with the tape ------------------------------------------------------


def test_fit_with_the_tape_matches_fit_without():
    a, b = MLP(2, [4, 1], seed=3), MLP(2, [4, 1], seed=3)
    plain = fit(a, XOR_X, XOR_Y, hinge_loss, Adam(a.parameters(), lr=0.05), epochs=8, progress=False)
    taped = fit(b, XOR_X, XOR_Y, hinge_loss, Adam(b.parameters(), lr=0.05), epochs=8,
                progress=False, tape=True)
    assert taped["loss"] == pytest.approx(plain["loss"], rel=1e-12, abs=1e-15)
    assert taped["accuracy"] == plain["accuracy"]
    for name, value in a.state_dict().items():
        assert b.state_dict()[name] == pytest.approx(value, rel=1e-12, abs=1e-15)


def test_fit_with_the_tape_and_batches_replays_fixed_batches():
    X = [[math.cos(i), math.sin(i)] for i in range(12)]
    y = [1 if i % 3 else -1 for i in range(12)]
    a, b = MLP(2, [4, 1], seed=0), MLP(2, [4, 1], seed=0)
    taped = fit(a, X, y, hinge_loss, SGD(a.parameters(), lr=0.1), epochs=4, batch_size=5,
                progress=False, tape=True)
    # The same run by hand: batches shuffled once with random.Random(seed), then kept.
    order = list(range(12))
    random.Random(0).shuffle(order)
    batches = [order[i:i + 5] for i in range(0, 12, 5)]
    optimizer, losses = SGD(b.parameters(), lr=0.1), []
    for _ in range(4):
        total = 0.0
        for batch in batches:
            loss = hinge_loss([b(X[i]) for i in batch], [y[i] for i in batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.data
        losses.append(total / len(batches))
    assert taped["loss"] == pytest.approx(losses, rel=1e-12, abs=1e-15)
    for name, value in b.state_dict().items():
        assert a.state_dict()[name] == pytest.approx(value, rel=1e-12, abs=1e-15)


def test_fit_with_the_tape_for_cross_entropy():
    # The shift by the largest logit is a constant of the taped graph: still exact.
    X = [[math.cos(i), math.sin(i)] for i in range(9)]
    y = [i % 3 for i in range(9)]
    a, b = MLP(2, [6, 3], activation="tanh", seed=2), MLP(2, [6, 3], activation="tanh", seed=2)
    plain = fit(a, X, y, cross_entropy, Adam(a.parameters(), lr=0.1), epochs=6, progress=False)
    taped = fit(b, X, y, cross_entropy, Adam(b.parameters(), lr=0.1), epochs=6, progress=False,
                tape=True)
    assert taped["loss"] == pytest.approx(plain["loss"], rel=1e-12)
    assert taped["accuracy"] == plain["accuracy"]


def test_fit_stops_with_a_clear_error_when_training_diverges():
    X = [[float(i), float(-i)] for i in range(64)]
    y = [float(3 * i) for i in range(64)]
    model = nn.MLP(2, [1], seed=0)  # linear: a too-large step grows without bound
    with pytest.raises(FloatingPointError, match=r"epoch \d+, batch \d+: training diverged"):
        nn.fit(model, X, y, nn.mse_loss, nn.SGD(model.parameters(), lr=0.5),
               epochs=200, batch_size=8, progress=False)
    # Stopped before the update that would have spoilt them: every parameter is finite.
    assert all(math.isfinite(p.data) for p in model.parameters())


def test_batched_fit_names_a_loss_without_a_name_when_it_refuses_its_targets():
    """A loss with no __name__ (a functools.partial) and over 100 distinct targets: fit's own
    ValueError, not an AttributeError."""
    import functools

    import nn

    model = nn.MLP(1, [3], seed=0)
    X = [[float(i)] for i in range(120)]
    y = [float(i) for i in range(120)]  # 120 distinct targets: a tape per target would be too many
    with pytest.raises(ValueError, match="partial takes no Value target"):
        nn.fit(model, X, y, functools.partial(nn.hinge_loss), nn.SGD(model.parameters(), lr=0.1),
               epochs=1, progress=False, tape="batched")
