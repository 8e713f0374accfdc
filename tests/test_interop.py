"""nn.MLP.to_torch() and nn.MLP.from_torch(): the same network in PyTorch, and back.

For every activation, as the hidden and as the output one, the exported
network gives the same outputs and the same gradient for every parameter
(to 1e-12), and coming back gives the same state dict. What an MLP cannot
express is refused with a ValueError naming the module; without PyTorch
both methods raise an ImportError that says how to install it.
"""

import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nn import MLP
from nn.activations import ACTIVATIONS as TABLE

ROOT = Path(__file__).resolve().parent.parent
ACTIVATIONS = ["relu", "tanh", "sigmoid", "leaky_relu", "elu", "prelu", "linear"]
TOLERANCE = 1e-12

# What to_torch puts after each Linear (repr of the module; None: nothing).
EXPECTED_MODULE = {
    "relu": "ReLU()",
    "tanh": "Tanh()",
    "sigmoid": "Sigmoid()",
    "leaky_relu": "LeakyReLU(negative_slope=0.01)",
    "elu": "ELU(alpha=1.0)",
    "prelu": "PReLU(num_parameters={n})",
    "linear": None,
}


def test_every_activation_is_covered():
    assert set(ACTIVATIONS) == set(TABLE) == set(EXPECTED_MODULE)


def _close(ours: float, theirs: float) -> bool:
    return abs(ours - theirs) <= TOLERANCE * max(1.0, abs(theirs))


def _model(hidden: str, output: str, nouts=(5, 4, 2), seed: int = 0) -> MLP:
    """An MLP with every parameter (biases and PReLU slopes too) drawn at random, all different."""
    model = MLP(3, list(nouts), activation=hidden, output_activation=output, seed=seed)
    rng = random.Random(seed)
    for p in model.parameters():
        p.data = rng.uniform(-1.0, 1.0)
    return model


POINTS = [[random.Random(i).uniform(-2.0, 2.0) for _ in range(3)] for i in range(8)]
TARGETS = [[random.Random(100 + i).uniform(-1.0, 1.0) for _ in range(2)] for i in range(8)]


def _outputs(model: MLP, points) -> list[list[float]]:
    outs = [model(x) for x in points]
    return [[v.data for v in (out if isinstance(out, list) else [out])] for out in outs]


def _same_parameters(model: MLP, net):
    """(our parameter, torch tensor, index) for each weight, matched by position in each layer."""
    modules = list(net)
    position = 0
    for layer in model.layers:
        linear = modules[position]
        position += 1
        prelu = None
        if layer.neurons[0].activation != "linear":
            prelu = modules[position]
            position += 1
        for j, neuron in enumerate(layer.neurons):
            for i, w in enumerate(neuron.w):
                yield w, linear.weight, (j, i)
            yield neuron.b, linear.bias, (j,)
            if neuron.alpha is not None:
                yield neuron.alpha, prelu.weight, (j,)
    assert position == len(modules)


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_to_torch_is_linear_layers_and_the_activation_modules(torch, activation):
    net = _model(activation, activation).to_torch()
    assert isinstance(net, torch.nn.Sequential)
    expected = []
    for nin, nout in [(3, 5), (5, 4), (4, 2)]:
        expected.append(f"Linear(in_features={nin}, out_features={nout}, bias=True)")
        if EXPECTED_MODULE[activation] is not None:
            expected.append(EXPECTED_MODULE[activation].format(n=nout))
    assert [repr(m) for m in net] == expected


@pytest.mark.parametrize("hidden", ACTIVATIONS)
def test_every_parameter_is_copied_to_its_place(torch, hidden):
    model = _model(hidden, "sigmoid")
    net = model.to_torch()
    pairs = list(_same_parameters(model, net))
    assert len(pairs) == len(model.parameters()) == sum(p.numel() for p in net.parameters())
    for ours, tensor, index in pairs:
        assert tensor[index].item() == ours.data, ours.label


def test_to_torch_is_float64_whatever_torchs_default_dtype(torch):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        net = _model("prelu", "tanh").to_torch()
    finally:
        torch.set_default_dtype(previous)
    assert {p.dtype for p in net.parameters()} == {torch.float64}


def test_to_torch_leaves_torchs_random_state_alone(torch):
    before = torch.get_rng_state()
    _model("relu", "linear").to_torch()
    assert torch.equal(torch.get_rng_state(), before)


@pytest.mark.parametrize("output", ACTIVATIONS)
@pytest.mark.parametrize("hidden", ACTIVATIONS)
def test_round_trip_gives_the_same_outputs_and_state(torch, hidden, output):
    model = _model(hidden, output)
    net = model.to_torch()
    theirs = net(torch.tensor(POINTS)).tolist()
    ours = _outputs(model, POINTS)
    for row_ours, row_theirs in zip(ours, theirs):
        assert all(_close(a, b) for a, b in zip(row_ours, row_theirs)), (row_ours, row_theirs)

    back = MLP.from_torch(net)
    assert back.state_dict() == model.state_dict()
    assert repr(back) == repr(model)
    assert _outputs(back, POINTS) == ours


@pytest.mark.parametrize("output", ACTIVATIONS)
@pytest.mark.parametrize("hidden", ACTIVATIONS)
def test_gradients_agree_for_every_parameter(torch, hidden, output):
    model = _model(hidden, output)
    net = model.to_torch()

    # The mean over the batch of the squared error summed over both outputs.
    outs = [model(x) for x in POINTS]
    loss = sum(((o - t) ** 2 for out, ts in zip(outs, TARGETS) for o, t in zip(out, ts))) / len(POINTS)
    loss.backward()
    torch_loss = ((net(torch.tensor(POINTS)) - torch.tensor(TARGETS)) ** 2).sum(dim=1).mean()
    torch_loss.backward()

    assert _close(loss.data, torch_loss.item())
    for ours, tensor, index in _same_parameters(model, net):
        theirs = tensor.grad[index].item()
        assert _close(ours.grad, theirs), f"{ours.label}: ours {ours.grad!r}, torch {theirs!r}"


@pytest.mark.parametrize("output", ACTIVATIONS)
def test_one_layer_one_output_round_trip(torch, output):
    model = _model("relu", output, nouts=[1])
    net = model.to_torch()
    assert len(net) == (1 if output == "linear" else 2)
    theirs = net(torch.tensor(POINTS))
    assert theirs.shape == (len(POINTS), 1)
    assert all(_close(model(x).data, t) for x, t in zip(POINTS, theirs[:, 0].tolist()))
    assert MLP.from_torch(net).state_dict() == model.state_dict()


def test_from_torch_reads_a_float32_module_as_float64(torch):
    generator = torch.Generator().manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(3, 6, dtype=torch.float32), torch.nn.ELU(),
        torch.nn.Linear(6, 2, dtype=torch.float32),
    )
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.rand(p.shape, generator=generator, dtype=torch.float32) * 2 - 1)
    model = MLP.from_torch(net)
    assert repr(model) == "MLP(nin=3, nouts=[6, 2], activation='elu', output_activation='linear')"
    # Every float32 weight is a float64 exactly; computed in float64, the outputs agree.
    assert model.layers[0].neurons[5].w[2].data == net[0].weight[5, 2].item()
    assert model.layers[1].neurons[1].b.data == net[2].bias[1].item()
    theirs = net.double()(torch.tensor(POINTS)).tolist()
    for row_ours, row_theirs in zip(_outputs(model, POINTS), theirs):
        assert all(_close(a, b) for a, b in zip(row_ours, row_theirs))


def test_from_torch_accepts_equivalents(torch):
    # Identity computes nothing (here: a linear hidden layer); inplace ReLU is ReLU;
    # one PReLU slope shared by a layer becomes every neuron's slope.
    shared = torch.nn.PReLU(num_parameters=1, init=0.1)
    net = torch.nn.Sequential(
        torch.nn.Identity(), torch.nn.Linear(3, 4), torch.nn.Identity(),
        torch.nn.Linear(4, 4), torch.nn.Linear(4, 2), shared,
    )
    model = MLP.from_torch(net)
    assert repr(model) == "MLP(nin=3, nouts=[4, 4, 2], activation='linear', output_activation='prelu')"
    assert [n.alpha.data for n in model.layers[2].neurons] == [0.1, 0.1]
    for row_ours, row_theirs in zip(_outputs(model, POINTS), net(torch.tensor(POINTS)).tolist()):
        assert all(_close(a, b) for a, b in zip(row_ours, row_theirs))

    model = MLP.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(inplace=True),
                                               torch.nn.Linear(3, 1)))
    assert repr(model) == "MLP(nin=2, nouts=[3, 1], activation='relu', output_activation='linear')"
    single = torch.nn.Linear(2, 3)
    assert MLP.from_torch(single).layers[0].neurons[2].b.data == single.bias[2].item()


UNSUPPORTED = {
    # name: (the module, built from torch.nn; what the ValueError must say)
    "conv1d": (lambda t: t.Sequential(t.Linear(2, 3), t.Conv1d(1, 1, 1)),
               r"layer 1 \(Conv1d\): an nn\.MLP cannot express a Conv1d; it understands Linear"),
    "linear without bias": (lambda t: t.Sequential(t.Linear(2, 3), t.ReLU(), t.Linear(3, 1, bias=False)),
                            r"layer 2 \(Linear\): a Linear without bias"),
    "leaky slope": (lambda t: t.Sequential(t.Linear(2, 3), t.LeakyReLU(0.2)),
                    r"layer 1 \(LeakyReLU\): negative_slope=0\.2, "
                    r"but nn's 'leaky_relu' has negative_slope=0\.01"),
    "elu alpha": (lambda t: t.Sequential(t.Linear(2, 3), t.ELU(alpha=0.5)),
                  r"layer 1 \(ELU\): alpha=0\.5, but nn's 'elu' has alpha=1\.0"),
    "prelu size": (lambda t: t.Sequential(t.Linear(2, 3), t.PReLU(2)),
                   r"layer 1 \(PReLU\): 2 slopes \(num_parameters\), but the Linear before it has 3 outputs"),
    "two activations": (lambda t: t.Sequential(t.Linear(2, 3), t.ReLU(), t.Tanh()),
                        r"layer 2 \(Tanh\): two activations in a row \(after layer 1 \(ReLU\)\)"),
    "activation first": (lambda t: t.Sequential(t.ReLU(), t.Linear(2, 3)),
                         r"layer 0 \(ReLU\): an activation must follow a Linear"),
    "sizes": (lambda t: t.Sequential(t.Linear(2, 3), t.ReLU(), t.Linear(4, 1)),
              r"layer 2 \(Linear\): takes 4 inputs, but layer 0 \(Linear\) gives 3"),
    "hidden activations differ": (
        lambda t: t.Sequential(t.Linear(2, 3), t.ReLU(), t.Linear(3, 3), t.Tanh(), t.Linear(3, 1)),
        r"layer 3 \(Tanh\): hidden activation 'tanh' differs from 'relu' of the first hidden layer"),
    "hidden linear differs": (
        lambda t: t.Sequential(t.Linear(2, 3), t.Sigmoid(), t.Linear(3, 3), t.Linear(3, 1)),
        r"layer 2 \(Linear\): hidden activation 'linear' differs from 'sigmoid'"),
    "nested": (lambda t: t.Sequential(t.Linear(2, 3), t.Sequential(t.ReLU())),
               r"layer 1 \(Sequential\): an nn\.MLP cannot express a Sequential"),
    "dropout": (lambda t: t.Sequential(t.Linear(2, 3), t.Dropout(0.5)),
                r"layer 1 \(Dropout\): an nn\.MLP cannot express a Dropout"),
    "lazy": (lambda t: t.Sequential(t.LazyLinear(3)), r"layer 0 \(LazyLinear\): a lazy Linear"),
    "no linear": (lambda t: t.Sequential(t.Identity()), r"the Sequential has no Linear layer"),
    "empty": (lambda t: t.Sequential(), r"the Sequential has no Linear layer"),
    "not a sequential": (lambda t: t.ReLU(), r"expects a torch\.nn\.Sequential .*, got ReLU"),
}


# -- what from_torch cannot see: refused, never read as something else ----------


def _negated_sequential(t):
    class Negated(t.Sequential):
        def forward(self, x):
            return -super().forward(x)

    return Negated(t.Linear(2, 3), t.ReLU())


def _with_hook(module, kind):
    """``module`` with a hook of ``kind`` that halves (or just watches) what passes."""
    if kind == "forward hook":
        module.register_forward_hook(lambda m, inputs, output: output / 2)
    elif kind == "forward pre-hook":
        module.register_forward_pre_hook(lambda m, inputs: tuple(x / 2 for x in inputs))
    elif kind == "backward hook":
        module.register_full_backward_hook(lambda m, grad_in, grad_out: None)
    else:
        module.register_full_backward_pre_hook(lambda m, grad_out: None)
    return module


HOOKS = ["forward hook", "forward pre-hook", "backward hook", "backward pre-hook"]


def _subclass(base, computes):
    return type(f"My{base.__name__}", (base,), {"forward": lambda self, x: computes(base.forward(self, x))})


def _instance_forward(t):
    linear = t.Linear(2, 3)
    linear.forward = lambda x: 2 * t.functional.linear(x, linear.weight, linear.bias)
    return t.Sequential(linear)


UNSEEN = {
    # name: (the module, built from torch.nn; what the ValueError must say)
    "sequential with its own forward": (
        _negated_sequential,
        r"the module given \(Negated\): it overrides forward\(\) of torch\.nn\.Sequential"),
    "linear with its own forward": (
        lambda t: t.Sequential(t.Linear(2, 3), t.ReLU(), _subclass(t.Linear, lambda y: y * 2)(3, 1)),
        r"layer 2 \(MyLinear\): it overrides forward\(\) of torch\.nn\.Linear"),
    "a single linear with its own forward": (
        lambda t: _subclass(t.Linear, lambda y: y * 2)(3, 1),
        r"layer 0 \(MyLinear\): it overrides forward\(\) of torch\.nn\.Linear"),
    "activation with its own forward": (
        lambda t: t.Sequential(t.Linear(2, 3), _subclass(t.Tanh, lambda y: y + 1)()),
        r"layer 1 \(MyTanh\): it overrides forward\(\) of torch\.nn\.Tanh"),
    "identity with its own forward": (
        lambda t: t.Sequential(t.Linear(2, 3), _subclass(t.Identity, lambda y: y + 1)()),
        r"layer 1 \(MyIdentity\): it overrides forward\(\) of torch\.nn\.Identity"),
    "forward set on the instance": (
        _instance_forward, r"layer 0 \(Linear\): a forward\(\) set on the module itself"),
}


for _kind in HOOKS:
    UNSEEN[f"linear with a {_kind}"] = (
        lambda t, kind=_kind: t.Sequential(_with_hook(t.Linear(2, 3), kind), t.ReLU()),
        rf"layer 0 \(Linear\): a {_kind} is registered on it")
    UNSEEN[f"sequential with a {_kind}"] = (
        lambda t, kind=_kind: _with_hook(t.Sequential(t.Linear(2, 3), t.ReLU()), kind),
        rf"the module given \(Sequential\): a {_kind} is registered on it")
UNSEEN["identity with a forward hook"] = (
    lambda t: t.Sequential(t.Linear(2, 3), _with_hook(t.Identity(), "forward hook")),
    r"layer 1 \(Identity\): a forward hook is registered on it")
UNSEEN["activation with a forward pre-hook"] = (
    lambda t: t.Sequential(t.Linear(2, 3), _with_hook(t.PReLU(), "forward pre-hook")),
    r"layer 1 \(PReLU\): a forward pre-hook is registered on it")


@pytest.mark.parametrize("case", {**UNSUPPORTED, **UNSEEN})
def test_from_torch_refuses_what_an_mlp_cannot_express(torch, case):
    # ... or cannot see: read as plain modules, these would compute something else.
    build, message = {**UNSUPPORTED, **UNSEEN}[case]
    with pytest.raises(ValueError, match=message):
        MLP.from_torch(build(torch.nn))


def test_from_torch_refuses_complex_weights(torch):
    with pytest.raises(ValueError, match=r"layer 0 \(Linear\): complex weights \(torch.complex128\)"):
        MLP.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 3, dtype=torch.complex128)))


def test_from_torch_wants_a_torch_module(torch):
    with pytest.raises(TypeError, match="expects a torch.nn.Module, got list"):
        MLP.from_torch([torch.nn.Linear(2, 1)])


def test_without_pytorch_both_methods_say_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    model = MLP(2, [3, 1], seed=0)
    with pytest.raises(ImportError, match=re.escape("MLP.to_torch() needs PyTorch, which is not "
                                                    "installed: pip install torch")):
        model.to_torch()
    with pytest.raises(ImportError, match=re.escape("MLP.from_torch() needs PyTorch")):
        MLP.from_torch(object())


def test_importing_nn_does_not_import_torch():
    code = "import sys, nn; print('torch' in sys.modules, hasattr(nn.MLP, 'to_torch'))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert result.stdout.split() == ["False", "True"], result.stderr


def test_the_refused_modules_do_compute_something_else(torch):
    # Why they are refused: read as plain modules, they would give other outputs.
    x = torch.tensor(POINTS[:2])[:, :2]
    plain = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU())
    negated = _negated_sequential(torch.nn)
    negated.load_state_dict(plain.state_dict())
    assert torch.equal(negated(x), -plain(x))
    hooked = _with_hook(torch.nn.Sequential(torch.nn.Linear(2, 3)), "forward hook")
    hooked[0].load_state_dict(plain[0].state_dict())
    assert torch.equal(hooked(x), plain[0](x) / 2)


@pytest.mark.parametrize("kind", ["forward hook", "forward pre-hook", "backward hook"])
def test_from_torch_refuses_a_global_hook(torch, kind):
    register = {
        "forward hook": lambda: torch.nn.modules.module.register_module_forward_hook(
            lambda m, inputs, output: output),
        "forward pre-hook": lambda: torch.nn.modules.module.register_module_forward_pre_hook(
            lambda m, inputs: None),
        "backward hook": lambda: torch.nn.modules.module.register_module_full_backward_hook(
            lambda m, grad_in, grad_out: None),
    }[kind]
    handle = register()
    try:
        with pytest.raises(ValueError, match=rf"a global {kind} is registered for every module"):
            MLP.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 1)))
    finally:
        handle.remove()
    assert MLP.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 1))).layers[0].neurons[0].w


def test_from_torch_refuses_a_meta_device_module(torch):
    with pytest.raises(ValueError, match=r"layer 0 \(Linear\): its weight holds no data "
                                         r"\(a tensor on the meta device\)"):
        MLP.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 3, device="meta")))
    prelu = torch.nn.PReLU(3, device="meta")
    with pytest.raises(ValueError, match=r"layer 1 \(PReLU\): its weight holds no data"):
        MLP.from_torch(torch.nn.Sequential(torch.nn.Linear(2, 3), prelu))


@pytest.mark.parametrize("tensor, index, value, message", [
    ("weight", (1, 0), float("nan"), r"layer 0 \(Linear\): weight\[1\]\[0\] is nan"),
    ("weight", (2, 1), float("inf"), r"layer 0 \(Linear\): weight\[2\]\[1\] is inf"),
    ("bias", (0,), float("-inf"), r"layer 0 \(Linear\): bias\[0\] is -inf"),
    ("prelu", (2,), float("nan"), r"layer 1 \(PReLU\): weight\[2\] is nan"),
])
def test_from_torch_refuses_weights_that_are_not_finite(torch, tensor, index, value, message):
    # As load_state_dict refuses them: an MLP's parameters are finite numbers.
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.PReLU(3))
    parameter = net[1].weight if tensor == "prelu" else getattr(net[0], tensor)
    with torch.no_grad():
        parameter[index] = value
    with pytest.raises(ValueError, match=message + r"; an nn\.MLP's parameters are finite"):
        MLP.from_torch(net)


def test_from_torch_reads_subclasses_that_compute_as_their_class(torch):
    # A subclass without a forward of its own, and torch's own parametrized Linear
    # (weight_norm: a generated subclass whose weight is computed), are read as they compute.
    plain = type("MyLinear", (torch.nn.Linear,), {"note": "no forward of its own"})(2, 3)
    normed = torch.nn.utils.parametrizations.weight_norm(torch.nn.Linear(3, 1))
    net = torch.nn.Sequential(plain, torch.nn.Tanh(), normed)
    model = MLP.from_torch(net)
    for row_ours, row_theirs in zip(_outputs(model, [p[:2] for p in POINTS]),
                                    net(torch.tensor(POINTS)[:, :2]).tolist()):
        assert all(_close(a, b) for a, b in zip(row_ours, row_theirs))
