"""The house's layering (DESIGN.md): no import cycles, and each module imports only what it may."""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "autograd"
NN = ROOT / "nn"


def _imports(path: Path) -> set[str]:
    """The modules of its own package that ``path`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
    return found


GRAPH = {path.stem: _imports(path) for path in PACKAGE.glob("*.py")}
NN_GRAPH = {path.stem: _imports(path) for path in NN.glob("*.py")}


@pytest.mark.parametrize("graph", [GRAPH, NN_GRAPH], ids=["autograd", "nn"])
def test_no_import_cycles_even_through_lazy_imports(graph):
    done, active = set(), []

    def visit(module):
        assert module not in active, f"import cycle: {' -> '.join(active + [module])}"
        if module in done:
            return
        active.append(module)
        for imported in graph.get(module, ()):
            visit(imported)
        active.pop()
        done.add(module)

    for module in graph:
        visit(module)


def test_nn_uses_only_autograd_s_public_names():
    """``nn`` sits on ``autograd``'s public surface: its top-level names and the public ``files``."""
    import autograd

    for path in NN.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("autograd"):
                if node.module == "autograd":
                    names = {alias.name for alias in node.names}
                    assert names <= set(autograd.__all__), (path.name, names - set(autograd.__all__))
                else:
                    assert node.module == "autograd.files", (path.name, node.module)


def _third_party(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"__future__"}


def test_the_core_imports_only_the_standard_library_and_each_other():
    assert GRAPH["ops"] == set() and GRAPH["graph"] == set()
    assert GRAPH["lower"] == {"ops", "graph"}
    assert GRAPH["engine"] == {"ops", "lower"}
    for module in ("ops", "graph", "lower", "text", "engine", "tape", "walk", "check", "files", "audit",
                   "__main__"):
        assert _third_party(PACKAGE / f"{module}.py") == set(), module
    assert _third_party(PACKAGE / "viz.py") == {"graphviz"}  # the only module that touches it
    assert _third_party(PACKAGE / "player.py") == {"anywidget", "traitlets"}  # the [notebooks] extra, there only
    assert _third_party(PACKAGE / "batched.py") == {"numpy"}  # the optional extra, there only
    assert "nn" not in {m for imports in GRAPH.values() for m in imports}
