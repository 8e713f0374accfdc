"""``fit``: the training loop, with a progress bar and a history.

Each step is the usual four lines (forward, ``zero_grad``, ``backward``,
``step``). With ``tape=True`` the graph of each batch is built once and
replayed with ``autograd.Tape``, which skips rebuilding it every epoch.
``tqdm`` draws the progress bar when it is installed; without it a one-line
text progress goes to stderr. Neither is needed to train.
"""

from __future__ import annotations

import math
import random
import reprlib
import sys
import time
from collections.abc import Callable, Sequence
from numbers import Real

from autograd import Value

from .losses import _is_sequence, binary_cross_entropy, cross_entropy, hinge_loss
from .module import Module
from .optim import Optimizer


# float() and int() on the targets: with a NumPy y they are NumPy scalars,
# and comparing those gives np.bool_, not the bool these promise.
def _hinge_correct(score, label) -> bool:
    return (float(score) > 0.0) == (float(label) > 0.0)


def _cross_entropy_correct(logits, target) -> bool:
    scores = [float(x) for x in logits]
    return scores.index(max(scores)) == int(target)


def _bce_correct(prob, target) -> bool:
    return (float(prob) > 0.5) == (float(target) > 0.5)


_CORRECT: dict[Callable, Callable[..., bool]] = {
    hinge_loss: _hinge_correct,
    cross_entropy: _cross_entropy_correct,
    binary_cross_entropy: _bce_correct,
}
"""How to tell a right prediction, for each classification loss."""


def fit(
    model: Module,
    X: Sequence,
    y: Sequence,
    loss: Callable,
    optimizer: Optimizer,
    epochs: int,
    batch_size: int | None = None,
    progress: bool = True,
    seed: int = 0,
    tape: bool = False,
) -> dict[str, list[float]]:
    """Train ``model`` on ``(X, y)`` and return ``{"loss": [...], ...}``, one entry per epoch.

    Each step calls ``loss([model(x) for x in batch], batch_targets)`` (so
    ``loss`` is one of ``nn``'s losses or any callable of that shape), then
    ``optimizer.zero_grad()``, ``backward()`` and ``optimizer.step()``.
    ``batch_size=None`` trains on the whole set each epoch; otherwise the
    order is shuffled every epoch with ``random.Random(seed)``.

    The history's ``"loss"`` holds, per epoch, the mean of the batch losses
    (each measured before its update). For ``hinge_loss``,
    ``cross_entropy`` and ``binary_cross_entropy`` it also has
    ``"accuracy"``: the fraction of the epoch's samples predicted right
    (sign of the score, argmax of the logits, or probability above 0.5).

    ``tape=True`` builds each batch's graph once and replays it with
    ``autograd.Tape`` in later epochs: faster, same result. The graph then
    stays fixed, so the batches are shuffled once (with ``seed``) before the
    first epoch rather than every epoch. Valid while the graph's structure
    does not depend on the data; ``relu`` and ``max`` still choose per
    replay. (Constants taken from the data when the graph was built, such as
    the max subtracted in ``cross_entropy``, stay as they were: still exact.)

    The data are checked once before training. A sample of ``X`` that is
    not a list (or array) of numbers, or a feature or target that is not a
    number (a ``str``, ``None``, a ``bool``), raises ``TypeError``; a
    ``nan`` or infinite one raises ``ValueError``. Both name the sample (and
    the feature or output), as in ``X[3][1] (sample 3, feature 1) is nan``.
    A number is an ``int``, a ``float``, a NumPy scalar or a ``Value``;
    whether a target suits the loss (a label of ±1, a class index) is the
    loss's to check.

    A loss that is no longer finite (inf or nan: training diverged) raises
    ``FloatingPointError`` naming the epoch and batch, before that step's
    update, so the parameters keep their last finite values.

    >>> from nn import MLP, SGD, mse_loss
    >>> model = MLP(1, [1], seed=0)
    >>> history = fit(model, [[1.0], [2.0]], [2.0, 4.0], mse_loss,
    ...               SGD(model.parameters(), lr=0.1), epochs=100, progress=False)
    >>> history["loss"][-1] < 0.01
    True
    """
    _check_args(X, y, epochs, batch_size)
    _check_data(X, y)
    n = len(X)
    size = n if batch_size is None else min(batch_size, n)
    rng = random.Random(seed)
    # By identity: a loss need not be hashable.
    correct = next((c for f, c in _CORRECT.items() if f is loss), None)
    history: dict[str, list[float]] = {"loss": []}
    if correct is not None:
        history["accuracy"] = []

    tapes: list = []  # with tape=True: (Tape, predictions) per batch, built in epoch 1
    if tape:
        from autograd import Tape  # only when asked for
    fixed_batches = _batches(n, size, rng) if tape else None

    bar = _progress_bar(epochs) if progress else None
    try:
        for epoch in range(epochs):
            batches = fixed_batches if tape else _batches(n, size, rng)
            total_loss = 0.0
            hits = 0
            for b, indices in enumerate(batches):
                targets = [y[i] for i in indices]
                if b < len(tapes):
                    replay, preds = tapes[b]
                    value = replay.forward()  # recomputes from the updated parameters
                else:
                    preds = [model(X[i]) for i in indices]
                    root = loss(preds, targets)
                    value = root.data
                    if tape:
                        replay = Tape(root)
                        tapes.append((replay, preds))
                if not math.isfinite(value):
                    # Stop before the update: the parameters stay as they were
                    # when the loss was last finite, instead of all turning nan.
                    raise FloatingPointError(
                        f"fit: the loss is {value} at epoch {epoch + 1}, batch {b + 1}: "
                        "training diverged (try a smaller learning rate)"
                    )
                optimizer.zero_grad()
                if tape:
                    replay.backward()
                else:
                    root.backward()
                optimizer.step()
                total_loss += value
                if correct is not None:
                    hits += sum(correct(p, t) for p, t in zip(preds, targets))
                if bar is not None:
                    bar.set_postfix(loss=f"{total_loss / (b + 1):.4f}", refresh=False)
            # Plain floats, whatever the loss and the data returned: the
            # history is printed, compared and dumped to JSON.
            history["loss"].append(float(total_loss / len(batches)))
            if correct is not None:
                history["accuracy"].append(float(hits / n))
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return history


def _check_args(X, y, epochs, batch_size) -> None:
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        raise ValueError(f"batch_size must be a positive int or None, got {batch_size!r}")
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} samples but y has {len(y)}")
    if len(X) == 0:
        raise ValueError("X is empty")


def _check_data(X, y) -> None:
    # One pass before training: bad data would otherwise surface as a
    # TypeError deep in the engine, or as nan taken for divergence.
    for i, sample in enumerate(X):
        if not _is_sequence(sample):
            raise TypeError(f"fit: X[{i}] (sample {i}) must be a list of numbers, "
                            f"got {type(sample).__name__}")
        for j, feature in enumerate(sample):
            # A finite float (NumPy's float64 is one) passes at once; anything
            # else gets the full check, and the message is built only then.
            if not (isinstance(feature, float) and math.isfinite(feature)):
                _check_number(feature, f"X[{i}][{j}] (sample {i}, feature {j})")
    for i, target in enumerate(y):
        if _is_sequence(target):  # one target per output
            for j, t in enumerate(target):
                _check_number(t, f"y[{i}][{j}] (sample {i}, output {j})")
        else:
            _check_number(target, f"y[{i}] (sample {i})")


def _check_number(x, where: str) -> None:
    """``TypeError`` if ``x`` is not a number (or a ``Value``), ``ValueError`` if not finite."""
    number = x.data if isinstance(x, Value) else x
    if isinstance(number, bool) or not isinstance(number, Real):
        raise TypeError(f"fit: {where} is a {type(x).__name__} ({reprlib.repr(x)}), not a number")
    try:
        finite = math.isfinite(number)
    except OverflowError:  # an int beyond float range
        raise ValueError(f"fit: {where} is too large for a float") from None
    if not finite:
        raise ValueError(f"fit: {where} is {float(number)}: the data must be finite")


def _batches(n: int, size: int, rng: random.Random) -> list[list[int]]:
    """The sample indices, cut into batches; shuffled unless there is only one batch."""
    order = list(range(n))
    if size < n:
        rng.shuffle(order)
    return [order[i : i + size] for i in range(0, n, size)]


def _progress_bar(epochs: int):
    try:
        from tqdm import tqdm
    except ImportError:
        return _TextProgress(epochs)
    return tqdm(total=epochs, unit="epoch", desc="fit")


class _TextProgress:
    """The part of tqdm's interface ``fit`` uses, as one line on stderr."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.n = 0
        self.postfix = ""
        self._last_draw = 0.0

    def set_postfix(self, loss: str, refresh: bool = False) -> None:
        self.postfix = f"loss={loss}"

    def update(self, k: int) -> None:
        self.n += k
        now = time.monotonic()
        # Redraw at most ten times a second, and always at the end.
        if now - self._last_draw >= 0.1 or self.n == self.total:
            self._last_draw = now
            sys.stderr.write(f"\rfit: epoch {self.n}/{self.total} {self.postfix}")
            sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\n")
        sys.stderr.flush()
