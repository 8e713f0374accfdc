"""Text shown to people: a label, an expression or an error message, made safe to print.

A label may hold anything a ``str`` can: newlines, control characters, lone
surrogates, bidirectional overrides. Wherever such text is shown (a step of
the backward pass, a Graphviz label, a one-line error of the command line),
:func:`printable` first writes each character that cannot be printed as its
Python escape, so the text stays on one line and reads as what it is.
"""

from __future__ import annotations

import re

FORMS = {"+": "{} + {}", "*": "{} * {}", "**": "{} ** {}", "1/x": "1/{}"}
"""How a gate is written in text (a step, an audit's report); other ops read as calls, ``exp(a)``."""
_WORD = re.compile(r"[\w.]+")
_CALL = re.compile(r"\w+\([^()]*\)")


def printable(text: str) -> str:
    r"""``text`` with every character that is not printable shown as its Python escape.

    >>> printable("a\nb\u202e")
    'a\\nb\\u202e'
    """
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def atomic(text: str) -> bool:
    """Whether ``text`` reads as one operand as it is: a name, a number, or a call such as exp(-z)."""
    return bool(_WORD.fullmatch(text) or _CALL.fullmatch(text))
