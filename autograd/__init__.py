"""autograd: scalar reverse-mode automatic differentiation you can see.

>>> from autograd import Value
>>> x, y, z = Value(-2.0), Value(5.0), Value(-4.0)
>>> f = (x + y) * z
>>> f.backward()
>>> (f.data, x.grad, y.grad, z.grad)
(-12.0, -4.0, -4.0, 3.0)

``backward_steps`` gives the backward pass as data, one ``Step`` per gate,
and ``walkthrough`` plays it, in a notebook or an HTML page. ``audit`` checks a
graph built by someone else's engine (a learner's micrograd), node by node.
``draw_graph`` (and a walkthrough) need the ``graphviz`` package, which is imported only when it is
first used, so ``import autograd`` stays fast.

The distribution is ``valuegrad``; HIPS autograd, PyPI's ``autograd``, shares
this import name, and importing this package warns when both are installed in
one directory (:mod:`autograd.clash`).
"""

from __future__ import annotations

from .check import gradcheck
from .clash import warn_about_neighbours
from .engine import Value, grad, is_number, no_grad
from .walk import Step, backward_steps

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (3 ms); checkers read it as True
if TYPE_CHECKING:  # for type checkers; at run time they load lazily, below
    from .audit import Audit, audit
    from .player import walkthrough
    from .tape import Tape
    from .viz import draw_graph

__version__ = "0.3.0"
"""valuegrad's version: the one place it is written (pyproject.toml reads it from here)."""

__all__ = ["Value", "grad", "no_grad", "gradcheck", "is_number", "draw_graph", "Tape", "backward_steps", "Step",
           "walkthrough", "audit", "Audit"]

MICROGRAD_NAMES = {"draw_dot": "draw_graph"}
"""micrograd's names for what valuegrad has under another name."""

warn_about_neighbours(__path__[0])


def __getattr__(name: str) -> object:
    # Lazy: importing graphviz (and the tape, the player and audit) only when asked for.
    if name == "draw_graph":
        from .viz import draw_graph

        return draw_graph
    if name == "walkthrough":
        from .player import walkthrough

        return walkthrough
    if name in ("audit", "Audit"):
        from importlib import import_module

        module = import_module(".audit", __name__)

        # Importing the submodule bound the name "audit" here to it: the function takes it back.
        globals()["audit"] = module.audit
        return getattr(module, name)
    if name == "Tape":
        from .tape import Tape

        return Tape
    if name in MICROGRAD_NAMES:
        # An ImportError, not an AttributeError: `from autograd import draw_dot`
        # would turn an AttributeError into a bare "cannot import name".
        ours = MICROGRAD_NAMES[name]
        raise ImportError(f"autograd has no {name} (micrograd's name): valuegrad's is {ours}, "
                          f"as in `from autograd import {ours}`; {ours}(f) returns a graphviz.Digraph, "
                          f"as {name}(f) does", name="autograd")
    raise AttributeError(f"module 'autograd' has no attribute {name!r}")
