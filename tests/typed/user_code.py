"""User code, as a learner writes it, that ``mypy --strict`` must accept (tests/test_typing.py).

It calls every method of ``Value`` (those attached from the table included),
every operator with numbers on either side, the comparisons, ``grad`` (floats,
or Values with ``create_graph=True``), ``is_number`` (which narrows),
``no_grad``, ``gradcheck``, ``draw_graph`` (a step of the pass too), the tape
(the batched one where NumPy is installed), the backward steps, ``walkthrough``
(where Graphviz's dot is), ``audit``, and ``nn``'s modules (a learner's own too),
losses (one sample or a batch, a model's outputs), optimizers and
``fit`` (on lists or tuples). ``assert_type`` pins the
types that matter, so a method that came out as ``Any`` (or ``x + 1`` as
``int``) fails the check; the test also runs the file, so it is true code.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import nn
from autograd import (
    Audit,
    Step,
    Tape,
    Value,
    audit,
    backward_steps,
    draw_graph,
    grad,
    gradcheck,
    is_number,
    no_grad,
    walkthrough,
)
from nn import MLP, SGD, Adam, Layer, Neuron, fit

if sys.version_info >= (3, 11):
    from typing import assert_type
else:
    from typing_extensions import assert_type

x, y = Value(0.5, "x"), Value(2.0, label="y")

# -- every method: the table's rows, the composites -------------------------------------------
assert_type(x.exp(), Value)
assert_type(x.log(), Value)
assert_type(x.reciprocal(), Value)
assert_type(x.max(y), Value)
assert_type(x.max(1.5), Value)
assert_type(x.relu(), Value)
assert_type(x.leaky_relu(), Value)
assert_type(x.leaky_relu(0.1), Value)
assert_type(x.leaky_relu(y), Value)  # a learnable slope
assert_type(x.elu(), Value)
assert_type(x.elu(0.5), Value)
assert_type(x.sin(), Value)
assert_type(x.cos(), Value)
assert_type(x.abs(), Value)
assert_type(x.tanh(), Value)
assert_type(x.sigmoid(), Value)
assert_type(x.sqrt(), Value)
assert_type(abs(x), Value)

# -- operators, a number on either side -------------------------------------------------------
assert_type(x + y, Value)
assert_type(x + 1, Value)
assert_type(1 + x, Value)
assert_type(x + 0.5, Value)
assert_type(x - y, Value)
assert_type(x - 1, Value)
assert_type(1 - x, Value)
assert_type(x * y, Value)
assert_type(x * 2, Value)
assert_type(2 * x, Value)
assert_type(x / y, Value)
assert_type(x / 2, Value)
assert_type(3 / x, Value)
assert_type(x**2, Value)
assert_type(x**y, Value)
assert_type(2**x, Value)
assert_type(-x, Value)
assert_type(sum([x, y], Value(0.0)), Value)

# -- comparisons read data, == is identity ----------------------------------------------------
assert_type(x < y, bool)
assert_type(x <= 1, bool)
assert_type(x > 0.25, bool)
assert_type(x >= y, bool)
assert_type(x == x, bool)
assert_type(float(x), float)
seen: set[Value] = {x, y}

# -- attributes, backward ---------------------------------------------------------------------
f = (x * y + x.exp()).tanh()
f.label = "f"
f.backward()
assert_type(f.data, float)
assert_type(x.grad, float)
assert_type(f.op, str)
label: str = f.label
assert_type(f.parents, tuple[Value, ...])
assert is_number(x.grad) and x.grad != 0.0
given: object = 2.5
if is_number(given):  # narrows: a number
    assert given + 1 == 3.5

# -- grad, no_grad, gradcheck -----------------------------------------------------------------
assert_type(grad(x**3, [x]), list[float])
assert_type(grad(x**3, [x], create_graph=False), list[float])
(d1,) = grad(x**3, [x], create_graph=True)
assert_type(d1, Value)  # a graph of its own: differentiate it again
(d2,) = grad(d1, [x])
assert_type(d2, float)
assert abs(d2 - 6 * x.data) < 1e-12
second_order = True
assert_type(grad(x**3, [x], create_graph=second_order), list[float] | list[Value])
with no_grad():
    constant = x * 2
assert constant.op == ""
assert gradcheck(lambda v: (v[0] * v[1]).sigmoid(), [0.3, -1.2])

# -- seeing it: the graph, the steps, the tape ------------------------------------------------
picture = draw_graph(f, rankdir="TB")
source: str = picture.source
assert "orange" in draw_graph(f, step=1).source  # the first step of the backward pass
steps: list[Step] = backward_steps(f)
first: Value = steps[0].node
if shutil.which("dot"):  # the player's frames are drawn by Graphviz's dot program
    player = walkthrough(f, rankdir="TB")
    played: list[Step] = player.steps
    assert_type(player.html(), str)
    with tempfile.TemporaryDirectory() as directory:
        walkthrough(f, Path(directory) / "f.html")
        assert (Path(directory) / "f.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
tape = Tape(f)
x.data = 0.25
assert_type(tape.forward(), float)
tape.backward()
if importlib.util.find_spec("numpy") is not None:  # the batched tape (valuegrad[fast])
    feature, weight = Value(0.0, "feature"), Value(0.5, "weight")
    hidden = (feature * weight).tanh()
    batched = Tape(hidden * 2.0, inputs=[feature], keep=[hidden])
    outputs = batched.forward([[1.0], [-2.0], [0.5]])  # one row per sample: the root's N values
    assert outputs.shape == (3,) and batched.values(hidden).shape == (3,)
    batched.backward()
    assert weight.grad != 0.0
report = audit(f)
assert_type(report, Audit)
assert_type(report.ok, bool)

# -- nn: modules, losses, optimizers, fit -----------------------------------------------------
neuron = Neuron(3, activation="tanh")
assert_type(neuron([1.0, 2.0, 3.0]), Value)
layer = Layer(3, 2, activation="relu")
assert_type(layer([1.0, x, 3.0]), list[Value])
model = MLP(3, [4, 4, 1], activation="tanh", seed=0)
out = model([2.0, 3.0, -1.0])
if isinstance(out, Value):  # one neuron in the last layer: a Value, else a list
    assert_type(out.data, float)
xs = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
ys = [1.0, -1.0, -1.0, 1.0]
optimizer = SGD(model.parameters(), lr=0.05, momentum=0.9)
for _ in range(3):
    loss = nn.mse_loss([model(sample) for sample in xs], ys)
    assert_type(loss, Value)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
params: list[Value] = model.parameters()
state: dict[str, float] = model.state_dict()
model.load_state_dict(state)
with tempfile.TemporaryDirectory() as directory:
    model.save(Path(directory) / "model.json")
    assert_type(model.load(Path(directory) / "model.json"), MLP)  # the model itself, as its own type

assert_type(nn.hinge_loss([model(sample) for sample in xs], [1, -1, -1, 1]), Value)
assert_type(nn.softmax([x, y, 1.0]), list[Value])
assert_type(nn.cross_entropy([x, y, 1.0], 2), Value)
assert_type(nn.cross_entropy([[x, y], (1.0, x)], [0, 1]), Value)  # a batch
classifier = MLP(3, [4, 3], seed=0)  # three logits per sample
assert_type(nn.cross_entropy([classifier(sample) for sample in xs], [0, 2, 1, 1]), Value)
assert_type(nn.binary_cross_entropy(x.sigmoid(), 1.0), Value)
assert_type(nn.binary_cross_entropy([x.sigmoid(), y.sigmoid()], [1, 0.0]), Value)
assert_type(nn.mse_loss([[x, y], [y, x]], [[1.0, 0.0], [0.0, 1.0]]), Value)  # two outputs per sample
history = fit(model, xs, ys, nn.mse_loss, Adam(model.parameters(), lr=0.01), epochs=2, progress=False)
losses: list[float] = history["loss"]
assert len(losses) == 2


class Affine(nn.Module):
    """A learner's own model: any module called on one sample."""

    def __init__(self) -> None:
        self.w, self.b = Value(1.0), Value(0.0)

    def __call__(self, sample: Sequence[float]) -> Value:
        return self.w * sample[0] + self.b


line = Affine()
points = ((1.0,), (2.0,))  # tuples do, as lists and NumPy arrays
history = fit(line, points, (2.0, 4.0), nn.mse_loss, SGD(line.parameters(), lr=0.1), epochs=3, progress=False)
assert_type(history, dict[str, list[float]])
assert history["loss"][-1] < history["loss"][0]
