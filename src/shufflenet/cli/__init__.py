"""The ``shufflenet`` command: a thin layer over the library."""

from __future__ import annotations

from rich.console import Console

__all__ = ["stderr_console"]


def stderr_console() -> Console:
    """The console of progress, status and error lines. Soft wrap keeps each message one line in a log
    file or CI output, where rich would otherwise wrap it at 80 columns."""
    return Console(stderr=True, soft_wrap=True)
