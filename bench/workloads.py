"""The workloads ``bench/run.py`` times, one function per implementation.

The demo step is micrograd's classic two-moons demo: ``MLP(2, [16, 16, 1])``
(ReLU hidden layers, linear output), micrograd's own 100 points
(scikit-learn's ``make_moons(n_samples=100, noise=0.1)`` after
``np.random.seed(1337)``, labels -1/+1), hinge loss ``mean(relu(1 - y*s))``
plus ``1e-4 * sum(p*p)``, full batch, forward + backward + SGD with
micrograd's learning-rate schedule ``1 - 0.9*k/100``.

The implementations run it from the same initial weights (micrograd's own
MLP built after ``random.seed(SEED)``, copied into the others):

* micrograd 0.1.0, as its demo notebook writes it;
* valuegrad's engine, the same user code on ``autograd.Value`` (plain Values,
  no ``nn`` package);
* valuegrad's tape: the engine's graph built once, then replayed;
* valuegrad's batched tape: the graph of one sample built once, replayed over
  all the points with NumPy (the L2 term, not per sample, by a scalar tape of
  its own);
* the floor: forward and backward written by hand over plain floats, with no
  graph objects at all, as tight as plain Python gets;
* PyTorch on batched float64 tensors, one thread.

Every pure-Python implementation adds in the same order as micrograd
(``sum(gen, b)`` is ``b + w0*x0 + w1*x1 + ...``), so first losses agree to
the last bits; the batched ones (NumPy, PyTorch) to rounding.
``SETUPS[name](weights, points)`` returns the step; ``points`` is how many
two-moons points (100: micrograd's own; more: ``make_moons`` with the same
seed).
"""

from __future__ import annotations

import json
import os
import random
from operator import mul

SEED = 1337
N_POINTS = 100
SIZES = [2, 16, 16, 1]
ALPHA = 1e-4


MOONS_DIR = "VALUEGRAD_BENCH_MOONS"
"""Environment variable: a folder where ``bench/run.py`` has written the points, ``<n>.json``."""


def two_moons(n: int = N_POINTS):
    """micrograd's demo points (for n = 100): ``make_moons(n, noise=0.1)`` seeded 1337, labels ±1.

    Read from ``$VALUEGRAD_BENCH_MOONS/<n>.json`` when the runner has written them there: a
    worker that imported scikit-learn would carry its objects, and the cycle collector would
    scan them in every step it times.
    """
    folder = os.environ.get(MOONS_DIR)
    if folder and os.path.exists(os.path.join(folder, f"{n}.json")):
        with open(os.path.join(folder, f"{n}.json"), encoding="utf-8") as f:
            return tuple(json.load(f))
    from sklearn.datasets import make_moons

    X, y = make_moons(n_samples=n, noise=0.1, random_state=SEED)
    return X.tolist(), (y * 2 - 1).astype(float).tolist()


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
def micrograd_setup(weights, points: int = N_POINTS):
    from micrograd.engine import Value
    from micrograd.nn import MLP

    model = MLP(SIZES[0], SIZES[1:])
    for layer, wl in zip(model.layers, weights):
        for neuron, (w, b) in zip(layer.neurons, wl):
            for p, x in zip(neuron.w, w):
                p.data = x
            neuron.b.data = b
    X, y = two_moons(points)

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


def engine_setup(weights, points: int = N_POINTS):
    from autograd import Value

    model, params = _valuegrad_model(weights)
    X, y = two_moons(points)

    def step(k: int) -> float:
        inputs = [list(map(Value, xrow)) for xrow in X]
        total_loss = _valuegrad_loss(model, params, inputs, y)
        _zero_grad(params)
        total_loss.backward()
        _sgd(params, k)
        return total_loss.data

    return step


def tape_setup(weights, points: int = N_POINTS):
    """Build the graph once (not timed per step), then replay it."""
    from autograd import Tape, Value

    model, params = _valuegrad_model(weights)
    X, y = two_moons(points)
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
def floor_setup(weights, points: int = N_POINTS):
    """The pure-Python floor: no graph, and every dot product in C.

    Forward, each neuron is ``sum(map(mul, w, x), b)``: the same additions in
    the same order as the chain of Values. Backward keeps, per sample, each
    layer's input and the gradient at its units; a weight's gradient is then
    one dot product over the samples (``sum(map(mul, ...))`` again), in the
    order a per-sample loop would add them.
    """
    X, Y = two_moons(points)
    layers = [([list(w) for w, b in wl], [float(b) for w, b in wl]) for wl in weights]
    (W1, B1), (W2, B2), (W3, B3) = layers
    inv_n = 1.0 / len(X)
    decay = 2.0 * ALPHA

    def dots(G, H):  # G: per sample, a gradient per unit; H: per sample, an input per feature
        return [[sum(map(mul, g, h), 0.0) for h in zip(*H)] for g in zip(*G)]

    def step(k: int) -> float:
        w3, W2T = W3[0], list(zip(*W2))
        H0, H1, H2, G1, G2, G3 = [], [], [], [], [], []
        total = 0.0
        for x, yi in zip(X, Y):
            a1 = [sum(map(mul, w, x), b) for w, b in zip(W1, B1)]
            h1 = [a if a > 0.0 else 0.0 for a in a1]
            a2 = [sum(map(mul, w, h1), b) for w, b in zip(W2, B2)]
            h2 = [a if a > 0.0 else 0.0 for a in a2]
            margin = 1.0 + -yi * sum(map(mul, w3, h2), B3[0])
            if margin > 0.0:
                total += margin
                ds = -yi * inv_n  # d loss / d score
                g2 = [ds * w if a > 0.0 else 0.0 for w, a in zip(w3, a2)]
                g1 = [sum(map(mul, g2, col), 0.0) if a > 0.0 else 0.0 for col, a in zip(W2T, a1)]
                H0.append(x), H1.append(h1), H2.append(h2), G1.append(g1), G2.append(g2), G3.append((ds,))
        reg = 0.0
        for W, B in layers:
            for w, b in zip(W, B):
                reg = sum(map(mul, w, w), reg) + b * b
        loss = total * inv_n + ALPHA * reg
        lr = lr_at(k)
        for (W, B), G, H in zip(layers, (G1, G2, G3), (H0, H1, H2)):
            gW = dots(G, H) if G else [[0.0] * len(w) for w in W]  # (no sample in the margin)
            gB = [sum(g, 0.0) for g in zip(*G)] if G else [0.0] * len(B)
            for w, gw in zip(W, gW):
                w[:] = [p - lr * (g + decay * p) for p, g in zip(w, gw)]
            B[:] = [p - lr * (g + decay * p) for p, g in zip(B, gB)]
        return loss

    return step


# -- batched: valuegrad's batched tape and PyTorch ---------------------------------------
def batched_setup(weights, points: int = N_POINTS):
    """One sample's graph, ``relu(1 - y*s)`` over the inputs x0, x1, y, replayed over all points."""
    import numpy as np

    from autograd import Tape, Value

    model, params = _valuegrad_model(weights)
    X, y = two_moons(points)
    batch = np.column_stack([np.asarray(X), np.asarray(y)])
    x0, x1, label = Value(X[0][0]), Value(X[0][1]), Value(y[0])
    tape = Tape((1 + -label * model([x0, x1])).relu(), inputs=[x0, x1, label])
    reg = Tape(ALPHA * sum(p * p for p in params))  # not per sample: a scalar tape of its own

    def step(k: int) -> float:
        total_loss = float(tape.forward(batch).mean()) + reg.forward()
        _zero_grad(params)
        tape.backward()
        reg.backward()
        _sgd(params, k)
        return total_loss

    return step


def torch_setup(weights, points: int = N_POINTS):
    """The same step on batched float64 tensors, one thread: PyTorch as its users write it."""
    import torch

    torch.set_num_threads(1)
    X, y = two_moons(points)
    X, y = torch.tensor(X, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)
    params = []
    for wl in weights:
        params.append(torch.tensor([w for w, b in wl], dtype=torch.float64, requires_grad=True))
        params.append(torch.tensor([b for w, b in wl], dtype=torch.float64, requires_grad=True))
    W1, b1, W2, b2, W3, b3 = params

    def step(k: int) -> float:
        h = torch.relu(X @ W1.T + b1)
        h = torch.relu(h @ W2.T + b2)
        scores = (h @ W3.T + b3)[:, 0]
        data_loss = torch.relu(1 + -y * scores).mean()
        reg_loss = ALPHA * sum((p * p).sum() for p in params)
        total_loss = data_loss + reg_loss
        for p in params:
            p.grad = None
        total_loss.backward()
        lr = lr_at(k)
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad
        return total_loss.item()

    return step


SETUPS = {
    "micrograd": micrograd_setup,
    "engine": engine_setup,
    "tape": tape_setup,
    "floor": floor_setup,
    "batched": batched_setup,
    "torch": torch_setup,
}


# -- the gpt workload: microgpt's model, one name's graph over a batch of names ------------------
GPT_VOCAB, GPT_EMBD, GPT_HEADS = 27, 16, 4  # a-z and BOS; microgpt's n_embd and n_head


def gpt_weights(block: int) -> dict:
    """microgpt's initial weights (``random.seed(42)``, its shuffle, then its draws), as floats;
    ``wpe`` cut to ``block`` positions. Keys and shapes are microgpt's ``state_dict``'s."""
    import microgpt

    random.seed(42)
    random.shuffle(microgpt.first_names())  # the draws microgpt makes before its weights

    def matrix(nout, nin, std=0.08):
        return [[random.gauss(0, std) for _ in range(nin)] for _ in range(nout)]

    C = GPT_EMBD
    weights = {"wte": matrix(GPT_VOCAB, C), "wpe": matrix(16, C), "lm_head": matrix(GPT_VOCAB, C),
               "attn_wq": matrix(C, C), "attn_wk": matrix(C, C), "attn_wv": matrix(C, C),
               "attn_wo": matrix(C, C), "mlp_fc1": matrix(4 * C, C), "mlp_fc2": matrix(C, 4 * C)}
    weights["wpe"] = weights["wpe"][:block]
    return weights


def gpt_names(n: int) -> list[str]:
    """The first ``n`` names of the ``names`` package, shuffled as microgpt shuffles them."""
    import microgpt

    docs = microgpt.first_names()
    random.Random(42).shuffle(docs)
    return docs[:n]


def gpt_batch(docs: list[str], block: int):
    """One row per name: for each position, the token one-hot, the next token one-hot, and a 0/1
    mask (1 where microgpt's loop has a loss); the name padded to the block with BOS."""
    import numpy as np

    V = GPT_VOCAB
    rows = np.zeros((len(docs), block, 2 * V + 1))
    for r, doc in enumerate(docs):
        tokens = [V - 1] + [ord(ch) - ord("a") for ch in doc] + [V - 1]
        tokens += [V - 1] * (block + 1 - len(tokens))
        for p in range(block):
            rows[r, p, tokens[p]] = 1.0
            rows[r, p, V + tokens[p + 1]] = 1.0
            rows[r, p, 2 * V] = 1.0 if p < len(doc) + 1 else 0.0
    return rows.reshape(len(docs), -1)


def gpt_sample_loss(Value, weights: dict, row):
    """One name's loss as a graph of ``Value`` s, with its inputs: ``(loss, inputs, params)``.

    ``row`` is the name's row of :func:`gpt_batch` (the block is its length / 55).

    microgpt's model, each position's token as a one-hot vector (the embedding a weighted sum),
    the softmax's shift computed in the graph (max gates: it is recomputed for every row), and
    the loss the mean over the positions the mask keeps of log-sum-exp minus the target's logit.
    """
    sd = {k: [[Value(x) for x in row] for row in m] for k, m in weights.items()}
    params = [p for m in sd.values() for row in m for p in row]
    V, C, H = GPT_VOCAB, GPT_EMBD, GPT_HEADS
    D = C // H
    block = len(row) // (2 * V + 1)
    inputs = [Value(float(x)) for x in row]
    wte_columns = [list(col) for col in zip(*sd["wte"])]

    def linear(x, w):
        return [sum(wi * xi for wi, xi in zip(wo, x)) for wo in w]

    def rmsnorm(x):
        ms = sum(xi * xi for xi in x) / len(x)
        scale = (ms + 1e-5) ** -0.5
        return [xi * scale for xi in x]

    def shifted_exps(logits):
        shift = logits[0]
        for val in logits[1:]:
            shift = shift.max(val)
        return shift, [(val - shift).exp() for val in logits]

    def softmax(logits):
        exps = shifted_exps(logits)[1]
        total = sum(exps)
        return [e / total for e in exps]

    keys, values, losses, masks = [], [], [], []
    for p in range(block):
        row = inputs[p * (2 * V + 1):(p + 1) * (2 * V + 1)]
        token, target, mask = row[:V], row[V:2 * V], row[2 * V]
        x = [t + pe for t, pe in zip(linear(token, wte_columns), sd["wpe"][p])]
        x = rmsnorm(x)
        x_residual = x
        x = rmsnorm(x)
        q, k, v = (linear(x, sd[name]) for name in ("attn_wq", "attn_wk", "attn_wv"))
        keys.append(k)
        values.append(v)
        x_attn = []
        for h in range(H):
            hs = h * D
            q_h = q[hs:hs + D]
            k_h = [ki[hs:hs + D] for ki in keys]
            v_h = [vi[hs:hs + D] for vi in values]
            attn_logits = [sum(q_h[j] * k_h[t][j] for j in range(D)) / D**0.5 for t in range(len(k_h))]
            attn_weights = softmax(attn_logits)
            x_attn.extend(sum(attn_weights[t] * v_h[t][j] for t in range(len(v_h))) for j in range(D))
        x = [a + b for a, b in zip(linear(x_attn, sd["attn_wo"]), x_residual)]
        x_residual = x
        x = [xi.relu() for xi in linear(rmsnorm(x), sd["mlp_fc1"])]
        x = [a + b for a, b in zip(linear(x, sd["mlp_fc2"]), x_residual)]
        logits = linear(x, sd["lm_head"])
        shift, exps = shifted_exps(logits)
        log_sum_exp = shift + sum(exps).log()
        losses.append(mask * (log_sum_exp - sum(t * logit for t, logit in zip(target, logits))))
        masks.append(mask)
    return sum(losses) / sum(masks), inputs, params


def gpt_torch(weights: dict, block: int):
    """The same model on float64 tensors, one thread, as PyTorch's users write it: ``(loss, params)``,
    ``loss(batch)`` the mean over the names of each name's loss (``batch`` from :func:`gpt_batch`)."""
    import torch

    torch.set_num_threads(1)
    params = {k: torch.tensor(m, dtype=torch.float64, requires_grad=True) for k, m in weights.items()}
    V, C, H = GPT_VOCAB, GPT_EMBD, GPT_HEADS
    D = C // H
    causal = torch.ones(block, block, dtype=torch.bool).tril()

    def rmsnorm(x):
        return x * ((x * x).mean(-1, keepdim=True) + 1e-5) ** -0.5

    def loss(batch):
        B = batch.shape[0]
        rows = batch.view(B, block, 2 * V + 1)
        token, target, mask = rows[..., :V], rows[..., V:2 * V], rows[..., 2 * V]
        x = rmsnorm(token @ params["wte"] + params["wpe"])
        x_residual = x
        x = rmsnorm(x)
        q, k, v = ((x @ params[name].T).view(B, block, H, D).transpose(1, 2)
                   for name in ("attn_wq", "attn_wk", "attn_wv"))
        att = (q @ k.transpose(-1, -2)) / D**0.5
        att = torch.softmax(att.masked_fill(~causal, float("-inf")), dim=-1)
        x = (att @ v).transpose(1, 2).reshape(B, block, C) @ params["attn_wo"].T + x_residual
        x = torch.relu(rmsnorm(x) @ params["mlp_fc1"].T) @ params["mlp_fc2"].T + x
        logits = x @ params["lm_head"].T
        per_position = torch.logsumexp(logits, -1) - (target * logits).sum(-1)
        return ((mask * per_position).sum(1) / mask.sum(1)).mean()

    return loss, params
