"""Renamed keyword arguments keep working for one release, with a note that says the new name."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["renamed", "renamed_kwargs"]

F = TypeVar("F", bound=Callable[..., Any])


def renamed_kwargs(**renames: str) -> Callable[[F], F]:
    """Accept ``old=`` for each ``old="new"`` pair, as ``new=``, with a FutureWarning."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            for old, new in renames.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(f"{fn.__name__}() got both {old}= and {new}=; {old} is the old name of {new}")
                    warnings.warn(f"{fn.__name__}(): {old}= is now {new}=; the old name goes in the next release",
                                  FutureWarning, stacklevel=2)  # fmt: skip
                    kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        return inner  # type: ignore[return-value]

    return wrap


def renamed(name: str, aliases: dict[str, str], what: str) -> str:
    """``aliases[name]`` with a FutureWarning when ``name`` is an old spelling of a ``what``, else ``name``."""
    if name not in aliases:
        return name
    new = aliases[name]
    warnings.warn(f"{what} {name!r} is now called {new!r}; the old name goes in the next release", FutureWarning,
                  stacklevel=3)  # fmt: skip
    return new
