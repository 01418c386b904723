"""What the side-by-side benchmarks share: the command-line face of ``shufflenet.bench.race``, the race with
the host-regime probe, torchvision's V2 without its channel shuffle (the ceiling of any rewrite of the
shuffle) and the BN statistics that make "same weights" comparisons exercise the fold.

The defaults are the protocol that held on a noisy 2-core host: 25 rounds of 0.2 s blocks with 0.1 s
of rest before each; the same file raced against itself stayed within 1-4%, against up to 15% with 9
rounds of 0.5 s blocks (docs/results/deployment.md, ninth session).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from importlib import metadata
from typing import Any, TypeVar

import torch
import torchvision.models.shufflenetv2 as tv_shufflenet

from shufflenet.bench.machine import parallel_speedup
from shufflenet.bench.timing import probed_race, round_slowdowns, steady_ratios, steady_rounds
from shufflenet.utils.host import cpu_steal_counters, stolen_share
from shufflenet.utils.optional import MissingExtra, require

K = TypeVar("K", bound=Hashable)


#: each runtime's distribution (its version, for a table's header), the module its export imports and its extra
RUNTIME_PACKAGES = {
    "onnxruntime": ("onnxruntime", "onnxruntime", "onnx"),
    "openvino": ("openvino", "openvino", "openvino"),
    "ncnn": ("ncnn", "pnnx", "ncnn"),
    "executorch": ("executorch", "executorch.exir", "executorch"),
    "litert": ("ai-edge-litert", "litert_torch", "litert"),
}


def require_runtimes(runtimes: Sequence[str]) -> str:
    """``"onnxruntime 1.x, openvino 2025.x"`` for the header; a runtime not installed exits with a one-line
    error before minutes of exporting."""
    for rt in runtimes:
        try:
            require(*RUNTIME_PACKAGES[rt][1:])
        except MissingExtra as exc:
            sys.exit(f"error: runtime {rt}: {exc}")
    return ", ".join(f"{rt} {metadata.version(RUNTIME_PACKAGES[rt][0])}" for rt in runtimes)


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


def regime_race(
    contenders: Mapping[K, Callable[[], object]], args: argparse.Namespace, **kwargs: Any
) -> tuple[dict[K, list[float]], str]:
    """The race of ``race_options(args)``: the round times, and a line on the host's regimes during it: how many
    rounds ran near every contender's best (``steady_rounds``), with the host probe (``parallel_speedup``, as each
    round starts) in each kind of round (cloud hosts switch regimes within minutes, and a ratio can differ between
    them; docs/measuring.md). Each ratio's best-regime figure counts its own pair's rounds (:func:`kept_ratio`)."""
    probe = (lambda: parallel_speedup(args.threads)) if args.threads > 1 else (lambda: 1.0)
    before = cpu_steal_counters()
    times, probes = probed_race(contenders, probe, **race_options(args), **kwargs)
    stolen = stolen_share(before, cpu_steal_counters())
    steady = steady_rounds(times)
    slow = [s for s, ok in zip(round_slowdowns(times), steady) if not ok]
    note = (f"# {sum(steady)}/{len(steady)} rounds near every contender's best (median slowdown <= 1.25x), host "
            f"probe ({args.threads} threads over 1) {statistics.median(p for p, ok in zip(probes, steady) if ok):.2f}x")  # fmt: skip
    if slow:
        others = statistics.median(p for p, ok in zip(probes, steady) if not ok)
        note += f"; {len(slow)} rounds {statistics.median(slow):.2f}x slower, probe {others:.2f}x"
    if stolen is not None:  # a virtual machine's slow spells often have this cause
        note += f"; {100 * stolen:.0f}% of the CPU time taken by the hypervisor"
    return times, note + "; a best-regime ratio counts the rounds where both its sides ran near their best"


def kept_ratio(base: Sequence[float], other: Sequence[float]) -> tuple[float, int]:
    """The median per-round ``base / other`` over the rounds where both ran near their best (``steady_ratios``),
    and their count."""
    ratios = steady_ratios(base, other)
    return statistics.median(ratios), len(ratios)


def full_ratio(base: Sequence[float], other: Sequence[float]) -> str:
    """:func:`kept_ratio` as a table cell: ``1.17x (7)``."""
    return ratio_cell(steady_ratios(base, other))


def ratio_cell(ratios: Sequence[float]) -> str:
    """Best-regime per-round ratios (``steady_ratios``) as a table cell: their median and count, ``1.17x (7)``."""
    return f"{statistics.median(ratios):.2f}x ({len(ratios)})"


def randomise_bn(model: torch.nn.Module, seed: int = 0) -> None:
    """Non-trivial BN statistics (a fresh model's are the identity), so that folding them is actually exercised."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
