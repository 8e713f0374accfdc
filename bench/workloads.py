"""The workloads ``bench/run.py`` times, one function per implementation.

The demo step is micrograd's classic two-moons demo: ``MLP(2, [16, 16, 1])``
(ReLU hidden layers, linear output), 100 points, hinge loss
``mean(relu(1 - y*s))`` plus ``1e-4 * sum(p*p)``, full batch, forward +
backward + SGD with micrograd's learning-rate schedule ``1 - 0.9*k/100``.

Four implementations run it from the same initial weights (micrograd's own
MLP built after ``random.seed(SEED)``, copied into the others):

* micrograd 0.1.0, as its demo notebook writes it;
* valuegrad's engine, the same user code on ``autograd.Value`` (plain Values,
  no ``nn`` package);
* valuegrad's tape: the engine's graph built once, then replayed;
* the floor: forward and backward written by hand over plain floats, with no
  graph objects at all, the fastest a pure-Python step can reasonably be.

Every implementation adds in the same order as micrograd (``sum(gen, b)`` is
``b + w0*x0 + w1*x1 + ...``), so first losses agree to the last bits.
"""

from __future__ import annotations

import math
import random

SEED = 1337
N_POINTS = 100
SIZES = [2, 16, 16, 1]
ALPHA = 1e-4


def two_moons(n: int = N_POINTS, noise: float = 0.1, seed: int = 0):
    """``n`` points of two interleaving half circles with labels -1/+1 (no sklearn)."""
    rng = random.Random(seed)
    half = n // 2
    X, y = [], []
    for i in range(half):
        t = math.pi * i / (half - 1)
        X.append([math.cos(t) + rng.gauss(0.0, noise), math.sin(t) + rng.gauss(0.0, noise)])
        y.append(-1.0)
    for i in range(n - half):
        t = math.pi * i / (n - half - 1)
        X.append([1.0 - math.cos(t) + rng.gauss(0.0, noise), 0.5 - math.sin(t) + rng.gauss(0.0, noise)])
        y.append(1.0)
    return X, y


def initial_weights() -> list[list[tuple[list[float], float]]]:
    """micrograd's MLP(2, [16, 16, 1]) weights after ``random.seed(SEED)``.

    One list per layer, one ``(w, b)`` per neuron, in micrograd's parameter
    order (each neuron's weights, then its bias).
    """
    from micrograd.nn import MLP

    random.seed(SEED)
    model = MLP(SIZES[0], SIZES[1:])
    return [[([float(w.data) for w in n.w], float(n.b.data)) for n in layer.neurons]
            for layer in model.layers]


def lr_at(k: int) -> float:
    return 1.0 - 0.9 * k / 100


# -- micrograd ----------------------------------------------------------------
def micrograd_setup(weights):
    from micrograd.engine import Value
    from micrograd.nn import MLP

    model = MLP(SIZES[0], SIZES[1:])
    for layer, wl in zip(model.layers, weights):
        for neuron, (w, b) in zip(layer.neurons, wl):
            for p, x in zip(neuron.w, w):
                p.data = x
            neuron.b.data = b
    X, y = two_moons()

    def step(k: int) -> float:
        # Verbatim the demo notebook's loss() and training loop body.
        inputs = [list(map(Value, xrow)) for xrow in X]
        scores = list(map(model, inputs))
        losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        reg_loss = ALPHA * sum(p * p for p in model.parameters())
        total_loss = data_loss + reg_loss
        model.zero_grad()
        total_loss.backward()
        lr = lr_at(k)
        for p in model.parameters():
            p.data -= lr * p.grad
        return total_loss.data

    return step


# -- valuegrad: plain Values, the same user code ----------------------------------
def _valuegrad_model(weights):
    from autograd import Value

    layers = [[([Value(x) for x in w], Value(b)) for w, b in wl] for wl in weights]
    params = [p for layer in layers for w, b in layer for p in (*w, b)]

    def model(x):
        last = len(layers) - 1
        for i, layer in enumerate(layers):
            out = []
            for w, b in layer:
                act = sum((wi * xi for wi, xi in zip(w, x)), b)
                out.append(act.relu() if i != last else act)
            x = out
        return x[0]

    return model, params


def _valuegrad_loss(model, params, inputs, y):
    losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, map(model, inputs))]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = ALPHA * sum(p * p for p in params)
    return data_loss + reg_loss


def _zero_grad(params) -> None:
    for p in params:
        p.grad = 0.0


def _sgd(params, k: int) -> None:
    lr = lr_at(k)
    for p in params:
        p.data -= lr * p.grad


def engine_setup(weights):
    from autograd import Value

    model, params = _valuegrad_model(weights)
    X, y = two_moons()

    def step(k: int) -> float:
        inputs = [list(map(Value, xrow)) for xrow in X]
        total_loss = _valuegrad_loss(model, params, inputs, y)
        _zero_grad(params)
        total_loss.backward()
        _sgd(params, k)
        return total_loss.data

    return step


def tape_setup(weights):
    """Build the graph once (not timed per step), then replay it."""
    from autograd import Tape, Value

    model, params = _valuegrad_model(weights)
    X, y = two_moons()
    inputs = [list(map(Value, xrow)) for xrow in X]
    tape = Tape(_valuegrad_loss(model, params, inputs, y))

    def step(k: int) -> float:
        loss = tape.forward()
        _zero_grad(params)
        tape.backward()
        _sgd(params, k)
        return loss

    return step


# -- the floor: hand-written forward and backward over floats -------------------
def floor_setup(weights):
    """The pure-Python floor: no graph, loops over lists of floats."""
    X, Y = two_moons()
    # layers[i] = (W, B): W[j] the weights of neuron j, B[j] its bias.
    layers = [([list(w) for w, b in wl], [float(b) for w, b in wl]) for wl in weights]
    last = len(layers) - 1
    n = len(X)

    def step(k: int) -> float:
        gW = [[[0.0] * len(w) for w in W] for W, B in layers]
        gB = [[0.0] * len(B) for W, B in layers]
        total = 0
        for x, yi in zip(X, Y):
            # forward, keeping every layer's input and pre-activation
            acts = [x]
            for i, (W, B) in enumerate(layers):
                out = []
                for w, b in zip(W, B):
                    a = b
                    for wi, xi in zip(w, x):
                        a = a + wi * xi
                    out.append(a if i == last or a > 0.0 else 0.0)
                acts.append(out)
                x = out
            s = x[0]
            margin = 1 + -yi * s
            if margin > 0.0:
                total = total + margin
                # backward: d loss / d s = -y/n, through relu's active units
                up = [-yi * (1.0 / n)]
                for i in range(last, -1, -1):
                    W, B = layers[i]
                    gWi, gBi = gW[i], gB[i]
                    xin = acts[i]
                    down = [0.0] * len(xin)
                    outs = acts[i + 1]
                    for j, g in enumerate(up):
                        if g == 0.0 or (i != last and outs[j] <= 0.0):
                            continue
                        gBi[j] += g
                        w, gw = W[j], gWi[j]
                        for m, xm in enumerate(xin):
                            gw[m] += xm * g
                            down[m] += w[m] * g
                    up = down
            else:
                total = total + 0.0
        reg = 0
        for W, B in layers:
            for w, b in zip(W, B):
                for p in w:
                    reg = reg + p * p
                reg = reg + b * b
        loss = total * (1.0 / n) + ALPHA * reg
        lr = lr_at(k)
        twice_alpha = 2.0 * ALPHA
        for (W, B), gWi, gBi in zip(layers, gW, gB):
            for w, gw in zip(W, gWi):
                for m in range(len(w)):
                    w[m] -= lr * (gw[m] + twice_alpha * w[m])
            for j in range(len(B)):
                B[j] -= lr * (gBi[j] + twice_alpha * B[j])
        return loss

    return step


SETUPS = {
    "micrograd": micrograd_setup,
    "engine": engine_setup,
    "tape": tape_setup,
    "floor": floor_setup,
}
