"""Other distributions installed under our import names, said out loud at ``import autograd``.

valuegrad installs two top-level packages, ``autograd`` and ``nn``, and both
names are taken on PyPI too: ``autograd`` is HIPS autograd (preinstalled in
many environments, Colab's among them) and ``nn`` is another package. pip
installs two distributions into one directory without a word: the files they
share are overwritten by whichever came last, and uninstalling either deletes
files of the other.

``import autograd`` (when ours is the one that runs) looks for such a
neighbour, a ``autograd-*.dist-info`` or ``nn-*.dist-info`` beside this
package (one ``os.listdir``, no metadata parsed), and warns naming it and the
fix. When the other one's ``autograd`` runs instead of ours, nothing of ours
runs: ``import nn`` then names the clash (see ``nn/__init__.py``).
"""

from __future__ import annotations

import os
import warnings

IMPORT_NAMES = ("autograd", "nn")
"""valuegrad's top-level packages: the names another distribution may share."""

KNOWN = {"autograd": "HIPS autograd", "nn": "the PyPI package nn"}


class NameClashWarning(UserWarning):
    """Another distribution has installed files under one of valuegrad's import names."""


def neighbours(directory: str) -> list[str]:
    """The distributions named like one of our packages installed in ``directory``, as ``"name version"``.

    >>> neighbours("/nonexistent")
    []
    """
    try:
        entries = os.listdir(directory)
    except OSError:
        return []
    found = []
    for entry in sorted(entries):
        stem, _, kind = entry.rpartition(".")
        name, _, version = stem.partition("-")
        if kind in ("dist-info", "egg-info") and name.lower() in IMPORT_NAMES:
            found.append(f"{name} {version.partition('-')[0]}".strip())
    return found


def describe(found: list[str]) -> str:
    """The warning for ``found`` (from :func:`neighbours`): what collided and how to get out."""
    names = [entry.split()[0] for entry in found]
    listed = "".join(f"\n  {entry} ({KNOWN.get(name.lower(), 'another package')}), as `{name.lower()}`"
                     for entry, name in zip(found, names))
    return (
        f"valuegrad shares its directory with other distributions under its import names:{listed}\n"
        "pip installs them side by side without a word: each file they share is the one installed last, "
        "and uninstalling either deletes files of the other.\n"
        "Fix: use valuegrad in a virtual environment of its own:\n"
        "  python -m venv valuegrad-env\n"
        "  valuegrad-env/bin/pip install <valuegrad's wheel, or a clone's directory>\n"
        f"or, if this environment does not need them: pip uninstall {' '.join(names)} valuegrad, "
        "then install valuegrad again."
    )


def warn_about_neighbours(package_dir: str) -> None:
    """Warn (:class:`NameClashWarning`) when another distribution shares our packages' directory."""
    found = neighbours(os.path.dirname(package_dir))
    if found:
        warnings.warn(describe(found), NameClashWarning, stacklevel=2)
