"""Drawing a computational graph with Graphviz.

``draw_graph`` turns the graph under a ``Value`` into a ``graphviz.Digraph``:
it shows inline in Jupyter and renders with the graphviz package's own
``.pipe(format="svg")`` / ``.render(...)``; ``render`` does the same but
turns a missing or failing ``dot`` program into a ``RenderError`` that says
what to do. ``StepDrawings`` draws every step of one backward pass (the
player's frames, ``draw_graph(root, step=k)`` for each k) from the steps
worked out once. This is the only module that imports graphviz, so
``import autograd`` never pays for it.
"""

from __future__ import annotations

import math

import graphviz

from .engine import Value
from .graph import topological_order
from .text import printable
from .walk import Names, Step, backward_steps, number, progress, short_names

TYPE_CHECKING = False  # typing's flag without importing typing (3 ms); checkers take it as True
if TYPE_CHECKING:
    from typing import Any, Protocol

    Attributes = dict[str, str]
    """Graphviz attributes of a node or an edge, by name."""

    class Look(Protocol):
        """How a picture styles each node and edge: :class:`_Kinds` (after ``backward()``) or
        :class:`_Frame` (a step of the backward pass)."""

        font: str

        def name(self, node: Value) -> str: ...

        def value(self, node: Value) -> Attributes: ...

        def grad(self, node: Value) -> str: ...

        def op(self, node: Value) -> Attributes: ...

        def edge(self, node: Value, k: int) -> Attributes: ...

__all__ = ["draw_graph", "StepDrawings", "render", "RenderError", "DotNotFound"]

# Fill colours, one per kind of value node (the legend in draw_graph's docstring).
OUTPUT_COLOR = "gold"
LABELLED_COLOR = "lightblue"
CONSTANT_COLOR = "lightgrey"
INTERIOR_COLOR = "white"
# With step=k, colours tell where the backward pass stands instead (the player's legend shows them).
CURRENT_COLOR = "orange"
DONE_COLOR = "palegreen"
WAITING_COLOR = "white"

NBSP = "\N{NO-BREAK SPACE}"
RANKDIRS = ("LR", "RL", "TB", "BT")
MAX_LABEL_CHARS = 40  # a long label would stretch the whole picture

INSTALL_DOT = (
    "Graphviz's dot program is needed to render svg or png and is not installed: "
    "apt-get install graphviz (Debian/Ubuntu), brew install graphviz (macOS), "
    "or see https://graphviz.org/download/"
)

# Characters that mean something to Graphviz's record-label parser or to its
# quoted-string escapes (``\N``, ``\l`` ...): each is drawn literally when
# preceded by a backslash. A space is escaped too, so runs of spaces survive.
_RECORD_SPECIALS = frozenset('\\{}|<>" ')


def escape_label(text: str) -> str:
    r"""``text`` as it must be written in a Graphviz (record) label to be drawn literally.

    Characters that cannot be drawn (newlines, other control characters, lone
    surrogates, bidirectional overrides) are shown as Python escapes, so the
    SVG stays well-formed XML. ``&`` becomes ``&amp;`` because Graphviz decodes
    HTML entities in ordinary labels; Graphviz itself escapes ``< > & "`` when
    it writes SVG, so nothing in ``text`` ever becomes markup.

    >>> print(escape_label('{a|b} "c" & d'))
    \{a\|b\}\ \"c\"\ &amp;\ d
    """
    visible = printable(text)
    if len(visible) > MAX_LABEL_CHARS:
        visible = visible[: MAX_LABEL_CHARS - 1] + "\N{HORIZONTAL ELLIPSIS}"
    out = []
    for c in visible:
        if c == "&":
            out.append("&amp;")
        elif c in _RECORD_SPECIALS:
            out.append("\\" + c)
        else:
            out.append(c)
    return "".join(out)


def _check_max_nodes(max_nodes: object) -> None:
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1:
        raise ValueError(f"max_nodes must be a positive int, got {max_nodes!r}")


def _number(x: float) -> str:
    # Four decimals, as in the textbook pictures; huge values in exponent form
    # so that 1e300 does not print as 301 digits.
    if math.isfinite(x) and abs(x) >= 1e9:
        return f"{x:.4e}"
    return f"{x:.4f}"


def _grad_field(g: float) -> str:
    return f"grad {_number(g)}"


DRAW_MAX_NODES = 2000
"""The largest graph ``draw_graph`` (and ``Audit.draw``) draws unless told otherwise."""


def draw_graph(
    root: Value,
    rankdir: str = "LR",
    show_grad: bool = True,
    max_nodes: int = DRAW_MAX_NODES,
    step: int | None = None,
) -> graphviz.Digraph:
    """The computational graph under ``root``, as a ``graphviz.Digraph``.

    One record node per ``Value`` (its label, ``data`` and ``grad`` to four
    decimals; ``show_grad=False`` leaves the grad out) and one small ellipse per
    operation, named by ``op``; edges run input -> operation -> result, one per
    operand, so ``x * x`` has two edges from ``x``. ``rankdir`` is Graphviz's
    direction: ``"LR"`` (inputs on the left), ``"RL"``, ``"TB"`` or ``"BT"``.

    Legend (fill colours of the value nodes):

    * gold: the output, ``root``;
    * light blue: a node with a label (inputs and parameters, usually);
    * light grey: a constant (an unlabelled leaf, such as the -1 of ``-x``);
    * white: an unlabelled intermediate result.

    With ``step=k`` the graph is drawn as it stands after the first ``k``
    steps of the backward pass (``autograd.backward_steps(root)``; ``k`` from
    0 to the number of steps), whatever ``.grad`` holds. A grad is shown
    only where some gradient has arrived (blank otherwise), summed so far.
    ``step=0`` is the forward pass: every grad blank. Legend:

    * orange: the current node, the one the k-th step processed; the edges
      from its parents are orange too, each labelled with the contribution it
      just carried, and the parents are outlined in orange;
    * pale green: finished: its gradient is complete and, for an interior
      node, already passed on to its parents;
    * white: still waiting for (the rest of) its gradient, or for its turn.

    A ``step`` outside that range raises ``ValueError`` naming the range.
    A node without a label gets a short name in its box, ``t1``, ``t2``, ...
    (``autograd.walk.short_names``), the name the player's text gives it. In
    the SVG, the current gate's node and operation carry the class
    ``current``, its inputs ``input``, the edges it just used ``used`` and
    the finished nodes ``done``, for scripts and style sheets.

    In Jupyter, a cell ending in ``draw_graph(f)`` shows the picture inline.
    Elsewhere: ``draw_graph(f).pipe(format="svg")`` gives SVG bytes and
    ``draw_graph(f).render("f", format="svg")`` writes ``f.svg`` (both need
    Graphviz's ``dot`` program). Label text is escaped: whatever a label
    holds is drawn as text and never becomes markup.

    The graph is walked without recursion. One with more than ``max_nodes``
    values raises ``ValueError`` (Graphviz gets slow and the picture
    unreadable long before 100,000 nodes); pass a larger ``max_nodes`` to
    draw it anyway.

    >>> from autograd import Value
    >>> x = Value(3.0, "x")
    >>> dot = draw_graph(x * x)
    >>> dot.source.count("-> op0")
    2
    """
    if not isinstance(root, Value):
        raise TypeError(f"draw_graph() takes a Value, got {type(root).__name__}")
    _check_rankdir(rankdir)
    nodes = graph_nodes(root, max_nodes, "draw_graph", "draw")
    if step is None:
        return _draw(nodes, rankdir, show_grad, _Kinds(root))
    return StepDrawings(root, backward_steps(root), rankdir, nodes).frame(step, show_grad)


def graph_nodes(root: Value, max_nodes: int, caller: str, verb: str) -> list[Value]:
    """The nodes under ``root``, root first; past ``max_nodes``, a ``ValueError`` that says how
    to ``verb`` the graph anyway (pass a larger ``max_nodes`` to ``caller``)."""
    _check_max_nodes(max_nodes)
    nodes = topological_order(root)  # iterative, root first
    _check_size(len(nodes), max_nodes, caller, verb)
    return nodes


def _check_size(count: int, max_nodes: int, caller: str, verb: str) -> None:
    if count > max_nodes:
        raise ValueError(f"the graph has {count} nodes, more than max_nodes={max_nodes}; "
                         f"to {verb} it anyway, pass max_nodes={count} (or more) to {caller}")


def _check_rankdir(rankdir: str) -> str:
    if rankdir not in RANKDIRS:
        raise ValueError(f"rankdir must be one of {', '.join(RANKDIRS)}, got {rankdir!r}")
    return rankdir


def _draw(nodes: list[Value], rankdir: str, show_grad: bool, look: Look) -> graphviz.Digraph:
    """The Digraph of ``nodes`` (root first), each node and edge styled by ``look``."""
    dot = graphviz.Digraph(
        graph_attr={"rankdir": rankdir},
        node_attr={"fontname": look.font, "fontsize": "11"},
        edge_attr={"fontname": look.font, "fontsize": "11"},
    )
    # Record fields in braces run across the rank direction: wrap them for
    # LR/RL so each node reads as one horizontal row either way.
    row = "{%s}" if rankdir in ("LR", "RL") else "%s"
    ids = {node: i for i, node in enumerate(nodes)}
    for node, i in ids.items():
        name = look.name(node)
        fields = [escape_label(name)] if name else []
        fields.append(f"data {_number(node.data)}")
        if show_grad:
            fields.append(look.grad(node))
        # nohtml: a label that happened to start with "<" must not be taken
        # for a Graphviz HTML label.
        dot.node(f"v{i}", graphviz.nohtml(row % "|".join(fields)), shape="record", style="filled",
                 **look.value(node))
        if node.parents:
            dot.node(f"op{i}", graphviz.nohtml(escape_label(node.op)), shape="ellipse",
                     width="0", height="0", margin="0.05,0.03", **look.op(node))
            dot.edge(f"op{i}", f"v{i}")
            for k, parent in enumerate(node.parents):
                dot.edge(f"v{ids[parent]}", f"op{i}", **look.edge(node, k))
    return dot


class _Kinds:
    """The picture after ``backward()``: colours by kind of node, every ``.grad`` shown."""

    font = "Helvetica"

    def __init__(self, root: Value) -> None:
        self.root = root

    def name(self, node: Value) -> str:
        return node.label

    def value(self, node: Value) -> Attributes:
        if node is self.root:
            return {"fillcolor": OUTPUT_COLOR}
        if node.label:
            return {"fillcolor": LABELLED_COLOR}
        return {"fillcolor": INTERIOR_COLOR if node.parents else CONSTANT_COLOR}

    def grad(self, node: Value) -> str:
        return _grad_field(node.grad)

    def op(self, node: Value) -> Attributes:
        return {}

    def edge(self, node: Value, k: int) -> Attributes:
        return {}


class StepDrawings:
    """The drawings of one backward pass, from its steps worked out once.

    ``frame(k)`` is ``draw_graph(root, rankdir, step=k)``; ``finished()`` is
    the pass complete: every gradient, each edge labelled with the
    contribution it carried, every node finished. The player draws all its
    frames from one of these, so the steps, the order of the nodes and the
    widths of their fields are computed once per player, not once per frame.
    ``steps`` must be ``backward_steps(root)``; ``nodes``, when the caller
    has it, ``topological_order(root)``.

    Every frame of one walk is laid out alike, or the picture would jump
    from step to step: so the text is monospaced, a grad field is as wide in
    every frame as its widest value over the walk, and every edge into an
    operation has a label as wide as the contribution it will carry, blank
    until that step.
    """

    font = "Courier"

    def __init__(self, root: Value, steps: list[Step], rankdir: str, nodes: list[Value]) -> None:
        self.root, self.steps, self.rankdir, self.nodes = root, steps, _check_rankdir(rankdir), nodes
        self.names: Names = short_names(steps)
        # The widest grad field of each node over the whole walk: its running sums.
        self.width = {root: len(_grad_field(1.0))}
        sums = {root: 1.0}
        for s in steps:
            for parent, c in zip(s.node.parents, s.contributions):
                sums[parent] = sums.get(parent, 0.0) + c
                self.width[parent] = max(self.width.get(parent, 0), len(_grad_field(sums[parent])))
        self.label = {(s.node, k): number(c) for s in steps for k, c in enumerate(s.contributions)}

    def frame(self, k: int, show_grad: bool = True) -> graphviz.Digraph:
        """The graph as it stands after the first ``k`` steps (0: the forward pass)."""
        n = len(self.steps)
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= n:
            raise ValueError(
                f"step must be an int from 0 to {n} (the backward pass of this graph "
                f"has {n} steps; 0 is the forward pass), got {k!r}"
            )
        return _draw(self.nodes, self.rankdir, show_grad, _Frame(self, k))

    def finished(self, rankdir: str | None = None) -> graphviz.Digraph:
        """The whole pass done, drawn in ``rankdir`` (by default the frames')."""
        look = _Frame(self, len(self.steps), finished=True)
        return _draw(self.nodes, _check_rankdir(rankdir or self.rankdir), True, look)


class _Frame:
    """How one frame of a ``StepDrawings`` styles each node and edge."""

    font = StepDrawings.font

    def __init__(self, walk: StepDrawings, k: int, finished: bool = False) -> None:
        self.walk, self.finished = walk, finished
        self.arrived, self.done = progress(walk.root, walk.steps, k)
        self.current = walk.steps[k - 1] if k and not finished else None
        if finished:
            self.arrived.setdefault(walk.root, 1.0)
            self.done.update(s.node for s in walk.steps)

    def name(self, node: Value) -> str:
        return node.label or self.walk.names.get(node, "")

    def value(self, node: Value) -> Attributes:
        if self.current is not None and node is self.current.node:
            return {"fillcolor": CURRENT_COLOR, "class": "current"}
        done = node in self.done
        look, classes = {"fillcolor": DONE_COLOR if done else WAITING_COLOR}, ["done"] if done else []
        if self.current is not None and node in self.current.node.parents:
            look.update(color=CURRENT_COLOR, penwidth="2")
            classes.append("input")
        if classes:
            look["class"] = " ".join(classes)
        return look

    def grad(self, node: Value) -> str:
        g = self.arrived.get(node)
        # No-break spaces: Graphviz keeps them, so the field keeps its width.
        return ("grad" if g is None else _grad_field(g)).ljust(self.walk.width.get(node, 4), NBSP)

    def op(self, node: Value) -> Attributes:
        if self.current is None or node is not self.current.node:
            return {}
        return {"style": "filled", "fillcolor": CURRENT_COLOR, "class": "current"}

    def edge(self, node: Value, k: int) -> Attributes:
        text = self.walk.label[node, k]
        if self.finished:
            return {"label": text}
        if self.current is None or node is not self.current.node:
            return {"label": NBSP * len(text)}
        return {"label": text, "color": CURRENT_COLOR, "fontcolor": "darkorange3", "penwidth": "2",
                "class": "used"}


class RenderError(RuntimeError):
    """Graphviz could not render a graph: its ``dot`` program is missing or failed."""


class DotNotFound(RenderError):
    """Graphviz's ``dot`` program is not installed; the message says how to install it."""


def render(dot: graphviz.Digraph, format: str = "svg") -> bytes:
    """The bytes of ``dot`` (as made by ``draw_graph``) in ``format``.

    ``"dot"`` gives the Graphviz source, which needs no Graphviz program;
    ``"svg"``, ``"png"`` and Graphviz's other output formats run its ``dot``
    program. When that program is not installed, ``DotNotFound`` says how to
    install it; when it fails, ``RenderError`` gives what it printed.

    >>> from autograd import Value
    >>> render(draw_graph(Value(1.0, "x")), "dot").startswith(b"digraph")
    True
    """
    if format == "dot":
        return dot.source.encode("utf-8")  # type: ignore[no-any-return]  # graphviz is untyped: Any
    try:
        # quiet: what dot prints on stderr is ours to report (in the error), not to pass on.
        return dot.pipe(format=format, quiet=True)  # type: ignore[no-any-return]
    except graphviz.ExecutableNotFound:
        raise DotNotFound(INSTALL_DOT) from None
    except graphviz.CalledProcessError as e:
        stderr = (e.stderr or b"").decode("utf-8", "replace")
        raise RenderError(f"Graphviz's dot failed: {' '.join(stderr.split())[:200]}") from None


# -- audit: someone else's graph, checked (autograd.audit) ------------------------------
# This block draws the picture of ``Audit.draw()``; it reads only the plain rows that
# ``Audit`` hands it (viz never imports audit).

AUDIT_COLORS = {"right": "white", "wrong": "mistyrose", "first": "salmon", "unchecked": "lightgrey"}
"""Fill colour of a node of an audited graph, by its verdict."""
AUDIT_FAULT_COLOR = "orange"


def draw_audit(rows: list[dict[str, Any]], rankdir: str = "LR",
               max_nodes: int = DRAW_MAX_NODES) -> graphviz.Digraph:
    """An audited graph (``autograd.audit(root).draw()``), from ``Audit``'s rows, root last.

    One record per node of theirs: its label, data and grad; beside a wrong grad the
    expected one. One small ellipse per operation, named as their graph names it (or as
    audit recognised it: ``product``, ``**2``). Legend:

    * white: the gradient is right; pink: wrong; red, with a thick dark-red outline:
      wrong where the error enters (``Audit.first``), every user of it right;
    * grey, dashed, ``unchecked``: the gradient depends on an operation audit could not
      recognise; such an operation is dashed and ends in ``?``;
    * an orange operation: the gate at fault (its rule, stored local gradient or `=`).
    """
    _check_rankdir(rankdir)
    _check_max_nodes(max_nodes)
    _check_size(len(rows), max_nodes, "draw", "draw")
    dot = graphviz.Digraph(graph_attr={"rankdir": rankdir}, node_attr={"fontname": "Helvetica", "fontsize": "11"})
    row = "{%s}" if rankdir in ("LR", "RL") else "%s"
    for i, node in enumerate(rows):
        fields = [escape_label(node["label"])] if node["label"] else []
        fields += [f"data {_number(node['data'])}", _grad_field(node["grad"])]
        status = node["status"]
        if status in ("wrong", "first"):
            fields.append(f"expected {_number(node['expected'])}")
        elif status == "unchecked":
            fields.append("unchecked")
        look = {"style": "filled,dashed" if status == "unchecked" else "filled", "fillcolor": AUDIT_COLORS[status]}
        if status == "first":
            look.update(color="darkred", penwidth="2.5")
        dot.node(f"v{i}", graphviz.nohtml(row % "|".join(fields)), shape="record", **look)
        if node["gate"] is None:
            continue
        gate = {"unrecognised": {"style": "dashed"}, "fault": {"style": "filled", "fillcolor": AUDIT_FAULT_COLOR},
                "right": {}}[node["gate_status"]]
        text = node["gate"] + ("?" if node["gate_status"] == "unrecognised" else "")
        dot.node(f"op{i}", graphviz.nohtml(escape_label(text)), shape="ellipse", width="0", height="0",
                 margin="0.05,0.03", **gate)
        dot.edge(f"op{i}", f"v{i}")
        for j in node["operands"]:
            dot.edge(f"v{j}", f"op{i}")
    return dot
