"""The HTML player in a real browser: headless Chromium, the network closed.

The test presses Next through every step and reads, at each one, the step
counter and the arithmetic the page shows, against ``backward_steps``; goes
back with the arrow keys; opens a step by its URL fragment; screenshots the
last step into ``out/``; and checks that hostile labels are shown as text
and run nothing.
"""

import math
import re
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from autograd import Value, backward_steps, walkthrough
from autograd.walk import describe

from cdp import Browser

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = ROOT / "out" / "walkthrough-last-step.png"
ORANGE = np.array([1.0, 165 / 255, 0.0])  # the current gate's colour

# The page's state, read from its DOM: the counter and the arithmetic on show.
STATE = """(() => {
  const shown = [...document.querySelectorAll('.text')].filter(e => !e.hidden);
  const frames = [...document.querySelectorAll('.frame')].filter(e => !e.hidden);
  return {counter: document.querySelector('.counter').textContent,
          text: shown.map(e => e.textContent), frames: frames.length,
          prev: document.querySelector('.prev').disabled, next: document.querySelector('.next').disabled,
          hash: location.hash, title: document.title, pwned: window.pwned === undefined ? null : window.pwned};
})()"""
LINE = re.compile(r"^  (.+)\.grad \+= (\S+) × (\S+) = (\S+)$")


def sigmoid_neuron():
    """The seed's neuron, as the command line builds it: only the output has a label."""
    w0, x0, w1, x1, w2 = (Value(v, n) for v, n in
                          ((2.0, "w0"), (-1.0, "x0"), (-3.0, "w1"), (-2.0, "x1"), (-3.0, "w2")))
    f = 1 / (1 + (-(w0 * x0 + w1 * x1 + w2)).exp())
    f.label = "f"
    return f


@pytest.fixture(scope="module")
def browser(chromium, tmp_path_factory):
    with Browser(chromium, str(tmp_path_factory.mktemp("profile"))) as b:
        yield b


def assert_shows(state, step, k, n):
    """The DOM at step ``k`` of ``n`` shows ``step``'s numbers (to the four decimals it prints)."""
    assert state["counter"] == f"step {k} of {n}"
    assert state["frames"] == 1 and len(state["text"]) == 1
    lines = state["text"][0].splitlines()
    assert lines[0] == f"backward, step {k} of {n}:"
    assert "\n".join(lines[1:]) == describe(step)
    parsed = [LINE.match(line).groups() for line in lines[2:]]
    assert len(parsed) == len(step.node.parents)
    for (_, upstream, local, contribution), expected in zip(parsed, zip(step.local_grads, step.contributions)):
        assert math.isclose(float(upstream), step.upstream, rel_tol=1e-3, abs_tol=5e-5)
        assert math.isclose(float(local), expected[0], rel_tol=1e-3, abs_tol=5e-5)
        assert math.isclose(float(contribution), expected[1], rel_tol=1e-3, abs_tol=5e-5)


def test_next_plays_every_step_of_the_sigmoid_neuron(browser, tmp_path, dot):
    f = sigmoid_neuron()
    steps = backward_steps(f)
    n = len(steps)
    page = tmp_path / "walk.html"
    walkthrough(f, page)
    browser.open(page.as_uri())
    state = browser.evaluate(STATE)
    assert state["counter"] == f"step 0 of {n}" and state["prev"] and not state["next"]
    assert state["text"][0].startswith("forward pass") and "f = 1/(1 + exp(…)) = 0.7311" in state["text"][0]
    for k in range(1, n + 1):
        browser.click(".next")  # a real mouse click on the button
        state = browser.evaluate(STATE)
        assert_shows(state, steps[k - 1], k, n)
        assert state["hash"] == f"#step={k}"
    assert state["next"] and not state["prev"]
    browser.click(".next")  # past the end: stays on the last step
    assert browser.evaluate(STATE)["counter"] == f"step {n} of {n}"

    SCREENSHOT.parent.mkdir(exist_ok=True)
    SCREENSHOT.write_bytes(browser.screenshot())
    pixels = imread(SCREENSHOT)[..., :3]  # a PNG decodes to floats in [0, 1]
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 10  # not blank
    assert (np.abs(pixels - ORANGE).max(axis=-1) < 0.02).sum() > 100  # the current gate, drawn

    # back with the arrow keys, then a step chosen by the URL's fragment
    browser.press("ArrowLeft")
    browser.press("ArrowLeft")
    assert_shows(browser.evaluate(STATE), steps[n - 3], n - 2, n)
    browser.press("ArrowRight")
    assert_shows(browser.evaluate(STATE), steps[n - 2], n - 1, n)
    browser.evaluate("location.hash = '#step=2'")  # a link within the page
    browser.wait_until(f"document.querySelector('.counter').textContent == 'step 2 of {n}'")
    assert_shows(browser.evaluate(STATE), steps[1], 2, n)
    browser.open("about:blank")
    browser.open(page.as_uri() + "#step=3")  # a page opened at a step
    assert_shows(browser.evaluate(STATE), steps[2], 3, n)

    # nothing was fetched but the page itself, and nothing went wrong in it
    urls = [e["params"]["request"]["url"] for e in browser.events if e["method"] == "Network.requestWillBeSent"]
    assert urls == [page.as_uri()]
    assert not [e for e in browser.events if e["method"] == "Runtime.exceptionThrown"]


def test_hostile_labels_are_shown_and_run_nothing(browser, tmp_path, dot):
    labels = ["<script>window.pwned=1</script>", "<img src=x onerror=pwned=2>",
              "</script><script>pwned=3</script>", "<svg onload=pwned=4>"]
    x = Value(2.0, labels[0])
    y = Value(-1.0, labels[1])
    q = x * y
    q.label = labels[2]
    f = q + Value(1.0, labels[3])
    f.label = "<b onmouseover=pwned=5>f</b>"
    page = tmp_path / "hostile.html"
    walkthrough(f, page)
    browser.open(page.as_uri() + "#step=2")
    state = browser.evaluate(STATE)
    assert state["pwned"] is None
    assert state["title"] == "valuegrad: backward through <b onmouseover=pwned=5>f</b>"
    svg_text = browser.evaluate("[...document.querySelectorAll('.frame:not([hidden]) text')]"
                                ".map(t => t.textContent.replace(/\\s+/g, ' ').trim())")
    for label in labels:
        assert label in svg_text  # drawn as text in the graph
    text = state["text"][0].splitlines()  # and in the arithmetic
    assert text[1] == f"{labels[2]} = ({labels[0]}) * ({labels[1]}): upstream 1"
    assert text[2:] == [f"  ({labels[0]}).grad += 1 × -1 = -1", f"  ({labels[1]}).grad += 1 × 2 = 2"]
    assert browser.evaluate("document.querySelectorAll('script').length") == 1
    assert browser.evaluate("document.querySelectorAll('img, b, .frame script').length") == 0


def test_two_players_in_one_notebook_keep_to_themselves(browser, tmp_path, dot):
    # What Jupyter does with two outputs: both fragments in one document.
    players = [walkthrough(f) for f in (sigmoid_neuron(), sigmoid_neuron())]
    fragments = [p._repr_html_() for p in players]
    ids = [re.search(r'id="([^"]+)"', html).group(1) for html in fragments]
    page = tmp_path / "notebook.html"
    page.write_text("<!DOCTYPE html><html><body>" + "".join(fragments) + "</body></html>", encoding="utf-8")
    browser.open(page.as_uri())

    def counters():
        return [browser.evaluate(f"document.querySelector('#{i} .counter').textContent") for i in ids]

    n = len(players[0].steps)
    assert counters() == [f"step 0 of {n}"] * 2
    browser.click(f"#{ids[1]} .next")
    assert counters() == [f"step 0 of {n}", f"step 1 of {n}"]
    browser.press("ArrowRight")  # the second player has the focus (its button was clicked)
    assert counters() == [f"step 0 of {n}", f"step 2 of {n}"]
    browser.click(f"#{ids[0]} .next")
    browser.press("ArrowRight")
    assert counters() == [f"step 2 of {n}", f"step 2 of {n}"]
    assert browser.evaluate("location.hash") == ""  # a notebook's address is left alone
