"""nn's optimizers: the same steps as torch.optim, PyTorch's checks of their
settings with PyTorch's messages, and the parameter list's own checks."""

import math

import pytest

from autograd import Value
from nn import SGD, Adam

START = [0.5, -1.25, 2.0, 0.0, -0.03]


def gradients(step, values):
    # Any fixed rule will do; it depends on the step and the current values,
    # so a wrong update would feed back into later gradients.
    return [math.sin(3.0 * v + step) + 0.1 * v * v - 0.2 * i for i, v in enumerate(values)]


CONFIGS = [
    (SGD, "SGD", {"lr": 0.1}),
    (SGD, "SGD", {"lr": 0.1, "momentum": 0.9}),
    (SGD, "SGD", {"lr": 0.05, "momentum": 0.8, "weight_decay": 0.01}),
    (Adam, "Adam", {}),
    (Adam, "Adam", {"lr": 0.1, "betas": (0.8, 0.99), "eps": 1e-6}),
    (Adam, "Adam", {"lr": 0.01, "weight_decay": 0.1}),
    (Adam, "Adam", {"lr": 0.5, "betas": (0.3, 0.6)}),  # lerp's other branch: weight 0.7 >= 0.5
]


@pytest.mark.parametrize("ours, theirs, settings", CONFIGS)
def test_five_steps_match_torch_optim(torch, ours, theirs, settings):
    params = [Value(x) for x in START]
    optimizer = ours(params, **settings)
    tensor = torch.tensor(START, requires_grad=True)
    reference = getattr(torch.optim, theirs)([tensor], **settings)
    for step in range(5):
        grads = gradients(step, [p.data for p in params])
        for p, g in zip(params, grads):
            p.grad = g
        tensor.grad = torch.tensor(grads)
        optimizer.step()
        reference.step()
        assert [p.data for p in params] == pytest.approx(tensor.tolist(), rel=1e-13, abs=1e-15), step


def test_sgd_step_by_hand():
    w = Value(1.0)
    optimizer = SGD([w], lr=0.5, momentum=0.9, weight_decay=0.1)
    w.grad = 2.0
    optimizer.step()  # g = 2 + 0.1; buf = g; w = 1 - 0.5 * 2.1
    assert w.data == pytest.approx(-0.05)
    w.grad = 1.0
    optimizer.step()  # g = 1 + 0.1 * -0.05 = 0.995; buf = 0.9 * 2.1 + 0.995
    assert w.data == pytest.approx(-0.05 - 0.5 * (0.9 * 2.1 + 0.995))


def test_zero_grad_and_a_mutable_learning_rate():
    params = [Value(1.0), Value(2.0)]
    optimizer = SGD(params, lr=1.0)
    for p in params:
        p.grad = 1.0
    optimizer.lr = 0.5  # a schedule changes lr between steps
    optimizer.step()
    assert [p.data for p in params] == [0.5, 1.5]
    optimizer.zero_grad()
    assert [p.grad for p in params] == [0.0, 0.0]


BAD_SETTINGS = [
    (SGD, "SGD", {"lr": -0.1}, "Invalid learning rate: -0.1"),
    (SGD, "SGD", {"lr": 0.1, "momentum": -0.5}, "Invalid momentum value: -0.5"),
    (SGD, "SGD", {"lr": 0.1, "weight_decay": -1e-4}, "Invalid weight_decay value: -0.0001"),
    (Adam, "Adam", {"lr": -1.0}, "Invalid learning rate: -1.0"),
    (Adam, "Adam", {"eps": -1e-8}, "Invalid epsilon value: -1e-08"),
    (Adam, "Adam", {"betas": (1.0, 0.999)}, "Invalid beta parameter at index 0: 1.0"),
    (Adam, "Adam", {"betas": (-0.1, 0.999)}, "Invalid beta parameter at index 0: -0.1"),
    (Adam, "Adam", {"betas": (0.9, 1.5)}, "Invalid beta parameter at index 1: 1.5"),
    (Adam, "Adam", {"weight_decay": -0.5}, "Invalid weight_decay value: -0.5"),
]


@pytest.mark.parametrize("ours, theirs, settings, message", BAD_SETTINGS)
def test_bad_settings_raise_pytorchs_errors(ours, theirs, settings, message):
    with pytest.raises(ValueError) as info:
        ours([Value(1.0)], **settings)
    assert str(info.value) == message


@pytest.mark.parametrize("ours, theirs, settings, message", BAD_SETTINGS)
def test_bad_settings_messages_are_torchs_own(torch, ours, theirs, settings, message):
    with pytest.raises(ValueError) as info:
        getattr(torch.optim, theirs)([torch.zeros(1, requires_grad=True)], **settings)
    assert str(info.value) == message


def test_nan_learning_rate_is_rejected():
    with pytest.raises(ValueError, match="Invalid learning rate: nan"):
        SGD([Value(1.0)], lr=float("nan"))


def test_non_number_settings_are_type_errors():
    with pytest.raises(TypeError, match="lr must be an int or a float, got str"):
        SGD([Value(1.0)], lr="0.1")


@pytest.mark.parametrize("params, error, message", [
    ([], ValueError, "empty parameter list"),
    ([Value(1.0), 2.0], TypeError, "parameter 1 is float"),
    ("dup", ValueError, "parameter 1 appears more than once"),
])
@pytest.mark.parametrize("optimizer", [lambda ps: SGD(ps, lr=0.1), Adam])
def test_parameter_list_is_checked(optimizer, params, error, message):
    if params == "dup":
        v = Value(1.0)
        params = [v, v]
    with pytest.raises(error, match=message):
        optimizer(params)


def test_parameters_may_come_from_a_generator():
    params = [Value(1.0), Value(2.0)]
    optimizer = Adam(p for p in params)
    assert optimizer.params == params


def test_settings_take_numpy_numbers_as_the_losses_do():
    import numpy as np

    p = Value(1.0)
    p.grad = 2.0
    SGD([p], lr=np.float32(0.5)).step()
    assert p.data == 0.0
