"""The player where learners open it: real Jupyter servers (JupyterLab 4, Notebook 7), a real
Chromium (Playwright).

Each server runs on the loopback address with a token, on a free port, with a
root folder and Jupyter's config, data and runtime folders of its own (so
nothing of the user's settings, trusted notebooks or extensions leaks in), and
is stopped at the end. One test runs a notebook and plays the circuit and the
sigmoid neuron at 1280x900, in each front-end; another opens stored notebooks
in JupyterLab without running them; a third renders them as nbviewer does.
"""

from __future__ import annotations

import html
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import nbformat
import nbformat.sign
import pytest
from playwright.sync_api import expect

from autograd import backward_steps, walkthrough
from autograd.player import HOW_TO_PLAY

from players import assert_fits, cell_source, circuit, measure, play_through, sigmoid_neuron

ROOT = Path(__file__).resolve().parent.parent
STARTUP = 90  # seconds for the server to answer
KERNEL = 120_000  # ms for a kernel to start and run the cells
PICTURE = "img[alt*='every gradient shown']"  # the picture of the finished pass


class Server:
    """A Jupyter server of ours (JupyterLab's, or Notebook 7's): its address, token, folders, process."""

    def __init__(self, app: str, home: Path) -> None:
        self.app, self.home = app, home
        self.root = home / "root"
        self.data = home / "data"
        with socket.socket() as s:  # a free port, chosen by the OS
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.token = os.urandom(16).hex()
        self.base = f"http://127.0.0.1:{self.port}"

    def url(self, path: str, query: str = "") -> str:
        return f"{self.base}/{path}?{query}token={self.token}"

    def notebook_url(self, name: str) -> str:
        # JupyterLab: the notebook alone ("reset": no tab of an earlier visit comes back).
        return self.url(f"lab/tree/{name}", "reset&") if self.app == "jupyterlab" else self.url(f"notebooks/{name}")

    def environment(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "IPYTHON"))}
        config = self.home / "config"
        return {**env, "JUPYTER_CONFIG_DIR": str(config), "JUPYTER_DATA_DIR": str(self.data),
                "JUPYTER_RUNTIME_DIR": str(self.home / "runtime"), "IPYTHONDIR": str(self.home / "ipython"),
                "JUPYTERLAB_SETTINGS_DIR": str(config / "lab" / "user-settings"),
                "JUPYTERLAB_WORKSPACES_DIR": str(config / "lab" / "workspaces"), "JUPYTER_PLATFORM_DIRS": "0"}

    def api(self, path: str):
        """The server's answer to GET /api/<path>, as JSON; None while it does not answer."""
        request = urllib.request.Request(f"{self.base}/api/{path}", headers={"Authorization": f"token {self.token}"})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
        try:
            with opener.open(request, timeout=5) as reply:
                return json.loads(reply.read())
        except OSError:
            return None

    def kernel_idle(self, name: str) -> bool:
        """Whether the notebook ``name`` has a kernel, started and idle."""
        return any(s["path"] == name and s["kernel"]["execution_state"] == "idle" for s in self.api("sessions") or [])


@contextmanager
def running(app: str, home: Path):
    """A server of ``app`` (jupyterlab, notebook), started for the block and stopped after it."""
    server = Server(app, home)
    server.root.mkdir()
    # JupyterLab's news, off: nothing to fetch here, and its toast would cover the notebook.
    labconfig = home / "config" / "labconfig"
    labconfig.mkdir(parents=True)
    (labconfig / "page_config.json").write_text(json.dumps({"disabledExtensions": {
        "@jupyterlab/apputils-extension:announcements": True}}))
    log = (home / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", app, "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={server.port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={server.token}",
         f"--ServerApp.root_dir={server.root}", "--ServerApp.allow_root=True"],  # CI runs as root
        env=server.environment(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,  # a Ctrl+C in the terminal is for pytest; the server is stopped below
    )
    try:
        deadline = time.monotonic() + STARTUP
        while server.api("status") is None:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{app} did not start:\n{(home / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield server
    finally:
        process.terminate()  # on SIGTERM the server shuts its kernels down, then exits
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory, jupyterlab):
    with running("jupyterlab", tmp_path_factory.mktemp("jupyterlab")) as server:
        yield server


@pytest.fixture(scope="module")
def notebook7(tmp_path_factory, notebook_app):
    with running("notebook", tmp_path_factory.mktemp("notebook")) as server:
        yield server


@pytest.fixture
def window(browser):
    """A fresh page at 1280x900 that records the errors it meets; animations off, so measures are final."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, reduced_motion="reduce")
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(f"{error}\n{error.stack}"))
    yield page
    context.close()


def notebook(path: Path, *sources: str) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def open_notebook(page, server: Server, name: str):
    """Open ``name``, wait for its kernel to be ready (nothing is run), and return its panel."""
    page.goto(server.notebook_url(name))
    if server.app == "jupyterlab":
        tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel")
        expect(tab).to_have_text(name, timeout=KERNEL)
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    panel.locator(".jp-Cell").first.wait_for(timeout=KERNEL)
    deadline = time.monotonic() + KERNEL / 1000
    while not server.kernel_idle(name):
        assert time.monotonic() < deadline, f"no kernel became idle for {name}"
        time.sleep(0.25)
    return panel


def reveal(element) -> None:
    """Scroll ``element`` into view once it exists. JupyterLab skips drawing the cells out of view
    (CSS content-visibility), which Playwright takes for hidden: its own scrolling would wait forever."""
    element.evaluate("(e) => e.scrollIntoView({block: 'center'})", timeout=KERNEL)
    expect(element).to_be_visible()


def run_all(page) -> None:
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def cells(page) -> tuple[int, int]:
    """How many cells the notebook has, and which is active: what a stray key would change."""
    return page.evaluate("""() => { const all = [...document.querySelectorAll('.jp-Notebook .jp-Cell')];
        return [all.length, all.findIndex((c) => c.classList.contains('jp-mod-active'))]; }""")


@pytest.mark.parametrize("front_end", ["lab", "notebook7"])
def test_players_play_in_a_running_notebook(front_end, window, request):
    """JupyterLab 4 and Notebook 7 at 1280x900: run a notebook, play both players through."""
    server = request.getfixturevalue(front_end)
    notebook(server.root / "live.ipynb", cell_source(circuit), cell_source(sigmoid_neuron))
    panel = open_notebook(window, server, "live.ipynb")
    run_all(window)
    # Both cells run (their prompts numbered), then each player brought into view.
    expect(panel.locator(".jp-InputPrompt").nth(1)).to_have_text("[2]:", timeout=KERNEL)
    players = panel.locator("[data-valuegrad-player]")
    for k in range(2):
        reveal(players.nth(k))
    assert players.count() == 2
    for player, build in zip((players.nth(0), players.nth(1)), (circuit, sigmoid_neuron)):
        player.locator(".view").click()  # a click on the drawing gives the player the keys too
        play_through(window, player, len(backward_steps(build())))
        # Keys pressed in the player stay there: in command mode "b" or "a" would add a cell, ↓ move
        # to the next.
        before = cells(window)
        for key in ("b", "a", "ArrowDown"):
            window.keyboard.press(key)
        assert cells(window) == before
    assert measure(players.nth(0))["step"] == "2 of 2"  # keys in the second player left the first alone
    # Fit all, zoom in, then a narrower window: the player keeps to the room it has.
    sigmoid = players.nth(1)
    sigmoid.get_by_role("button", name="Fit all").click()
    whole = sigmoid.locator(".frame:not([hidden]) svg").bounding_box()
    view = sigmoid.locator(".view").bounding_box()
    assert whole["width"] <= view["width"] + 1 and whole["height"] <= view["height"] + 1
    sigmoid.get_by_role("button", name="Zoom in").click()
    assert sigmoid.locator(".frame:not([hidden]) svg").bounding_box()["width"] > whole["width"] * 1.2
    window.set_viewport_size({"width": 760, "height": 900})
    assert_fits(measure(sigmoid))
    # Notebook 7 (7.5) throws one error of its own at start-up, in a settings plugin; none is the player's.
    assert [e for e in window.errors if "notebook_core" not in e] == []


def test_stored_outputs_show_a_picture_without_running(lab, window, dot, notebook_runner):
    """Notebooks opened without running them (a kernel starts, but has made no widget).

    JupyterLab renders an output in the most preferred form it may: for an
    untrusted notebook (one it has not saved itself: a clone, a download) only
    safe renderers count, so a widget view (unsafe) is passed over for the
    output's HTML, sanitized: our picture and the line on how to play it. For a
    trusted notebook the widget view wins, and ipywidgets 8, finding no model
    for it in the new kernel, shows "Error displaying widget: model not found".
    So the notebooks we store keep no widget views (tools/run_notebooks.py):
    they show the picture either way.
    """
    notary = nbformat.sign.NotebookNotary(data_dir=str(lab.data))  # the server's trust database
    opened = []
    for name in ("01_values_and_backward.ipynb", "02_sigmoid_neuron.ipynb"):
        stored = nbformat.read(ROOT / "notebooks" / name, as_version=4)
        nbformat.write(stored, lab.root / name)
        trusted = nbformat.from_dict(json.loads(nbformat.writes(stored)))
        trusted.metadata["copy"] = "trusted"  # another notebook: trust is per content
        notary.sign(trusted)
        nbformat.write(trusted, lab.root / f"trusted-{name}")
        opened += [name, f"trusted-{name}"]
    # As a kernel sent it, widget view included: JupyterLab's choice depends on trust.
    notebook(lab.root / "sent.ipynb", cell_source(sigmoid_neuron))
    sent, _ = notebook_runner.execute(lab.root / "sent.ipynb")
    bundle = sent.cells[0].outputs[0]["data"]
    assert {"application/vnd.jupyter.widget-view+json", "text/html", "image/svg+xml"} <= set(bundle)
    nbformat.write(sent, lab.root / "sent.ipynb")
    sent.metadata["copy"] = "trusted"
    notary.sign(sent)
    nbformat.write(sent, lab.root / "trusted-sent.ipynb")

    for name in [*opened, "sent.ipynb"]:
        panel = open_notebook(window, lab, name)
        outputs = panel.locator(".jp-OutputArea-output")
        picture = outputs.locator(PICTURE)
        reveal(picture)
        box = picture.bounding_box()
        assert box["width"] > 300 and box["height"] > 100, (name, box)
        assert picture.evaluate("(img) => img.complete && img.naturalWidth > 0"), name
        line = outputs.get_by_text(HOW_TO_PLAY)
        reveal(line)
        assert line.bounding_box()["y"] < picture.bounding_box()["y"], name  # read first
        assert outputs.locator("button, [data-valuegrad-player]").count() == 0, name  # no dead control
    outputs = open_notebook(window, lab, "trusted-sent.ipynb").locator(".jp-OutputArea-output")
    expect(outputs.first).to_have_text("Error displaying widget: model not found", timeout=KERNEL)
    assert window.errors == []


def test_nbviewer_shows_the_picture(jupyterlab, dot, monkeypatch):
    """nbviewer renders with nbconvert: the stored notebooks, and an output with a widget view but
    no widget state, come out as the picture and the line, with no widget and no control."""
    from nbconvert import HTMLExporter

    import autograd.player

    monkeypatch.setattr(autograd.player, "_in_kernel", lambda: True)
    data, metadata = walkthrough(sigmoid_neuron())._repr_mimebundle_()  # as a kernel sends it
    sent = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        cell_source(sigmoid_neuron), outputs=[nbformat.v4.new_output("display_data", data=data, metadata=metadata)])])
    assert "application/vnd.jupyter.widget-view+json" in data
    for nb in (nbformat.read(ROOT / "notebooks" / "02_sigmoid_neuron.ipynb", as_version=4), sent):
        page, _ = HTMLExporter().from_notebook_node(nb)
        pictures = [tag for tag in re.findall(r"<img [^>]*>", page) if "every gradient shown" in tag]
        assert len(pictures) == 1 and 'src="data:image/svg+xml;base64,' in pictures[0]
        assert HOW_TO_PLAY in html.unescape(page)
        assert "vnd.jupyter.widget-view" not in page and "<button" not in page
