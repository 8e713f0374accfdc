"""``fit``: the training loop, with a progress bar and a history.

Each step is the usual four lines (forward, ``zero_grad``, ``backward``,
``step``). With ``tape=True`` the graph of each batch is built once and
replayed with ``autograd.Tape``, which skips rebuilding it every epoch; with
``tape="batched"`` the graph of one sample is built once and replayed over
whole batches with NumPy (``Tape(root, inputs=...)``). ``tqdm`` draws the
progress bar when it is installed; without it a one-line text progress goes
to stderr. Neither is needed to train.
"""

from __future__ import annotations

import gc
import math
import random
import reprlib
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from autograd import Value, is_number

from .losses import _is_sequence, binary_cross_entropy, cross_entropy, hinge_loss
from .optim import Optimizer

TYPE_CHECKING = False  # typing's flag without importing typing (3 ms); checkers take it as True
if TYPE_CHECKING:
    from typing import Any, Protocol, SupportsFloat, SupportsInt, TypeVar

    import numpy as np
    from numpy.typing import NDArray

    from autograd import Tape

    S = TypeVar("S")
    S_co = TypeVar("S_co", covariant=True)

    class Rows(Protocol[S_co]):
        """What ``fit`` reads of ``X`` and ``y``: a list, a tuple, a NumPy array (one row a sample)."""

        def __len__(self) -> int: ...

        def __getitem__(self, index: int, /) -> S_co: ...

        def __iter__(self) -> Iterator[S_co]: ...

    class _ProgressBar(Protocol):
        """The part of tqdm's interface ``fit`` uses (and ``_TextProgress`` has)."""

        def set_postfix(self, *, loss: str, refresh: bool = ...) -> object: ...

        def update(self, n: int, /) -> object: ...

        def close(self) -> object: ...

    Prediction = Value | list[Value]
    """What a model gives for one sample: a Value, or a list of them (one per output)."""
    Model = Callable[[Any], Prediction]
    Loss = Callable[[Any, Any], Value]  # called as loss(preds, targets)
    Step = tuple[float, Callable[[], None], int]
    """A step's forward: (the loss's value, its backward, how many predictions were right)."""
    _TargetKey = float | tuple[float, ...]
    """A target as a key (``tape="batched"``): a number, or one per output."""


# float() and int() on the targets: with a NumPy y they are NumPy scalars,
# and comparing those gives np.bool_, not the bool these promise.
def _hinge_correct(score: SupportsFloat, label: SupportsFloat) -> bool:
    return (float(score) > 0.0) == (float(label) > 0.0)


def _cross_entropy_correct(logits: Iterable[SupportsFloat], target: SupportsInt) -> bool:
    scores = [float(x) for x in logits]
    return scores.index(max(scores)) == int(target)


def _bce_correct(prob: SupportsFloat, target: SupportsFloat) -> bool:
    return (float(prob) > 0.5) == (float(target) > 0.5)


_CORRECT: dict[Loss, Callable[..., bool]] = {
    hinge_loss: _hinge_correct,
    cross_entropy: _cross_entropy_correct,
    binary_cross_entropy: _bce_correct,
}
"""How to tell a right prediction, for each classification loss."""

_CORRECT_ROWS: dict[Loss, Callable[[Any, Any], Any]] = {
    # The same rules on NumPy arrays: predictions (N, outputs), targets (N,).
    hinge_loss: lambda P, T: (P[:, 0] > 0.0) == (T > 0.0),
    cross_entropy: lambda P, T: P.argmax(axis=1) == T,
    binary_cross_entropy: lambda P, T: (P[:, 0] > 0.5) == (T > 0.5),
}
"""How to tell right predictions, for a batch at once (``tape="batched"``)."""


def fit(
    model: Callable[[S], Prediction],
    X: Rows[S],
    y: Rows[Any],
    loss: Loss,
    optimizer: Optimizer,
    epochs: int,
    batch_size: int | None = None,
    progress: bool = True,
    seed: int = 0,
    tape: bool | str = False,
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
    replay (so does ``cross_entropy``'s shift, a chain of ``max`` gates).

    ``tape="batched"`` builds the graph of **one** sample and replays it over
    each batch with NumPy (``Tape(root, inputs=...)``; ``pip install
    'valuegrad[fast]'``): the fastest by far on more than a few dozen
    samples, the same numbers to rounding. Batches are shuffled every epoch,
    as without a tape. The sample's features are the tape's inputs; so is
    its target when the loss takes a ``Value`` as target (``mse_loss``);
    otherwise (``hinge_loss``, ``cross_entropy``, ``binary_cross_entropy``,
    whose graph depends on the target's value) one tape is built per
    distinct target, at most 100 of them. Terms of the loss that are not
    per sample, such as L2 on the weights, do not belong in the per-sample
    graph: use the optimizer's ``weight_decay``. The loss is called on one
    sample (``loss([pred], [target])``) and the tape takes the mean over
    the batch's rows: the same as ``nn``'s losses on the whole batch (they
    are means), but a loss of your own that sums instead would train with
    another scale here.

    The cycle collector is paused while ``fit`` runs and restored after: a
    graph here holds no reference cycle, so reference counting frees it
    (the collector would otherwise scan each new graph, about a quarter of a
    step), and what a loss leaves in a cycle is collected once fit returns.

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
    if tape not in (False, True, "batched"):
        raise ValueError(f"tape must be False, True or 'batched', got {tape!r}")
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
    step: Callable[[int, list[int]], Step]
    if tape == "batched":
        step = _Batched(model, X, y, loss, next((c for f, c in _CORRECT_ROWS.items() if f is loss), None))
    elif tape:
        step = _Taped(model, X, y, loss, correct)
    else:
        step = _Rebuilt(model, X, y, loss, correct)
    fixed_batches = _batches(n, size, rng) if tape is True else None

    bar = _progress_bar(epochs) if progress else None
    try:
        with _collector_paused():
            for epoch in range(epochs):
                batches = fixed_batches or _batches(n, size, rng)
                total_loss = 0.0
                hits = 0
                for b, indices in enumerate(batches):
                    value, backward, batch_hits = step(b, indices)
                    if not math.isfinite(value):
                        # Stop before the update: the parameters stay as they were
                        # when the loss was last finite, instead of all turning nan.
                        raise FloatingPointError(
                            f"fit: the loss is {value} at epoch {epoch + 1}, batch {b + 1}: "
                            "training diverged (try a smaller learning rate)"
                        )
                    optimizer.zero_grad()
                    backward()
                    optimizer.step()
                    total_loss += value
                    hits += batch_hits
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


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cycle collector off inside, as it was after (see ``fit``'s docstring)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# -- one step's forward, three ways: each returns (loss value, backward, right predictions) ----


class _Rebuilt:
    """The graph of each batch built anew: the plain engine."""

    def __init__(self, model: Model, X: Rows[Any], y: Rows[Any], loss: Loss,
                 correct: Callable[..., bool] | None) -> None:
        self.model, self.X, self.y, self.loss, self.correct = model, X, y, loss, correct

    def __call__(self, b: int, indices: list[int]) -> Step:
        targets = [self.y[i] for i in indices]
        preds = [self.model(self.X[i]) for i in indices]
        root = self.loss(preds, targets)
        return root.data, root.backward, self._hits(preds, targets)

    def _hits(self, preds: list[Prediction], targets: list[Any]) -> int:
        if self.correct is None:
            return 0
        return sum(self.correct(p, t) for p, t in zip(preds, targets))


class _Taped(_Rebuilt):
    """The graph of each batch built once, in the first epoch, and replayed (``tape=True``)."""

    def __init__(self, model: Model, X: Rows[Any], y: Rows[Any], loss: Loss,
                 correct: Callable[..., bool] | None) -> None:
        super().__init__(model, X, y, loss, correct)
        self.tapes: list[tuple[Tape, list[Prediction]]] = []  # (Tape, predictions) per batch

    def __call__(self, b: int, indices: list[int]) -> Step:
        targets = [self.y[i] for i in indices]
        if b < len(self.tapes):
            replay, preds = self.tapes[b]
            value = replay.forward()  # recomputes from the updated parameters
        else:
            preds = [self.model(self.X[i]) for i in indices]
            root = self.loss(preds, targets)
            # The predictions' .data is written on each replay, for the accuracy.
            shown = [v for p in preds for v in (p if isinstance(p, list) else [p]) if isinstance(v, Value)]
            from autograd import Tape  # only when asked for

            replay = Tape(root, keep=shown)
            self.tapes.append((replay, preds))
            value = root.data
        return value, replay.backward, self._hits(preds, targets)


class _Batched:
    """One sample's graph, replayed over each batch with NumPy (``tape="batched"``)."""

    def __init__(self, model: Model, X: Rows[Any], y: Rows[Any], loss: Loss,
                 correct_rows: Callable[[Any, Any], Any] | None) -> None:
        try:
            import numpy as np
        except ImportError:
            raise ImportError("fit(tape='batched') needs NumPy: pip install 'valuegrad[fast]'") from None
        self.np = np
        self.X = np.asarray([[float(v) for v in x] for x in X], dtype=np.float64)
        self.y = list(y)
        self.model, self.loss, self.correct_rows = model, loss, correct_rows
        self.features = [Value(v) for v in self.X[0].tolist()]
        # target (or None: the target is an input) -> (Tape, predictions)
        self.tapes: dict[_TargetKey | None, tuple[Tape, list[Value]]] = {}
        first = self.y[0]
        self.targets = [Value(float(t)) for t in first] if _is_sequence(first) else [Value(float(first))]
        pred = model(self.features)  # (the model's own errors, such as a wrong input length, as they are)
        root: Value | None
        try:  # can the target be an input of the per-sample graph?
            root = loss([pred], [self.targets if _is_sequence(first) else self.targets[0]])
        except (TypeError, ValueError):  # no: its value shapes the graph; a tape per target
            root = None
        self.T: NDArray[np.float64] | None
        if root is not None:
            self._keep(None, pred, root)
            self.T = np.asarray([[float(t) for t in ti] if _is_sequence(ti) else [float(ti)]
                                 for ti in self.y], dtype=np.float64)
        else:
            distinct = dict.fromkeys(_target_key(t) for t in self.y)
            if len(distinct) > 100:
                name = getattr(loss, "__name__", None) or type(loss).__name__  # (a partial has none)
                raise ValueError(f"fit(tape='batched'): {name} takes no Value target and the "
                                 f"targets have {len(distinct)} distinct values; a tape is built per "
                                 "distinct target, at most 100") from None
            self.T = None
        self.labels = np.asarray([float(t) if not _is_sequence(t) else 0.0 for t in self.y])

    def _tape(self, key: _TargetKey | None, target: Any) -> tuple[Tape, list[Value]]:
        """The per-sample graph for the number ``target``, as a batched tape."""
        pred = self.model(self.features)
        return self._keep(key, pred, self.loss([pred], [target]))

    def _keep(self, key: _TargetKey | None, pred: Prediction, root: Value) -> tuple[Tape, list[Value]]:
        """Store a batched tape of the per-sample graph ``root`` under ``key`` (None: the targets are inputs)."""
        outputs = pred if isinstance(pred, list) else [pred]
        inputs = self.features + (self.targets if key is None else [])
        from autograd import Tape

        self.tapes[key] = (Tape(root, inputs=inputs, keep=outputs), outputs)
        return self.tapes[key]

    def __call__(self, b: int, indices: list[int]) -> Step:
        np = self.np
        rows = np.asarray(indices)
        groups: list[tuple[_TargetKey | None, NDArray[Any]]]
        if self.T is not None:
            groups = [(None, rows)]
        else:
            keys = [_target_key(self.y[i]) for i in indices]
            groups = [(key, rows[[k for k, kk in enumerate(keys) if kk == key]]) for key in dict.fromkeys(keys)]
        n = len(indices)
        replays: list[tuple[Tape, float]]
        total, hits, replays = 0.0, 0, []
        for key, members in groups:
            replay, outputs = self.tapes.get(key) or self._tape(key, self.y[members[0]])
            batch = self.X[members]
            if self.T is not None:
                batch = np.concatenate([batch, self.T[members]], axis=1)
            try:
                values = replay.forward(batch)
            except (ArithmeticError, ValueError) as e:
                if getattr(e, "row", None) is None:
                    raise
                # The tape counts the rows it was given; say which sample of X it is.
                # (the batched tape's errors name the row, and the reason apart)
                raise type(e)(f"fit: sample {int(members[e.row])}: {e.reason}") from None  # type: ignore[union-attr]
            total += float(values.sum())
            replays.append((replay, len(members) / n))
            if self.correct_rows is not None:
                preds = np.stack([replay.values(o) for o in outputs], axis=1)
                hits += int(self.correct_rows(preds, self.labels[members]).sum())

        def backward() -> None:
            for replay, weight in replays:
                replay.backward(weight)  # the batch's mean: each group weighs its share of the rows

        return total / n, backward, hits


def _target_key(t: Any) -> _TargetKey:
    return tuple(float(v) for v in t) if _is_sequence(t) else float(t)


def _check_args(X: Rows[Any], y: Rows[Any], epochs: object, batch_size: object) -> None:
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


def _check_data(X: Rows[Any], y: Rows[Any]) -> None:
    # One pass before training: bad data would otherwise surface as a
    # TypeError deep in the engine, or as nan taken for divergence.
    width = None
    for i, sample in enumerate(X):
        if not _is_sequence(sample):
            raise TypeError(f"fit: X[{i}] (sample {i}) must be a list of numbers, "
                            f"got {type(sample).__name__}")
        if width is None:
            width = len(sample)
        elif len(sample) != width:
            raise ValueError(f"fit: X[{i}] (sample {i}) has {len(sample)} features, X[0] has {width}")
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


def _check_number(x: object, where: str) -> None:
    """``TypeError`` if ``x`` is not a number (or a ``Value``), ``ValueError`` if not finite."""
    number = x.data if isinstance(x, Value) else x
    if not is_number(number):
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


def _progress_bar(epochs: int) -> _ProgressBar:
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
