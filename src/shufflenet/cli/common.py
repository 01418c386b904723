"""What every command shares: its error type, the stderr console and the input-shape arguments."""

from __future__ import annotations

import argparse
import copy
import json
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import Progress, ProgressColumn
from rich.text import Text
from torch import nn

from shufflenet.cli.render import FORMATS
from shufflenet.utils.optional import MissingExtra
from shufflenet.utils.tables import byte_size

__all__ = [
    "CurvesWriter",
    "CliError",
    "add_shape_args",
    "check_memory",
    "input_shape",
    "json_object",
    "positive_float",
    "positive_int",
    "progress_bar",
    "reject_with_resume",
    "stderr_console",
    "styled",
    "unit_float",
]


class CliError(Exception):
    """A user error detected by the CLI itself."""


def _whole_number(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    return _whole_number(text, 1)


def non_negative_int(text: str) -> int:
    """An argparse type: an integer >= 0."""
    return _whole_number(text, 0)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def positive_float(text: str) -> float:
    """An argparse type: a number > 0."""
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def unit_float(text: str) -> float:
    """An argparse type: a number from 0 to 1 (a score or overlap threshold)."""
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def stderr_console() -> Console:
    """The console of progress, status and error lines. Soft wrap keeps each message one line in a log
    file or CI output, where rich would otherwise wrap it at 80 columns. Markup is off (as on every console of
    the CLI): a file name or message with brackets (``photo[1].jpg``, ``pip install 'shufflenet[openvino]'``) is
    printed as it is, not read as a style; a line that styles itself escapes what it quotes (:func:`styled`)."""
    return Console(stderr=True, soft_wrap=True, markup=False)


def styled(style: str, label: str, text: str) -> Text:
    """``label`` in ``style``, then ``text`` as it is: a status line's prefix (``error:``, ``warning:``)."""
    return Text.assemble((label, style), " ", text)


def progress_bar(*columns: str | ProgressColumn, console: Console | None = None, quiet: bool = False) -> Progress:
    """A transient bar on stderr, drawn only on a terminal: in a log or a pipe rich would leave a stray
    blank line before the next message (an error's one line included) and nothing else of use."""
    err = console or stderr_console()
    return Progress(*columns, console=err, transient=True, disable=quiet or not err.is_terminal)


def add_shape_args(p: argparse.ArgumentParser, batch: bool = True) -> None:
    p.add_argument(
        "--img-size",
        "--input-size",
        dest="img_size",
        type=positive_int,
        default=224,
        help="image side in pixels (default 224; --input-size is the old spelling)",
    )
    p.add_argument("--in-chans", type=positive_int, default=3, help="input channels (default 3)")
    if batch:
        p.add_argument("--batch", type=positive_int, default=1, help="batch size (default 1, as in the papers)")
    p.add_argument("--small-input", action="store_true", help="stride-1 stem without max-pool (28/32 px)")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default table)")


def input_shape(args: argparse.Namespace, batch: int | None = None) -> tuple[int, int, int, int]:
    """(N, C, H, W) from the shape flags (each checked by its type); ``batch`` where the command takes a list."""
    return (args.batch if batch is None else batch, args.in_chans, args.img_size, args.img_size)


def json_object(text: str, flag: str) -> dict[str, object]:
    """A flag's JSON object (``--model-options``, ``--backbone-options``), or a CliError saying what is wrong."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{flag} {text!r} is not valid JSON ({exc.msg} at character {exc.pos}); "
                       """write an object such as '{"se": true}'""") from None  # fmt: skip
    if not isinstance(value, dict):
        raise CliError(
            f"""{flag} must be a JSON object of option names and values, such as '{{"se": true}}', got {text!r}"""
        )
    return value


def reject_with_resume(args: argparse.Namespace, fix: str) -> None:
    """``--resume`` continues a run with its stored settings: any other flag given is a CliError naming it. The
    command's parser must leave flags that were not given out of the namespace (``argument_default=SUPPRESS``),
    so that a flag given with its default value is still caught."""
    given = sorted(set(vars(args)) - {"resume", "func", "command", "detect_command"})
    if given:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise CliError(f"{flags}: not with --resume, which continues the run's stored settings unchanged; {fix}")


def check_memory(
    model: nn.Module | str,
    shape: Sequence[int],
    device: torch.device | None = None,
    copies: int = 1,
    name: str | None = None,
    **build: object,
) -> None:
    """A CliError when ``model`` (a built network, or a registered name built with ``build``) at ``shape`` needs
    more memory for its activations than ``device`` has free: a one-line refusal, where the kernel would kill
    the process without a word. ``copies``: runs that hold their buffers side by side (an export is verified
    in PyTorch beside its runtime; raced runtimes each keep theirs)."""
    from shufflenet.complexity import analyze
    from shufflenet.models import create_model
    from shufflenet.utils.host import available_memory

    free = available_memory(device)
    if free is None:
        return
    with torch.device("meta"):  # shapes only: instant, and no memory for any size
        net = create_model(model, **build) if isinstance(model, str) else copy.deepcopy(model).to("meta")  # type: ignore[arg-type]
    need = copies * analyze(net, shape).activation_bytes()
    if need > free:
        name = name or (model if isinstance(model, str) else type(model).__name__)
        raise CliError(f"{name} at {shape[-2]}x{shape[-1]} px, batch {shape[0]}, needs about {byte_size(need)} for "
                       f"its activations, and {byte_size(free)} is free; use a smaller --img-size or --batch")  # fmt: skip


class CurvesWriter:
    """``curves.png`` in a run's folder, redrawn from its ``history.json`` as epochs end, so a long run
    can be watched: at most one drawing per 100 times the last one's cost (a run of short epochs, as
    on a GPU under a time budget, loses at most 1% of its time to them), and always at the end.
    Without matplotlib (the ``plot`` extra) one note says so."""

    def __init__(self, path: Path, err: Console) -> None:
        self.path, self.err, self.off, self.drawn = path, err, False, False
        self.last, self.cost = time.monotonic(), 0.6  # the first drawing after about a minute

    def update(self, final: bool = False) -> None:
        start = time.monotonic()
        if (
            self.off
            or not (self.path.parent / "history.json").is_file()
            or (start - self.last < 100 * self.cost and not final)
        ):
            return
        try:
            from shufflenet.bench.plots import plot_history
        except MissingExtra as exc:
            self.off = True
            self.err.print(f"note: no {self.path.name} ({exc})", highlight=False)
            return
        from shufflenet.train.history import read_history, score_key

        history = read_history(self.path.parent)
        plot_history({self.path.parent.name: history}, score_key(history, fallback=True), self.path)
        self.last, self.drawn = time.monotonic(), True
        self.cost = self.last - start
