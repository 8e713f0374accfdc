"""The package as users get it: built with ``python -m build``, installed from the wheel in fresh venvs.

One build per session (the sdist, then the wheel from the sdist, as pip would);
each venv is made without pip and filled by this interpreter's pip
(``pip --python``). Checked: the build's output, the wheel's files and metadata,
the console script, ``mypy --strict`` against the installed wheel, an unpacked
sdist whose tests collect and run, and the name clash with HIPS autograd
(PyPI's ``autograd``) and PyPI's ``nn`` installed in either order.
"""

import email
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import autograd

ROOT = Path(__file__).resolve().parent.parent
VERSION = autograd.__version__
# The children see no PYTHONPATH and run outside the checkout: only what is installed counts.
ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def _run(args, cwd, timeout=600, check=True):
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=ENV, capture_output=True, text=True,
                            timeout=timeout)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """``python -m build`` of this checkout: (its output, the sdist, the wheel)."""
    out = tmp_path_factory.mktemp("dist")
    result = _run([sys.executable, "-m", "build", "--outdir", out, ROOT], cwd=out)
    (sdist,) = out.glob("valuegrad-*.tar.gz")
    (wheel,) = out.glob("valuegrad-*.whl")
    return result.stdout + result.stderr, sdist, wheel


def _venv(path: Path, *installs) -> Path:
    """A fresh venv at ``path`` (no pip of its own), each of ``installs`` pip-installed in turn; its python."""
    _run([sys.executable, "-m", "venv", "--without-pip", path], cwd=path.parent)
    python = path / "bin" / "python"
    for arguments in installs:
        _run([sys.executable, "-m", "pip", "--python", python, "--disable-pip-version-check", "-q", "install",
              *arguments], cwd=path.parent)
    return python


@pytest.fixture(scope="session")
def installed(built, tmp_path_factory):
    """A fresh venv with the wheel installed (and its one dependency, graphviz); its python."""
    return _venv(tmp_path_factory.mktemp("fresh") / "venv", [built[2]])


def test_the_build_warns_of_nothing_deprecated(built):
    output = built[0]
    assert f"Successfully built valuegrad-{VERSION}.tar.gz and valuegrad-{VERSION}-py3-none-any.whl" in output
    assert not re.search(r"deprecat|license.*(table|classifier)", output, flags=re.I), output


def test_the_wheel_carries_py_typed_the_licence_and_spdx_metadata(built):
    with zipfile.ZipFile(built[2]) as wheel:
        names = set(wheel.namelist())
        metadata = email.message_from_bytes(wheel.read(f"valuegrad-{VERSION}.dist-info/METADATA"))
        entry_points = wheel.read(f"valuegrad-{VERSION}.dist-info/entry_points.txt").decode()
        licence = wheel.read(f"valuegrad-{VERSION}.dist-info/licenses/LICENSE").decode()
    assert {"autograd/py.typed", "nn/py.typed", "autograd/engine.py", "nn/layers.py"} <= names
    assert {name.split("/")[0] for name in names} == {"autograd", "nn", f"valuegrad-{VERSION}.dist-info"}
    assert metadata["License-Expression"] == "MIT" and metadata["License-File"] == "LICENSE"
    assert "MIT License" in licence and "the valuegrad authors" in licence
    assert not any(c.startswith("License ::") for c in metadata.get_all("Classifier"))
    assert metadata["Version"] == VERSION
    assert any(url.startswith("Source, ") for url in metadata.get_all("Project-URL"))
    assert "valuegrad = autograd.__main__:main" in entry_points
    requires = metadata.get_all("Requires-Dist")
    assert 'torch>=2.1; extra == "torch"' in requires
    assert not [r for r in requires if "==" in r.split(";")[0]], requires  # ranges: a user's own torch stays
    assert {r.split(";")[0].split(">")[0] for r in requires if 'extra == "demo"' in r} == {"matplotlib", "tqdm"}


def test_the_console_script_and_python_m_autograd(installed, tmp_path, dot):
    bin_dir = installed.parent
    assert _run([bin_dir / "valuegrad", "--version"], cwd=tmp_path).stdout == f"valuegrad {VERSION}\n"
    assert _run([installed, "-m", "autograd", "--version"], cwd=tmp_path).stdout == f"valuegrad {VERSION}\n"
    result = _run([bin_dir / "valuegrad", "(x + y) * z", "x=-2", "y=5", "z=-4", "-o", "f.svg"], cwd=tmp_path)
    assert result.stdout.splitlines() == ["f = -12", "df/dx = -4", "df/dy = -4", "df/dz = 3"]
    svg = (tmp_path / "f.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "</svg>" in svg and ">data &#45;12.0000<" in svg
    # Messages name the command the user typed.
    wrong = _run([bin_dir / "valuegrad", "x +", "x=1"], cwd=tmp_path, check=False)
    assert wrong.returncode == 2 and wrong.stderr.startswith("valuegrad: error: ")
    assert _run([bin_dir / "valuegrad", "--help"], cwd=tmp_path).stdout.startswith("usage: valuegrad ")
    module = _run([installed, "-m", "autograd", "--help"], cwd=tmp_path).stdout
    assert module.startswith("usage: python -m autograd ")


def test_mypy_strict_on_user_code_against_the_installed_wheel(installed, tmp_path):
    user_code = shutil.copy(ROOT / "tests" / "typed" / "user_code.py", tmp_path / "user_code.py")
    result = _run([sys.executable, "-m", "mypy", "--strict", "--python-executable", installed,
                   "--cache-dir", os.devnull, user_code], cwd=tmp_path, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("Success: no issues found")
    # and the code runs there
    _run([installed, user_code], cwd=tmp_path)


def test_the_unpacked_sdist_has_every_test_and_they_collect_and_run(built, tmp_path):
    with tarfile.open(built[1]) as sdist:
        sdist.extractall(tmp_path, filter="data")
    unpacked = tmp_path / f"valuegrad-{VERSION}"
    tracked = _source_files(["tests", "docs", "notebooks", "examples", "tools", "bench"])
    missing = [name for name in tracked if not (unpacked / name).is_file()]
    assert not missing, f"the sdist lacks {missing}"
    # pytest from the unpacked directory imports its own packages (python -m pytest puts it first on sys.path).
    collected = _run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
                     cwd=unpacked)
    assert re.search(r"^\d+ tests collected", collected.stdout, flags=re.M), collected.stdout[-2000:]
    assert "error" not in collected.stdout.splitlines()[-1]
    ran = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_engine.py",
                "tests/test_micrograd.py", "-x"], cwd=unpacked)
    assert re.search(r"\d+ passed", ran.stdout)
    whose = _run([sys.executable, "-c", "import autograd; print(autograd.__file__)"], cwd=unpacked).stdout
    assert Path(whose.strip()).is_relative_to(unpacked)


def _source_files(folders: list[str]) -> list[str]:
    """The files of ``folders``: git's list in a clone; in an unpacked sdist, what is there (bar caches)."""
    listed = subprocess.run(["git", "ls-files", *folders], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode == 0 and (ROOT / ".git").exists():
        return listed.stdout.split()
    return [p.relative_to(ROOT).as_posix() for folder in folders for p in (ROOT / folder).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and ".ipynb_checkpoints" not in p.parts]


@pytest.fixture(scope="session")
def hips_over_ours(built, tmp_path_factory):
    """Our wheel, then HIPS autograd installed over it (with its dependency, NumPy), as pip allows."""
    return _venv(tmp_path_factory.mktemp("hips_over_ours") / "venv", ["--no-deps", built[2]], ["autograd"])


def test_import_nn_names_hips_autograd_when_it_overwrote_ours(hips_over_ours, tmp_path):
    site = _run([hips_over_ours, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                cwd=tmp_path).stdout.strip()
    result = _run([hips_over_ours, "-c", "import nn"], cwd=tmp_path, check=False)
    assert result.returncode == 1
    message = result.stderr[result.stderr.rindex("ImportError: "):]
    assert message.startswith("ImportError: `import autograd` does not find valuegrad's autograd, which "
                              f"valuegrad's nn needs; it finds:\n  {site}/autograd/__init__.py\n"
                              "  installed by the distribution autograd ")
    assert "(HIPS autograd)\n" in message and "cannot import name 'Value' from 'autograd'" in message
    assert "virtual environment of its own" in message and "pip uninstall autograd valuegrad" in message
    # HIPS autograd itself works there: the clash broke ours, not theirs
    _run([hips_over_ours, "-c", "import autograd.numpy as np; from autograd import grad; "
                                "assert grad(np.tanh)(0.0) == 1.0"], cwd=tmp_path)
    # Uninstalling HIPS autograd then deletes the __init__.py they shared: said too
    _run([sys.executable, "-m", "pip", "--python", hips_over_ours, "uninstall", "-q", "-y", "autograd"],
         cwd=tmp_path)
    result = _run([hips_over_ours, "-c", "import nn"], cwd=tmp_path, check=False)
    assert f"it finds:\n  {site}/autograd, a folder without its __init__.py" in result.stderr


@pytest.fixture(scope="session")
def ours_over_others(built, tmp_path_factory):
    """HIPS autograd, then our wheel over it, then PyPI's nn over ours (no dependencies: none import)."""
    return _venv(tmp_path_factory.mktemp("ours_over_others") / "venv", ["--no-deps", "autograd"],
                 ["--no-deps", built[2]], ["--no-deps", "nn"])


def test_import_autograd_warns_when_ours_shares_its_directory(ours_over_others, tmp_path):
    result = _run([ours_over_others, "-c", "import autograd; print(autograd.Value(2.0) * 3)"], cwd=tmp_path)
    assert result.stdout == "Value(data=6.0, grad=0.0)\n"  # ours won autograd/__init__.py
    warning = result.stderr
    assert re.search(r"NameClashWarning: valuegrad shares its directory with other distributions under its "
                     r"import names:\n  autograd \S+ \(HIPS autograd\), as `autograd`\n"
                     r"  nn \S+ \(the PyPI package nn\), as `nn`\n", warning), warning
    assert "virtual environment of its own" in warning and "pip uninstall autograd nn valuegrad" in warning
    # PyPI's nn won nn/__init__.py: importing it runs their code, not ours (the warning above is the hint)
    theirs = _run([ours_over_others, "-c", "import nn"], cwd=tmp_path, check=False)
    assert theirs.returncode == 1 and "tensorflow" in theirs.stderr


def test_a_clean_install_warns_of_nothing(installed, tmp_path):
    result = _run([installed, "-W", "error", "-c", "import autograd, nn; print(nn.MLP(2, [1], seed=0)([1, 2]).op)"],
                  cwd=tmp_path)
    assert result.stdout == "+\n" and result.stderr == ""


def test_neighbours_are_the_distributions_named_like_our_packages(tmp_path):
    from autograd.clash import NameClashWarning, neighbours, warn_about_neighbours

    for entry in ("autograd-1.9.1.dist-info", "nn-0.1.1-py3.11.egg-info", "valuegrad-0.3.0.dist-info",
                  "numpy-2.3.0.dist-info", "autograd", "nn", "nnsight-0.4.dist-info"):
        (tmp_path / entry).mkdir()
    assert neighbours(str(tmp_path)) == ["autograd 1.9.1", "nn 0.1.1"]
    with pytest.warns(NameClashWarning, match=r"(?s)autograd 1\.9\.1 \(HIPS autograd\), as `autograd`.*"
                                              r"pip uninstall autograd nn valuegrad"):
        warn_about_neighbours(str(tmp_path / "autograd"))
    assert neighbours(str(tmp_path / "missing")) == []


def test_a_file_of_ones_own_named_autograd_is_named_by_import_nn(tmp_path):
    # A learner's own autograd.py beside their notebook shadows the package.
    (tmp_path / "autograd.py").write_text("class Value: ...\nraise ImportError('mine')\n")
    result = subprocess.run([sys.executable, "-c", "import nn"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=60, env={**ENV, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 1
    assert (f"it finds:\n  {tmp_path / 'autograd.py'} (not an installed package: a file or folder of your own? "
            "rename it)\n  (`from autograd import Value`: mine)") in result.stderr
