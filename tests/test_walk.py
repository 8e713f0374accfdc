"""backward_steps and the HTML player: the lecture's numbers step by step, sums equal to
backward(), nothing changed, and a page that is self-contained, escaped and written atomically."""

import math
import os
import random
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from operator import attrgetter
from pathlib import Path

import pytest

import autograd
from autograd import Step, Value, backward_steps, walkthrough
from autograd.graph import topological_order
from autograd.walk import WALK_MAX_NODES, number

from expressions import bits, random_program, replay, resolve

ROOT = Path(__file__).resolve().parent.parent


def circuit():
    """f = (x + y) * z at x=-2, y=5, z=-4 (the seed's first example), nothing run yet."""
    x, y, z = Value(-2.0, "x"), Value(5.0, "y"), Value(-4.0, "z")
    q = x + y
    q.label = "q"
    f = q * z
    f.label = "f"
    return f


def sigmoid_neuron():
    """The seed's sigmoid neuron built gate by gate, every gate labelled (as in notebook 02)."""
    w0, x0, w1, x1, w2 = (Value(v, n) for v, n in
                          ((2.0, "w0"), (-1.0, "x0"), (-3.0, "w1"), (-2.0, "x1"), (-3.0, "w2")))
    gates = {}

    def gate(label, node):
        node.label = label
        gates[label] = node
        return node

    z = gate("z", gate("s", gate("w0x0", w0 * x0) + gate("w1x1", w1 * x1)) + w2)
    d = gate("d", 1 + gate("e", gate("-z", -z).exp()))
    return gate("f", 1 / d), gates


def close(value, printed, digits=2):
    """``value`` agrees with a number printed to ``digits`` decimals."""
    return abs(value - printed) <= 0.5 * 10**-digits + 1e-12


# -- backward_steps -------------------------------------------------------------


def test_circuit_steps_are_the_lectures_arithmetic():
    f = circuit()
    steps = backward_steps(f)
    assert [s.node.label for s in steps] == ["f", "q"]
    assert [(s.upstream, s.local_grads, s.contributions) for s in steps] == [
        (1.0, (-4.0, 3.0), (-4.0, 3.0)),    # df/dq = z = -4, df/dz = q = 3
        (-4.0, (1.0, 1.0), (-4.0, -4.0)),   # the add gate distributes -4
    ]
    assert isinstance(steps[0], Step) and steps[0]._fields == (
        "node", "upstream", "local_grads", "contributions")
    assert "\n".join(map(str, steps)) == (
        "f = q * z: upstream 1\n"
        "  q.grad += 1 × -4 = -4\n"
        "  z.grad += 1 × 3 = 3\n"
        "q = x + y: upstream -4\n"
        "  x.grad += -4 × 1 = -4\n"
        "  y.grad += -4 × 1 = -4"
    )


def test_sigmoid_neuron_gate_by_gate_has_the_seeds_numbers():
    f, gates = sigmoid_neuron()
    steps = backward_steps(f)
    # (gate, upstream, local gradients), as the seed works them out to two decimals;
    # the add gates get 1, 1 and the two products swap their inputs.
    seed = [
        ("f", 1.0, [-0.53]),          # 1/x: -1/d² at d = 1.37
        ("d", -0.53, [1.0, 1.0]),     # + 1
        ("e", -0.53, [0.37]),         # exp: e^-1
        ("-z", -0.20, [-1.0, 1.0]),   # * -1 (and z = 1 to the constant)
        ("z", 0.20, [1.0, 1.0]),
        ("s", 0.20, [1.0, 1.0]),
        ("w1x1", 0.20, [-2.0, -3.0]),  # w1 gets x1, x1 gets w1
        ("w0x0", 0.20, [-1.0, 2.0]),   # w0 gets x0, x0 gets w0
    ]
    assert [s.node.label for s in steps] == [label for label, _, _ in seed]
    for step, (label, upstream, local) in zip(steps, seed):
        assert close(step.upstream, upstream), label
        assert all(close(a, b) for a, b in zip(step.local_grads, local)), label
        assert len(step.local_grads) == len(local) == len(step.node.parents)
    # "Gradient = local gradient * upstream gradient": w0 gets (-1)(0.20) = -0.20,
    # x0 gets (2)(0.20) = 0.39 (the slides' 0.40 is 2 x the rounded 0.20)
    w0_step = steps[-1]
    assert close(w0_step.contributions[0], -0.20) and close(w0_step.contributions[1], 0.39)
    assert str(w0_step).splitlines()[1:] == ["  w0.grad += 0.1966 × -1 = -0.1966",
                                             "  x0.grad += 0.1966 × 2 = 0.3932"]
    sig = 1 / (1 + math.exp(-1.0))
    assert abs(gates["z"].data - 1.0) < 1e-15 and abs(steps[4].upstream - sig * (1 - sig)) < 1e-15


def _sum_contributions(steps):
    totals = {}
    for step in steps:
        for parent, c in zip(step.node.parents, step.contributions):
            totals[parent] = totals.get(parent, 0.0) + c
    return totals


def _assert_steps_replay_backward(root):
    order = topological_order(root)
    for node in order:
        node.grad = 0.0
    steps = backward_steps(root)
    assert [s.node for s in steps] == [n for n in order if n.parents]  # backward()'s order
    totals = _sum_contributions(steps)
    root.backward()
    for node in order:
        if node is not root:  # bit for bit: the same terms added in the same order
            assert bits(totals[node]) == bits(node.grad), (node, totals[node], node.grad)
    for step in steps:  # each upstream is complete when its step comes
        assert step.upstream == step.node.grad
        # local × upstream, but for rounding: the rows compute it overflow-free (1/x: -(g/a)/a)
        assert step.contributions == pytest.approx([g * step.upstream for g in step.local_grads],
                                                   rel=1e-12, nan_ok=True)


def _apply(op, a, b):
    return op.ours(a, b)


@pytest.mark.parametrize("seed", range(40))
def test_contributions_add_up_to_backward_on_random_graphs(seed):
    rng = random.Random(seed)
    leaves = [Value(rng.uniform(-2, 2), f"x{i}") for i in range(rng.randint(1, 4))]
    steps = resolve(random_program(rng, rng.randint(1, 12)), leaves, _apply, attrgetter("data"))
    interior = replay(steps, leaves, _apply)[len(leaves):]
    _assert_steps_replay_backward(sum(interior[1:], interior[0]))


def test_x_times_x_sends_two_contributions():
    x = Value(3.0, "x")
    (step,) = backward_steps(x * x)
    assert step.node.parents == (x, x)
    assert step.local_grads == (3.0, 3.0) and step.contributions == (3.0, 3.0)
    _assert_steps_replay_backward(x * x)


def test_a_node_reused_three_times_gets_its_whole_gradient_first():
    a = Value(0.7, "a")
    t = a.tanh()
    t.label = "t"
    f = t * t + t  # t is used three times
    steps = backward_steps(f)
    t_step = next(s for s in steps if s.node is t)
    received = [c for s in steps[: steps.index(t_step)] for p, c in zip(s.node.parents, s.contributions)
                if p is t]
    assert len(received) == 3
    assert t_step.upstream == 0.0 + received[0] + received[1] + received[2]
    assert abs(t_step.upstream - (2 * t.data + 1)) < 1e-15
    _assert_steps_replay_backward(f)


def test_nothing_is_changed_and_grads_are_not_read():
    f, gates = sigmoid_neuron()
    order = topological_order(f)
    clean = [(s.node, s.upstream, s.local_grads, s.contributions) for s in backward_steps(f)]
    for i, node in enumerate(order):
        node.grad = 100.0 + i  # garbage, as left by some earlier call
    before = [n.grad for n in order]
    assert [tuple(s) for s in backward_steps(f)] == clean
    assert [n.grad for n in order] == before


def test_a_zero_upstream_or_local_gradient_contributes_exactly_zero():
    # relu at a negative input passes nothing back, even an infinite upstream
    x = Value(-1.0, "x")
    big = Value(math.inf, "big")
    (mul, relu) = backward_steps(x.relu() * big)
    assert relu.upstream == math.inf and relu.local_grads == (0.0,)
    assert relu.contributions == (0.0,)


def test_a_leaf_has_no_steps_and_bad_input_is_named():
    assert backward_steps(Value(1.0)) == []
    with pytest.raises(TypeError, match="float"):
        backward_steps(1.0)


def test_unlabelled_nodes_are_named_by_their_formula():
    x = Value(2.0, "x")
    f = 1 / (1 + (-(x * 3)).exp())
    text = "\n".join(map(str, backward_steps(f)))
    assert text.splitlines()[0] == "1/(1 + exp(…)): upstream 1"
    assert "  (-1).grad += " in text           # the constant of -(...)
    assert "  x.grad += " in text and "(x * 3) * -1" in text
    # a label is shown as text, control characters as escapes
    v = Value(1.0, "a\nb")
    assert str(backward_steps(v * 2)[0]).startswith("(a\\nb) * 2: upstream 1")


def test_labels_that_are_formulas_are_grouped():
    z = Value(1.0, "z")
    neg = -z
    neg.label = "-z"
    e = neg.exp()
    e.label = "exp(-z)"
    d = 1 + e
    d.label = "1+exp(-z)"
    f = 1 / d
    f.label = "f"
    lines = "\n".join(map(str, backward_steps(f))).splitlines()
    assert lines[0] == "f = 1/(1+exp(-z)): upstream 1"
    assert lines[1].startswith("  (1+exp(-z)).grad += ")
    assert lines[2] == "1 + exp(-z): upstream -0.5344"  # a label that is its own formula is said once
    assert lines[4].startswith("  exp(-z).grad += ")   # a call reads as one operand
    assert lines[6].startswith("  (-z).grad += ")


@pytest.mark.parametrize("x, text", [
    (0.0, "0"), (-0.0, "0"), (1.0, "1"), (-4.0, "-4"), (0.19661193, "0.1966"), (-12.5, "-12.5"),
    (1e-7, "1e-07"), (2.5e12, "2.5e+12"), (math.inf, "inf"), (math.nan, "nan"),
])
def test_numbers_read_as_in_the_lecture(x, text):
    assert number(x) == text


# -- the player ------------------------------------------------------------------

HOSTILE = "<script>document.title='pwned'</script>"
# Everything the page is made of; anything else (an <img>, an <iframe>, a <link>)
# would be a label turned into markup, or a way out to the network.
PAGE_TAGS = {"html", "head", "meta", "title", "body", "div", "style", "button", "span", "pre", "br",
             "script", "svg", "g", "polygon", "polyline", "ellipse", "path", "text"}


class Tags(HTMLParser):
    """Every start tag with its attributes, and the text inside <script> and <style>."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags, self.scripts, self._in = [], [], None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in = tag if tag in ("script", "style") else None

    def handle_data(self, data):
        if self._in == "script":
            self.scripts.append(data)


def hostile_circuit():
    x, y = Value(-2.0, HOSTILE), Value(5.0, '"><img src=x onerror=alert(1)>')
    f = (x + y) * Value(-4.0, "z")
    f.label = "f & <b>g</b>"
    return f


def test_walkthrough_page_is_self_contained_and_escaped(tmp_path, dot):
    f = hostile_circuit()
    player = walkthrough(f, tmp_path / "walk.html")
    page = (tmp_path / "walk.html").read_text(encoding="utf-8")
    assert page == player.html()  # the same bytes every time
    parsed = Tags(page)
    tags = {tag for tag, _ in parsed.tags}
    assert tags <= PAGE_TAGS, tags - PAGE_TAGS
    assert [tag for tag, _ in parsed.tags].count("script") == 1
    for tag, attrs in parsed.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert "src" not in attrs and "href" not in attrs and "xlink:href" not in attrs
    assert not re.search(r"https?://(?!www\.w3\.org/(2000/svg|1999/xlink)\b)", page)
    assert "url(" not in page and "@import" not in page
    csp = next(a["content"] for t, a in parsed.tags if a.get("http-equiv") == "Content-Security-Policy")
    assert csp.startswith("default-src 'none';") and "unsafe" not in csp
    # the hostile labels are there, as text only
    assert HOSTILE not in page and "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;" in page
    assert "<img" not in page and "<b>" not in page
    assert "f &amp; &lt;b&gt;g&lt;/b&gt;" in page  # in the <title> and the steps' text


def _uid(page):
    return re.search(r'id="(valuegrad-walk[-\d]*)"', page).group(1)


def test_walkthrough_has_a_frame_and_a_text_per_step(dot):
    f = circuit()
    player = walkthrough(f)
    page = player.html()
    assert len(player.steps) == 2
    frames = re.findall(r'<div class="frame"( hidden)?>(<svg.*?</svg>)</div>', page, flags=re.S)
    texts = re.findall(r'<pre class="text"( hidden)?>(.*?)</pre>', page, flags=re.S)
    assert [h for h, _ in frames] == [h for h, _ in texts] == ["", " hidden", " hidden"]
    for _, svg in frames:
        ET.fromstring(svg)  # well-formed, on its own
        assert " id=" not in svg and "<title" not in svg  # nothing to clash between frames
    assert texts[0][1].startswith("forward pass") and "q = x + y = 3" in texts[0][1]
    assert "f = q * z = -12" in texts[0][1]
    assert texts[1][1] == "backward, step 1 of 2:\n" + str(player.steps[0])
    assert '<span class="counter">step 0 of 2</span>' in page


def test_walkthrough_changes_no_grad_and_guards_its_size(dot):
    f = circuit()
    f.backward()
    grads = [n.grad for n in topological_order(f)]
    walkthrough(f)
    assert [n.grad for n in topological_order(f)] == grads
    chain = Value(0.5, "x").tanh().tanh()  # 3 values
    walkthrough(chain, max_nodes=3)
    with pytest.raises(ValueError, match=r"3 nodes, more than max_nodes=2.*max_nodes=3"):
        walkthrough(chain, max_nodes=2)
    big = Value(0.5, "x")
    for _ in range(WALK_MAX_NODES):
        big = big.relu()
    with pytest.raises(ValueError, match=rf"max_nodes={WALK_MAX_NODES}\b"):
        walkthrough(big)
    with pytest.raises(TypeError):
        walkthrough(1.0)


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


def test_players_in_one_notebook_do_not_share_element_ids(dot):
    player = walkthrough(circuit())
    first, second = player._repr_html_(), player._repr_html_()
    assert _uid(first) != _uid(second)
    assert "<html" not in first and "tabindex=\"0\">" in first  # a fragment: keys only when focused
    assert f'getElementById("{_uid(first)}")' in first
    assert f"#{_uid(first)} .view" in first  # the style is scoped to its own player


def test_public_names_and_a_fast_import():
    assert {"backward_steps", "Step", "walkthrough"} <= set(autograd.__all__)
    assert autograd.walkthrough is walkthrough
    # Graphviz and the page's helpers are imported when a player is made, not with autograd.
    code = ("import sys, autograd; from autograd import backward_steps, Step; "
            "print(sorted(m for m in ('graphviz', 'xml.etree.ElementTree', 'html', 'hashlib', 'string') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
