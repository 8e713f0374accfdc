"""Drawing a computational graph with Graphviz.

``draw_graph`` turns the graph under a ``Value`` into a ``graphviz.Digraph``:
it shows inline in Jupyter and renders with the graphviz package's own
``.pipe(format="svg")`` / ``.render(...)``; ``render`` does the same but
turns a missing or failing ``dot`` program into a ``RenderError`` that says
what to do. This is the only module that imports graphviz, so
``import autograd`` never pays for it.
"""

from __future__ import annotations

import math
from operator import attrgetter

import graphviz

from .engine import Value
from .graph import topological_order

__all__ = ["draw_graph", "render", "RenderError", "DotNotFound"]

# Fill colours, one per kind of value node (the legend in draw_graph's docstring).
OUTPUT_COLOR = "gold"
LABELLED_COLOR = "lightblue"
CONSTANT_COLOR = "lightgrey"
INTERIOR_COLOR = "white"

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
    visible = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
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


def _number(x: float) -> str:
    # Four decimals, as in the textbook pictures; huge values in exponent form
    # so that 1e300 does not print as 301 digits.
    if math.isfinite(x) and abs(x) >= 1e9:
        return f"{x:.4e}"
    return f"{x:.4f}"


def draw_graph(
    root: Value, rankdir: str = "LR", show_grad: bool = True, max_nodes: int = 2000
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
    if rankdir not in RANKDIRS:
        raise ValueError(f"rankdir must be one of {', '.join(RANKDIRS)}, got {rankdir!r}")
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1:
        raise ValueError(f"max_nodes must be a positive int, got {max_nodes!r}")
    nodes = topological_order(root, attrgetter("parents"))  # iterative, root first
    if len(nodes) > max_nodes:
        raise ValueError(
            f"the graph has {len(nodes)} nodes, more than max_nodes={max_nodes}; "
            f"to draw it anyway, pass max_nodes={len(nodes)} (or more) to draw_graph"
        )

    dot = graphviz.Digraph(
        graph_attr={"rankdir": rankdir},
        node_attr={"fontname": "Helvetica", "fontsize": "11"},
    )
    # Record fields in braces run across the rank direction: wrap them for
    # LR/RL so each node reads as one horizontal row either way.
    row = "{%s}" if rankdir in ("LR", "RL") else "%s"
    ids = {node: i for i, node in enumerate(nodes)}
    for node, i in ids.items():
        fields = [escape_label(node.label)] if node.label else []
        fields.append(f"data {_number(node.data)}")
        if show_grad:
            fields.append(f"grad {_number(node.grad)}")
        if node is root:
            color = OUTPUT_COLOR
        elif node.label:
            color = LABELLED_COLOR
        elif not node.parents:
            color = CONSTANT_COLOR
        else:
            color = INTERIOR_COLOR
        # nohtml: a label that happened to start with "<" must not be taken
        # for a Graphviz HTML label.
        dot.node(
            f"v{i}",
            graphviz.nohtml(row % "|".join(fields)),
            shape="record",
            style="filled",
            fillcolor=color,
        )
        if node.parents:
            dot.node(f"op{i}", graphviz.nohtml(escape_label(node.op)), shape="ellipse",
                     width="0", height="0", margin="0.05,0.03")
            dot.edge(f"op{i}", f"v{i}")
            for parent in node.parents:
                dot.edge(f"v{ids[parent]}", f"op{i}")
    return dot


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
        return dot.source.encode("utf-8")
    try:
        # quiet: what dot prints on stderr is ours to report (in the error), not to pass on.
        return dot.pipe(format=format, quiet=True)
    except graphviz.ExecutableNotFound:
        raise DotNotFound(INSTALL_DOT) from None
    except graphviz.CalledProcessError as e:
        stderr = (e.stderr or b"").decode("utf-8", "replace")
        raise RenderError(f"Graphviz's dot failed: {' '.join(stderr.split())[:200]}") from None
