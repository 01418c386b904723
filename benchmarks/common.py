"""What the side-by-side benchmarks share: the command-line face of ``shufflenet.bench.race``, and
torchvision's V2 without its channel shuffle (the ceiling of any rewrite of the shuffle).

The defaults are the protocol that held on a noisy 2-core host: 25 rounds of 0.2 s blocks with 0.1 s
of rest before each; the same file raced against itself stayed within 1-4%, against up to 15% with 9
rounds of 0.5 s blocks (docs/results/deployment.md, ninth session).
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torchvision.models.shufflenetv2 as tv_shufflenet


def add_race_args(ap: argparse.ArgumentParser, *, batches: Sequence[int] | None = (1, 8)) -> None:
    """``--threads``, ``--batches`` (unless None), ``--rounds``, ``--seconds`` and ``--pause``."""
    ap.add_argument("--threads", type=int, default=2)
    if batches is not None:
        ap.add_argument("--batches", type=int, nargs="+", default=list(batches))
    ap.add_argument("--rounds", type=int, default=25, help="rounds of the race (default 25)")
    ap.add_argument("--seconds", type=float, default=0.2, help="timed seconds per contender per round")
    ap.add_argument("--pause", type=float, default=0.1, help="seconds of rest before each block (threads settle)")


@contextlib.contextmanager
def shuffle_deleted() -> Iterator[None]:
    """Within: torchvision's ShuffleNet V2 with its channel shuffle made the identity (wrong logits, the
    same convs, splits and concats), for exports made inside; its units call the module's function."""
    shuffle = tv_shufflenet.channel_shuffle
    tv_shufflenet.channel_shuffle = lambda t, groups: t
    try:
        yield
    finally:
        tv_shufflenet.channel_shuffle = shuffle


def race_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of ``shufflenet.bench.race`` that ``add_race_args`` parsed."""
    return {"rounds": args.rounds, "block_s": args.seconds, "pause_s": args.pause}
