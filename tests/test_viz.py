"""draw_graph: the structure of the drawn graph, real SVG renders, escaping, size limits."""

import ast
import html
import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import autograd
from autograd import Value, draw_graph
from autograd.viz import MAX_LABEL_CHARS, DotNotFound, RenderError, render

from helpers import load_tool
from rows import TEST_ROWS, apply

SVG = "{http://www.w3.org/2000/svg}"
# Everything Graphviz's SVG writer emits for our graphs; anything else
# (a <script>, a <foreignObject>, an <a>) would mean a label became markup.
SVG_TAGS = {"svg", "g", "title", "text", "polygon", "ellipse", "path", "polyline"}

HOSTILE_LABELS = [
    "<script>alert(1)</script>",
    '{a|b} "c" & d',
    "&amp; &lt;b&gt; &#60;script&#62;",
    "]]><!-- --><![CDATA[x]]>",
    "<b>bold</b>",
    "<<TABLE><TR><TD>html</TD></TR></TABLE>>",
    "\\N \\G \\l \\n \\",
    'quote " backslash \\ end\\',
    "x\ny\rz\t\x00\x1b[31m",
    "\u202eevil\u202c rtl",
    "é 日本 ✓",
    "a  b   c",
    "port <f0> | {x} | <f1>",
    '"; ] node [shape=none label="pwned',
]


def tree(dot) -> ET.Element:
    """The graph rendered to SVG by the real dot, parsed as XML."""
    return ET.fromstring(dot.pipe(format="svg"))


def texts(svg: ET.Element) -> list[str]:
    # Graphviz turns runs of spaces into no-break spaces; compare words.
    return [" ".join(t.text.split()) for t in svg.iter(SVG + "text") if t.text]


def of_class(svg: ET.Element, kind: str) -> list[ET.Element]:
    """The groups of a rendered graph with ``kind`` among their classes (node, edge, current ...)."""
    return [g for g in svg.iter(SVG + "g") if kind in (g.get("class") or "").split()]


def groups(svg: ET.Element, kind: str) -> list[str]:
    """Titles of the node or edge groups of a rendered graph."""
    return [g.find(SVG + "title").text for g in of_class(svg, kind)]


make_docs = load_tool("make_docs")
circuit = make_docs.circuit  # f = (x + y) * z at -2, 5, -4, labelled x y z q f, after backward


def test_circuit_nodes_edges_and_text(dot):
    svg = tree(draw_graph(circuit()))
    nodes, edges = groups(svg, "node"), groups(svg, "edge")
    assert sorted(n[0] for n in nodes) == ["o", "o"] + ["v"] * 5  # 5 values, 2 ops
    assert len(edges) == 6
    words = texts(svg)
    for expected in ["x", "y", "z", "q", "f", "+", "*", "data -2.0000", "grad -4.0000",
                     "data -12.0000", "grad 1.0000", "grad 3.0000"]:
        assert expected in words


def test_circuit_edges_run_input_op_result():
    source = draw_graph(circuit()).source
    # f is v0, made by op0 from q and z; q (made by "+") from x and y.
    assert "op0 -> v0" in source
    edges = [line.strip() for line in source.splitlines() if "->" in line]
    assert len(edges) == 6
    assert sum(e.endswith("op0") for e in edges) == 2


def test_x_times_x_draws_two_edges(dot):
    x = Value(3.0, "x")
    svg = tree(draw_graph(x * x))
    edges = groups(svg, "edge")
    assert len(edges) == 3
    assert edges.count("v1->op0") == 2
    assert len(groups(svg, "node")) == 3


def test_colours_tell_output_labelled_constant_and_interior_apart():
    x = Value(2.0, "x")
    f = (-x).exp() + x  # -x is x * -1: the -1 is an unlabelled constant
    source = draw_graph(f).source
    fills = {line.split()[0]: line for line in source.splitlines() if "fillcolor" in line}
    assert "gold" in fills["v0"]
    colours = [line.split("fillcolor=")[1].split()[0].strip("]") for line in fills.values()]
    assert sorted(colours) == ["gold", "lightblue", "lightgrey", "white", "white"]


def test_show_grad_false_and_rankdir(dot):
    words = texts(tree(draw_graph(circuit(), rankdir="TB", show_grad=False)))
    assert "data -12.0000" in words
    assert not any(w.startswith("grad") for w in words)
    assert "rankdir=TB" in draw_graph(circuit(), rankdir="TB").source


def test_number_formats():
    big = Value(1e300, "big") * Value(-2.0)
    source = draw_graph(big).source
    assert "-2.0000e+300" in source
    assert "data inf" in draw_graph(Value(float("inf"), "a") + 1).source


@pytest.mark.parametrize("bad, error", [
    ({"root": 3.0}, TypeError),
    ({"rankdir": "XY"}, ValueError),
    ({"max_nodes": 0}, ValueError),
    ({"max_nodes": 2.5}, ValueError),
])
def test_bad_arguments(bad, error):
    kwargs = {"root": Value(1.0), **bad}
    with pytest.raises(error):
        draw_graph(**kwargs)


@pytest.mark.parametrize("label", HOSTILE_LABELS)
def test_hostile_labels_are_only_text(dot, label):
    v = Value(1.0, label)
    out = v * 2
    out.op = label  # op names are drawn too
    raw = draw_graph(out).pipe(format="svg")
    svg = ET.fromstring(raw)  # well-formed XML, whatever the label held
    assert {el.tag.removeprefix(SVG) for el in svg.iter()} <= SVG_TAGS
    assert not any(name.lower().startswith("on") for el in svg.iter() for name in el.attrib)
    assert b"<script" not in raw.lower() and b"<b>" not in raw
    if label.isprintable() and len(label) <= MAX_LABEL_CHARS:
        # drawn as exactly that text: once in the value node, once in the op node
        assert texts(svg).count(" ".join(label.split())) == 2


def test_undrawable_characters_are_shown_as_escapes(dot):
    words = texts(tree(draw_graph(Value(1.0, "a\nb\x00c\u202e"))))
    assert "a\\nb\\x00c\\u202e" in words


def test_long_label_is_shortened(dot):
    words = texts(tree(draw_graph(Value(1.0, "w" * 500))))
    assert "w" * (MAX_LABEL_CHARS - 1) + "\N{HORIZONTAL ELLIPSIS}" in words


def test_max_nodes_is_inclusive_and_explains_itself():
    x = Value(1.0, "x")
    f = x.tanh().tanh()  # 3 values
    draw_graph(f, max_nodes=3)
    with pytest.raises(ValueError, match=r"3 nodes, more than max_nodes=2.*max_nodes=3"):
        draw_graph(f, max_nodes=2)


def test_100000_node_chain_is_walked_without_recursion():
    v = Value(0.5, "x")
    for _ in range(99_999):
        v = v.relu()
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"100000 nodes, more than max_nodes=200"):
        draw_graph(v, max_nodes=200)
    assert time.perf_counter() - start < 5
    # and the default limit says the same of a graph too large to draw
    with pytest.raises(ValueError, match=r"max_nodes=2000"):
        draw_graph(v)


def test_jupyter_shows_the_digraph_inline(dot):
    bundle = draw_graph(circuit())._repr_mimebundle_()
    assert "image/svg+xml" in bundle
    ET.fromstring(bundle["image/svg+xml"])


def test_make_docs_draws_both_pictures(tmp_path, dot):
    assert make_docs.main([str(tmp_path)]) == 0
    circuit_words = texts(ET.parse(tmp_path / "circuit.svg").getroot())
    assert {"x", "y", "z", "q", "f", "data -12.0000", "grad 3.0000"} <= set(circuit_words)
    neuron_words = texts(ET.parse(tmp_path / "sigmoid_neuron.svg").getroot())
    # CS231n's numbers: f = 0.73, dw0 = -0.20, dx0 = 0.39, dw1 = -0.39, dx1 = -0.59, dw2 = 0.20
    for expected in ["data 0.7311", "grad -0.1966", "grad 0.3932", "grad -0.3932",
                     "grad -0.5898", "grad 0.1966", "exp", "1/x"]:
        assert expected in neuron_words
    assert sorted(p.name for p in tmp_path.iterdir()) == ["circuit.svg", "sigmoid_neuron.svg"]


# -- render: bytes in a format, Graphviz's failures as one clear exception -------


def test_render_svg_and_png(dot):
    svg = render(draw_graph(circuit()), "svg")
    assert ET.fromstring(svg).tag == SVG + "svg"
    assert render(draw_graph(circuit()), "png").startswith(b"\x89PNG\r\n\x1a\n")


def test_render_dot_is_the_source_and_needs_no_graphviz(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot program to be found
    graph = draw_graph(circuit())
    assert render(graph, "dot") == graph.source.encode("utf-8")
    with pytest.raises(DotNotFound, match="apt-get install graphviz.*brew install graphviz"):
        render(graph, "svg")


def test_render_reports_a_failing_dot_in_one_message(tmp_path, monkeypatch):
    fake = tmp_path / "dot"
    fake.write_text("#!/bin/sh\necho 'Error: out of\n   ink' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RenderError, match=r"^Graphviz's dot failed: Error: out of ink$") as info:
        render(draw_graph(circuit()), "svg")
    assert not isinstance(info.value, DotNotFound)


def test_viz_is_the_only_module_that_imports_graphviz():
    # DESIGN.md: everything else reaches Graphviz through viz (draw_graph, render).
    package = Path(__file__).resolve().parent.parent / "autograd"
    importers = set()
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules = [node.module or ""]
            else:
                continue
            if any(m == "graphviz" or m.startswith("graphviz.") for m in modules):
                importers.add(source.name)
    assert importers == {"viz.py"}


# -- draw_graph(step=k): the backward pass as it stands after k steps --------------


def fills(dot) -> dict[str, str]:
    """Fill colour of every labelled value node in the Graphviz source, by label."""
    out = {}
    for line in dot.source.splitlines():
        label = re.match(r'\s*v\d+ \[label="\{(\w+)\|', line)
        if label:
            out[label.group(1)] = line.split("fillcolor=")[1].split()[0].strip("]")
    return out


def grad_words(svg: ET.Element) -> dict[str, str]:
    """The grad field of each labelled value node, by label."""
    fields = [texts(g) for g in of_class(svg, "node")]
    return {f[0]: f[-1] for f in fields if len(f) == 3}


# The circuit comes after backward(): a step's picture does not read .grad.


def test_step_0_is_the_forward_pass_with_blank_gradients(dot):
    graph = draw_graph(circuit(), step=0)
    assert fills(graph) == dict.fromkeys("fzqyx", "white")
    svg = tree(graph)
    assert grad_words(svg) == dict.fromkeys("fzqyx", "grad")
    assert "data -12.0000" in texts(svg)


def test_each_step_colours_current_finished_and_waiting(dot):
    f = circuit()
    # after step 1 (f = q * z): f is current; z (a leaf used once) is finished;
    # q has its gradient but has not passed it on; x and y wait with nothing
    one = draw_graph(f, step=1)
    assert fills(one) == {"f": "orange", "z": "palegreen", "q": "white", "y": "white", "x": "white"}
    words = texts(tree(one))
    assert grad_words(tree(one)) == {"f": "grad 1.0000", "z": "grad 3.0000", "q": "grad -4.0000",
                                     "y": "grad", "x": "grad"}
    # the edges just used carry their contributions, the others a blank label of the same width
    used = [line for line in one.source.splitlines() if "-> op0" in line]
    assert len(used) == 2 and all("color=orange" in line for line in used)
    outlined = [line for line in one.source.splitlines() if " color=orange" in line and "->" not in line]
    assert sorted(re.search(r"\{(\w)\|", line).group(1) for line in outlined) == ["q", "z"]  # f's inputs
    assert "-4" in words and "3" in words
    two = draw_graph(f, step=2)
    assert fills(two) == {"f": "palegreen", "z": "palegreen", "q": "orange", "y": "palegreen",
                          "x": "palegreen"}
    assert grad_words(tree(two)) == {"f": "grad 1.0000", "z": "grad 3.0000", "q": "grad -4.0000",
                                     "y": "grad -4.0000", "x": "grad -4.0000"}
    assert (f.grad, f.parents[0].grad) == (1.0, -4.0)  # what backward() left: read by no step


def test_x_times_x_shows_the_running_sum_and_both_edges(dot):
    x = Value(3.0, "x")
    graph = draw_graph(x * x, step=1)
    svg = tree(graph)
    # x, and x * x under its short name (the name the player's text gives it)
    assert grad_words(svg) == {"x": "grad 6.0000", "t1": "grad 1.0000"}
    assert sum("-> op0" in line and "color=orange" in line for line in graph.source.splitlines()) == 2


@pytest.mark.parametrize("build", [circuit, make_docs.sigmoid_neuron])
def test_every_step_renders_and_is_laid_out_alike(dot, build):
    f = build()
    n = len(autograd.backward_steps(f))
    shapes = []
    for k in range(n + 1):
        svg = tree(draw_graph(f, step=k))
        colours = [el.get("fill") for g in of_class(svg, "node") for el in g if el.tag == SVG + "polygon"]
        assert colours.count("orange") == (k > 0)
        shapes.append([(el.tag, el.get("points") or el.get("d") or el.get("cx"))
                       for el in svg.iter() if el.tag in (SVG + "polygon", SVG + "path", SVG + "ellipse")])
    # the same picture in every frame, only colours and text change: a player does not jump
    assert all(s == shapes[0] for s in shapes)
    assert len(groups(tree(draw_graph(f, step=n)), "node")) == len(groups(tree(draw_graph(f)), "node"))


@pytest.mark.parametrize("step", [-1, 3, 2.0, True, "1"])
def test_step_out_of_range_names_the_range(step):
    with pytest.raises(ValueError, match=r"from 0 to 2 .*got"):
        draw_graph(circuit(), step=step)


def test_a_leaf_has_only_the_forward_frame():
    draw_graph(Value(1.0, "x"), step=0)
    with pytest.raises(ValueError, match="from 0 to 0"):
        draw_graph(Value(1.0, "x"), step=1)


def test_step_keeps_the_size_guard_and_escaping(dot):
    x = Value(1.0, HOSTILE_LABELS[0])
    graph = draw_graph(x * 2, step=1)
    assert HOSTILE_LABELS[0] in texts(tree(graph))
    with pytest.raises(ValueError, match="max_nodes=3"):
        draw_graph(x * 2, max_nodes=2, step=1)


@pytest.mark.parametrize("op", list(TEST_ROWS))
def test_every_row_is_drawn_as_its_gate(op, dot):
    leaves = [Value(x, f"x{k}") for k, x in enumerate(TEST_ROWS[op].samples[0])]
    node = apply(op, *leaves)
    svg = draw_graph(node).pipe(format="svg").decode()
    assert f">{html.escape(op)}</text>" in svg  # the gate, named by its op
    assert svg.count('class="node"') == len(leaves) + 2  # the values and one gate
