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
    ours = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "autograd", "__init__.py")
    owners = sorted({name for name in importlib.metadata.packages_distributions().get("autograd", [])
                     if name.lower() != "valuegrad"})
    if spec is None:
        found = "no package named autograd"
    elif spec.origin is None:  # a namespace package: our folder, its __init__.py deleted
        found = (f"{', '.join(spec.submodule_search_locations or ())}, a folder without its __init__.py "
                 "(uninstalling a distribution that shared it deletes files of the other)")
    else:
        found = spec.origin
        if not owners and os.path.abspath(found) == ours:
            return None  # our own autograd, broken: its own error says why
        if not owners:
            found += " (not an installed package: a file or folder of your own? rename it)"
    installed = "".join(f"\n  installed by the distribution {name} {importlib.metadata.version(name)}"
                        + (" (HIPS autograd)" if name == "autograd" else "") for name in owners)
    return (
        "`import autograd` does not find valuegrad's autograd, which valuegrad's nn needs; it finds:\n"
        f"  {found}{installed}\n"
        f"  (`from autograd import Value`: {error})\n"
        "HIPS autograd, PyPI's `autograd`, shares that import name with valuegrad's engine, and pip lets "
        "either overwrite the other's files without a word.\n"
        "Fix: use valuegrad in a virtual environment of its own:\n"
        "  python -m venv valuegrad-env\n"
        "  valuegrad-env/bin/pip install <valuegrad's wheel, or a clone's directory>\n"
        "or, if this environment does not need the other autograd: pip uninstall autograd valuegrad, "
        "then install valuegrad again."
    )
