"""What the browser tests of the player share: the two graphs, and a player played and measured in a page.

``play_through`` drives one player (in a notebook's output or on its own page) with the mouse and the
keys, through its hooks only (``data-valuegrad-player``, ``data-valuegrad-step``, the buttons named
Next and Previous, the class ``current``), and checks at every step what a learner needs: one step
per Next, the current gate inside the visible part of the player with text at least 8 px tall, a
player no wider than the room it is given, the keys working after any click.
"""

from __future__ import annotations

import inspect

from autograd import Value

READABLE = 8.0  # CSS px: the least height of the current gate's text
SLACK = 1.0  # px, for rounding

def circuit() -> Value:
    """f = (x + y) * z at x=-2, y=5, z=-4."""
    x, y, z = Value(-2.0, "x"), Value(5.0, "y"), Value(-4.0, "z")
    q = x + y
    q.label = "q"
    f = q * z
    f.label = "f"
    return f


def sigmoid_neuron() -> Value:
    """The seed's neuron as the command line builds it: only the output has a label."""
    w0, x0, w1, x1, w2 = (Value(v, n) for v, n in
                          ((2.0, "w0"), (-1.0, "x0"), (-3.0, "w1"), (-2.0, "x1"), (-3.0, "w2")))
    f = 1 / (1 + (-(w0 * x0 + w1 * x1 + w2)).exp())
    f.label = "f"
    return f


def cell_source(build) -> str:
    """A notebook cell that defines ``build`` (one of the two above) and shows its player."""
    return f"from autograd import Value, walkthrough\n\n{inspect.getsource(build)}\nwalkthrough({build.__name__}())"


# The state of one player, read from its DOM through the hooks, rectangles in CSS px of the window.
MEASURE = """(root) => {
  const box = (e) => { const r = e.getBoundingClientRect();
                       return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; };
  const view = root.querySelector(".view");
  const shown = [...root.querySelectorAll(".frame")].filter((f) => !f.hidden);
  const current = shown.length ? [...shown[0].querySelectorAll(".current")] : [];
  const room = root.closest(".jp-OutputArea-output") || document.documentElement;
  return {
    step: root.querySelector("[data-valuegrad-step]").textContent,
    frames: shown.length,
    view: box(view),
    current: current.map(box),
    texts: current.flatMap((e) => [...e.querySelectorAll("text")]).map((t) => t.getBoundingClientRect().height),
    width: root.getBoundingClientRect().width,
    room: room.getBoundingClientRect().width,
    window: {left: 0, top: 0, right: innerWidth, bottom: innerHeight},
    focused: root.contains(document.activeElement),
  };
}"""

# The words of the step's text that a line break has cut in two (each word should sit on one line),
# and how many lines wrapped at all (so that a narrow player does test something).
BROKEN_WORDS = """(root) => {
  const broken = [];
  let wrapped = 0;
  for (const line of root.querySelectorAll(".text .line")) {
    const node = line.firstChild;
    if (!node) continue;
    const tops = (from, to) => {
      const range = document.createRange();
      range.setStart(node, from);
      range.setEnd(node, to);
      return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
    };
    if (tops(0, node.length) > 1) wrapped++;
    for (const m of node.textContent.matchAll(/\\S+/g)) {
      if (tops(m.index, m.index + m[0].length) > 1) broken.push(m[0]);
    }
  }
  return {broken, wrapped};
}"""


def inside(inner: dict, outer: dict) -> bool:
    return (inner["left"] >= outer["left"] - SLACK and inner["right"] <= outer["right"] + SLACK
            and inner["top"] >= outer["top"] - SLACK and inner["bottom"] <= outer["bottom"] + SLACK)


def measure(player) -> dict:
    """``player`` (a Playwright locator of the root element) scrolled into view, then measured."""
    player.locator(".view").scroll_into_view_if_needed()
    return player.evaluate(MEASURE)


def assert_fits(state: dict) -> None:
    """The player is no wider than the room it is given, nor than the window."""
    assert state["width"] <= state["room"] + SLACK, state
    assert state["width"] <= state["window"]["right"] + SLACK, state


def assert_follows(state: dict, k: int, n: int) -> None:
    """At step ``k`` of ``n``: that step on show, its gate in view and readable."""
    assert state["step"].startswith(f"{k} "), (k, state["step"])
    assert state["step"] == f"{k} of {n}"
    assert state["frames"] == 1
    assert state["current"], f"step {k}: no element of class current"
    for rect in state["current"]:
        assert inside(rect, state["view"]), f"step {k}: the current gate {rect} is outside the view {state['view']}"
        assert inside(rect, state["window"]), f"step {k}: the current gate {rect} is outside the window"
    assert state["texts"] and min(state["texts"]) >= READABLE, f"step {k}: text {min(state['texts'])} px tall"


def play_through(page, player, n: int) -> None:
    """Play ``player`` from step 0 to ``n`` with Next, check every step, then the keys at both ends."""
    state = measure(player)
    assert state["step"] == f"0 of {n}" and state["current"] == []
    assert_fits(state)
    next_button = player.get_by_role("button", name="Next", exact=True)
    for k in range(1, n + 1):
        next_button.click()
        state = measure(player)
        assert_follows(state, k, n)
        assert_fits(state)
    assert state["focused"], "the focus left the player"
    # Past the end (the button says aria-disabled, which Playwright honours unless forced): the
    # player stays, and the button keeps the focus, so the keys still work.
    next_button.click(force=True)
    assert measure(player)["step"] == f"{n} of {n}"
    page.keyboard.press("ArrowLeft")
    assert_follows(measure(player), n - 1, n)
    page.keyboard.press("ArrowRight")
    assert_follows(measure(player), n, n)
    page.keyboard.press("Home")
    assert measure(player)["step"] == f"0 of {n}"
    player.get_by_role("button", name="Previous", exact=True).click(force=True)  # at the first step
    page.keyboard.press("End")
    assert_follows(measure(player), n, n)
