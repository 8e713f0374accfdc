"""``Module``: what every network shares: its parameters, their names, and files.

A module names each of its parameters with a dotted path, as PyTorch does
(``"layers.0.neurons.1.w.0"``, ``"layers.0.neurons.1.b"``). ``state_dict``
maps those names to floats, so a model's weights are plain JSON; ``save``
writes them atomically and ``load`` reads them back, checking everything
before it changes anything. A state file is JSON data, never code.
"""

from __future__ import annotations

import math
import os
import reprlib
from collections.abc import Iterator, Mapping

from autograd import Value, is_number
from autograd.files import write_atomic

TYPE_CHECKING = False  # typing's flag without importing typing (3 ms); checkers take it as True
if TYPE_CHECKING:
    from typing import TypeVar

    M = TypeVar("M", bound="Module")

PathLike = str | os.PathLike[str]

STATE_FORMAT = "valuegrad.state_dict"
STATE_VERSION = 1


class Module:
    """Base class of ``Neuron``, ``Layer`` and ``MLP``, and of your own models.

    Parameters are found as PyTorch finds them: every public attribute that
    is a ``Value`` is a parameter, named after the attribute; one that is a
    ``Module``, or a list or tuple of ``Value``s and ``Module``s, is walked,
    its entries named by position (``layers.0.neurons.1.w.0``). Attributes
    are visited in the order they were first set, so the names and their
    order are stable. Attributes starting with ``_`` are private and skipped.
    Each module is walked once, so one that refers back to another (a child
    holding its parent, say) is fine, and nesting may be as deep as you like.

    >>> from autograd import Value
    >>> class Affine(Module):
    ...     def __init__(self):
    ...         self.scale = Value(2.0)
    ...         self.shift = [Value(0.5)]
    >>> Affine().state_dict()
    {'scale': 2.0, 'shift.0': 0.5}
    """

    def named_parameters(self) -> Iterator[tuple[str, Value]]:
        """Yield ``(name, parameter)`` pairs, in a fixed order; a shared parameter once."""
        return _walk(self)

    def parameters(self) -> list[Value]:
        """Every learnable ``Value`` of the module, in a fixed order."""
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to 0 (leaves accumulate across ``backward`` calls)."""
        for p in self.parameters():
            p.grad = 0.0

    def state_dict(self) -> dict[str, float]:
        """``{name: value}`` for every parameter: plain floats, JSON-serializable.

        >>> from nn import Neuron
        >>> Neuron(2, activation="linear", rng=None).state_dict().keys()
        dict_keys(['w.0', 'w.1', 'b'])
        """
        return {name: p.data for name, p in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, float]) -> None:
        """Set every parameter from ``state`` (as made by ``state_dict``).

        Everything is checked first: the names must be exactly this model's
        (none missing, none extra) and every value a finite real number: an
        ``int``, a ``float`` or a NumPy scalar such as ``np.float32`` (not a
        ``bool``, not complex). On any mismatch a ``ValueError`` names the
        problem and the model is left unchanged.
        """
        if not isinstance(state, Mapping):
            raise ValueError(f"a state dict must be a mapping of names to numbers, got {type(state).__name__}")
        named = dict(self.named_parameters())
        missing = [name for name in named if name not in state]
        unexpected = [name for name in state if name not in named]
        if missing or unexpected:
            problems = []
            if missing:
                problems.append(f"missing {_some(missing)}")
            if unexpected:
                problems.append(f"unexpected {_some(unexpected)}")
            raise ValueError(f"state dict does not match the model: {'; '.join(problems)}")
        values = {name: _parameter_value(name, state[name]) for name in named}
        for name, p in named.items():
            p.data = values[name]

    def save(self, path: PathLike) -> None:
        """Write the parameters to ``path`` as JSON, atomically.

        The file is ``{"format": "valuegrad.state_dict", "version": 1,
        "state": {name: value}}``. It is written to a temporary file in the
        same directory, flushed to disk and renamed over ``path``: a crash
        mid-save leaves the old file (or none), never a broken one. A model
        with a non-finite parameter (``nan``, ``inf``) cannot be saved:
        strict JSON has no such numbers.
        """
        import json  # here, not at the top: keeps `import nn` fast
        state = self.state_dict()
        for name, value in state.items():
            if not math.isfinite(value):
                raise ValueError(f"cannot save: parameter {name!r} is {value!r}")
        document = {"format": STATE_FORMAT, "version": STATE_VERSION, "state": state}
        write_atomic(path, json.dumps(document, indent=1, allow_nan=False).encode("utf-8"))

    def load(self: M, path: PathLike) -> M:
        """Load parameters saved by ``save`` into this model, and return it.

        The model must have the same architecture as the one saved: build it
        first, then load (``model = MLP(2, [16, 1]).load("model.json")``).
        A file that is not valid JSON (or is truncated), repeats a key
        anywhere (JSON would keep the last one silently), has another format
        or a version other than the integer 1, or does not match the model
        raises ``ValueError`` naming the file and the problem; the model is
        then left unchanged.
        """
        import json  # here, not at the top: keeps `import nn` fast
        with open(path, "rb") as f:
            data = f.read()
        problem: str | None
        # Whatever the bytes are, the caller gets the ValueError promised
        # above: not a RecursionError for '[[[[...' nested 100,000 deep, nor
        # Python's bare complaint about an integer literal of 5,000 digits.
        try:
            document = json.loads(data.decode("utf-8"), object_pairs_hook=_unique_keys)
        except _RepeatedKey as e:  # a ValueError too: caught first
            problem = str(e)
        except UnicodeDecodeError as e:  # a ValueError too: caught first
            problem = f"not UTF-8 text: {e}"
        except json.JSONDecodeError as e:
            problem = f"invalid or truncated JSON: {e}"
        except ValueError as e:  # json's own limits, such as the digits of an int
            problem = f"invalid JSON: {e}"
        except RecursionError:
            problem = "invalid JSON: nested too deeply"
        else:
            problem = None
        if problem is not None:
            raise ValueError(f"{os.fspath(path)}: not a valuegrad state file ({problem})")
        try:
            self.load_state_dict(_state_of(document))  # type: ignore[arg-type]  # checked there, first
        except ValueError as e:
            raise ValueError(f"{os.fspath(path)}: {e}") from None
        return self


def _walk(root: Module) -> Iterator[tuple[str, Value]]:
    """The parameters under ``root`` with their dotted names, each once, depth first.

    Walked with an explicit stack, so deep nesting is no problem, and each
    module, list or tuple is entered once (remembered by identity, as
    PyTorch's ``named_modules`` does): a module that refers back to its
    parent, or to itself, is not walked around forever. The order is that
    of a recursive walk: attributes in the order they were set, then
    entries by position; a parameter reached twice keeps its first name.
    """
    seen: set[int] = set()  # ids of the Values, Modules, lists and tuples met so far
    stack: list[tuple[str, object]] = [("", root)]
    while stack:
        name, value = stack.pop()
        # Any other attribute (a str, an int, a function) holds no parameters.
        if not isinstance(value, (Value, Module, list, tuple)) or id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, Value):
            yield name, value
            continue
        if isinstance(value, Module):
            children = [(key, child) for key, child in vars(value).items() if not key.startswith("_")]
        else:
            children = [(str(i), item) for i, item in enumerate(value)]
        # Pushed in reverse, so they come off the stack in their own order.
        stack.extend((f"{name}.{key}" if name else key, child) for key, child in reversed(children))


def _state_of(document: object) -> object:
    """The ``state`` of a parsed state file, after checking its header (not the state: see load_state_dict)."""
    if not isinstance(document, dict) or document.get("format") != STATE_FORMAT:
        raise ValueError(f"not a valuegrad state file (expected \"format\": {STATE_FORMAT!r})")
    version = document.get("version")
    if type(version) is not int or version != STATE_VERSION:  # not 1.0, true or "1"
        # reprlib: a hostile file's "version" may be a megabyte of text or lists nested deep.
        raise ValueError(
            f"unsupported state file version {reprlib.repr(version)} "
            f"(this valuegrad reads version {STATE_VERSION})"
        )
    if "state" not in document:
        raise ValueError("state file has no \"state\"")
    return document["state"]


class _RepeatedKey(ValueError):
    """A JSON object with a key twice: which value was meant cannot be known."""


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """``json``'s ``object_pairs_hook``: the object as a dict, or ``_RepeatedKey`` for a repeated key."""
    document: dict[str, object] = {}
    for key, value in pairs:
        if key in document:  # reprlib: a hostile file's key may be a megabyte long
            raise _RepeatedKey(f"the key {reprlib.repr(key)} appears twice")
        document[key] = value
    return document


def _parameter_value(name: str, value: object) -> float:
    """``value`` as a float if it is a finite real number, else ``ValueError``."""
    # int, float and NumPy's scalars (np.float32 is no float), as the losses take.
    if not is_number(value):
        raise ValueError(f"parameter {name!r} must be a real number (int, float, NumPy scalar), "
                         f"got {type(value).__name__}")
    try:
        value = float(value)
    except OverflowError:  # an int too large for a float
        raise ValueError(f"parameter {name!r} is too large for a float") from None
    if not math.isfinite(value):
        raise ValueError(f"parameter {name!r} must be finite, got {value!r}")
    return value


def _some(names: list[str], limit: int = 5) -> str:
    """Up to ``limit`` names, and how many more: messages stay readable for big models."""
    shown = ", ".join(repr(n) for n in names[:limit])
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return f"{shown}{more}"
