"""The player of the backward pass: a widget in a notebook, a page of its own elsewhere.

``walkthrough(root)`` works out ``backward_steps(root)`` once, draws every
step from them (:class:`autograd.viz.StepDrawings`) and returns a
``Walkthrough``:

* in a notebook (JupyterLab, Notebook 7, VS Code, Colab) it shows as a live
  player, an anywidget widget (the ``[notebooks]`` extra) whose script and
  style are ``player.js`` and ``player.css``, beside this module;
* the same output carries a picture of the finished pass and one line on
  how to play it, which is what a front-end shows where the widget cannot
  run (a notebook opened without running it, GitHub, nbviewer);
* ``html()`` and ``save(path)`` give the same player as one self-contained
  page: the same script, inlined, under a Content-Security-Policy that lets
  only that script and its style run.

The frames travel as data (SVG markup and text) and the script builds the
player from them, so the widget and the page are one player.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
import sys
import xml.etree.ElementTree as ET
from html import escape
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING

from .engine import Value
from .files import PathLike, write_atomic
from .viz import CURRENT_COLOR, DONE_COLOR, WAITING_COLOR, StepDrawings, graph_nodes, render
from .walk import Step, backward_steps, describe, gate, name, number

if TYPE_CHECKING:
    from typing import Any

    import anywidget

__all__ = ["Walkthrough", "walkthrough"]

WALK_MAX_NODES = 100
"""walkthrough's default size guard: a drawing per step makes the player grow as n²."""

HOW_TO_PLAY = ('To play the backward pass step by step, run this cell in Jupyter with '
               'valuegrad[notebooks] installed (pip install "valuegrad[notebooks]").')
"""The line under the picture that a notebook stores for readers without a kernel."""

NOTEBOOKS_EXTRA = 'the notebook player needs anywidget: pip install "valuegrad[notebooks]"'

LEGEND = [
    (CURRENT_COLOR, "current gate, its inputs outlined"),
    (DONE_COLOR, "gradient complete, passed on"),
    (WAITING_COLOR, "waiting"),
    ("", "each line: parent.grad += upstream × local = contribution"),
]

_ASSETS = Path(__file__).resolve().parent
_READABLE_WIDTH = 1400
"""px: a picture wider than this, shrunk to a notebook's width (about 900 px), has text under 9 px."""


class Walkthrough:
    """A player of the backward pass under one root, made by :func:`walkthrough`.

    ``steps`` are its ``backward_steps``. ``html()`` is the player as a page
    of its own, ``save(path)`` writes it. In a notebook the object shows as
    a live player (``widget``), with a picture of the finished pass for
    front-ends that cannot run it.
    """

    def __init__(self, root: Value, steps: list[Step], frames: list[str], texts: list[str],
                 picture: str, title: str) -> None:
        self.root, self.steps = root, steps
        self._frames, self._texts, self._picture, self._title = frames, texts, picture, title
        self._widget: anywidget.AnyWidget | None = None

    def __repr__(self) -> str:
        return f"<walkthrough of {name(self.root)!r}: {len(self.steps)} backward steps>"

    def _model(self) -> dict[str, Any]:
        """The player's data, as player.js reads it."""
        return {"frames": self._frames, "texts": self._texts, "title": self._title,
                "legend": [list(item) for item in LEGEND], "step": 0}

    @property
    def widget(self) -> anywidget.AnyWidget:
        """The notebook player, an anywidget widget made on first use (the ``[notebooks]`` extra).

        Its ``step`` trait is the frame on show, in every view of it: set it to
        move them. ``ImportError`` says what to install when anywidget is missing.
        """
        if self._widget is None:
            player = _widget_class()
            if player is None:
                raise ImportError(NOTEBOOKS_EXTRA)
            self._widget = player(**self._model())
        return self._widget

    def html(self) -> str:
        """The player as one self-contained HTML page: no request leaves it, and its
        Content-Security-Policy lets only its own script and stylesheet run."""
        style = _asset("player.css") + _PAGE_STYLE
        script = _asset("player.js") + _PAGE_START
        # The frames as markup (in <template>s: parsed, never shown or run), the rest as JSON in a
        # <script> element, with no "<" in it: nothing a label holds can end the element.
        model = self._model()
        frames = "\n".join(f'<template class="valuegrad-frame">{svg}</template>' for svg in model.pop("frames"))
        data = json.dumps({**model, "page": True}, ensure_ascii=False).replace("<", "\\u003c")
        digest = {t: base64.b64encode(hashlib.sha256(t.encode()).digest()).decode() for t in (style, script)}
        policy = (f"default-src 'none'; style-src 'sha256-{digest[style]}'; "
                  f"script-src 'sha256-{digest[script]}'; base-uri 'none'; form-action 'none'")
        return Template(_PAGE).substitute(policy=policy, title=escape(f"valuegrad: {self._title}"),
                                          style=style, frames=frames, data=data, script=script)

    def save(self, path: PathLike) -> None:
        """Write ``html()`` to ``path``, atomically."""
        write_atomic(path, self.html().encode("utf-8"))

    def _repr_mimebundle_(self, include: object = None,
                          exclude: object = None) -> tuple[dict[str, str], dict[str, Any]]:
        # One output, several forms: the widget's view where a kernel and anywidget are (a front-end
        # that can render it prefers it), and for all others the picture and the line on how to play.
        svg = base64.b64encode(self._picture.encode("utf-8")).decode("ascii")
        width, height = _size_px(self._picture)
        data = {
            "text/plain": f"{self!r}\n{HOW_TO_PLAY}",
            "image/svg+xml": self._picture,
            "text/html": (f'<div class="valuegrad-picture"><p>{escape(HOW_TO_PLAY)}</p>'
                          f'<img src="data:image/svg+xml;base64,{svg}" width="{width}" height="{height}" '
                          f'alt="{escape(self._title)}: the graph after the last step, every gradient shown">'
                          f'</div>'),
        }
        metadata: dict[str, Any] = {}
        if _in_kernel() and _widget_class() is not None:
            live, metadata = self.widget._repr_mimebundle_()
            data.update((mime, value) for mime, value in live.items() if mime != "text/plain")
        return data, metadata


def walkthrough(
    root: Value, path: PathLike | None = None, rankdir: str = "LR", max_nodes: int = WALK_MAX_NODES
) -> Walkthrough:
    """A player of the forward and backward pass under ``root``, step by step.

    Frame 0 is the forward pass; frame k the graph after k steps of
    ``backward_steps(root)`` (``draw_graph(root, step=k)``, drawn by
    Graphviz's ``dot``), beside the arithmetic of that step
    (``parent.grad += upstream × local = contribution``). Previous/Next
    buttons and the arrow keys (Home/End: the first and last frame) move
    between frames; the player fits the graph to the space it is given,
    zooms in to keep the current gate readable and in view, and zooms and
    pans on demand. A page opened as ``player.html#step=5`` starts at frame 5.

    With ``path``, writes the player there as one self-contained HTML file
    (atomically): no network access, no external script, font or stylesheet.
    Either way returns a ``Walkthrough``, which a notebook shows as a live
    player. Label text is escaped everywhere: it is shown, never run. A
    graph of more than ``max_nodes`` values raises ``ValueError`` (a drawing
    per step makes the player grow with the square of the graph); pass a
    larger ``max_nodes`` to play it anyway. ``.grad`` is neither read nor
    changed.
    """
    if not isinstance(root, Value):
        raise TypeError(f"walkthrough() takes a Value, got {type(root).__name__}")
    nodes = graph_nodes(root, max_nodes, "walkthrough", "play")
    steps = backward_steps(root)
    drawings = StepDrawings(root, steps, rankdir, nodes)
    names = drawings.names
    frames = [_inline_svg(render(drawings.frame(k), "svg")) for k in range(len(steps) + 1)]
    forward = [f"  {gate(s.node, names)} = {number(s.node.data)}" for s in reversed(steps)]
    texts = ["\n".join(["forward pass: each gate computes its value; no gradient yet", *forward])]
    texts += [f"backward, step {k} of {len(steps)}:\n{describe(step, names)}"
              for k, step in enumerate(steps, start=1)]
    player = Walkthrough(root, steps, frames, texts, _picture(drawings),
                         f"backward through {name(root, names)}")
    if path is not None:
        player.save(path)
    return player


def _picture(drawings: StepDrawings) -> str:
    """The finished pass as a standalone SVG picture, turned top to bottom when it reads better so."""
    picture = _inline_svg(render(drawings.finished(), "svg"))
    if drawings.rankdir in ("LR", "RL") and _size_px(picture)[0] > _READABLE_WIDTH:
        turned = _inline_svg(render(drawings.finished("TB"), "svg"))
        if _size_px(turned)[0] < _size_px(picture)[0]:
            picture = turned
    return picture


def _size_px(svg: str) -> tuple[int, int]:
    """The width and height of Graphviz's SVG, in CSS px (it writes them in pt)."""
    size = re.match(r'<svg[^>]*?\swidth="([\d.]+)pt" height="([\d.]+)pt"', svg)
    return (round(float(size[1]) * 4 / 3), round(float(size[2]) * 4 / 3)) if size else (0, 0)


def _inline_svg(svg: bytes) -> str:
    """Graphviz's SVG document as markup to place in HTML.

    Parsed and written out again by ElementTree, so that only well-formed,
    escaped markup gets in (whatever a label held); without the XML prolog,
    comments, ``id`` attributes (which would clash between frames and
    players) and the tooltips of Graphviz's internal node names.
    """
    ET.register_namespace("", _SVG_NS)
    ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")
    tree = ET.fromstring(svg)
    for parent in tree.iter():
        for child in [c for c in parent if c.tag == f"{{{_SVG_NS}}}title"]:
            parent.remove(child)
        parent.attrib.pop("id", None)
    return ET.tostring(tree, encoding="unicode")


_SVG_NS = "http://www.w3.org/2000/svg"


def _asset(file: str) -> str:
    return (_ASSETS / file).read_text(encoding="utf-8")


def _in_kernel() -> bool:
    """Whether this runs in a Jupyter kernel (where a widget can show), without importing IPython."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


@functools.cache
def _widget_class() -> type[anywidget.AnyWidget] | None:
    """The notebook player's widget class, or None without anywidget (made once, on first use)."""
    try:
        import anywidget
        import traitlets
    except ImportError:
        return None

    class Player(anywidget.AnyWidget):  # type: ignore[misc]  # (anywidget is Any to checkers: pyproject.toml)
        """valuegrad's player in a notebook: frames and texts in; ``step``, the frame on show, both ways."""

        _esm = _ASSETS / "player.js"
        _css = _ASSETS / "player.css"
        frames = traitlets.List(traitlets.Unicode()).tag(sync=True)
        texts = traitlets.List(traitlets.Unicode()).tag(sync=True)
        legend = traitlets.List().tag(sync=True)
        title = traitlets.Unicode().tag(sync=True)
        step = traitlets.Int(0).tag(sync=True)

        @traitlets.validate("step")  # type: ignore[untyped-decorator]  # (traitlets: Any, as anywidget)
        def _step_in_range(self, proposal: dict[str, Any]) -> int:
            k: int = proposal["value"]
            if not 0 <= k < len(self.frames):
                raise traitlets.TraitError(f"step must be from 0 to {len(self.frames) - 1}, got {k}")
            return k

    return Player


# The page: string.Template texts ($name placeholders), filled in by Walkthrough.html().
_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="$policy">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>$style</style>
</head>
<body>
$frames
<script type="application/json" id="valuegrad-data">$data</script>
<script type="module">$script</script>
</body>
</html>
"""

_PAGE_STYLE = "\nbody { margin: 0; }\n"

_PAGE_START = '\nplayPage(JSON.parse(document.getElementById("valuegrad-data").textContent));\n'
