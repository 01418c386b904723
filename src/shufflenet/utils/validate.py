"""Types and ranges of options, declared once beside the option and checked at the boundary.

A dataclass field says its range with :func:`option` (``option(30, ge=1)``); :func:`validate` checks
every field's value against its type hint (a boolean is a ``bool``, not the string ``"false"``) and
its range. The CLI and the API construct the same dataclasses, so both get the same checks and the
same messages, and nothing downstream re-checks or silently ignores a value.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Bounds", "check_type", "option", "type_name", "validate"]


@dataclass(frozen=True)
class Bounds:
    """The allowed values of a number (``ge``/``gt``/``le``/``lt``) or of anything (``choices``)."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    choices: tuple[object, ...] | None = None

    def check(self, value: object, name: str) -> None:
        if value is None:
            return
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"{name} must be one of {', '.join(map(str, self.choices))}, got {value!r}")
        if not isinstance(value, int | float):
            return
        for bound, ok, word in (
            (self.ge, lambda b: value >= b, ">="),
            (self.gt, lambda b: value > b, ">"),
            (self.le, lambda b: value <= b, "<="),
            (self.lt, lambda b: value < b, "<"),
        ):
            if bound is not None and not ok(bound):
                raise ValueError(f"{name} must be {word} {bound:g}, got {value:g}")


def option(default: Any = dataclasses.MISSING, *, flag: str | None = None, factory: Any = None, **bounds: Any) -> Any:
    """A dataclass field with its range (:class:`Bounds` keywords) and, when it differs from the field's
    name in dashes, the command-line flag that sets it (named in error messages)."""
    metadata = {"bounds": Bounds(**bounds), "flag": flag}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def type_name(hint: Any) -> str:
    """``int | None`` -> "int or None"; how a hint reads in a message."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in typing.get_args(hint))
    if hint is type(None):
        return "None"
    if typing.get_origin(hint) is tuple:
        return "a list of " + type_name(typing.get_args(hint)[0])
    if typing.get_origin(hint) in (dict, Mapping):
        return "a JSON object"
    return getattr(hint, "__name__", str(hint))


def _matches(value: object, hint: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint in (Any, object):
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if origin is tuple:  # JSON and argparse give lists where the API takes tuples: both are fine
        if not isinstance(value, Sequence) or isinstance(value, str):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_matches(v, args[0]) for v in value)
        return len(value) == len(args) and all(_matches(v, a) for v, a in zip(value, args))
    if origin in (dict, Mapping):
        return isinstance(value, Mapping) and all(
            _matches(k, args[0]) and _matches(v, args[1]) for k, v in value.items()
        )
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True  # callables and the like: not something a user types


def check_type(value: object, hint: Any, name: str) -> None:
    """Raise a ValueError naming ``name`` unless ``value`` is of the hinted type."""
    if not _matches(value, hint):
        raise ValueError(f"{name} must be {type_name(hint)}, got {value!r} ({type(value).__name__})")


def validate(obj: Any) -> None:
    """Check every field of the dataclass instance ``obj`` against its type hint and :func:`option` range."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        flag = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
        name = f"{f.name} ({flag})"
        value = getattr(obj, f.name)
        check_type(value, hints[f.name], name)
        bounds = f.metadata.get("bounds")
        if bounds is not None:
            bounds.check(value, name)
