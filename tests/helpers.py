"""Small helpers more than one test file uses."""

from __future__ import annotations

import gc
import importlib.util
from pathlib import Path
from types import ModuleType

from autograd import Value

TOOLS = Path(__file__).resolve().parent.parent / "tools"


def load_tool(name: str) -> ModuleType:
    """The script ``tools/<name>.py``, loaded by its path (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def live_values() -> int:
    """How many Values exist now (Values are tracked by the collector, so it can list them)."""
    return sum(1 for o in gc.get_objects() if type(o) is Value)
