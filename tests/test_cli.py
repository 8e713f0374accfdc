"""python -m autograd: results, the whitelist, one-line errors, atomic output."""

import contextlib
import io
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autograd.__main__ as cli
from autograd import Value
from autograd.ops import PRIMITIVES

from rows import TEST_ROWS

ROOT = Path(__file__).resolve().parent.parent
CIRCUIT = ["(x + y) * z", "x=-2", "y=5", "z=-4"]


def run(args, cwd, path=None):
    """The command line in a subprocess; ``path`` replaces PATH (to hide dot)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if path is not None:
        env["PATH"] = str(path)
    return subprocess.run([sys.executable, "-m", "autograd", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def assert_failed_cleanly(result, directory):
    assert result.returncode == 2, result
    assert result.stdout == ""
    assert result.stderr.startswith("autograd: error: ")
    assert result.stderr.count("\n") == 1 and result.stderr.endswith("\n"), result.stderr
    assert list(Path(directory).iterdir()) == []  # no output, no temporary file


def test_circuit_prints_value_and_gradients(tmp_path, dot):
    result = run([*CIRCUIT, "-o", "circuit.svg"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "f = -12\ndf/dx = -4\ndf/dy = -4\ndf/dz = 3\n"
    assert result.stderr == ""
    svg = ET.parse(tmp_path / "circuit.svg").getroot()
    assert sum(g.get("class") == "node" for g in svg.iter("{http://www.w3.org/2000/svg}g")) == 7
    assert [p.name for p in tmp_path.iterdir()] == ["circuit.svg"]


def test_without_output_nothing_is_written(tmp_path):
    result = run(["tanh(w*x + b)", "w=0.5", "x=2", "b=-1"], tmp_path)
    assert result.stdout == "f = 0\ndf/dw = 2\ndf/dx = 0.5\ndf/db = 1\n"
    assert list(tmp_path.iterdir()) == []


HOSTILE = [
    # code that must never run
    ['__import__("os").system("touch pwned")'],
    ["x.__class__", "x=1"],
    ["(x).exp()", "x=1"],
    ["x[0]", "x=1"],
    ["(lambda: 1)()"],
    ["[x for x in (1, 2)][0]", "x=1"],
    ["open('pwned', 'w')"],
    ["exp(x=1)", "x=1"],
    ["max(*(1, 2))"],
    ["'text'"],
    ["f'{x}'", "x=1"],
    ["x if x else 1", "x=1"],
    ["(y := 2)"],
    ["x % 2", "x=1"],
    ["x // 2", "x=1"],
    ["x < 2", "x=1"],
    ["True + x", "x=1"],
    ["1j * x", "x=1"],
    ["~x", "x=1"],
    ["print(x)", "x=1"],
    # names and values
    ["x * y", "x=1"],
    ["x", "x=1", "y=2"],
    ["x", "x=1", "x=2"],
    ["x", "x"],
    ["x", "x=nan"],
    ["x", "x=inf"],
    ["x", "x=1e999"],
    ["x", "x=0x10"],
    ["x", "x=1_000"],
    ["x", "x=\u0661"],
    ["x", "x="],
    ["exp", "exp=1"],
    ["x", "1x=2"],
    ["x", "if=2"],
    # syntax, size, depth
    ["x +", "x=1"],
    ["", "x=1"],
    ["x\u0085", "x=1"],
    ["x" + " + x" * 5000, "x=1"],
    ["-" * 600 + "x", "x=1"],
    ["-o", "out.svg", "--", "-" * 6000 + "x", "x=1"],
    ["(" * 300 + "x" + ")" * 300, "x=1"],
    ["x" + "**x" * 3000, "x=1"],
    ["1" * 5000 + " * x", "x=1"],
    ["1e999 * x", "x=1"],
    # math errors: nothing printed, nothing written
    ["log(x)", "x=-1"],
    ["x / 0", "x=1"],
    ["1 / x", "x=0"],
    ["exp(x)", "x=1000"],
    ["x ** y", "x=-2", "y=0.5"],
    ["x * 1e308 * 10", "x=1"],
    # the command line itself
    ["x", "x=1", "--format", "gif"],
    ["x", "x=1", "--bogus"],
    ["x", "x=1", "--format", "dot"],
    [],
    ["-x", "x=1"],
    ["x", "x=1", "-o"],
    ["x", "x=1", "-o", "."],
    ["x", "x=1", "-o", "out.svg/"],
    ["x", "x=1", "-o", "n1/n2/n3/"],
    ["x", "x=1", "-o", "n1/n2/n3.svg"],
    # look-alikes: ASCII only, as for NAME=VALUE (NFKC would read the first as x + 1)
    ["\uff58 + 1", "x=1"],
    ["\u212fxp(x)", "x=1"],
    ["x\u00a0+ 1", "x=1"],
    ["x", "x=1", "a\nb"],
]


@pytest.mark.parametrize("args", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_or_malformed_input_exits_2_in_one_line(tmp_path, args):
    # Asked to write out.svg, unless the row is about -o or --format itself.
    extra = [] if {"-o", "--format"} & set(args) else ["-o", "out.svg"]
    assert_failed_cleanly(run([*args, *extra], tmp_path), tmp_path)


@pytest.mark.parametrize("output, message", [
    ("n1/n2/n3/", "cannot write 'n1/n2/n3/': the name ends in '/'"),
    ("n1/n2/n3.svg", "cannot write 'n1/n2/n3.svg': the directory 'n1/n2' does not exist"),
])
def test_output_in_a_missing_directory_creates_none(tmp_path, output, message):
    result = run([*CIRCUIT, "--format", "dot", "-o", output], tmp_path)
    assert_failed_cleanly(result, tmp_path)
    assert message in result.stderr


def _symlink(path):
    (path.parent / "target.svg").write_text("target")
    path.symlink_to("target.svg")


@pytest.mark.parametrize("make, kind", [
    (_symlink, "a symbolic link (to 'target.svg')"),
    (lambda path: path.symlink_to("nowhere.svg"), "a symbolic link (to 'nowhere.svg')"),
    (os.mkfifo, "a FIFO (named pipe)"),
    (Path.mkdir, "a directory"),
])
def test_output_that_is_not_a_regular_file_is_left_alone(tmp_path, make, kind):
    target = tmp_path / "g.svg"
    make(target)
    before = sorted((p.name, p.lstat().st_mode, p.lstat().st_ino) for p in tmp_path.iterdir())
    result = run([*CIRCUIT, "--format", "dot", "-o", "g.svg"], tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (f"autograd: error: cannot write 'g.svg': it is {kind}, "
                             "not a regular file (not replaced)\n")
    assert sorted((p.name, p.lstat().st_mode, p.lstat().st_ino) for p in tmp_path.iterdir()) == before
    if make is _symlink:
        assert (tmp_path / "target.svg").read_text() == "target"


def test_output_dash_is_standard_output(tmp_path):
    # The picture alone on stdout (ready for a pipe); the numbers on stderr.
    result = run([*CIRCUIT, "--format", "dot", "-o", "-"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "f = -12\ndf/dx = -4\ndf/dy = -4\ndf/dz = 3\n"
    assert list(tmp_path.iterdir()) == []  # no file named "-"
    assert run([*CIRCUIT, "-o", "g.dot"], tmp_path).returncode == 0
    assert result.stdout == (tmp_path / "g.dot").read_text()


def test_output_dash_as_svg_and_png(tmp_path, capsysbinary, dot):
    assert cli.main([*CIRCUIT, "-o", "-"]) == 0  # svg, as for a name without a suffix
    out, err = capsysbinary.readouterr()
    assert out.startswith(b"<?xml") and out.rstrip().endswith(b"</svg>")
    assert err == b"f = -12\ndf/dx = -4\ndf/dy = -4\ndf/dz = 3\n"
    assert cli.main([*CIRCUIT, "-o", "-", "--format", "png"]) == 0
    assert capsysbinary.readouterr().out.startswith(b"\x89PNG\r\n\x1a\n")


def test_output_dash_to_a_closed_pipe_is_one_line(tmp_path):
    # `... -o - | head -c 0`: the reader is gone before the picture is written.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    reader, writer = os.pipe()
    os.close(reader)
    with open(writer, "wb") as stdout:
        result = subprocess.run([sys.executable, "-m", "autograd", *CIRCUIT, "--format", "dot",
                                 "-o", "-"], cwd=tmp_path, env=env, stdout=stdout,
                                stderr=subprocess.PIPE, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr == "autograd: error: cannot write to standard output: Broken pipe\n"


def test_output_dash_refuses_png_to_a_terminal(monkeypatch, capsysbinary):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert cli.main([*CIRCUIT, "-o", "-", "--format", "png"]) == 2
    out, err = capsysbinary.readouterr()
    assert out == b"" and b"not writing PNG to a terminal" in err and err.count(b"\n") == 1


def test_null_byte_and_hostile_input_in_process(capsys):
    # A NUL cannot be passed to a subprocess; the same checks, in process.
    for args in (["x\0", "x=1"], ["x", "x=\0"], ["\0"], ["x", "\0=1"]):
        assert cli.main(args) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.count("\n") == 1 and "\0" not in err


@pytest.mark.parametrize("expression, message", [
    ("\uff58 + 1", "non-ASCII character '\uff58' (U+FF58) at column 1"),
    ("\u212fxp(x)", "non-ASCII character '\u212f' (U+212F) at column 1"),
    ("x +\u202e1", "non-ASCII character '\\u202e' (U+202E) at column 4"),
])
def test_look_alikes_are_refused_by_name_and_column(capsys, expression, message):
    assert cli.main([expression, "x=1"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and message in err and "only ASCII" in err and err.count("\n") == 1


@pytest.mark.parametrize("expression, message", [
    ("(x).exp()", "methods are not allowed at column 1 (write exp(x), not x.exp())"),
    ("x.max(1)", "methods are not allowed at column 1 (write max(x, y), not x.max(y))"),
    ("__import__('os').system('ls')", "attribute access (.) is not allowed at column 1"),
    ("x.real", "attribute access (.) is not allowed at column 1"),
    ("  x.y()", "attribute access (.) is not allowed at column 3"),
])
def test_attributes_get_the_hint_that_fits(capsys, expression, message):
    assert cli.main([expression, "x=1"]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert ("write" in err) == ("methods" in message)


def test_surrounding_whitespace_is_fine_and_columns_count_it(capsys):
    assert cli.main(["  x + 1\t", "x=1"]) == 0
    assert capsys.readouterr() == ("f = 2\ndf/dx = 1\n", "")
    assert cli.main(["\n x * 2\n", "x=1"]) == 0
    assert capsys.readouterr() == ("f = 2\ndf/dx = 2\n", "")
    assert cli.main(["   x[0]", "x=1"]) == 2
    assert "subscripts ([]) are not allowed at column 4" in capsys.readouterr().err


@pytest.mark.parametrize("args, expected", [
    (["f * 2", "f=1"], "g = 2\ndg/df = 2"),
    (["f * g", "f=1", "g=3"], "h = 3\ndh/df = 3\ndh/dg = 1"),
    (["f + g + h", "f=1", "g=2", "h=3"], "f_ = 6\ndf_/df = 1\ndf_/dg = 1\ndf_/dh = 1"),
    (["f + g + h + f_", "f=1", "g=2", "h=3", "f_=4"],
     "f__ = 10\ndf__/df = 1\ndf__/dg = 1\ndf__/dh = 1\ndf__/df_ = 1"),
])
def test_the_output_is_named_apart_from_the_variables(capsys, args, expected):
    assert cli.main(args) == 0
    assert capsys.readouterr() == (expected + "\n", "")


def test_the_graph_names_the_output_as_the_report_does(tmp_path):
    assert cli.main(["f * 2", "f=1", "-o", str(tmp_path / "g.dot")]) == 0
    assert "{g|" in (tmp_path / "g.dot").read_text()


def test_validation_comes_before_any_evaluation(capsys):
    # log(-1) would raise if evaluated: the forbidden call is reported instead.
    assert cli.main(["log(-1) + __import__('os')"]) == 2
    assert "__import__" in capsys.readouterr().err
    assert cli.main(["1/0 + w"]) == 2
    assert "unknown name 'w'" in capsys.readouterr().err


@pytest.mark.parametrize("args, expected", [
    (["x * x", "x=3"], "f = 9\ndf/dx = 6"),
    (["-x + +x * 2", "x=1.5"], "f = 1.5\ndf/dx = 1"),
    (["max(2, x) + max(x, y)", "x=1", "y=1"], "f = 3\ndf/dx = 0.5\ndf/dy = 0.5"),
    (["sigmoid(x) + relu(y) + exp(0)", "x=0", "y=-3"], "f = 1.5\ndf/dx = 0.25\ndf/dy = 0"),
    (["2 ** x + x ** 0.5 - 1/x", "x=4"], "f = 17.75\ndf/dx = 11.402854889"),
    (["1 / (1 + exp(-(w0*x0 + w1*x1 + w2)))", "w0=2", "x0=-1", "w1=-3", "x1=-2", "w2=-3"],
     "f = 0.73105857863\ndf/dw0 = -0.196611933241\ndf/dx0 = 0.393223866483\n"
     "df/dw1 = -0.393223866483\ndf/dx1 = -0.589835799724\ndf/dw2 = 0.196611933241"),
    (["(2 + 3) * 4"], "f = 20"),
    (["x", "x=-0.0"], "f = 0\ndf/dx = 1"),
    (["--", "-x", "x=2"], "f = -2\ndf/dx = -1"),
])
def test_results(capsys, args, expected):
    assert cli.main(args) == 0
    out, err = capsys.readouterr()
    assert (out, err) == (expected + "\n", "")


def test_dot_format_needs_no_graphviz_binary(tmp_path):
    result = run([*CIRCUIT, "-o", "g.dot"], tmp_path, path=tmp_path)  # PATH without dot
    assert result.returncode == 0, result.stderr
    source = (tmp_path / "g.dot").read_text()
    assert source.startswith("digraph") and source.count("->") == 6
    result = run([*CIRCUIT, "--format", "dot", "-o", "g.txt"], tmp_path, path=tmp_path)
    assert (tmp_path / "g.txt").read_text() == source


def test_svg_without_graphviz_says_how_to_install_it(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run([*CIRCUIT, "-o", str(tmp_path / "empty" / "g.svg")], tmp_path, path=empty)
    assert_failed_cleanly(result, empty)
    assert "apt-get install graphviz" in result.stderr and "brew install graphviz" in result.stderr


def test_a_failing_dot_is_one_line(tmp_path):
    bin_dir, out = tmp_path / "bin", tmp_path / "out"
    bin_dir.mkdir()
    out.mkdir()
    fake = bin_dir / "dot"
    fake.write_text("#!/bin/sh\necho 'Error: out of ink' >&2\necho 'really' >&2\nexit 1\n")
    fake.chmod(0o755)
    result = run([*CIRCUIT, "-o", str(out / "g.svg")], tmp_path, path=bin_dir)
    assert_failed_cleanly(result, out)
    assert "Graphviz's dot failed: Error: out of ink really" in result.stderr


def test_png_format(tmp_path, dot):
    assert cli.main([*CIRCUIT, "-o", str(tmp_path / "g.png")]) == 0
    assert (tmp_path / "g.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_output_written_atomically(tmp_path, monkeypatch, capsys, dot):
    target = tmp_path / "graph.svg"
    assert cli.main([*CIRCUIT, "-o", str(target)]) == 0
    good = target.read_bytes()
    replaced = []
    real_replace = os.replace

    def spy(src, dst):
        # The new bytes are complete in a temporary file next to the target
        # before it takes the target's place in one step.
        assert Path(src).parent == target.parent and Path(src).read_bytes().startswith(b"<?xml")
        replaced.append((src, dst))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    assert cli.main(["x * 2", "x=1", "-o", str(target)]) == 0
    assert len(replaced) == 1 and Path(replaced[0][1]) == target
    assert target.read_bytes() != good
    assert oct(target.stat().st_mode & 0o777) != oct(0o600)  # not mkstemp's private mode

    def crash(src, dst):
        raise OSError(28, "No space left on device")

    target.write_bytes(good)
    monkeypatch.setattr(os, "replace", crash)
    capsys.readouterr()
    assert cli.main(["x * 3", "x=1", "-o", str(target)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "No space left on device" in err and err.count("\n") == 1
    assert target.read_bytes() == good  # the old file is untouched
    assert [p.name for p in target.parent.iterdir()] == ["graph.svg"]  # temp file removed


# CPython 3.12 alone builds the tree under a fixed C limit of about 3,000
# levels, which no setting raises: there a longer chain is refused ("nested
# too deeply", exit 2). 3.10, 3.11 and 3.13 take every chain 10,000 characters allow.
LONG_CHAIN = pytest.mark.skipif(sys.version_info[:2] == (3, 12),
                                reason="CPython 3.12's ast construction stops near 3,000 levels")


@pytest.mark.parametrize("terms", [600, pytest.param(4000, marks=LONG_CHAIN)])
def test_a_long_flat_sum_is_not_too_deep(tmp_path, terms):
    # "x+x+...+x" is a tree as deep as the sum is long, and CPython parses it: so must we.
    result = run(["+".join(["x"] * terms), "x=0.5"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"f = {terms // 2}\ndf/dx = {terms}\n"


@pytest.mark.parametrize("args, expected", [
    (["+".join(["x"] * 5000), "x=1"], "f = 5000\ndf/dx = 5000"),
    (["*".join(["x"] * 5000), "x=1"], "f = 1\ndf/dx = 5000"),
    (["-".join(["x"] * 5000), "x=1"], "f = -4998\ndf/dx = -4998"),
    (["/".join(["x"] * 5000), "x=1"], "f = 1\ndf/dx = -4998"),
    (["--", "-" * 5000 + "x", "x=3"], "f = 3\ndf/dx = 1"),
])
@LONG_CHAIN
def test_the_longest_chains_within_the_length_limit(capsys, args, expected):
    limit = sys.getrecursionlimit()
    assert cli.main(args) == 0
    assert capsys.readouterr() == (expected + "\n", "")
    assert sys.getrecursionlimit() == limit  # raised for the parse only


@pytest.mark.parametrize("expression, message", [
    ("(" * 300 + "x" + ")" * 300, "too many nested parentheses"),
    ("-" * 6000 + "x", "nested too deeply"),
    ("x" + "**x" * 3000, "nested too deeply"),  # "**" leans right: the parser recurses
])
def test_nesting_python_cannot_parse_exits_2_in_one_line(tmp_path, expression, message):
    result = run(["-o", "out.svg", "--", expression, "x=1"], tmp_path)
    assert_failed_cleanly(result, tmp_path)
    assert message in result.stderr


def test_failed_run_leaves_an_existing_file_alone(tmp_path):
    (tmp_path / "out.svg").write_text("old")
    result = run(["log(x)", "x=-1", "-o", "out.svg"], tmp_path)
    assert result.returncode == 2
    assert (tmp_path / "out.svg").read_text() == "old"


def test_help_exits_0(capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main(["--help"])
    assert exit.value.code == 0
    assert "NAME=VALUE" in capsys.readouterr().out


def check_in_process(argv):
    """main(argv) returns 0 or 2 (or --help exits 0), with the promised output."""
    stdout, stderr = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    # In an empty directory of its own: random text may spell "-o FILE".
    with tempfile.TemporaryDirectory() as directory:
        os.chdir(directory)
        try:
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                status = cli.main(argv)
        except SystemExit as exit:  # only --help / -h
            assert exit.code == 0
            return
        finally:
            os.chdir(cwd)
        written = os.listdir(directory)
    out, err = stdout.getvalue(), stderr.getvalue()
    assert status == 0 or written == []
    if status == 0:
        assert err == "" and out.startswith("f = ")
    else:
        assert status == 2
        assert out == "" and err.startswith("autograd: error: ") and err.count("\n") == 1


VARIABLES = ["x=1.5", "y=-2", "z=0"]
TOKENS = ["x", "y", "z", "w", "1", "0", "2.5", "1e308", "-", "+", "*", "/", "**", "%", "(", ")",
          "(", ")", "exp(", "log(", "tanh(", "relu(", "sigmoid(", "max(", ",", " ", ".", "[",
          "]", "__import__(", "'s'", "lambda:", "==", "not ", "@", "True", "1j", "x.y", "\\"]


@settings(max_examples=300, deadline=None)
@given(expression=st.text(max_size=40))
def test_random_text_never_crashes(expression):
    check_in_process([expression, *VARIABLES])


def _binary(t):
    (left, used_left), op, (right, used_right) = t
    return f"({left} {op} {right})", used_left | used_right


# Valid expressions of x and y with the names they use, from the whitelist's grammar.
EXPRESSIONS = st.recursive(
    st.sampled_from(["x", "y", "2", "0.5", "0", "1e3", "710"]).map(lambda s: (s, {s} & {"x", "y"})),
    lambda inner: (
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "**"]), inner).map(_binary)
        | st.tuples(st.sampled_from(["-", "+", "exp", "log", "tanh", "relu", "sigmoid"]), inner)
        .map(lambda t: (f"{t[0]}({t[1][0]})", t[1][1]))
        | st.tuples(inner, inner).map(lambda t: (f"max({t[0][0]}, {t[1][0]})", t[0][1] | t[1][1]))
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(expression=EXPRESSIONS,
       x=st.floats(-5, 5, allow_nan=False), y=st.sampled_from([0, 1, -2, 1e300]),
       mutation=st.none() | st.tuples(st.integers(0, 200), st.integers(0, 3),
                                      st.sampled_from(TOKENS)))
def test_near_valid_expressions_never_crash(expression, x, y, mutation):
    text, used = expression
    if mutation is not None:  # a typo: a slice of the text replaced by a token
        i, length, token = mutation
        text = text[:i] + token + text[i + length:]
    assignments = [f"{name}={value!r}" for name, value in (("x", x), ("y", y)) if name in used]
    check_in_process([text, *assignments])


@settings(max_examples=300, deadline=None)
@given(tokens=st.lists(st.sampled_from(TOKENS), max_size=25),
       variables=st.lists(st.sampled_from(VARIABLES + ["w=1", "x=1e300", "x", "w=-0"]),
                          max_size=4))
def test_token_soup_never_crashes(tokens, variables):
    check_in_process(["".join(tokens), *variables])


@settings(max_examples=200, deadline=None)
@given(argv=st.lists(st.text(max_size=12), max_size=5))
def test_random_argv_never_crashes(argv):
    check_in_process(argv)


# -- --html: the step-by-step player -------------------------------------------


def test_html_writes_the_player_with_or_without_o(tmp_path, dot):
    result = run([*CIRCUIT, "--html", "walk.html"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "f = -12\ndf/dx = -4\ndf/dy = -4\ndf/dz = 3\n"
    page = (tmp_path / "walk.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "backward, step 2 of 2:" in page  # the player's last step
    # x + y has no label: the player names it t1, in its box and in the text
    assert "f = t1 * z: upstream 1" in page and "z.grad += 1 × 3 = 3" in page
    assert [p.name for p in tmp_path.iterdir()] == ["walk.html"]
    result = run([*CIRCUIT, "-o", "g.svg", "--html", "both.html"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "both.html").read_bytes() == (tmp_path / "walk.html").read_bytes()
    assert (tmp_path / "g.svg").read_bytes().startswith(b"<?xml")


def test_html_errors_write_nothing(tmp_path, dot):
    empty = tmp_path / "empty"
    empty.mkdir()
    # too large to play: x and 50 times a constant and a sum, 101 nodes
    expression = "x" + " + 1" * 50
    result = run([expression, "x=1", "-o", str(empty / "g.svg"), "--html", str(empty / "w.html")],
                 tmp_path)
    assert_failed_cleanly(result, empty)
    assert "too large to play" in result.stderr
    # no Graphviz: nothing written, not even the -o file (which needs no dot)
    result = run([*CIRCUIT, "-o", str(empty / "g.dot"), "--html", str(empty / "w.html")],
                 tmp_path, path=empty)
    assert_failed_cleanly(result, empty)
    assert "apt-get install graphviz" in result.stderr
    # a directory that does not exist
    result = run([*CIRCUIT, "--html", str(empty / "no" / "w.html")], tmp_path)
    assert_failed_cleanly(result, empty)
    assert "cannot write" in result.stderr


@pytest.mark.parametrize("name", list(cli.FUNCTIONS))
def test_every_function_of_the_engine_is_offered_and_evaluates(name):
    (sample,) = [TEST_ROWS[op].samples[0] for op, row in PRIMITIVES.items() if row.name == name]
    variables = [f"v{k}" for k in range(len(sample))]
    report, _ = cli.run([f"{name}({', '.join(variables)})",
                         *(f"{v}={x!r}" for v, x in zip(variables, sample))])
    inputs = [Value(x) for x in sample]
    expected = getattr(inputs[0], name)(*inputs[1:])
    expected.backward()
    lines = report.splitlines()
    assert lines[0] == f"f = {cli._format_number(expected.data)}"
    assert lines[1:] == [f"df/d{v} = {cli._format_number(x.grad)}" for v, x in zip(variables, inputs)]


def test_a_bad_output_leaves_no_player_behind_and_one_file_cannot_be_both(tmp_path, capsys, dot):
    page = tmp_path / "p.html"
    for bad in (str(tmp_path / "missing" / "g.svg"), str(tmp_path)):
        assert cli.main(["x * y", "x=1", "y=2", "--html", str(page), "-o", bad]) == 2
        assert not page.exists()
    same = str(tmp_path / "both.html")
    assert cli.main(["x * y", "x=1", "y=2", "--html", same, "-o", same]) == 2
    assert "same file" in capsys.readouterr().err and not Path(same).exists()
    assert cli.main(["x * y", "x=1", "y=2", "--html", str(page), "-o", str(tmp_path / "g.svg")]) == 0
    assert page.read_text().startswith("<!DOCTYPE html>") and (tmp_path / "g.svg").exists()


# -- --html -, all-or-nothing writes, one file named twice -----------------------


def test_html_dash_is_standard_output(tmp_path, dot):
    # As -o - for the picture: the page alone on stdout, the numbers on stderr, no file "-".
    result = run([*CIRCUIT, "--html", "-"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "f = -12\ndf/dx = -4\ndf/dy = -4\ndf/dz = 3\n"
    assert list(tmp_path.iterdir()) == []
    assert run([*CIRCUIT, "--html", "walk.html"], tmp_path).returncode == 0
    assert result.stdout == (tmp_path / "walk.html").read_text(encoding="utf-8")
    # with -o FILE too: the page on stdout, the picture in its file
    result = run([*CIRCUIT, "--html", "-", "-o", "g.dot"], tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("<!DOCTYPE html>")
    assert (tmp_path / "g.dot").read_text().startswith("digraph")


def test_o_dash_and_html_dash_together_exit_2(tmp_path):
    result = run([*CIRCUIT, "--html", "-", "-o", "-", "--format", "dot"], tmp_path)
    assert_failed_cleanly(result, tmp_path)
    assert "-o - and --html - both ask for standard output" in result.stderr


def test_html_with_an_output_that_cannot_be_made_writes_no_page(tmp_path, dot):
    # /proc takes no new file (not even from root): the page must not be left behind.
    result = run([*CIRCUIT, "--html", "page.html", "-o", "/proc/x.svg"], tmp_path)
    assert_failed_cleanly(result, tmp_path)
    assert "cannot write '/proc/x.svg'" in result.stderr


@pytest.mark.parametrize("failing", [".page.html.", ".old.dot."])  # the temporary file of either
@pytest.mark.parametrize("name, error", [
    ("fsync", OSError(28, "No space left on device")),   # a full disk, met at fsync
    ("open", OSError(30, "Read-only file system")),      # a read-only directory
])
def test_a_failure_while_writing_either_file_writes_neither(tmp_path, monkeypatch, capsys, fail_on,
                                                            name, error, failing):
    # Simulated (in process, no subprocess): a real full disk or read-only mount needs
    # privileges; test_a_real_write_limit_leaves_nothing_behind has the kernel refuse for real.
    (tmp_path / "old.dot").write_text("old")
    fail_on(name, error, failing)
    status = cli.main([*CIRCUIT, "--html", str(tmp_path / "page.html"), "-o", str(tmp_path / "old.dot")])
    monkeypatch.undo()
    out, err = capsys.readouterr()
    assert status == 2 and out == "" and error.strerror in err and err.count("\n") == 1
    assert os.listdir(tmp_path) == ["old.dot"] and (tmp_path / "old.dot").read_text() == "old"


def test_a_real_write_limit_leaves_nothing_behind(tmp_path, dot):
    # The kernel refuses for real: a file-size limit (RLIMIT_FSIZE) under the page's size,
    # over the picture's; each write beyond it fails with EFBIG ("File too large").
    import resource
    import signal

    def limited():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # (else the signal kills the process)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for order in (["-o", "g.dot", "--html", "page.html"], ["--html", "page.html", "-o", "g.dot"]):
        result = subprocess.run([sys.executable, "-m", "autograd", *CIRCUIT, *order], cwd=tmp_path,
                                env=env, capture_output=True, text=True, timeout=60,
                                preexec_fn=limited)
        assert_failed_cleanly(result, tmp_path)
        assert "cannot write 'page.html': File too large" in result.stderr


@pytest.mark.parametrize("exists", [False, True])
def test_one_file_named_twice_through_a_symlinked_directory(linked_directories, exists):
    work, real = linked_directories
    if exists:
        (real / "g.html").write_text("keep")
    result = run([*CIRCUIT, "-o", "link/g.html", "--format", "dot", "--html", "../real/g.html"], work)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == ("autograd: error: -o and --html name the same file "
                             "('link/g.html' and '../real/g.html')\n")
    assert os.listdir(real) == (["g.html"] if exists else [])
    assert not exists or (real / "g.html").read_text() == "keep"


def test_the_functions_are_the_tables_rows_that_are_not_operators():
    # Read from the table (name, arity, defaults), not from the methods' code objects.
    from autograd.engine import OPERATORS

    rows = [row for op, row in PRIMITIVES.items() if op not in OPERATORS]
    assert list(cli.FUNCTIONS) == [row.name for row in rows]
    for row in rows:
        fewest, most, method = cli.FUNCTIONS[row.name]
        assert (fewest, most) == (row.arity - len(row.defaults), row.arity)
        assert method is getattr(Value, row.name)
