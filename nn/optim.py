"""Optimizers: ``SGD`` and ``Adam``, with PyTorch's update rules and checks.

An optimizer holds a list of parameters (``Value`` leaves); ``step()``
changes their ``.data`` in place from their ``.grad``, and ``zero_grad()``
resets the gradients, which otherwise accumulate across ``backward`` calls.
The arithmetic follows ``torch.optim`` line by line (its single-tensor
code path), so the same gradients give the same parameters to the last
digit or two. ``lr`` is a plain attribute: change it between steps for a
schedule.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from autograd import Value, is_number


class Optimizer:
    """Base class: holds the parameters; ``step`` is the subclass's update rule.

    The parameter list must be non-empty, hold only ``Value``s, and name
    each at most once (a repeated parameter would be updated twice per step).
    """

    def __init__(self, params: Iterable[Value]) -> None:
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        seen = set()
        for i, p in enumerate(params):
            if not isinstance(p, Value):
                raise TypeError(f"optimizer parameters must be Values; parameter {i} is {type(p).__name__}")
            if id(p) in seen:
                raise ValueError(f"parameter {i} appears more than once in the parameter list")
            seen.add(id(p))
        self.params = params

    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to 0."""
        for p in self.params:
            p.grad = 0.0

    def step(self) -> None:
        """Update every parameter from its gradient."""
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum and L2 weight decay.

    As ``torch.optim.SGD`` (dampening 0, no Nesterov): ``g = grad + wd·p``;
    with momentum, ``buf = g`` at the first step and ``buf = momentum·buf + g``
    after, and ``g = buf``; then ``p -= lr·g``.

    >>> w = Value(1.0); w.grad = 0.5
    >>> SGD([w], lr=0.1).step(); w.data
    0.95
    """

    def __init__(
        self, params: Iterable[Value], lr: float, momentum: float = 0.0, weight_decay: float = 0.0
    ) -> None:
        # PyTorch's checks and messages; `not 0.0 <= x` also rejects nan.
        if not 0.0 <= _number("lr", lr):
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= _number("momentum", momentum):
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= _number("weight_decay", weight_decay):
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        super().__init__(params)
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self._buffers: list[float | None] = [None] * len(self.params)

    def step(self) -> None:
        lr, momentum, weight_decay = self.lr, self.momentum, self.weight_decay
        buffers = self._buffers
        for i, p in enumerate(self.params):
            g = p.grad
            if weight_decay != 0:
                g = g + weight_decay * p.data
            if momentum != 0:
                buf = buffers[i]
                buf = g if buf is None else buf * momentum + g
                buffers[i] = buf
                g = buf
            p.data = p.data + -lr * g


class Adam(Optimizer):
    """Adam (Kingma & Ba), as ``torch.optim.Adam`` (``amsgrad=False``).

    ``weight_decay`` adds ``wd·p`` to the gradient (L2, as PyTorch's Adam,
    not AdamW). Per step ``t``: ``m = lerp(m, g, 1 - β1)``,
    ``v = β2·v + (1 - β2)·g²``, then
    ``p -= lr/(1 - β1^t) · m / (sqrt(v)/sqrt(1 - β2^t) + eps)``.
    """

    def __init__(
        self,
        params: Iterable[Value],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        if not 0.0 <= _number("lr", lr):
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= _number("eps", eps):
            raise ValueError(f"Invalid epsilon value: {eps}")
        beta1, beta2 = betas
        if not 0.0 <= _number("betas[0]", beta1) < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {beta1}")
        if not 0.0 <= _number("betas[1]", beta2) < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {beta2}")
        if not 0.0 <= _number("weight_decay", weight_decay):
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        super().__init__(params)
        self.lr = lr
        self.betas = (beta1, beta2)
        self.eps = eps
        self.weight_decay = weight_decay
        self.t = 0
        self._m = [0.0] * len(self.params)
        self._v = [0.0] * len(self.params)

    def step(self) -> None:
        (beta1, beta2), eps, weight_decay = self.betas, self.eps, self.weight_decay
        self.t += 1
        bias_correction1 = 1 - beta1**self.t
        bias_correction2_sqrt = (1 - beta2**self.t) ** 0.5
        step_size = self.lr / bias_correction1
        m, v = self._m, self._v
        for i, p in enumerate(self.params):
            g = p.grad
            if weight_decay != 0:
                g = g + weight_decay * p.data
            # torch's lerp_ for a weight below 0.5: m + w·(g - m).
            m[i] = _lerp(m[i], g, 1 - beta1)
            v[i] = v[i] * beta2 + (1 - beta2) * g * g
            denom = math.sqrt(v[i]) / bias_correction2_sqrt + eps
            p.data = p.data + -step_size * m[i] / denom  # addcdiv's order


def _lerp(start: float, end: float, weight: float) -> float:
    # The two forms torch uses, for accuracy at either end of the weight range.
    if weight < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * (1 - weight)


def _number(name: str, x: float) -> float:
    if not is_number(x):
        raise TypeError(f"{name} must be an int or a float, got {type(x).__name__}")
    return float(x)
