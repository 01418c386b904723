"""Entry point of the ``shufflenet`` command: the parser and the error policy.

Each room of commands (``analysis``, ``measure``, ``deploy``, ``training``, ``inference``) parses its
arguments, calls typed library functions and renders their results. Errors a user can fix (bad
names, shapes, files) are reported on one line on stderr with a non-zero exit code; anything else is
a bug and shows its traceback.
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from collections.abc import Sequence
from typing import NoReturn

import torch
from rich.console import Console

from shufflenet.cli import analysis, data, deploy, detect, inference, measure, training
from shufflenet.cli.common import CliError, stderr_console, styled
from shufflenet.utils.optional import MissingExtra
from shufflenet.utils.tables import byte_size
from shufflenet.version import __version__

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (the command's usage is one ``--help`` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="shufflenet",
        description="Build, analyse and measure ShuffleNet and other compact CNNs.",
    )
    parser.add_argument("--version", action="version", version=f"shufflenet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for room in (analysis, measure, deploy, training, inference, data, detect):
        room.add_commands(sub)
    return parser


#: what the library raises for bad input or a missing piece of set-up: a one-line message, not a traceback
_EXPECTED = (CliError, ValueError, MissingExtra, FileNotFoundError, FileExistsError, IsADirectoryError,
             NotADirectoryError, PermissionError)  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    with warnings.catch_warnings():
        # JAX warns at every fork once it is loaded (LiteRT's converter loads it), and OpenVINO's converter
        # forks to send its telemetry: lines about other libraries' processes that a user can do nothing about.
        # The command's whole run, not each conversion: the telemetry forks from a thread, after convert returns.
        warnings.filterwarnings("ignore", r"os\.fork\(\) was called", RuntimeWarning, "multiprocessing")
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    err = stderr_console()
    format_warning = warnings.formatwarning
    warnings.formatwarning = _one_line_warning  # a note for the user (old spellings too), not a source line
    try:
        args = build_parser().parse_args(argv)
        # Tables are wide: off a terminal (pipes, CI logs) do not squeeze them to 80 columns.
        console = Console(soft_wrap=getattr(args, "format", "table") != "table", markup=False,
                          width=None if sys.stdout.isatty() else 200)  # fmt: skip
        return args.func(args, console)
    except _EXPECTED as exc:  # bad input or set-up; anything else is a bug and shows its traceback
        message = str(exc) if isinstance(exc, OSError) and exc.filename else (exc.args[0] if exc.args else str(exc))
        err.print(styled("bold red", "error:", message), highlight=False)
        return EXIT_USAGE
    except (torch.OutOfMemoryError, RuntimeError) as exc:  # out of memory is the user's size, not a bug
        if not isinstance(exc, torch.OutOfMemoryError) and "can't allocate memory" not in str(exc):
            raise
        asked = re.search(r"allocate (\d+) bytes", str(exc))
        need = f": one tensor needed {byte_size(int(asked[1]))}" if asked else ""
        err.print(styled("bold red", "error:", f"out of memory{need}; use a smaller --batch or --img-size"),
                  highlight=False)  # fmt: skip
        return EXIT_USAGE
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    finally:
        warnings.formatwarning = format_warning


def _one_line_warning(message: Warning | str, category: type[Warning], *_: object, **__: object) -> str:
    return f"warning: {message}\n"


if __name__ == "__main__":
    sys.exit(main())
