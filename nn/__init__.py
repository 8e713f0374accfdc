"""nn: neural networks on the autograd engine, the way PyTorch users expect.

>>> from nn import MLP, SGD, mse_loss
>>> model = MLP(2, [4, 1], activation="tanh", seed=0)
>>> optimizer = SGD(model.parameters(), lr=0.1)
>>> loss = mse_loss([model(x) for x in [[0.0, 1.0], [1.0, 0.0]]], [1.0, -1.0])
>>> optimizer.zero_grad(); loss.backward(); optimizer.step()

Modules (``Module``, ``Neuron``, ``Layer``, ``MLP``), losses, optimizers
(``SGD``, ``Adam``) and a training loop (``fit``). Only ``autograd``'s
public names are used; ``tqdm`` and ``matplotlib`` are optional extras.

``nn`` needs valuegrad's ``autograd``. HIPS autograd (PyPI's ``autograd``)
shares that import name, and pip lets either overwrite the other's files: when
``import autograd`` finds another package, importing ``nn`` says which, where,
and how to fix it, instead of ``cannot import name 'Value'``.
"""

# Before anything else: the first name nn needs, from the right autograd.
try:
    from autograd import Value
except ImportError as _error:
    from .clash import not_ours

    _why = not_ours(_error)
    if _why is None:
        raise
    raise ImportError(_why) from _error
del Value  # checked, not exported: nn's modules import it themselves

from .layers import MLP, Layer, Neuron
from .losses import binary_cross_entropy, cross_entropy, hinge_loss, mse_loss, softmax
from .module import Module
from .optim import SGD, Adam, Optimizer
from .train import fit

__all__ = [
    "Module",
    "Neuron",
    "Layer",
    "MLP",
    "mse_loss",
    "hinge_loss",
    "softmax",
    "cross_entropy",
    "binary_cross_entropy",
    "Optimizer",
    "SGD",
    "Adam",
    "fit",
]
