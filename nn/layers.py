"""Neurons, layers and multi-layer perceptrons, with activations chosen by name.

A ``Neuron`` computes ``activation(w · x + b)``; a ``Layer`` is a list of
neurons that read the same input; an ``MLP`` chains layers. Weights are
drawn from a ``random.Random`` at a scale that suits the activation, so a
deep stack neither explodes nor fades at the start:

* ``relu``, ``leaky_relu``, ``elu``, ``prelu``: He (Kaiming) uniform,
  ``U(-sqrt(6/nin), sqrt(6/nin))``, variance ``2/nin`` (the factor 2 makes
  up for the half of the inputs a rectifier zeroes);
* ``tanh``, ``sigmoid``, ``linear``: Xavier (Glorot) uniform in its fan-in
  form (also called LeCun uniform), ``U(-sqrt(3/nin), sqrt(3/nin))``,
  variance ``1/nin``: a neuron does not know how many neurons read it, so the
  fan-out term of Glorot's average is left out.

Biases start at 0, and PReLU slopes at 0.25 (as in PyTorch).

Coming from micrograd: ``Neuron(3, nonlin=False)`` is ``Neuron(3,
activation="linear")`` here, and ``MLP(3, [4, 4, 1])`` takes its sizes as one
list; each of micrograd's spellings gets an error that says so.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from operator import mul

from autograd import Value

from .activations import ACTIVATIONS, INIT_VARIANCE_SCALE, PRELU_INIT, check_activation
from .module import Module

TYPE_CHECKING = False  # typing's flag without importing typing (3 ms); checkers take it as True
if TYPE_CHECKING:
    from typing import Any  # a torch module: PyTorch is optional, and checkers need not read it

Number = int | float
Input = Sequence[Value | Number]

def _check_size(what: str, n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{what} must be a positive int, got {n!r}")
    return n


def _refuse_nonlin(cls: str, nonlin: object) -> None:
    # micrograd's switch, Neuron(nin, nonlin=True): valuegrad names the activation.
    if nonlin is not None:
        named = "relu" if nonlin else "linear"
        raise TypeError(f"{cls}() takes activation=, not micrograd's nonlin=: nonlin={nonlin!r} is "
                        f"activation={named!r} (the default is 'relu'; also 'tanh', 'sigmoid', ...)")


class Neuron(Module):
    """One neuron: ``activation(w · x + b)``.

    ``rng`` (a ``random.Random``) draws the weights; ``None`` means a fresh,
    unseeded ``random.Random()``, so the global ``random`` state is never
    touched. See the module docstring for the scale of the weights.
    ``nonlin`` is micrograd's switch, refused with the ``activation`` it means.

    >>> n = Neuron(2, activation="linear")
    >>> n.load_state_dict({"w.0": 2.0, "w.1": -1.0, "b": 0.5})
    >>> n([3, 4]).data
    2.5
    """

    def __init__(
        self, nin: int, activation: str = "relu", rng: random.Random | None = None, *, nonlin: None = None
    ) -> None:
        _refuse_nonlin("Neuron", nonlin)
        _check_size("nin", nin)
        self.activation = check_activation(activation)
        rng = random.Random() if rng is None else rng
        bound = math.sqrt(3.0 * INIT_VARIANCE_SCALE.get(activation, 1.0) / nin)
        self.w = [Value(rng.uniform(-bound, bound)) for _ in range(nin)]
        self.b = Value(0.0)
        self.alpha = Value(PRELU_INIT) if activation == "prelu" else None
        self._activate = ACTIVATIONS[activation]
        _label_parameters(self)

    def __call__(self, x: Input) -> Value:
        """The neuron's output for one input ``x`` (a list of numbers or Values)."""
        if len(x) != len(self.w):
            raise ValueError(f"Neuron expects {len(self.w)} inputs, got {len(x)}")
        # Start the sum from the bias: b + w0*x0 + w1*x1 + ..., 2*nin nodes, no 0 constant.
        return self._activate(sum(map(mul, self.w, x), self.b), self.alpha)

    def __repr__(self) -> str:
        return f"Neuron(nin={len(self.w)}, activation={self.activation!r})"


class Layer(Module):
    """``nout`` neurons reading the same ``nin`` inputs; ``layer(x)`` is always a list.

    Even of one: ``Layer(3, 1)(x)`` is ``[Value]`` (``MLP`` unwraps its last
    layer's single output). ``nonlin`` is refused, as by ``Neuron``.

    >>> layer = Layer(3, 2, activation="tanh", rng=random.Random(0))
    >>> len(layer([1.0, 2.0, 3.0]))
    2
    """

    def __init__(
        self, nin: int, nout: int, activation: str = "relu", rng: random.Random | None = None, *,
        nonlin: None = None
    ) -> None:
        _refuse_nonlin("Layer", nonlin)
        _check_size("nout", nout)
        rng = random.Random() if rng is None else rng
        self.neurons = [Neuron(nin, activation, rng) for _ in range(nout)]
        _label_parameters(self)

    def __call__(self, x: Input) -> list[Value]:
        return [n(x) for n in self.neurons]

    def __repr__(self) -> str:
        n = self.neurons[0]
        return f"Layer(nin={len(n.w)}, nout={len(self.neurons)}, activation={n.activation!r})"


class MLP(Module):
    """A multi-layer perceptron: ``nin`` inputs, then one layer per entry of ``nouts``.

    Hidden layers use ``activation``, the last layer ``output_activation``.
    ``mlp(x)`` is a ``Value`` when the last layer has one neuron, else a
    list. The same ``seed`` gives the same weights; ``seed=None`` draws
    fresh ones. The sizes are one list, as in micrograd: ``MLP(3, [4, 4, 1])``
    (``MLP(3, 4, 4, 1)`` is a ``TypeError`` that says so).

    >>> mlp = MLP(2, [16, 16, 1], seed=0)
    >>> len(mlp.parameters())
    337
    >>> mlp([0.5, -1.0]).data == MLP(2, [16, 16, 1], seed=0)([0.5, -1.0]).data
    True
    """

    def __init__(
        self,
        nin: int,
        nouts: Sequence[int],
        activation: str = "relu",
        output_activation: str = "linear",
        seed: int | None = None,
    ) -> None:
        if isinstance(nouts, int):
            listed = [nouts] + [a for a in (activation, output_activation) if isinstance(a, int)]
            raise TypeError(f"MLP takes the layer sizes as one list: MLP({nin!r}, {listed}), "
                            f"not MLP({', '.join(map(repr, [nin, *listed]))})")
        _check_size("nin", nin)
        nouts = list(nouts)
        if not nouts:
            raise ValueError("nouts must name at least one layer size")
        for n in nouts:
            _check_size("each of nouts", n)
        check_activation(activation)
        check_activation(output_activation)
        rng = random.Random(seed)
        sizes = [nin] + nouts
        last = len(nouts) - 1
        self.layers = [
            Layer(sizes[i], sizes[i + 1], output_activation if i == last else activation, rng)
            for i in range(len(nouts))
        ]
        _label_parameters(self)

    def __call__(self, x: Input) -> Value | list[Value]:
        out = self.layers[0](x)
        for layer in self.layers[1:]:
            out = layer(out)
        return out[0] if len(out) == 1 else out

    def to_torch(self) -> Any:  # a torch.nn.Sequential
        """This network as a float64 ``torch.nn.Sequential`` with the same weights.

        Each layer is a ``torch.nn.Linear(nin, nout)`` (``weight[j][i]`` is
        neuron j's ``w[i]``, ``bias[j]`` its ``b``) and its activation's
        module: ``ReLU``, ``Tanh``, ``Sigmoid``, ``LeakyReLU(0.01)``,
        ``ELU(1.0)``, ``PReLU(num_parameters=nout)`` holding the neurons'
        slopes, or nothing for ``"linear"``. Its outputs agree with this
        network's to 1e-12 (they differ by rounding only). Feed it a batch,
        shape ``(N, nin)``: a PReLU of several slopes needs the batch
        dimension. Torch's random state is left untouched. Needs PyTorch
        (``pip install torch``); without it, ``ImportError`` says so.
        """
        from .interop import to_torch  # here, not at the top: PyTorch loads only when asked

        return to_torch(self)

    @classmethod
    def from_torch(cls, module: Any) -> MLP:  # module: a torch.nn.Module
        """A new MLP with the layers and weights of a PyTorch ``module``.

        ``module`` is a ``torch.nn.Sequential`` such as ``to_torch`` makes (or
        a single ``Linear``): each ``Linear`` (with a bias) optionally
        followed by one activation module of the ones ``to_torch`` uses, and
        ``Identity`` anywhere (it computes nothing). A ``PReLU`` with one
        shared slope is accepted: every neuron of its layer gets that slope
        (the same function; in the MLP the slopes then train apart). Weights
        are read as float64, whatever the module's dtype or device.

        Anything an MLP cannot express raises ``ValueError`` naming the
        module's index and type in the Sequential: another module (a
        ``Conv1d``, ``Dropout``, a nested ``Sequential``), a ``Linear``
        without bias, a ``LeakyReLU`` or ``ELU`` with another slope, two
        activations in a row, sizes that do not chain, hidden layers with
        different activations (an MLP has one hidden activation and one
        output activation). So is what would make the module compute other
        than it reads: a hook, a class that overrides ``forward``, weights
        with no data (meta device) or not finite (see :mod:`nn.interop`).
        Needs PyTorch (``pip install torch``).
        """
        from .interop import from_torch  # here, not at the top: PyTorch loads only when asked

        mlp: MLP = from_torch(cls, module)
        return mlp

    def __repr__(self) -> str:
        sizes = [len(layer.neurons) for layer in self.layers]
        nin = len(self.layers[0].neurons[0].w)
        hidden = self.layers[0].neurons[0].activation
        out = self.layers[-1].neurons[0].activation
        return f"MLP(nin={nin}, nouts={sizes}, activation={hidden!r}, output_activation={out!r})"


def _label_parameters(module: Module) -> None:
    # A parameter's label is its name in the outermost module built so far,
    # so a drawn graph shows "layers.0.neurons.1.w.0" rather than a blank.
    for name, p in module.named_parameters():
        p.label = name
