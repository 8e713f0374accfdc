"""The player's data and forms, without a browser: the page self-contained and escaped, one frame and one
text per step (names agreeing with the drawing), the steps worked out once, a notebook output that
carries a picture and a line besides the widget, the size guard, the atomic write.
(The player at work: tests/test_browser.py on its own page, tests/test_jupyterlab.py in a notebook.)"""

import base64
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

import autograd
import autograd.lower
import autograd.player
from autograd import Value, backward_steps, walkthrough
from autograd.graph import topological_order
from autograd.player import HOW_TO_PLAY, WALK_MAX_NODES
from autograd.walk import describe, short_names

from players import circuit, sigmoid_neuron

ROOT = Path(__file__).resolve().parent.parent
SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = "<script>document.title='pwned'</script>"
PAGE_TAGS = {"html", "head", "meta", "title", "style", "body", "script", "template",
             "svg", "g", "polygon", "polyline", "ellipse", "path", "text"}
"""Everything the page is made of (the frames in <template>s, for its script to place); anything else
(an <img>, an <iframe>, a <link>) would be a label turned into markup, or a way out to the network."""
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text inside each <script>."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags, self.scripts, self._in = [], [], None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in = tag == "script"
        if self._in:
            self.scripts.append([dict(attrs).get("type"), ""])

    def handle_endtag(self, tag):
        self._in = False

    def handle_data(self, data):
        if self._in:
            self.scripts[-1][1] += data


def hostile_circuit():
    x, y = Value(-2.0, HOSTILE), Value(5.0, '"><img src=x onerror=alert(1)>')
    f = (x + y) * Value(-4.0, "z")
    f.label = "f & <b>g</b>"
    return f


def page_data(page: str) -> dict:
    """The page's player data: its JSON, and its frames (the markup in its <template>s)."""
    (data,) = [text for kind, text in Tags(page).scripts if kind == "application/json"]
    frames = re.findall(r'<template class="valuegrad-frame">(.*?)</template>', page, flags=re.S)
    return {**json.loads(data), "frames": frames}


def test_the_page_is_self_contained_and_escaped(tmp_path, dot):
    player = walkthrough(hostile_circuit(), tmp_path / "walk.html")
    page = (tmp_path / "walk.html").read_text(encoding="utf-8")
    assert page == player.html()  # the same bytes every time
    parsed = Tags(page)
    assert {tag for tag, _ in parsed.tags} <= PAGE_TAGS
    assert sorted(kind for kind, _ in parsed.scripts) == ["application/json", "module"]
    for tag, attrs in parsed.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert "src" not in attrs and "href" not in attrs
    assert not re.search(r"https?://(?!www\.w3\.org/(2000/svg|1999/xlink)\b)", page)
    assert "url(" not in page and "@import" not in page and "import(" not in page
    csp = next(a["content"] for t, a in parsed.tags if a.get("http-equiv") == "Content-Security-Policy")
    assert csp.startswith("default-src 'none';") and "unsafe" not in csp
    # The labels reach the page as text in the JSON (nothing in it can end its <script>) and
    # escaped in the drawings' markup.
    assert HOSTILE not in page and "<img" not in page and "<b>" not in page
    data = page_data(page)
    assert data["page"] is True and data["step"] == 0
    assert any(HOSTILE in text for text in data["texts"])  # shown as text (textContent)
    for svg in data["frames"]:
        assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in svg and "<script" not in svg
    assert "<title>valuegrad: backward through f &amp; &lt;b&gt;g&lt;/b&gt;</title>" in page


def test_a_frame_and_a_text_per_step_named_as_drawn(dot):
    f = sigmoid_neuron()
    player = walkthrough(f)
    steps, data = player.steps, page_data(player.html())
    names = short_names(steps)
    assert len(data["frames"]) == len(data["texts"]) == len(steps) + 1 == 9
    assert data["texts"][0].splitlines() == ["forward pass: each gate computes its value; no gradient yet",
                                            "  t1 = w0 * x0 = -2", "  t2 = w1 * x1 = 6", "  t3 = t1 + t2 = 4",
                                            "  t4 = t3 + w2 = 1", "  t5 = t4 * -1 = -1", "  t6 = exp(t5) = 0.3679",
                                            "  t7 = 1 + t6 = 1.3679", "  f = 1/t7 = 0.7311"]
    for k, (svg, text) in enumerate(zip(data["frames"], data["texts"])):
        tree = ET.fromstring(svg)  # well-formed on its own, nothing in it to clash between frames
        assert " id=" not in svg and "<title" not in svg
        current = [g for g in tree.iter(SVG + "g") if "current" in (g.get("class") or "").split()]
        if not k:
            assert current == []
            continue
        step = steps[k - 1]
        assert text == f"backward, step {k} of {len(steps)}:\n{describe(step, names)}"
        # the current gate (its node and its operation) is marked; the text names what its box shows
        assert len(current) == 2
        drawn = [" ".join(t.text.split()) for g in current for t in g.iter(SVG + "text") if t.text]
        assert text.splitlines()[1].split(" = ")[0] in drawn
        for parent in step.node.parents:
            if parent in names:
                assert re.search(rf"\b{names[parent]}\.grad \+=", text)
                assert names[parent] in [" ".join(t.text.split()) for t in tree.iter(SVG + "text") if t.text]


def test_the_steps_are_worked_out_once(monkeypatch, dot):
    calls = {"backward_steps": 0, "topological_order": 0}

    def counting(name, function):
        def counted(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)
        return counted

    monkeypatch.setattr(autograd.player, "backward_steps", counting("backward_steps", backward_steps))
    for module in (autograd.viz, autograd.walk, autograd.lower):  # every module that walks a graph
        if hasattr(module, "topological_order"):
            monkeypatch.setattr(module, "topological_order", counting("topological_order", topological_order))
    player = walkthrough(sigmoid_neuron())
    assert len(player.steps) == 8
    # one walk for the size guard and the drawings (and backward_steps' own, if it makes one): not one per frame
    assert calls["backward_steps"] == 1 and 1 <= calls["topological_order"] <= 2, calls


def test_a_notebook_output_carries_a_picture_and_how_to_play(monkeypatch, dot):
    f = sigmoid_neuron()
    player = walkthrough(f)
    data, metadata = player._repr_mimebundle_()
    assert WIDGET_VIEW not in data  # no kernel here: nothing that needs one
    assert data["text/plain"] == f"{player!r}\n{HOW_TO_PLAY}" and metadata == {}
    picture = ET.fromstring(data["image/svg+xml"])
    # the finished pass: every node done, every gradient, every edge with its contribution
    words = [" ".join(t.text.split()) for t in picture.iter(SVG + "text") if t.text]
    for name, grad in (("w0", -0.1966), ("x0", 0.3932), ("w1", -0.3932), ("x1", -0.5898), ("w2", 0.1966)):
        index = words.index(name)
        assert words[index + 2] == f"grad {grad:.4f}"
    assert not [g for g in picture.iter(SVG + "g") if "current" in (g.get("class") or "").split()]
    # wider than a notebook can show readably from left to right: drawn top to bottom
    width, height = (float(picture.get(a).removesuffix("pt")) for a in ("width", "height"))
    assert width < height
    html = data["text/html"]
    encoded = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', html).group(1)
    assert base64.b64decode(encoded).decode() == data["image/svg+xml"]
    assert html.index(HOW_TO_PLAY.replace('"', "&quot;")) < html.index("<img")
    assert "<button" not in html and "<script" not in html
    circuit_picture = ET.fromstring(walkthrough(circuit())._repr_mimebundle_()[0]["image/svg+xml"])
    assert float(circuit_picture.get("width")[:-2]) > float(circuit_picture.get("height")[:-2])  # kept LR


def test_in_a_kernel_the_output_is_the_widget_too(monkeypatch, anywidget, dot):
    monkeypatch.setattr(autograd.player, "_in_kernel", lambda: True)
    player = walkthrough(sigmoid_neuron())
    data, _ = player._repr_mimebundle_()
    widget = player.widget  # one widget per player, made on first use
    assert data[WIDGET_VIEW]["model_id"] == widget.model_id
    assert {"text/html", "image/svg+xml", "text/plain"} < set(data)
    assert widget.frames == page_data(player.html())["frames"] and widget.step == 0
    widget.step = 8
    with pytest.raises(Exception, match="step must be from 0 to 8, got 9"):
        widget.step = 9
    assert widget.step == 8


def test_without_anywidget_the_output_is_the_picture(monkeypatch, dot):
    monkeypatch.setattr(autograd.player, "_widget_class", lambda: None)
    monkeypatch.setattr(autograd.player, "_in_kernel", lambda: True)
    player = walkthrough(circuit())
    data, _ = player._repr_mimebundle_()
    assert WIDGET_VIEW not in data and HOW_TO_PLAY in data["text/plain"]
    with pytest.raises(ImportError, match=r"pip install \"valuegrad\[notebooks\]\""):
        _ = player.widget


def test_walkthrough_changes_no_grad_and_guards_its_size(dot):
    f = circuit()
    f.backward()
    grads = [n.grad for n in topological_order(f)]
    walkthrough(f)
    assert [n.grad for n in topological_order(f)] == grads
    chain = Value(0.5, "x").tanh().tanh()  # 3 values
    walkthrough(chain, max_nodes=3)
    with pytest.raises(ValueError, match=r"3 nodes, more than max_nodes=2.*play it anyway.*max_nodes=3"):
        walkthrough(chain, max_nodes=2)
    big = Value(0.5, "x")
    for _ in range(WALK_MAX_NODES):
        big = big.relu()
    with pytest.raises(ValueError, match=rf"max_nodes={WALK_MAX_NODES}\b"):
        walkthrough(big)
    with pytest.raises(TypeError):
        walkthrough(1.0)
    with pytest.raises(ValueError, match="rankdir"):
        walkthrough(f, rankdir="up")


def test_walkthrough_is_written_atomically(tmp_path, monkeypatch, dot):
    target = tmp_path / "walk.html"
    target.write_text("the old page")

    def refuse(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        walkthrough(circuit(), target)
    assert target.read_text() == "the old page"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["walk.html"]  # no temporary file left


def test_public_names_and_a_fast_import(dot):
    assert {"backward_steps", "Step", "walkthrough"} <= set(autograd.__all__)
    assert autograd.walkthrough is walkthrough
    # import autograd loads no player, Graphviz, page helper or widget; a player made outside a
    # kernel, no widget library.
    code = ("import sys, autograd; from autograd import backward_steps, Step, Value; "
            "first = ('graphviz', 'autograd.player', 'xml.etree.ElementTree', 'html', 'hashlib', 'string'); "
            "widgets = ('anywidget', 'ipywidgets', 'IPython'); "
            "before = [m for m in first + widgets if m in sys.modules]; "
            "autograd.walkthrough(Value(1.0, 'x') * 2).html(); "
            "print(before, [m for m in widgets if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[] []"


def test_the_script_and_style_ship_with_the_package():
    here = Path(autograd.player.__file__).parent
    script = (here / "player.js").read_text(encoding="utf-8")
    assert "export default { render };" in script
    assert not re.search(r"^\s*import\b|\bimport\(|\bfetch\(", script, flags=re.M)  # nothing fetched
    assert (here / "player.css").read_text(encoding="utf-8").count(".valuegrad-player") > 5
