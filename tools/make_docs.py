"""Draw the pictures committed under docs/ (``make docs``).

    python tools/make_docs.py DIR

writes ``DIR/circuit.svg``, the (x + y) * z circuit at x=-2, y=5, z=-4, and
``DIR/sigmoid_neuron.svg``, the two-input sigmoid neuron built gate by gate
(as in CS231n's backpropagation notes), each after ``backward()``. Files are
written atomically.
"""

from __future__ import annotations

import os
import sys

from autograd import Value, draw_graph
from autograd.files import write_atomic


def circuit() -> Value:
    """f = (x + y) * z at x=-2, y=5, z=-4, after backward: f = -12."""
    x, y, z = Value(-2.0, "x"), Value(5.0, "y"), Value(-4.0, "z")
    q = x + y
    q.label = "q"
    f = q * z
    f.label = "f"
    f.backward()
    return f


def sigmoid_neuron() -> Value:
    """f = 1 / (1 + exp(-(w0*x0 + w1*x1 + w2))) from primitive gates, after backward."""
    w0, x0 = Value(2.0, "w0"), Value(-1.0, "x0")
    w1, x1 = Value(-3.0, "w1"), Value(-2.0, "x1")
    w2 = Value(-3.0, "w2")
    n = w0 * x0 + w1 * x1 + w2
    n.label = "n"
    f = 1 / (1 + (-n).exp())
    f.label = "f"
    f.backward()
    return f


def main(argv: list[str]) -> int:
    """Write both pictures into the directory ``argv[0]``."""
    if len(argv) != 1:
        print("usage: python tools/make_docs.py DIR", file=sys.stderr)
        return 2
    for name, root in (("circuit", circuit()), ("sigmoid_neuron", sigmoid_neuron())):
        path = os.path.join(argv[0], name + ".svg")
        write_atomic(path, draw_graph(root).pipe(format="svg"))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
