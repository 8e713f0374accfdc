"""When ``import autograd`` finds another package than valuegrad's: what collided, where, and the fix.

HIPS autograd, PyPI's ``autograd``, shares the import name with valuegrad's
engine. Installed over valuegrad (or earlier on ``sys.path``), its
``autograd`` is the one Python imports, and nothing of valuegrad's engine
runs; ``nn``, whose first import is ``from autograd import Value``, is then
the one to say so. (When valuegrad's ``autograd`` is the one that runs, it
warns by itself: :mod:`autograd.clash`.)
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os


def not_ours(error: ImportError) -> str | None:
    """Why ``from autograd import Value`` failed, when another package holds the name; else None.

    (Only ever imported on that failure: the metadata scan costs milliseconds.)
    """
    try:
        spec = importlib.util.find_spec("autograd")
    except (ImportError, ValueError):
        spec = None
    found = spec.origin if spec is not None and spec.origin else "nothing"
    ours = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "autograd", "__init__.py")
    owners = [name for name in importlib.metadata.packages_distributions().get("autograd", [])
              if name.lower() != "valuegrad"]
    if not owners and os.path.abspath(found) == ours:
        return None  # our own autograd, broken: its own error says why
    installed = "".join(f"; installed as `autograd` by the distribution {name} "
                        f"{importlib.metadata.version(name)}" + (" (HIPS autograd)" if name == "autograd" else "")
                        for name in sorted(set(owners)))
    return (
        f"valuegrad's nn needs valuegrad's autograd, but `import autograd` finds another package: "
        f"{found}{installed}. (`from autograd import Value` failed: {error}.) "
        "HIPS autograd, PyPI's `autograd`, shares that import name with valuegrad, and pip overwrites the files "
        "two distributions share without a word. Fix: use valuegrad in a virtual environment of its own "
        "(python -m venv valuegrad-env, then valuegrad-env/bin/pip install valuegrad's wheel or clone); "
        "or, if this environment does not need the other autograd: pip uninstall autograd valuegrad, then "
        "install valuegrad again. A file or folder of your own named autograd shadows it too: rename it."
    )
