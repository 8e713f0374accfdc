"""autograd: scalar reverse-mode automatic differentiation you can see.

>>> from autograd import Value
>>> x, y, z = Value(-2.0), Value(5.0), Value(-4.0)
>>> f = (x + y) * z
>>> f.backward()
>>> (f.data, x.grad, y.grad, z.grad)
(-12.0, -4.0, -4.0, 3.0)

``backward_steps`` gives the backward pass as data, one ``Step`` per gate,
and ``walkthrough`` plays it, in a notebook or an HTML page. ``draw_graph``
(and a walkthrough) need the ``graphviz`` package, which is imported only when
it is first used, so ``import autograd`` stays fast.
"""

from .check import gradcheck
from .engine import Value, grad, is_number, no_grad
from .walk import Step, backward_steps

__all__ = ["Value", "grad", "no_grad", "gradcheck", "is_number", "draw_graph", "Tape", "backward_steps", "Step",
           "walkthrough"]


def __getattr__(name: str):
    # Lazy: importing graphviz (and the tape, and the player) only when asked for.
    if name == "draw_graph":
        from .viz import draw_graph

        return draw_graph
    if name == "walkthrough":
        from .player import walkthrough

        return walkthrough
    if name == "Tape":
        from .tape import Tape

        return Tape
    raise AttributeError(f"module 'autograd' has no attribute {name!r}")
