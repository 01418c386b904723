"""What every command shares: its error type, the stderr console and the input-shape arguments."""

from __future__ import annotations

import argparse

from rich.console import Console

from shufflenet.cli.render import FORMATS

__all__ = ["CliError", "add_shape_args", "input_shape", "stderr_console"]


class CliError(Exception):
    """A user error detected by the CLI itself."""


def stderr_console() -> Console:
    """The console of progress, status and error lines. Soft wrap keeps each message one line in a log
    file or CI output, where rich would otherwise wrap it at 80 columns."""
    return Console(stderr=True, soft_wrap=True)


def add_shape_args(p: argparse.ArgumentParser, batch: bool = True) -> None:
    p.add_argument("--input-size", type=int, default=224, help="image side in pixels (default 224)")
    p.add_argument("--in-chans", type=int, default=3, help="input channels (default 3)")
    if batch:
        p.add_argument("--batch", type=int, default=1, help="batch size (default 1, as in the papers)")
    p.add_argument("--small-input", action="store_true", help="stride-1 stem without max-pool (28/32 px)")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default table)")


def input_shape(args: argparse.Namespace, batch: int | None = None) -> tuple[int, int, int, int]:
    """(N, C, H, W) from the shape flags (``batch`` where the command takes a list of them)."""
    n = args.batch if batch is None else batch
    for flag, value in (("--batch", n), ("--input-size", args.input_size), ("--in-chans", args.in_chans)):
        if value < 1:
            raise CliError(f"{flag} must be >= 1, got {value}")
    return (n, args.in_chans, args.input_size, args.input_size)
