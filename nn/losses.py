"""Loss functions: one sample or a batch in, the mean over the batch out, as a ``Value``.

What one sample is, per loss:

=========================  ==========================  ==========================
loss                       prediction                  target
=========================  ==========================  ==========================
``mse_loss``               a number/Value, or a list   the same shape
``hinge_loss``             a score                     a label, -1 or +1
``cross_entropy``          a list of logits            a class index (int)
``binary_cross_entropy``   a probability in [0, 1]     a number in [0, 1]
=========================  ==========================  ==========================

A number is any real number but a ``bool``: ``int``, ``float``, or NumPy's
scalars (``np.int64``, ``np.float32``, ...), as taken from a NumPy ``y``; a
class index is any integer (``numbers.Integral``) but a ``bool``.

A batch is a list of samples and a list of targets of the same length. The
numerically delicate parts (log-sum-exp, softmax) subtract the largest logit
first: a shift changes neither the value nor the gradient, and keeps every
``exp`` at most 1. The largest logit is computed in the graph (a chain of
``max`` gates), not frozen as a number, so a tape that replays the graph
(``fit(..., tape=True)`` or ``tape="batched"``) takes it anew at each replay
and for each row, as stably as the engine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral

from autograd import Value, is_number

Scalar = Value | int | float

TYPE_CHECKING = False  # typing's flag without importing typing (3 ms); checkers take it as True
if TYPE_CHECKING:
    from collections.abc import Callable, Collection
    from typing import Any, SupportsIndex, TypeGuard

    Sample = Scalar | Collection[Scalar]
    """One sample's prediction or target: a number or ``Value``, or a list of them (one per output)."""
    Batch = Sample | Collection[Sample]
    """What a loss takes: one sample, or a batch of them (a list, a tuple, a NumPy array). Which
    shape each loss needs (the table above) is checked when it runs."""

_LOG_FLOOR = math.exp(-100.0)
"""binary_cross_entropy clamps each log at -100, as PyTorch does."""


def mse_loss(preds: Batch, targets: Batch) -> Value:
    """Mean squared error: the mean of ``(pred - target)²`` over every output of every sample.

    ``preds`` and ``targets`` have the same shape: a scalar, a list of
    scalars (the outputs of one sample, or a batch of one-output samples),
    or a list of lists (a batch of multi-output samples). As in
    ``torch.nn.MSELoss``, the mean is over all elements.

    >>> mse_loss([Value(0.5), Value(2.0)], [1.0, 1.0]).data   # (0.25 + 1) / 2
    0.625
    """
    errors = []
    for i, (p, t) in enumerate(_pairs(preds, targets, "preds", "targets", _is_scalar)):
        for pi, ti in _pairs(p, t, "a prediction", "its target", _is_scalar):
            # A Value target stays one (the gradient then reaches it too).
            if not (is_number(ti) or isinstance(ti, Value)):
                raise ValueError(f"mse_loss target {i} must be a number or a Value, got {ti!r}")
            diff = _as_value(pi, "mse_loss", "prediction", i) - (ti if isinstance(ti, Value) else float(ti))
            errors.append(diff * diff)
    return _mean(errors)


def hinge_loss(scores: Batch, labels: float | Collection[float]) -> Value:
    """Mean of ``relu(1 - label · score)``; labels are -1 or +1 (an SVM's loss).

    >>> hinge_loss([Value(2.0), Value(0.5)], [1, 1]).data   # (0 + 0.5) / 2
    0.25
    """
    losses = []
    for i, (s, y) in enumerate(_pairs(scores, labels, "scores", "labels", _is_scalar)):
        if not is_number(y) or y not in (-1, 1):
            raise ValueError(f"hinge_loss labels must be -1 or +1; label {i} is {y!r}")
        losses.append((_as_value(s, "hinge_loss", "score", i) * -float(y) + 1.0).relu())
    return _mean(losses)


def softmax(logits: Sequence[Scalar]) -> list[Value]:
    """``exp(l_i) / Σ exp(l_j)`` for one list of logits; finite for any finite logits.

    >>> [round(p.data, 4) for p in softmax([1000.0, -1000.0, 0.0])]
    [1.0, 0.0, 0.0]
    """
    exps = _shifted_exps(logits, "softmax")[1]
    scale = _sum(exps).reciprocal()
    return [e * scale for e in exps]


def cross_entropy(logits: Batch, target: SupportsIndex | Collection[SupportsIndex]) -> Value:
    """``-log softmax(logits)[target]``, by log-sum-exp with the max subtracted.

    One sample: ``logits`` a list of scores, ``target`` a class index. A
    batch: a list of logit lists and a list of indices. The gradient with
    respect to the logits is ``softmax(logits) - onehot(target)``.

    >>> round(cross_entropy([1000.0, -1000.0, 0.0], 0).data, 6)
    0.0
    """
    losses = []
    single = not _is_sequence(target)
    if single and _is_sequence(logits) and len(logits) and _is_sequence(next(iter(logits))):
        raise ValueError(f"cross_entropy: logits is a batch of {len(logits)} samples (a list of logit lists) "
                         f"but target is one class index, {target!r}: give one target per sample")
    samples = [(logits, target)] if single else _pairs(logits, target, "logits", "targets", None)
    for i, (sample_logits, t) in enumerate(samples):
        shifted, exps = _shifted_exps(sample_logits, "cross_entropy")
        n = len(shifted)
        # (numbers.Integral declares no comparison with an int, though every integer has one.)
        if isinstance(t, bool) or not isinstance(t, Integral) or not 0 <= t < n:  # type: ignore[operator]
            raise ValueError(f"cross_entropy target {i} must be a class index in [0, {n}), got {t!r}")
        t = int(t)
        # log Σ exp(l_j - m) - (l_t - m): the max m cancels; the sum is >= 1, so log is safe.
        losses.append(_sum(exps).log() - shifted[t])
    return _mean(losses)


def binary_cross_entropy(prob: Batch, target: float | Collection[float]) -> Value:
    """``-(t·log p + (1 - t)·log(1 - p))``, for probabilities (say, a sigmoid's output).

    ``prob`` in [0, 1], ``target`` in [0, 1]; one sample or a batch. As in
    PyTorch, each log is clamped at -100, so a probability of exactly 0 or 1
    gives a large finite loss instead of an error (the clamped term then has
    no gradient: keep probabilities away from exactly 0 and 1).

    >>> round(binary_cross_entropy(Value(0.8), 1.0).data, 6)   # -log 0.8
    0.223144
    """
    losses = []
    for i, (p, t) in enumerate(_pairs(prob, target, "probabilities", "targets", _is_scalar)):
        if not is_number(t) or not 0.0 <= t <= 1.0:
            raise ValueError(f"binary_cross_entropy target {i} must be a number in [0, 1], got {t!r}")
        t = float(t)
        p = _as_value(p, "binary_cross_entropy", "probability", i)
        if not 0.0 <= p.data <= 1.0:
            raise ValueError(f"binary_cross_entropy probability {i} must be in [0, 1], got {p.data!r}")
        # A term whose weight is 0 is left out: same value, fewer nodes, no log of a clamp.
        terms = []
        if t != 0.0:
            terms.append(p.max(_LOG_FLOOR).log() * -t)
        if t != 1.0:
            terms.append((1.0 - p).max(_LOG_FLOOR).log() * -(1.0 - t))
        losses.append(_sum(terms))
    return _mean(losses)


# -- shapes and sums ---------------------------------------------------------


def _is_sequence(x: object) -> TypeGuard[Collection[Any]]:
    return not isinstance(x, (Value, str, bytes)) and hasattr(x, "__len__")


def _is_scalar(x: object) -> bool:
    return not _is_sequence(x)


def _pairs(preds: object, targets: object, preds_name: str, targets_name: str,
           is_sample: Callable[[object], bool] | None) -> list[tuple[Any, Any]]:
    """``[(pred, target), ...]``: one pair for one sample, one per sample for a batch.

    ``preds`` is one sample when ``is_sample(preds)`` holds, else a batch that
    must have as many entries as ``targets``.
    """
    if is_sample is not None and is_sample(preds):
        if _is_sequence(targets):
            raise ValueError(f"{preds_name} is one sample but {targets_name} has {len(targets)} entries")
        return [(preds, targets)]
    if not _is_sequence(preds) or not _is_sequence(targets):
        raise ValueError(f"{preds_name} and {targets_name} must both be lists")
    if len(preds) != len(targets):
        raise ValueError(f"{preds_name} has {len(preds)} entries but {targets_name} has {len(targets)}")
    if len(preds) == 0:
        raise ValueError(f"{preds_name} is empty")
    return list(zip(preds, targets))



def _as_value(x: Scalar, loss: str, what: str, index: int) -> Value:
    # Value takes only int and float: a NumPy scalar becomes a float first.
    # Anything else (a bool, a str) still reaches Value, whose TypeError names it;
    # a list where one number belongs is the common mistake, named here.
    if isinstance(x, Value):
        return x
    if _is_sequence(x):
        raise TypeError(f"{loss}: {what} {index} is a list of {len(x)} where one number or Value belongs "
                        "(a Layer's output is always a list: take its element, or use an MLP, whose "
                        "one-neuron output is a Value)")
    return Value(float(x) if is_number(x) else x)


def _shifted_exps(logits: object, loss: str) -> tuple[list[Value], list[Value]]:
    """``(l_i - m)`` and ``exp(l_i - m)`` for each logit, with ``m`` the largest, computed in the graph."""
    if not _is_sequence(logits) or len(logits) == 0:
        raise ValueError(f"logits must be a non-empty list of numbers or Values, got {logits!r}")
    logits = [_as_value(x, loss, "logit", k) for k, x in enumerate(logits)]
    m = logits[0]
    for x in logits[1:]:  # max gates: a tape recomputes the shift for each replay and each row
        m = m.max(x)
    minus_m = -m  # negated once: each l_i - m would make its own -1 gate
    shifted = [x + minus_m for x in logits]
    return shifted, [s.exp() for s in shifted]


def _sum(values: list[Value]) -> Value:
    # Start from the first term rather than from a 0 constant: one node fewer.
    total = values[0]
    for v in values[1:]:
        total = total + v
    return total


def _mean(values: list[Value]) -> Value:
    total = _sum(values)
    return total if len(values) == 1 else total * (1.0 / len(values))
