"""The backward pass as data, one step per gate, and the HTML player that shows it.

``backward_steps(root)`` replays what ``root.backward()`` does without
touching any ``.grad``: for each interior node, in the order ``backward()``
visits them, the upstream gradient that has arrived, the gate's local
gradients and what it hands to each parent (local × upstream). Printed, a
step reads as the lecture's arithmetic:

>>> from autograd import Value
>>> x, y, z = Value(-2.0, "x"), Value(5.0, "y"), Value(-4.0, "z")
>>> q = x + y; q.label = "q"
>>> f = q * z; f.label = "f"
>>> for step in backward_steps(f):
...     print(step)
f = q * z: upstream 1
  q.grad += 1 × -4 = -4
  z.grad += 1 × 3 = 3
q = x + y: upstream -4
  x.grad += -4 × 1 = -4
  y.grad += -4 × 1 = -4

``Walkthrough`` is the player: one self-contained HTML page (or a notebook
cell) that plays the steps beside their drawings. ``autograd.walkthrough``
(in :mod:`autograd.viz`, the one module that draws with Graphviz) makes one.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import namedtuple

from .engine import Value, backpropagate
from .files import PathLike, write_atomic
from .graph import topological_order
from .lower import lower
from .ops import FLOATS, PRIMITIVES
from .text import printable

__all__ = ["Step", "Walkthrough", "backward_steps", "describe", "local_grads", "progress"]

_FORMS = {"+": "{} + {}", "*": "{} * {}", "**": "{} ** {}", "1/x": "1/{}"}
"""How a gate is written in a step's text; other ops read as calls, ``exp(a)``."""
_INFIX = frozenset({"+", "*", "**"})
_WORD = re.compile(r"[\w.]+")
_CALL = re.compile(r"\w+\([^()]*\)")
_NAME_CHARS = 28  # a node without a label is named by its formula, up to this long


class Step(namedtuple("Step", "node upstream local_grads contributions")):
    """One gate of the backward pass.

    ``node`` is the interior ``Value`` being processed, ``upstream`` the
    gradient d(root)/d(node) that has arrived at it, ``local_grads`` the
    partial derivative of ``node`` with respect to each of its ``parents``
    (in order) and ``contributions`` what is added to each parent's gradient:
    ``local * upstream``, computed as ``backward()`` computes it (by the
    row's rule, so without overflow where the product is finite; and a zero
    upstream passes nothing on, but through ``+``). ``str(step)`` reads as the arithmetic:
    ``name = formula: upstream u`` and then one line ``parent.grad += u × local = c``
    per parent.
    """

    __slots__ = ()

    def __str__(self) -> str:
        return describe(self)


def backward_steps(root: Value) -> list[Step]:
    """The backward pass under ``root`` as a list of ``Step``, in ``backward()``'s order.

    One step per interior node, root first (the order of
    ``autograd.graph.topological_order``, which ``backward()`` follows), so
    each node's upstream gradient is complete when its step comes. Adding up
    the contributions each node receives, in this order, gives exactly (bit
    for bit, starting from 0) what ``root.backward()`` leaves in its
    ``.grad``. Nothing is changed: no ``.grad`` is read or written. A leaf
    ``root`` has no steps.
    """
    if not isinstance(root, Value):
        raise TypeError(f"backward_steps() takes a Value, got {type(root).__name__}")
    steps: list[Step] = []

    def record(node: Value, upstream: float, given: tuple | None) -> None:
        local = local_grads(node)
        steps.append(Step(node, upstream, local, (0.0,) * len(local) if given is None else given))

    backpropagate(lower(root), 1.0, FLOATS, on_step=record)
    return steps


def local_grads(node: Value) -> tuple[float, ...]:
    """The partial derivative of ``node`` with respect to each of its parents: its row's rule
    with an upstream gradient of 1."""
    return PRIMITIVES[node.op].vjp(FLOATS, 1.0, node.data, *[p.data for p in node.parents])


def progress(root: Value, steps: list[Step], k: int) -> tuple[dict, set]:
    """Where the backward pass stands after the first ``k`` of ``steps`` (those of ``root``).

    Returns the gradient arrived so far at every node that has received some
    (the root's 1 once the pass has begun), and the set of finished nodes:
    those whose gradient is complete and already passed on (interior nodes
    processed before step ``k``, leaves whose every user is processed).
    """
    arrived = {root: 1.0} if k else {}
    waiting_for = {}  # node -> how many of its uses have yet to send it a gradient
    for step in steps:
        for parent in step.node.parents:
            waiting_for[parent] = waiting_for.get(parent, 0) + 1
    for step in steps[:k]:
        for parent, c in zip(step.node.parents, step.contributions):
            arrived[parent] = arrived.get(parent, 0.0) + c
            waiting_for[parent] -= 1
    done = {step.node for step in steps[: max(k - 1, 0)]}
    done.update(n for n, count in waiting_for.items() if count == 0 and not n.parents)
    return arrived, done


# -- text ----------------------------------------------------------------------


def describe(step: Step) -> str:
    """The arithmetic of ``step``, as ``str(step)`` prints it."""
    node = step.node
    lines = [f"{_gate(node)}: upstream {number(step.upstream)}"]
    for parent, local, c in zip(node.parents, step.local_grads, step.contributions):
        lines.append(f"  {_owner(parent)}.grad += {number(step.upstream)} × {number(local)} = {number(c)}")
    return "\n".join(lines)


def name(node: Value) -> str:
    """How a step's text calls ``node``: its label; else a constant's value; else its formula.

    A long formula is shortened with ``…`` for the parts too deep to spell out.
    """
    if node.label:
        return printable(node.label)
    if not node.parents:
        return number(node.data)
    return _spelled(node)


def _gate(node: Value) -> str:
    """The gate that makes ``node``: ``f = q * z``, or the formula alone when that is all there is."""
    formula = _spelled(node)
    if not node.label or node.label.replace(" ", "") == formula.replace(" ", ""):
        return formula
    return f"{printable(node.label)} = {formula}"


def _spelled(node: Value) -> str:
    """The formula of an interior ``node``, as deep as it stays short."""
    for depth in (3, 2):
        text = _formula(node, depth)
        if len(text) <= _NAME_CHARS:
            return text
    return _formula(node, 1)


def _owner(node: Value) -> str:
    # The name before ".grad", grouped unless it is one word or call: (-1).grad, (w0*x0).grad.
    text = name(node)
    if node.label:
        return text if _atomic(text) else f"({text})"
    return text if node.parents and node.op not in _INFIX else f"({text})"


def _atomic(label: str) -> bool:
    """Whether a label reads as one operand as it is: a name, a number, or a call such as exp(-z)."""
    return bool(_WORD.fullmatch(label) or _CALL.fullmatch(label))


def _formula(node: Value, depth: int) -> str:
    """``node``'s op applied to its parents' names, spelled out ``depth`` levels deep."""
    form = _FORMS.get(node.op)
    args = []
    for parent in node.parents:
        if parent.label or not parent.parents:
            arg = name(parent)
            grouped = parent.label and not _atomic(arg)
        elif depth <= 1:
            arg, grouped = "…", False
        else:
            arg = _formula(parent, depth - 1)
            grouped = parent.op in _INFIX
        # An operand of an operator (a + b, 1/a) is grouped; a call's argument needs no parentheses.
        args.append(f"({arg})" if form and grouped else arg)
    return form.format(*args) if form else f"{node.op}({', '.join(args)})"


def number(x: float) -> str:
    """``x`` to at most four decimals, trailing zeros dropped: ``-4``, ``0.1966``, ``1e-07``."""
    if x == 0.0:
        return "0"  # -0.0 too
    if not math.isfinite(x) or abs(x) >= 1e9 or abs(x) < 1e-4:
        return f"{x:.4g}"
    return f"{x:.4f}".rstrip("0").rstrip(".")


# -- the player ----------------------------------------------------------------

WALK_MAX_NODES = 100
"""walkthrough's default size guard: a drawing per step makes the page grow as n²."""

_ids = itertools.count(1)  # element ids unique within a process (a notebook's kernel)


class Walkthrough:
    """A player of the backward pass under one root, made by :func:`walkthrough`.

    ``steps`` are its ``backward_steps``; ``html()`` is the page as a
    standalone document; in Jupyter the object shows the same player inline.
    """

    def __init__(self, root: Value, steps: list[Step], frames: list[str]) -> None:
        self.root, self.steps, self._frames = root, steps, frames

    def __repr__(self) -> str:
        return f"<walkthrough of {name(self.root)!r}: {len(self.steps)} backward steps>"

    def html(self) -> str:
        """The player as one self-contained HTML page: no request leaves it, and its
        Content-Security-Policy lets only its own script and stylesheet run."""
        import base64
        import hashlib
        from html import escape
        from string import Template

        body, style, script = self._parts(page=True)
        digest = {t: base64.b64encode(hashlib.sha256(t.encode()).digest()).decode() for t in (style, script)}
        policy = (f"default-src 'none'; style-src 'sha256-{digest[style]}'; "
                  f"script-src 'sha256-{digest[script]}'; base-uri 'none'; form-action 'none'")
        return Template(_PAGE).substitute(policy=policy, title=escape(f"valuegrad: backward through {name(self.root)}"),
                                body=body)

    def save(self, path: PathLike) -> None:
        """Write ``html()`` to ``path``, atomically."""
        write_atomic(path, self.html().encode("utf-8"))

    def _repr_html_(self) -> str:
        # Each display gets fresh element ids, so several players share a notebook.
        return self._parts(page=False)[0]

    def _parts(self, page: bool) -> tuple[str, str, str]:
        """The player's markup (its style and script inside) and, apart, that style and script."""
        from html import escape
        from string import Template

        # A page holds one player: a fixed id keeps the page the same from run to run.
        uid = "valuegrad-walk" if page else f"valuegrad-walk-{next(_ids)}"
        style = (_STYLE.replace("#ID", f"#{uid}").replace("CURRENT", CURRENT_COLOR)
                 .replace("DONE", DONE_COLOR))
        script = Template(_SCRIPT).substitute(id=uid, current=CURRENT_COLOR)
        frames, texts = [], []
        for k, svg in enumerate(self._frames):
            hidden = " hidden" if k else ""
            frames.append(f'<div class="frame"{hidden}>{svg}</div>')
            texts.append(f'<pre class="text"{hidden}>{escape(self._text(k))}</pre>')
        body = Template(_PLAYER).substitute(
            id=uid, page=" data-page" if page else "", style=style, script=script,
            last=len(self._frames) - 1, frames="\n".join(frames), texts="\n".join(texts),
        )
        return body, style, script

    def _text(self, k: int) -> str:
        if k:
            return f"backward, step {k} of {len(self.steps)}:\n{self.steps[k - 1]}"
        order = reversed(topological_order(self.root))
        lines = ["forward pass: each gate computes its value; no gradient yet"]
        for node in order:
            if node.parents:
                lines.append(f"  {_gate(node)} = {number(node.data)}")
        return "\n".join(lines)


CURRENT_COLOR = "orange"
"""The current gate in a step's drawing (``draw_graph(step=k)``) and the player's legend."""
DONE_COLOR = "palegreen"
"""A node whose gradient is complete and passed on, in a step's drawing and the legend."""

# string.Template texts ($name placeholders), filled in when a page is made.
_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="$policy">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
</head>
<body>
$body
</body>
</html>
"""

_STYLE = """
#ID { font: 14px/1.4 sans-serif; color: #222; outline: none; }
#ID .bar { display: flex; gap: 0.6em; align-items: center; margin: 0.4em 0; }
#ID .bar button { font: inherit; padding: 0.2em 0.8em; }
#ID .counter { min-width: 7em; text-align: center; font-variant-numeric: tabular-nums; }
#ID .body { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
#ID .view { flex: 1 1 30em; overflow: auto; border: 1px solid #ddd; }
#ID .side { flex: 0 1 30em; }
#ID .text { margin: 0; font: 13px/1.5 monospace; white-space: pre-wrap; }
#ID .legend { margin-top: 1em; font-size: 12px; color: #555; }
#ID .swatch { display: inline-block; width: 0.9em; height: 0.9em; border: 1px solid #555;
  vertical-align: -0.1em; background: white; }
#ID .swatch.current { background: CURRENT; }
#ID .swatch.done { background: DONE; }
"""

_PLAYER = """<div id="$id" class="valuegrad-walk" tabindex="0"$page>
<style>$style</style>
<div class="bar">
<button type="button" class="prev" title="previous step (left arrow)">&#9664; Previous</button>
<span class="counter">step 0 of $last</span>
<button type="button" class="next" title="next step (right arrow)">Next &#9654;</button>
</div>
<div class="body">
<div class="view">
$frames
</div>
<div class="side">
$texts
<div class="legend">
<span class="swatch current"></span> current gate, its inputs outlined &nbsp;
<span class="swatch done"></span> gradient complete, passed on &nbsp;
<span class="swatch"></span> waiting<br>
each line: parent.grad += upstream &times; local = contribution
</div>
</div>
</div>
<script>$script</script>
</div>"""

_SCRIPT = """
(function () {
  var root = document.getElementById("$id");
  var frames = root.querySelectorAll(".frame"), texts = root.querySelectorAll(".text");
  var counter = root.querySelector(".counter"), view = root.querySelector(".view");
  var prev = root.querySelector(".prev"), next = root.querySelector(".next");
  var last = frames.length - 1, page = root.hasAttribute("data-page"), k = 0;
  function show(i) {
    k = Math.max(0, Math.min(last, i));
    for (var j = 0; j <= last; j++) frames[j].hidden = texts[j].hidden = j !== k;
    counter.textContent = "step " + k + " of " + last;
    prev.disabled = k === 0;
    next.disabled = k === last;
    // Follow the current gate and the edges it uses: centre them when the drawing is wider than its box.
    var hot = frames[k].querySelectorAll('[fill="$current"], [stroke="$current"]');
    var v = view.getBoundingClientRect(), left = Infinity, right = -Infinity;
    hot.forEach(function (e) {
      var r = e.getBoundingClientRect();
      left = Math.min(left, r.left);
      right = Math.max(right, r.right);
    });
    if (hot.length) view.scrollLeft += (left + right) / 2 - (v.left + v.right) / 2;
    if (page && location.hash !== "#step=" + k) {
      try { history.replaceState(null, "", "#step=" + k); } catch (e) { /* a file: URL may refuse */ }
    }
  }
  function fromHash() {
    var m = /^#step=(\\d+)$$/.exec(location.hash);
    return m ? Number(m[1]) : 0;
  }
  prev.addEventListener("click", function () { show(k - 1); });
  next.addEventListener("click", function () { show(k + 1); });
  // A page of its own listens to the whole document; a player in a notebook
  // only while it has the focus, so that it leaves the notebook's keys alone.
  (page ? document : root).addEventListener("keydown", function (e) {
    var step = { ArrowLeft: -1, ArrowRight: 1 }[e.key];
    if (!step || e.altKey || e.ctrlKey || e.metaKey) return;
    e.preventDefault();
    e.stopPropagation();
    show(k + step);
  });
  if (page) window.addEventListener("hashchange", function () { show(fromHash()); });
  show(page ? fromHash() : 0);
  if (page) root.focus();
})();
"""
