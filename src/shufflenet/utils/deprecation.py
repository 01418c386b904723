"""Renamed keyword arguments keep working for one release, with a note that says the new name."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["renamed_kwargs"]

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
