"""The bridge to PyTorch: an ``MLP`` as a ``torch.nn.Sequential``, and back.

``MLP.to_torch()`` and ``MLP.from_torch(module)`` call the two functions
here. Each ``Layer(nin, nout, activation)`` becomes ``torch.nn.Linear(nin,
nout)`` (``weight[j][i]`` is neuron j's ``w[i]``, ``bias[j]`` its ``b``)
followed by its activation's module, all in float64:

==============  ==========================================================
``relu``        ``ReLU()``
``tanh``        ``Tanh()``
``sigmoid``     ``Sigmoid()``
``leaky_relu``  ``LeakyReLU(0.01)``
``elu``         ``ELU(1.0)``
``prelu``       ``PReLU(num_parameters=nout)``, weight[j] = neuron j's ``alpha``
``linear``      nothing: the ``Linear`` alone
==============  ==========================================================

``from_torch`` reads a module's structure and weights, never runs it, so it
refuses what would make the module compute something its structure does not
say: a hook (forward or backward, pre- or post-, on any module read or
registered globally for every module), a class that overrides ``forward``
or ``__call__`` of the torch module it derives from (a ``Sequential`` that
negates its output, a ``Linear`` that doubles it), a ``forward`` set on the
instance; and weights an MLP cannot hold: none at all (a meta-device
tensor), or not finite (as ``load_state_dict`` refuses them).

PyTorch is imported inside the two functions, never at the top, and this
module is imported only when they are called: ``import nn`` stays fast and
needs no PyTorch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .activations import ELU_ALPHA, LEAKY_RELU_SLOPE

# PyTorch's objects are Any here: it is optional, and type checkers are not asked to read it.
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Protocol, TypeVar

    from autograd import Value

    class _Neuron(Protocol):
        """An ``nn.Neuron`` as read here (``nn.layers`` imports this module, which names no layer)."""

        @property
        def w(self) -> Sequence[Value]: ...

        @property
        def b(self) -> Value: ...

        @property
        def alpha(self) -> Value | None: ...

        @property
        def activation(self) -> str: ...

    class _Layer(Protocol):
        @property
        def neurons(self) -> Sequence[_Neuron]: ...

    class _MLP(Protocol):
        @property
        def layers(self) -> Sequence[_Layer]: ...

    M = TypeVar("M", bound=_MLP)


_FIXED_ACTIVATIONS = [
    # nn's name, the torch.nn module, and its one setting that must match (if any).
    ("relu", "ReLU", None),
    ("tanh", "Tanh", None),
    ("sigmoid", "Sigmoid", None),
    ("leaky_relu", "LeakyReLU", ("negative_slope", LEAKY_RELU_SLOPE)),
    ("elu", "ELU", ("alpha", ELU_ALPHA)),
]
"""The activations without parameters, both ways; ``prelu`` and ``linear`` are handled apart."""

_UNDERSTOOD = "Linear (with bias), Identity, ReLU, Tanh, Sigmoid, LeakyReLU(0.01), ELU(1.0), PReLU"

# torch keeps hooks in these dicts (on each module, and with the prefix "_global" for every
# module, in torch.nn.modules.module); it has no public way to ask whether a module has one.
_HOOKS = {
    "_forward_hooks": "forward hook",
    "_forward_pre_hooks": "forward pre-hook",
    "_backward_hooks": "backward hook",
    "_backward_pre_hooks": "backward pre-hook",
}


def _import_torch(caller: str) -> Any:
    try:
        import torch
    except ImportError as e:
        raise ImportError(f"{caller} needs PyTorch, which is not installed: pip install torch") from e
    return torch


def to_torch(mlp: _MLP) -> Any:
    """``mlp`` as a float64 ``torch.nn.Sequential`` (see the module docstring)."""
    torch = _import_torch("MLP.to_torch()")
    modules = []
    for layer in mlp.layers:
        neurons = layer.neurons
        # skip_init: no random initialisation, so torch's global RNG is left as it was.
        linear = torch.nn.utils.skip_init(
            torch.nn.Linear, len(neurons[0].w), len(neurons), dtype=torch.float64
        )
        _copy_into(torch, linear.weight, [[w.data for w in n.w] for n in neurons])
        _copy_into(torch, linear.bias, [n.b.data for n in neurons])
        modules.append(linear)
        activation = neurons[0].activation
        if activation == "prelu":
            prelu = torch.nn.PReLU(num_parameters=len(neurons), dtype=torch.float64)
            _copy_into(torch, prelu.weight, [n.alpha.data for n in neurons])  # type: ignore[union-attr]  # prelu
            modules.append(prelu)
        elif activation != "linear":
            modules.append(_fixed_activation_module(torch, activation))
    return torch.nn.Sequential(*modules)


def _copy_into(torch: Any, parameter: Any, values: list[float] | list[list[float]]) -> None:
    with torch.no_grad():
        parameter.copy_(torch.tensor(values, dtype=torch.float64))


def _fixed_activation_module(torch: Any, name: str) -> Any:
    for nn_name, module_name, setting in _FIXED_ACTIVATIONS:
        if nn_name == name:
            module = getattr(torch.nn, module_name)
            return module() if setting is None else module(**dict([setting]))
    raise AssertionError(f"activation {name!r} has no PyTorch module")  # every name is in the table


@dataclass
class _Block:
    """One ``Layer`` to be: a ``Linear`` and what follows it."""

    linear: Any
    where: str  # "layer 2 (Linear)": the Linear's place in the Sequential
    activation: str = "linear"
    activation_where: str | None = None  # the activation module's place, once one is seen
    slopes: list[float] | None = None  # PReLU's, one per neuron


def from_torch(cls: Callable[..., M], module: Any) -> M:
    """A new ``cls`` (an ``MLP``) with the layers and weights of ``module``.

    ``module`` is a ``torch.nn.Sequential`` (or a single ``Linear``); see
    ``MLP.from_torch`` for what it may hold. Anything an ``MLP`` cannot
    express raises ``ValueError`` naming the module's index and type.
    """
    torch = _import_torch("MLP.from_torch()")
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"MLP.from_torch expects a torch.nn.Module, got {type(module).__name__}")
    _check_no_global_hooks(torch)
    if isinstance(module, torch.nn.Linear):
        module = torch.nn.Sequential(module)  # the Linear is then checked as layer 0
    elif not isinstance(module, torch.nn.Sequential):
        raise ValueError(
            "MLP.from_torch expects a torch.nn.Sequential of Linear and activation modules, "
            f"got {type(module).__name__}"
        )
    else:
        _check_visible(torch, module, f"the module given ({type(module).__name__})")
    blocks = _read_blocks(torch, module)
    hidden = blocks[:-1]
    for block in hidden[1:]:
        if block.activation != hidden[0].activation:
            raise ValueError(
                f"{block.activation_where or block.where}: hidden activation {block.activation!r} "
                f"differs from {hidden[0].activation!r} of the first hidden layer; "
                "an nn.MLP has one activation for all its hidden layers"
            )
    # Every weight is overwritten below: the seed only spares the OS's entropy.
    settings = {"activation": hidden[0].activation} if hidden else {}
    mlp = cls(
        blocks[0].linear.in_features,
        [block.linear.out_features for block in blocks],
        output_activation=blocks[-1].activation,
        seed=0,
        **settings,
    )
    for layer, block in zip(mlp.layers, blocks):
        weight = _floats(torch, block.linear.weight, block.where, "weight")
        bias = _floats(torch, block.linear.bias, block.where, "bias")
        for j, neuron in enumerate(layer.neurons):
            for w, value in zip(neuron.w, weight[j]):
                w.data = value
            neuron.b.data = bias[j]
            if block.slopes is not None:  # a prelu layer: each neuron has its slope
                neuron.alpha.data = block.slopes[j]  # type: ignore[union-attr]
    return mlp


def _read_blocks(torch: Any, sequential: Any) -> list[_Block]:
    """Group the modules into ``Linear`` + activation blocks, checking each one."""
    blocks: list[_Block] = []
    for index, child in enumerate(sequential):
        where = f"layer {index} ({type(child).__name__})"
        linear = isinstance(child, torch.nn.Linear)
        if linear:  # first: a lazy Linear's own pre-hook is no user's hook
            _check_linear(torch, child, where, blocks[-1] if blocks else None)
        _check_visible(torch, child, where)
        if isinstance(child, torch.nn.Identity):
            continue  # computes nothing: dropping it changes nothing
        if linear:
            blocks.append(_Block(child, where))
            continue
        name = _activation_name(torch, child, where)
        if not blocks:
            raise ValueError(f"{where}: an activation must follow a Linear layer, and this one comes first")
        block = blocks[-1]
        if block.activation_where is not None:
            raise ValueError(
                f"{where}: two activations in a row (after {block.activation_where}); "
                "an nn.MLP layer applies one activation"
            )
        block.activation, block.activation_where = name, where
        if name == "prelu":
            block.slopes = _prelu_slopes(torch, child, where, block.linear.out_features)
    if not blocks:
        raise ValueError("MLP.from_torch: the Sequential has no Linear layer")
    return blocks


def _check_no_global_hooks(torch: Any) -> None:
    registered = vars(torch.nn.modules.module)
    for name, kind in _HOOKS.items():
        if registered.get(f"_global{name}"):
            raise ValueError(f"MLP.from_torch: a global {kind} is registered for every module; "
                             "an nn.MLP cannot run hooks (remove it first)")


def _check_visible(torch: Any, module: Any, where: str) -> None:
    """``ValueError`` if ``module`` computes anything but what its torch class says it does."""
    for name, kind in _HOOKS.items():
        if getattr(module, name, None):
            raise ValueError(f"{where}: a {kind} is registered on it; an nn.MLP cannot run hooks "
                             "(remove it first)")
    # The torch class it derives from (Linear for a subclass of Linear). A direct subclass
    # of Module is no module an MLP knows: it is refused by name when it is read.
    base = next(cls for cls in type(module).__mro__ if cls.__module__.startswith("torch."))
    if base is torch.nn.Module:
        return
    for method in ("forward", "__call__"):
        if getattr(type(module), method) is not getattr(base, method):
            raise ValueError(f"{where}: it overrides {method}() of torch.nn.{base.__name__}; "
                             f"an nn.MLP computes only what {base.__name__} does")
    if "forward" in vars(module):
        raise ValueError(f"{where}: a forward() set on the module itself; "
                         f"an nn.MLP computes only what {base.__name__} does")


def _check_linear(torch: Any, linear: Any, where: str, previous: _Block | None) -> None:
    if torch.nn.parameter.is_lazy(linear.weight):
        raise ValueError(f"{where}: a lazy Linear whose size is not known yet (run it once first)")
    if linear.bias is None:
        raise ValueError(f"{where}: a Linear without bias; every nn.Neuron has a bias")
    if linear.weight.is_complex():
        raise ValueError(f"{where}: complex weights ({linear.weight.dtype}); an nn.MLP is real")
    if previous is not None and linear.in_features != previous.linear.out_features:
        raise ValueError(
            f"{where}: takes {linear.in_features} inputs, but {previous.where} "
            f"gives {previous.linear.out_features}"
        )


def _activation_name(torch: Any, module: Any, where: str) -> str:
    """nn's name for the activation ``module``, or ``ValueError`` if it has none."""
    if isinstance(module, torch.nn.PReLU):
        return "prelu"
    for name, module_name, setting in _FIXED_ACTIVATIONS:
        if isinstance(module, getattr(torch.nn, module_name)):
            if setting is not None and getattr(module, setting[0]) != setting[1]:
                raise ValueError(
                    f"{where}: {setting[0]}={getattr(module, setting[0])!r}, but nn's {name!r} "
                    f"has {setting[0]}={setting[1]!r}"
                )
            return name
    raise ValueError(
        f"{where}: an nn.MLP cannot express a {type(module).__name__}; it understands {_UNDERSTOOD}"
    )


def _prelu_slopes(torch: Any, prelu: Any, where: str, nout: int) -> list[float]:
    """One slope per neuron: PReLU's own, or its single shared slope for each."""
    slopes = _floats(torch, prelu.weight, where, "weight")
    if len(slopes) == nout:
        return slopes
    if len(slopes) == 1:
        return slopes * nout
    raise ValueError(
        f"{where}: {len(slopes)} slopes (num_parameters), but the Linear before it has "
        f"{nout} outputs; expected {nout} (or 1, shared)"
    )


def _floats(torch: Any, tensor: Any, where: str, name: str) -> list[Any]:
    """A tensor's values as (nested lists of) finite Python floats, whatever its dtype or device.

    ``ValueError`` naming the module (``where``) and the tensor (``name``) if it holds
    no data (a meta-device or fake tensor) or a value that is not finite.
    """
    try:
        values = tensor.detach().to(device="cpu", dtype=torch.float64)
        floats: list[Any] = values.tolist()  # (nested lists of floats, as deep as the tensor)
    except (NotImplementedError, RuntimeError) as e:  # torch's "no data!" for a meta tensor
        what = "a tensor on the meta device" if tensor.is_meta else f"{type(e).__name__}: {e}"
        raise ValueError(f"{where}: its {name} holds no data ({what})") from None
    bad = (~torch.isfinite(values)).nonzero()
    if len(bad):
        index = bad[0].tolist()
        raise ValueError(f"{where}: {name}{''.join(f'[{i}]' for i in index)} is "
                         f"{values[tuple(index)].item()!r}; an nn.MLP's parameters are finite")
    return floats
