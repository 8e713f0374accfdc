"""The activations of ``nn``'s neurons, by name, and their settings.

One table for the layers, which apply them, and for the PyTorch bridge
(:mod:`nn.interop`), which maps them to ``torch.nn`` modules and back; both
import it, neither imports the other.
"""

from __future__ import annotations

from collections.abc import Callable

from autograd import Value

LEAKY_RELU_SLOPE = 0.01
"""The negative slope of ``"leaky_relu"`` (PyTorch's default)."""
ELU_ALPHA = 1.0
"""The ``alpha`` of ``"elu"`` (PyTorch's default)."""

ACTIVATIONS: dict[str, Callable[[Value, Value | None], Value]] = {
    # Each takes the pre-activation and the neuron's learnable slope (None
    # unless the activation is "prelu").
    "relu": lambda v, alpha: v.relu(),
    "tanh": lambda v, alpha: v.tanh(),
    "sigmoid": lambda v, alpha: v.sigmoid(),
    "leaky_relu": lambda v, alpha: v.leaky_relu(LEAKY_RELU_SLOPE),
    "elu": lambda v, alpha: v.elu(ELU_ALPHA),
    "prelu": lambda v, alpha: v.leaky_relu(alpha),  # type: ignore[arg-type]  # a prelu neuron has its slope
    "linear": lambda v, alpha: v,
}
"""Every activation, by name: what ``Neuron(..., activation=name)`` applies."""

INIT_VARIANCE_SCALE = {"relu": 2.0, "leaky_relu": 2.0, "elu": 2.0, "prelu": 2.0}
"""He init for the rectifiers (variance 2/nin); the rest get 1/nin."""

PRELU_INIT = 0.25
"""Where a ``"prelu"`` neuron's learnable slope starts (as in PyTorch)."""


def check_activation(name: str) -> str:
    """``name`` if it is an activation's name, else ``ValueError`` listing the known ones."""
    if not isinstance(name, str) or name not in ACTIVATIONS:
        known = ", ".join(repr(k) for k in ACTIVATIONS)
        raise ValueError(f"unknown activation {name!r}; known activations: {known}")
    return name
