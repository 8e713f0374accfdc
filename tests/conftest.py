"""Shared fixtures: a seeded RNG for every test, and the optional tools.

PyTorch (the cross-checks), Graphviz's ``dot`` (real renders), Chromium (the
player in a real browser, driven by Playwright) and JupyterLab with anywidget
(the player in a real notebook) are optional on a user's machine: tests that
need them are skipped with the reason. In CI (``VALUEGRAD_REQUIRE_ALL=1``, set
by ``.ci/run``) a missing one is a failure.
"""

import importlib
import importlib.util
import os
import random
import shutil

import pytest
from hypothesis import settings

from helpers import load_tool

# In CI the property tests draw the same examples every run (no flakes); on a
# developer's machine they explore new ones each time.
settings.register_profile("ci", derandomize=True, database=None, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

REQUIRE_ALL = os.environ.get("VALUEGRAD_REQUIRE_ALL") == "1"


def _unavailable(reason: str):
    if REQUIRE_ALL:
        pytest.fail(f"{reason} (required in CI: VALUEGRAD_REQUIRE_ALL=1)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same global random state."""
    random.seed(1234)
    yield


@pytest.fixture(scope="session")
def torch():
    """The torch module, double precision by default."""
    try:
        import torch as torch_module
    except ImportError:
        _unavailable("PyTorch is not installed: pip install torch==2.13.0")
    torch_module.set_default_dtype(torch_module.float64)
    return torch_module


def _installed(module: str, what: str):
    """The module named ``module`` (``what``, from the test extra), or the test is unavailable."""
    try:
        return importlib.import_module(module)
    except ImportError:
        _unavailable(f"{what} is not installed: pip install -e '.[test]'")


@pytest.fixture(scope="session")
def anywidget():
    """The anywidget module (the notebook player's widget library: the ``[notebooks]`` extra)."""
    return _installed("anywidget", "anywidget")


@pytest.fixture(scope="session")
def jupyterlab(anywidget):
    """The jupyterlab module: a real notebook front-end, to play the player in (its kernel needs anywidget)."""
    return _installed("jupyterlab", "JupyterLab")


@pytest.fixture(scope="session")
def notebook_app(anywidget):
    """The notebook module (Jupyter Notebook 7): a second real front-end for the player."""
    return _installed("notebook", "Jupyter Notebook 7")


@pytest.fixture(scope="session")
def dot():
    """Path to Graphviz's dot binary."""
    path = shutil.which("dot")
    if path is None:
        _unavailable("Graphviz's dot is not installed (apt-get install graphviz)")
    return path


@pytest.fixture(scope="session")
def chromium():
    """Path to a Chromium browser (Debian's package ``chromium``), for headless runs."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path is not None:
            return path
    _unavailable("Chromium is not installed (apt-get install chromium, or make chromium)")


@pytest.fixture
def linked_directories(tmp_path):
    """``tmp/real`` and ``tmp/work/link -> ../real``: one directory under two names. (work, real)."""
    (tmp_path / "real").mkdir()
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "link").symlink_to("../real")
    return tmp_path / "work", tmp_path / "real"


@pytest.fixture
def fail_on(monkeypatch):
    """``fail_on(name, error, when)``: ``os.<name>(*args)`` raises ``error`` where ``when(*args)``.

    ``when`` may also be a string: the call fails when its first argument (a
    path, or a descriptor as for ``fsync``) names a file whose name holds it.
    For failures that need privileges to cause for real: a full disk (at
    ``fsync``), a read-only directory (at ``open``).
    """
    def arrange(name, error, when):
        real = getattr(os, name)
        if isinstance(when, str):
            text = when
            when = lambda target, *rest: text in os.path.basename(  # noqa: E731
                os.readlink(f"/proc/self/fd/{target}") if isinstance(target, int) else os.fspath(target))

        def failing(*args, **kwargs):
            if when(*args):
                raise error
            return real(*args, **kwargs)

        monkeypatch.setattr(os, name, failing)

    return arrange


# Headless, as root (no sandbox), and quiet: a closed network has nothing to call home to.
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--disable-default-apps", "--disable-breakpad", "--mute-audio",
    "--no-proxy-server",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(chromium):
    """pytest-playwright's launch options: the system's Chromium (Playwright's own cannot be downloaded here)."""
    return {"executable_path": chromium, "headless": True, "args": CHROMIUM_FLAGS}


@pytest.fixture(scope="session")
def notebook_runner():
    """tools/run_notebooks.py."""
    return load_tool("run_notebooks")
