"""Execute the notebooks top to bottom, each on a fresh kernel; fail on any error.

Usage::

    python tools/run_notebooks.py [--inplace] [notebooks...]

With no notebook named, runs every ``notebooks/*.ipynb`` in order. Prints each
notebook's run time. On an error it names the notebook and the failing cell
and exits with status 1. With ``--inplace`` each executed notebook (outputs
stored, less the widget views that need the kernel) is written back
atomically: to a temporary file in the same folder, then ``os.replace``, so an
interrupted run never leaves a half-written file.

The kernel is this interpreter's own ipykernel (``sys.executable``), whatever
other kernelspecs the machine has, so the notebooks run against the packages
of the environment that runs this script.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from traitlets import default

from autograd.files import write_atomic

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
CELL_TIMEOUT = 120  # seconds, per cell


def notebook_paths(names: list[str] | None = None) -> list[Path]:
    """The notebooks to run: the ones named, else every notebooks/*.ipynb, sorted."""
    if names:
        return [Path(n).resolve() for n in names]
    return sorted(NOTEBOOK_DIR.glob("*.ipynb"))


class OwnPythonKernelManager(AsyncKernelManager):
    """A kernel manager for ipykernel on ``sys.executable``.

    An empty ``kernel_dirs`` leaves only the native kernel, which
    jupyter_client builds from the running interpreter; a user's own
    ``python3`` kernelspec pointing at another Python cannot take over.
    """

    @default("kernel_spec_manager")
    def _default_kernel_spec_manager(self):
        return KernelSpecManager(kernel_dirs=[], ensure_native_kernel=True)


def execute(path: Path, timeout: int = CELL_TIMEOUT) -> tuple[nbformat.NotebookNode, float]:
    """Run the notebook at ``path`` on a fresh kernel; return it (with outputs) and its run time.

    Raises nbclient's ``CellExecutionError`` when a cell raises.
    """
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        kernel_manager_class=OwnPythonKernelManager,
        timeout=timeout,
        kernel_name="python3",
        coalesce_streams=True,  # one stream per cell: a progress bar is stored as its last line
        record_timing=False,  # no per-cell timestamps: re-running changes only what changed
        store_widget_state=False,  # widgets' models are the kernel's (see drop_widget_views)
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    client.execute()
    return nb, time.perf_counter() - start


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+>")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def plain(text: str) -> str:
    """``text`` without the terminal colour codes of IPython's tracebacks."""
    return _ANSI.sub("", text)


def strip_addresses(nb: nbformat.NotebookNode) -> None:
    """Drop memory addresses from plain-text reprs (``<graphviz.graphs.Digraph at 0x7f...>``).

    The address changes on every run; without it a re-run that changes nothing
    leaves the stored notebook byte-for-byte the same.
    """
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "text/plain" in data:
                data["text/plain"] = _ADDRESS.sub(">", data["text/plain"])


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def drop_widget_views(nb: nbformat.NotebookNode) -> None:
    """Store of each output only the forms that show without the kernel that made it.

    A widget's view needs its model, which lives in that kernel: in a notebook
    opened later, JupyterLab shows a trusted one as "Error displaying widget:
    model not found" instead of the output's other forms (an untrusted one it
    skips, as GitHub and nbviewer do). valuegrad's player puts a picture and a
    line on how to play it in the same output: that is what a reader sees.
    """
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            output.get("data", {}).pop(WIDGET_VIEW, None)
            output.get("metadata", {}).pop(WIDGET_VIEW, None)


def write_atomically(nb: nbformat.NotebookNode, path: Path) -> None:
    """Write ``nb`` to ``path`` via a temporary file and ``os.replace`` (``autograd.files.write_atomic``)."""
    write_atomic(path, (nbformat.writes(nb) + "\n").encode("utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inplace", action="store_true", help="write the executed notebooks back")
    parser.add_argument("--timeout", type=int, default=CELL_TIMEOUT, help="seconds per cell")
    parser.add_argument("notebooks", nargs="*", help="notebooks to run (default: notebooks/*.ipynb)")
    args = parser.parse_args(argv)

    paths = notebook_paths(args.notebooks)
    if not paths:
        print(f"no notebooks found in {NOTEBOOK_DIR}", file=sys.stderr)
        return 1
    failures = 0
    for path in paths:
        try:
            nb, seconds = execute(path, args.timeout)
        except (CellExecutionError, CellTimeoutError, DeadKernelError) as error:
            failures += 1
            message = str(error) if sys.stderr.isatty() else plain(str(error))
            print(f"FAIL {path.name}\n{message}", file=sys.stderr)
            continue
        except FileNotFoundError as error:
            failures += 1
            print(f"FAIL {path}: {error}", file=sys.stderr)
            continue
        if args.inplace:
            strip_addresses(nb)
            drop_widget_views(nb)
            write_atomically(nb, path)
        print(f"ok   {path.name}  {seconds:5.1f} s", flush=True)
    if failures:
        print(f"{failures} of {len(paths)} notebooks failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
