"""The classic micrograd demo: a 2-16-16-1 ReLU network learns two moons.

    python examples/two_moons.py --out out

Generates 100 two-moons points (fixed seed, noise 0.1), trains
``MLP(2, [16, 16, 1])`` with the hinge loss plus a 1e-4 L2 penalty, prints
the final training accuracy (100%) and writes ``OUT/decision_boundary.png``.
Needs matplotlib for the picture; the training itself needs only valuegrad.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import random
import sys

# Run from a checkout without installing: the packages sit one level up.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from autograd import no_grad  # noqa: E402
from autograd.files import write_atomic  # noqa: E402
from nn import MLP, Adam, fit, hinge_loss  # noqa: E402

SEED = 1
EPOCHS = 50
L2 = 1e-4


def make_moons(n: int = 100, noise: float = 0.1, seed: int = 0) -> tuple[list, list]:
    """Two interleaving half circles, as ``sklearn.datasets.make_moons``; labels -1 and +1.

    >>> X, y = make_moons(10)
    >>> len(X), sorted(set(y))
    (10, [-1, 1])
    """
    rng = random.Random(seed)
    n_upper = n // 2
    X, y = [], []
    for i in range(n):
        upper = i < n_upper
        k, count = (i, n_upper) if upper else (i - n_upper, n - n_upper)
        t = math.pi * k / max(count - 1, 1)
        if upper:
            point = (math.cos(t), math.sin(t))
        else:
            point = (1.0 - math.cos(t), 0.5 - math.sin(t))
        X.append([point[0] + rng.gauss(0.0, noise), point[1] + rng.gauss(0.0, noise)])
        y.append(-1 if upper else 1)
    return X, y


def train(X: list, y: list, progress: bool = True) -> MLP:
    """The network, trained: hinge loss + L2, Adam, full batch."""
    model = MLP(2, [16, 16, 1], seed=SEED)
    params = model.parameters()

    def loss(scores, labels):
        return hinge_loss(scores, labels) + L2 * sum(p * p for p in params)

    fit(model, X, y, loss, Adam(params, lr=0.05), epochs=EPOCHS, progress=progress)
    return model


def accuracy(model: MLP, X: list, y: list) -> float:
    """The fraction of points on the right side of the boundary."""
    with no_grad():
        return sum((model(x).data > 0) == (label > 0) for x, label in zip(X, y)) / len(X)


def plot_decision_boundary(model: MLP, X: list, y: list, path: str) -> None:
    """Write the learned regions and the points as a PNG, atomically."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    steps = 60
    xs = [-1.5 + 4.0 * i / (steps - 1) for i in range(steps)]
    ys = [-1.0 + 2.5 * j / (steps - 1) for j in range(steps)]
    with no_grad():  # the grid needs scores, not gradients
        scores = [[model([a, b]).data for a in xs] for b in ys]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.contourf(xs, ys, scores, levels=[-1e9, 0.0, 1e9], colors=["#f4b6b6", "#b6cdf4"], alpha=0.8)
    ax.contour(xs, ys, scores, levels=[0.0], colors="k", linewidths=1)
    colors = ["#c0392b" if label < 0 else "#2c5aa0" for label in y]
    ax.scatter([p[0] for p in X], [p[1] for p in X], c=colors, s=18, edgecolors="k", linewidths=0.5)
    ax.set_title("MLP(2, [16, 16, 1]) on two moons")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    write_atomic(path, buffer.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out", help="directory for decision_boundary.png")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)

    X, y = make_moons(100, noise=0.1, seed=0)
    model = train(X, y, progress=not args.no_progress)
    acc = accuracy(model, X, y)
    print(f"training accuracy: {acc:.0%}")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "decision_boundary.png")
    plot_decision_boundary(model, X, y, path)
    print(f"wrote {path}")
    return 0 if acc == 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
