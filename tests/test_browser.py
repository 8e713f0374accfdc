"""The standalone page of the player in a real browser: headless Chromium driven by Playwright.

The page is played at 1280x800 with the same checks as the notebook's player (tests/players.py):
one step per Next, the current gate in view and readable, no wider than the window, the keys after
any click. It shows each step's arithmetic, opens at the step its URL names, zooms, wraps its
text between words only in a narrow window, fetches nothing, breaks no rule of its
Content-Security-Policy, and shows hostile labels as text. The last step is screenshot into out/.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from autograd import Value, backward_steps, walkthrough

from players import BROKEN_WORDS, assert_fits, circuit, measure, play_through, sigmoid_neuron

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = ROOT / "out" / "walkthrough-last-step.png"
ORANGE = np.array([1.0, 165 / 255, 0.0])  # the current gate's colour
PLAYER = "[data-valuegrad-player]"


@pytest.fixture
def open_page(browser, tmp_path, dot):
    """``open_page(root, width=1280, height=800, fragment="")`` writes root's player and opens it; the
    page records every request it makes and every error or console complaint (a CSP refusal)."""
    contexts = []

    def open_page(root, width=1280, height=800, fragment=""):
        path = tmp_path / f"walk{len(contexts)}.html"
        player = walkthrough(root, path)
        context = browser.new_context(viewport={"width": width, "height": height}, reduced_motion="reduce")
        contexts.append(context)
        page = context.new_page()
        page.requests, page.complaints = [], []
        page.on("request", lambda request: page.requests.append(request.url))
        page.on("pageerror", lambda error: page.complaints.append(str(error)))
        page.on("console", lambda message: page.complaints.append(message.text)
                if message.type in ("error", "warning") else None)
        page.goto(path.as_uri() + fragment)
        page.player, page.walk, page.uri = page.locator(PLAYER), player, path.as_uri()
        return page

    yield open_page
    for context in contexts:
        context.close()


def shown_text(page) -> str:
    return "\n".join(page.player.locator(".text .line").all_text_contents())


@pytest.mark.parametrize("build", [circuit, sigmoid_neuron])
def test_the_page_plays_every_step_in_view(open_page, build):
    page = open_page(build())
    n = len(page.walk.steps)
    play_through(page, page.player, n)
    # each step's arithmetic, and its number in the address
    page.keyboard.press("Home")
    assert shown_text(page) == page.walk._texts[0]
    for k in range(1, n + 1):
        page.keyboard.press("ArrowRight")
        assert shown_text(page) == page.walk._texts[k]
        assert page.evaluate("location.hash") == f"#step={k}"
    assert page.requests == [page.uri]  # the page itself, nothing else
    assert page.complaints == []

    if build is sigmoid_neuron:
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=SCREENSHOT)
        pixels = imread(SCREENSHOT)[..., :3]  # a PNG decodes to floats in [0, 1]
        assert (np.abs(pixels - ORANGE).max(axis=-1) < 0.02).sum() > 100  # the current gate, drawn


def test_the_page_opens_at_the_step_it_names_and_zooms(open_page):
    f = sigmoid_neuron()
    page = open_page(f, fragment="#step=3")
    n = len(backward_steps(f))
    assert measure(page.player)["step"] == f"3 of {n}"
    page.evaluate("location.hash = '#step=5'")  # a link within the page
    page.wait_for_function(f"document.querySelector('[data-valuegrad-step]').textContent == '5 of {n}'")
    drawing = page.player.locator(".frame:not([hidden]) svg")
    view = page.player.locator(".view").bounding_box()
    page.player.get_by_role("button", name="Fit all").click()
    whole = drawing.bounding_box()
    assert whole["width"] <= view["width"] + 1 and whole["height"] <= view["height"] + 1
    assert whole["width"] > view["width"] - 30 or whole["height"] > view["height"] - 30  # fitted, not shrunk
    page.player.get_by_role("button", name="Zoom in").click()
    assert drawing.bounding_box()["width"] > 1.2 * whole["width"]
    page.keyboard.press("-")
    page.keyboard.press("-")
    assert drawing.bounding_box()["width"] == pytest.approx(whole["width"], abs=1)  # no smaller than fit
    page.keyboard.press("+")
    page.keyboard.press("0")  # fit all again
    assert drawing.bounding_box()["width"] == pytest.approx(whole["width"], abs=1)
    # a drag pans the drawing
    page.player.get_by_role("button", name="Zoom in").click()
    before = drawing.bounding_box()
    page.mouse.move(view["x"] + view["width"] / 2, view["y"] + view["height"] / 2)
    page.mouse.down()
    page.mouse.move(view["x"] + view["width"] / 2 + 120, view["y"] + view["height"] / 2, steps=4)
    page.mouse.up()
    assert drawing.bounding_box()["x"] != pytest.approx(before["x"], abs=5)
    page.keyboard.press("ArrowRight")  # after a drag, the keys still work
    assert measure(page.player)["step"] == f"6 of {n}"
    assert page.complaints == []


def test_a_narrow_window_wraps_lines_between_words(open_page):
    page = open_page(sigmoid_neuron(), width=380, height=700)
    for _ in range(3):
        text = page.player.evaluate(BROKEN_WORDS)
        assert text["broken"] == []
        assert_fits(measure(page.player))
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Home")
    assert page.player.evaluate(BROKEN_WORDS)["wrapped"] > 0  # the forward pass's lines did wrap


def test_hostile_labels_are_shown_and_run_nothing(open_page):
    labels = ["<script>window.pwned=1</script>", "<img src=x onerror=pwned=2>",
              "</script><script>pwned=3</script>", "<svg onload=pwned=4>"]
    x = Value(2.0, labels[0])
    y = Value(-1.0, labels[1])
    q = x * y
    q.label = labels[2]
    f = q + Value(1.0, labels[3])
    f.label = "<b onmouseover=pwned=5>f</b>"
    page = open_page(f, fragment="#step=2")
    assert page.evaluate("window.pwned") is None
    assert page.title() == "valuegrad: backward through <b onmouseover=pwned=5>f</b>"
    drawn = page.player.locator(".frame:not([hidden]) text").all_text_contents()
    for label in labels:
        assert label in [" ".join(t.split()) for t in drawn]  # drawn as text in the graph
    lines = shown_text(page).splitlines()
    assert lines[1] == f"{labels[2]} = ({labels[0]}) * ({labels[1]}): upstream 1"
    assert lines[2:] == [f"  ({labels[0]}).grad += 1 × -1 = -1", f"  ({labels[1]}).grad += 1 × 2 = 2"]
    assert page.locator("img, b, .frame script").count() == 0
    assert page.complaints == []
