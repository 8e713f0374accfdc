"""The command line: evaluate an expression, backpropagate, draw the graph.

    $ python -m autograd "(x + y) * z" x=-2 y=5 z=-4 -o circuit.svg
    f = -12
    df/dx = -4
    df/dy = -4
    df/dz = 3

The expression is parsed with :mod:`ast` and checked against a whitelist
(numbers, the given variables, ``+ - * / **``, unary ``-`` and ``+``,
parentheses, and calls of the table's functions: every row of
:data:`autograd.ops.PRIMITIVES` that is not an operator, such as ``exp``,
``max`` or ``leaky_relu``; see :data:`FUNCTIONS`) before anything is
evaluated; it is then evaluated by walking the tree, never by ``eval``. Any
mistake exits with status 2 and one line on stderr, having printed and
written nothing. ``--html FILE`` also writes a page that plays the backward
pass step by step (:func:`autograd.player.walkthrough`). The two files are
written all or nothing (:func:`autograd.files.write_all_or_nothing`).

The expression is ASCII (as ``NAME=VALUE`` is): Python would read the
look-alike ``ｘ`` as ``x`` and ``ℯxp`` as ``exp``, so any other character is
refused, by name and column. The output is called ``f``, or ``g``, ``h``,
``f_``, ... when a variable has that name. ``-o -`` writes the picture to
standard output and the value and gradients to standard error, so that
standard output holds the picture alone; ``--html -`` does the same with the
page (only one of the two can have standard output).
"""

from __future__ import annotations

import argparse
import ast
import keyword
import math
import operator
import os
import re
import sys
import warnings
from collections.abc import Callable, Collection, Sequence
from typing import NoReturn

from .engine import OPERATORS, Value
from .files import check_target, same_file, write_all_or_nothing
from .ops import PRIMITIVES
from .text import printable

MAX_CHARS = 10_000

Operand = Value | float  # a float is a constant: a subexpression without variables

FUNCTIONS: dict[str, tuple[int, int, Callable[..., Value]]] = {
    row.name: (row.arity - len(row.defaults), row.arity, getattr(Value, row.name))
    for row in PRIMITIVES.values()
    if row.op not in OPERATORS
}
"""The functions an expression may call: every row of the table that is not an operator, so a new
primitive is offered at once. Name -> (fewest arguments, most arguments, the ``Value`` method);
a row's ``defaults`` are its optional trailing operands (``leaky_relu(x)`` or ``leaky_relu(x, 0.2)``)."""
# Applied where a Value is among the operands (constants are folded through a Value too): a Value.
BINARY: dict[type[ast.operator], Callable[[Operand, Operand], Value]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
UNARY: dict[type[ast.unaryop], Callable[..., Value]] = {
    ast.USub: operator.neg, ast.UAdd: lambda a: a}  # Value has no __pos__
FORMATS = ("svg", "dot", "png")
STDOUT = "-"  # -o - : the picture to standard output
_SPACE = " \t\n\r\f"  # around the expression: fine (Python would call leading ones an indent)
# Spelled out to the user when they use an operator we do not have.
_SYMBOLS = {
    ast.Mod: "%", ast.FloorDiv: "//", ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>",
    ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&", ast.Invert: "~", ast.Not: "not",
}
# Patterns for re.fullmatch (which caches them): ASCII only, so no NFKC look-alikes.
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_NUMBER = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"


class UsageError(Exception):
    """A mistake in the command line: reported in one line, exit status 2."""


def one_line(text: object, limit: int = 300) -> str:
    """``text`` (or ``str()`` of it) on one printable line (control characters shown as escapes), shortened."""
    text = printable(str(text))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _quote(text: str) -> str:
    # User text inside an error message: quoted, printable, short.
    return repr(one_line(text, 40))


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse would print the usage too: keep the promise of one line.
        if "unrecognized arguments" in message:
            message += ' (an expression starting with "-" goes after --: -- "-x" x=1)'
        raise UsageError(message)


def _prog() -> str:
    """The name the user typed: the console script ``valuegrad``, or ``python -m autograd``."""
    typed = os.path.basename(sys.argv[0]) if sys.argv else ""
    return "valuegrad" if typed.startswith("valuegrad") else "python -m autograd"


def _arguments() -> _Parser:
    from . import __version__

    prog = _prog()
    parser = _Parser(
        prog=prog,
        description="Evaluate an expression, backpropagate, and draw its graph.",
        epilog=f'example: {prog} "(x + y) * z" x=-2 y=5 z=-4 -o circuit.svg '
        '(an expression starting with "-" goes after --)',
    )
    parser.add_argument("--version", action="version", version=f"valuegrad {__version__}")
    parser.add_argument("expression", help=f"e.g. \"tanh(w*x + b)\"; it may call {' '.join(FUNCTIONS)}")
    parser.add_argument("assignments", nargs="*", metavar="NAME=VALUE",
                        help="a finite number for each variable of the expression")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="write the graph here (nothing is written without -o); "
                        "- writes it to stdout, and the numbers to stderr")
    parser.add_argument("--format", choices=FORMATS,
                        help="default: from FILE's suffix (.dot, .gv, .png), else svg")
    parser.add_argument("--html", metavar="FILE",
                        help="write a page that plays the backward pass step by step; "
                        "- writes it to stdout, and the numbers to stderr")
    return parser


def parse_assignments(assignments: Sequence[str]) -> dict[str, float]:
    """``["x=-2", "y=5"]`` as ``{"x": -2.0, "y": 5.0}``, in order; ``UsageError`` if malformed."""
    values: dict[str, float] = {}
    for item in assignments:
        name, sep, text = item.partition("=")
        if not sep:
            raise UsageError(f"expected NAME=VALUE, got {_quote(item)}")
        if not re.fullmatch(_NAME, name, re.ASCII) or keyword.iskeyword(name):
            raise UsageError(f"{_quote(name)} is not a valid variable name (letters, digits, _)")
        if name in FUNCTIONS:
            raise UsageError(f"{name!r} is a function and cannot be a variable name")
        if name in values:
            raise UsageError(f"variable {name!r} is given twice")
        # float() alone would also take "nan", "inf", "1_0" and non-ASCII digits.
        if not re.fullmatch(_NUMBER, text, re.ASCII):
            raise UsageError(f"{name}: expected a number, got {_quote(text)}")
        value = float(text)
        if not math.isfinite(value):
            raise UsageError(f"{name}: {_quote(text)} is too large for a float")
        values[name] = value
    return values


def _where(node: ast.expr) -> str:
    return f" at column {node.col_offset + 1}"


def parse_expression(text: str, names: Sequence[str]) -> ast.Expression:
    """The syntax tree of ``text``, checked against the whitelist; ``UsageError`` if anything else.

    Every variable used must be in ``names`` and every one of ``names`` used.
    Nothing is evaluated here.
    """
    if len(text) > MAX_CHARS:
        raise UsageError(f"the expression is {len(text)} characters long, more than {MAX_CHARS}")
    if not text.isascii():
        column, char = next((i, c) for i, c in enumerate(text, 1) if not c.isascii())
        # repr, not _quote: repr already escapes what is not printable, once.
        raise UsageError(f"non-ASCII character {char!r} (U+{ord(char):04X}) at column {column} "
                         "(only ASCII is allowed: a look-alike would pass for a letter)")
    tree = _parse(text)
    used = set()
    stack = [tree.body]  # an explicit stack: a tree of any depth is checked without recursion
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name):
            if node.id not in names:
                hint = f"call it: {node.id}(...)" if node.id in FUNCTIONS else (
                    f"give it a value: {node.id}=1.5")
                raise UsageError(f"unknown name {_quote(node.id)}{_where(node)} ({hint})")
            used.add(node.id)
        stack.extend(_checked_children(node))
    unused = [name for name in names if name not in used]
    if unused:
        raise UsageError(f"variable {unused[0]!r} is not used in the expression")
    return tree


def _parse(text: str) -> ast.Expression:
    """``ast.parse(text, mode="eval")``, with every way it can refuse ``text`` as a ``UsageError``.

    Whitespace around ``text`` is dropped first; the nodes' columns still
    count from the start of ``text`` as given.
    """
    tree = _parse_stripped(text.strip(_SPACE))
    lead = text[: len(text) - len(text.lstrip(_SPACE))]
    shift = len(lead) - (lead.rfind("\n") + 1)  # the leading spaces on the first node's line
    if shift:
        for node in ast.walk(tree):  # iterative: fine at any depth
            if getattr(node, "lineno", None) == 1:
                node.col_offset += shift  # type: ignore[attr-defined]  # every node with a line has a column
    return tree


def _parse_stripped(text: str) -> ast.Expression:
    old_limit = sys.getrecursionlimit()
    try:
        with warnings.catch_warnings():
            # A SyntaxWarning (say, for "\\d" in a string) would be a second stderr line.
            warnings.simplefilter("ignore")
            # A flat sum "x+x+...+x" is a left-leaning tree as deep as it has
            # terms, and CPython 3.11 turns its parse into Python objects
            # recursively, under 3x the recursion limit: a 5,000-term sum
            # fails at the default 1,000. Each level of a tree takes at least
            # one character, so MAX_CHARS more levels always suffice. (3.12
            # uses a fixed limit near 3,000 levels instead: longer chains are
            # refused below, cleanly.) The parser proper keeps its own fixed
            # limits, and still refuses pathological nesting ("((((...",
            # "-----...x", "x**x**...").
            sys.setrecursionlimit(old_limit + MAX_CHARS)
            return ast.parse(text, mode="eval")
    except SyntaxError as e:  # "too many nested parentheses" among them
        raise UsageError(f"invalid expression: {e.msg}") from None
    except (RecursionError, MemoryError):  # CPython's parser on deep nesting
        raise UsageError("the expression is nested too deeply") from None
    except ValueError as e:  # source with null bytes, on some Pythons
        raise UsageError(f"invalid expression: {e}") from None
    finally:
        sys.setrecursionlimit(old_limit)


def _checked_children(node: ast.expr) -> list[ast.expr]:
    """The operands of a whitelisted ``node``; ``UsageError`` for anything off the list."""
    if isinstance(node, ast.Name):
        return []
    if isinstance(node, ast.Constant):
        # type(), not isinstance: bool is an int, and True must not pass for 1.
        if type(node.value) not in (int, float):
            raise UsageError(f"{type(node.value).__name__} constants are not allowed{_where(node)}")
        try:
            finite = math.isfinite(float(node.value))  # type: ignore[arg-type]  # an int or float: above
        except OverflowError:  # an int literal beyond float range
            finite = False
        if not finite:
            raise UsageError(f"a number is too large for a float{_where(node)}")
        return []
    if isinstance(node, (ast.BinOp, ast.UnaryOp)):
        allowed, only = (BINARY, "+ - * / **") if isinstance(node, ast.BinOp) else (UNARY, "- +")
        if type(node.op) not in allowed:
            symbol = _SYMBOLS.get(type(node.op), type(node.op).__name__)
            raise UsageError(f"the operator {symbol} is not allowed{_where(node)} (only {only})")
        return [node.left, node.right] if isinstance(node, ast.BinOp) else [node.operand]
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Attribute):
            method = node.func.attr
            if method not in FUNCTIONS:  # __import__('os').system(...), say: no method hint
                raise UsageError(f"attribute access (.) is not allowed{_where(node)}")
            call, on_x = ("(x)", "()") if FUNCTIONS[method][0] == 1 else ("(x, y)", "(y)")
            raise UsageError(f"methods are not allowed{_where(node)} "
                             f"(write {method}{call}, not x.{method}{on_x})")
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            called = f"{_quote(node.func.id)} " if isinstance(node.func, ast.Name) else ""
            raise UsageError(
                f"unknown function {called}called{_where(node)} (only {', '.join(FUNCTIONS)})"
            )
        name = node.func.id
        if node.keywords:
            raise UsageError(f"{name}() takes no keyword arguments{_where(node)}")
        fewest, most = FUNCTIONS[name][:2]
        if not fewest <= len(node.args) <= most:
            taken = f"{fewest}" if fewest == most else f"{fewest} or {most}"
            raise UsageError(f"{name}() takes {taken} argument{'s' * (most > 1)}, "
                             f"got {len(node.args)}{_where(node)}")
        return node.args  # a *starred argument is then refused as a node of its own
    raise UsageError(f"{_describe(node)} not allowed{_where(node)}")


def _describe(node: ast.AST) -> str:
    described = {
        ast.Attribute: "attribute access (.) is",
        ast.Subscript: "subscripts ([]) are",
        ast.Lambda: "lambdas are",
        ast.Compare: "comparisons are",
        ast.BoolOp: "and / or are",
        ast.IfExp: "if-else is",
        ast.NamedExpr: "assignments (:=) are",
        ast.Starred: "* unpacking is",
        ast.JoinedStr: "strings are",
    }
    for kind, words in described.items():
        if isinstance(node, kind):
            return words
    return f"{type(node).__name__} is"


def _constant_fold(function: Callable[..., Value], *args: float) -> float:
    # Subexpressions without variables are computed through the engine too,
    # so they get its checks (1/0, log(-1), overflow) and stay one leaf.
    return function(Value(args[0]), *args[1:]).data


def evaluate(tree: ast.Expression, values: dict[str, float]) -> tuple[Value, dict[str, Value]]:
    """Evaluate a tree checked by ``parse_expression``: the output and the variables' Values.

    Post-order with an explicit stack, so no depth is too deep. Arithmetic
    errors (``1/0``, ``log(-1)``, ``exp(1000)``) propagate as the engine raises them.
    """
    variables = {name: Value(value, name) for name, value in values.items()}
    results: list[Operand] = []
    stack: list[tuple[ast.expr, bool]] = [(tree.body, False)]
    while stack:
        node, ready = stack.pop()
        if isinstance(node, ast.Constant):
            results.append(float(node.value))  # type: ignore[arg-type]  # an int or float: checked
            continue
        if isinstance(node, ast.Name):
            results.append(variables[node.id])
            continue
        children = (
            [node.left, node.right] if isinstance(node, ast.BinOp)
            else [node.operand] if isinstance(node, ast.UnaryOp)
            else node.args  # type: ignore[attr-defined]  # a call: the tree is checked
        )
        if not ready:
            stack.append((node, True))
            stack.extend((child, False) for child in reversed(children))
            continue
        args = results[len(results) - len(children):]
        del results[len(results) - len(children):]
        function: Callable[..., Value]
        if isinstance(node, ast.BinOp):
            function = BINARY[type(node.op)]
        elif isinstance(node, ast.UnaryOp):
            function = UNARY[type(node.op)]
        else:
            function = FUNCTIONS[node.func.id][2]  # type: ignore[attr-defined]  # a call of a name
            if not isinstance(args[0], Value) and isinstance(args[-1], Value):
                args[0] = Value(args[0])  # max(2, x): the method needs a Value first
        if any(isinstance(a, Value) for a in args):
            results.append(function(*args))
        else:
            results.append(_constant_fold(function, *args))  # type: ignore[arg-type]  # no Value: floats
    (out,) = results
    if not isinstance(out, Value):  # no variables at all: still a (one-node) graph
        out = Value(out)
    if not out.label:  # the expression may be a lone variable: keep its name
        out.label = output_name(values)
    return out, variables


def output_name(variables: Collection[str]) -> str:
    """What the report and the graph call the expression's value: ``f``, as the textbook does.

    Unless a variable is called ``f`` ("df/df" would be nonsense): then the
    first of ``g``, ``h``, ``f_``, ``f__``, ... that no variable is called.
    """
    name = next((n for n in "fgh" if n not in variables), "f_")
    while name in variables:
        name += "_"
    return name


def _graph_bytes(out: Value, fmt: str) -> bytes:
    # viz (and with it graphviz) is imported only when a graph is asked for.
    from .viz import DRAW_MAX_NODES, DotNotFound, RenderError, draw_graph, render

    try:
        dot = draw_graph(out)
    except ValueError:  # more than draw_graph's max_nodes
        raise UsageError(f"the graph is too large to draw (over {DRAW_MAX_NODES} nodes); leave out -o") from None
    try:
        return render(dot, fmt)
    except DotNotFound as e:
        raise UsageError(f"{e} (--format dot needs no Graphviz)") from None
    except RenderError as e:
        raise UsageError(str(e)) from None


def _player_bytes(out: Value) -> bytes:
    # The player imports graphviz only when asked for.
    from .player import WALK_MAX_NODES, walkthrough
    from .viz import RenderError

    try:
        return walkthrough(out).html().encode("utf-8")
    except ValueError:  # more than walkthrough's max_nodes
        raise UsageError(f"the graph is too large to play (over {WALK_MAX_NODES} nodes); "
                         "leave out --html") from None
    except RenderError as e:
        raise UsageError(str(e)) from None


def _check_targets(output: str | None, html: str | None) -> None:
    """Before anything is made: -o and --html can be written, and are two different files."""
    if output == html == STDOUT:
        raise UsageError("-o - and --html - both ask for standard output: give one of them a file name")
    paths = [path for path in (output, html) if path is not None and path != STDOUT]
    try:
        for path in paths:
            check_target(path)
        if len(paths) == 2 and same_file(*paths):  # compared as files: through links, too
            raise UsageError(f"-o and --html name the same file ({_quote(paths[0])} and {_quote(paths[1])})")
    except OSError as e:
        raise _cannot_write(e) from None


def _write(files: list[tuple[str, bytes]]) -> None:
    """Write ``files`` (-o's and --html's, when they name files) all or nothing, or raise ``UsageError``."""
    try:
        write_all_or_nothing(files)
    except OSError as e:
        raise _cannot_write(e) from None


def _cannot_write(e: OSError) -> UsageError:
    # strerror alone: the error names the path (the target's, never a temporary file's)
    return UsageError(f"cannot write {_quote(e.filename)}: {e.strerror or e}")


def _format_number(x: float) -> str:
    return format(x + 0.0, ".12g")  # + 0.0 turns -0.0 into 0.0


def run(argv: Sequence[str]) -> tuple[str, bytes | None]:
    """Do everything ``main`` does short of printing, or raise ``UsageError``.

    Returns the report (the value and the gradients) and, with ``-o -`` or
    ``--html -``, the picture or the page for standard output (else ``None``:
    files are written here).
    """
    args = _arguments().parse_args(list(argv))
    values = parse_assignments(args.assignments)
    tree = parse_expression(args.expression, list(values))
    fmt = args.format
    if fmt is None and args.output is not None:
        suffix = os.path.splitext(args.output)[1].lower()
        fmt = {".dot": "dot", ".gv": "dot", ".png": "png"}.get(suffix, "svg")
    if fmt is not None and args.output is None:
        raise UsageError("--format needs -o FILE")
    if args.output == STDOUT and fmt == "png" and sys.stdout.isatty():
        raise UsageError("not writing PNG to a terminal: redirect it (-o - > graph.png)")
    _check_targets(args.output, args.html)
    try:
        out, variables = evaluate(tree, values)
        out.backward()
    except (ArithmeticError, ValueError) as e:  # ZeroDivision, Overflow, log of a negative
        raise UsageError(f"cannot evaluate: {one_line(e)}") from None
    grads = {name: v.grad for name, v in variables.items()}
    if not all(map(math.isfinite, [out.data, *grads.values()])):
        raise UsageError("cannot evaluate: the result or a gradient is not a finite number")
    f = output_name(values)
    lines = [f"{f} = {_format_number(out.data)}"]
    lines += [f"d{f}/d{name} = {_format_number(g)}" for name, g in grads.items()]
    report = "\n".join(lines)
    # Everything is made before anything is written, and written all or
    # nothing: a mistake leaves no file.
    outputs = [(args.output, _graph_bytes(out, fmt))] if args.output is not None else []
    if args.html is not None:
        outputs.append((args.html, _player_bytes(out)))
    _write([(path, data) for path, data in outputs if path != STDOUT])
    return report, next((data for path, data in outputs if path == STDOUT), None)


def _write_to_stdout(data: bytes) -> None:
    """``data`` on standard output as bytes; ``UsageError`` if it will not take them."""
    stream = getattr(sys.stdout, "buffer", None)  # a text-only stdout (io.StringIO) has none
    if stream is None:
        raise UsageError("standard output takes no bytes here: write to a file instead")
    try:
        stream.write(data)
        stream.flush()
    except OSError as e:  # a closed pipe (| head -c 0), a full disk
        raise UsageError(f"cannot write to standard output: {e.strerror or e}") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``); return the exit status.

    0: the value and gradients were printed (and the graph written with -o);
       with ``-o -`` (``--html -``), the graph (the page) on stdout, then the
       value and gradients on stderr.
    2: a one-line error on stderr; nothing printed on stdout, no file written
       (with ``-o -`` or ``--html -``, unless standard output itself failed midway).
    """
    try:
        report, piped = run(sys.argv[1:] if argv is None else argv)
        if piped is not None:
            _write_to_stdout(piped)
    except UsageError as e:
        name = _prog().removeprefix("python -m ")  # valuegrad, or autograd
        print(f"{name}: error: {one_line(e)}", file=sys.stderr)
        return 2
    print(report, file=sys.stdout if piped is None else sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
