"""Optional dependencies: heavy runtimes are extras, imported only where they are used."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["MissingExtra", "require"]


class MissingExtra(ImportError):
    """An optional dependency is not installed; the message names the extra that brings it."""


def require(module: str, extra: str) -> ModuleType:
    """``import module``, or a :class:`MissingExtra` that says ``pip install 'shufflenet[extra]'``."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or module.split(".")[0] != exc.name.split(".")[0]:
            raise  # the module exists but something it imports is broken: a real error
        raise MissingExtra(f"{module} is not installed; install it with: pip install 'shufflenet[{extra}]'") from None
