"""The benchmark engine: latency and throughput of a model in a runtime, as a record.

The paper's lesson is that only measured speed on the target platform decides;
this is the measurement. Export or compilation happens before timing; the
record carries the model's complexity (per image, the papers' batch-1
convention) so speed can be read against FLOPs and MAC.
"""

from __future__ import annotations

import os
import statistics
import time
import warnings
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from shufflenet.bench.machine import machine_info
from shufflenet.bench.runtimes import get_runtime
from shufflenet.bench.timing import LatencyStats, device_timer, race_stats, steady_ratios
from shufflenet.complexity import analyze
from shufflenet.models import create_from_arch, create_model
from shufflenet.runtimes import num_threads
from shufflenet.runtimes.cuda_graphs import PRECISIONS
from shufflenet.utils.deprecation import renamed_kwargs
from shufflenet.utils.devices import torch_device
from shufflenet.utils.host import emulated_precision

__all__ = [
    "BenchResult",
    "BenchSuite",
    "artifact_complexity",
    "artifact_input",
    "benchmark",
    "benchmark_artifact",
    "benchmark_artifacts",
    "benchmark_many",
    "build_model",
]

K = TypeVar("K", bound=Hashable)

DTYPES = PRECISIONS  # the precisions a model is measured in (the GPU inference form's)


@dataclass(frozen=True)
class BenchResult:
    """One measured point (model, runtime, batch) and what it ran on: latencies in ms over the timed
    iterations, throughput, the model's complexity per image and the host (``machine``: CPU, GPU,
    library versions). ``truncated``: a time budget cut the measurement short."""

    model: str
    runtime: str
    batch: int
    img_size: int
    in_chans: int
    threads: int
    device: str
    dtype: str
    latency_ms_median: float
    latency_ms_p10: float
    latency_ms_p90: float
    latency_ms_min: float
    iterations: int
    truncated: bool
    images_per_s: float
    flops: int  # multiply-adds per image
    params: int
    mac: int  # elements read + written per image
    machine: dict[str, object] = field(default_factory=dict)
    round_ms: tuple[float, ...] = ()  # in a race: this point's latency in each round, in order

    @property
    def gmac_per_s(self) -> float:
        """Multiply-adds actually achieved per second (how well the hardware is used)."""
        return self.flops * self.images_per_s / 1e9

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "gmac_per_s": self.gmac_per_s}


def _check_setup(batch: int, img_size: int, in_chans: int, device: str, precision: str) -> None:
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    if img_size < 1 or in_chans < 1:
        raise ValueError(f"image side and channels must be >= 1, got {img_size} and {in_chans}")
    if precision not in DTYPES:
        raise ValueError(f"unknown precision {precision!r}; choose from {', '.join(DTYPES)}")
    torch_device(device)


#: a model name with this prefix is torchvision's network of that name (random weights), timed beside ours
TORCHVISION_PREFIX = "torchvision:"


def build_model(model: str | nn.Module, in_chans: int = 3, small_input: bool = False) -> tuple[str, nn.Module]:
    """A bench entry's record name and network: a registered name, ``torchvision:NAME`` (torchvision's
    network, random weights) or a module (named by its class)."""
    if isinstance(model, str) and model.startswith(TORCHVISION_PREFIX):
        import torchvision

        if in_chans != 3 or small_input:
            raise ValueError(f"{model}: torchvision's networks take 3-channel images through their own stem; "
                             "drop --in-chans and --small-input")  # fmt: skip
        try:
            return model, torchvision.models.get_model(model.removeprefix(TORCHVISION_PREFIX), weights=None)
        except ValueError:
            raise ValueError(f"{model}: torchvision has no model of that name (torchvision.models.list_models() "
                             "names them)") from None  # fmt: skip
    if isinstance(model, str):
        return model, create_model(model, in_chans=in_chans, small_input=small_input)
    return type(model).__name__, model


def _namesakes(results: Sequence[BenchResult]) -> dict[int, BenchResult]:
    """Each of our results whose torchvision namesake (``torchvision:NAME``) was timed at the same runtime, batch,
    device, precision and size: its index in ``results`` -> that namesake."""

    def key(r: BenchResult, model: str) -> tuple:
        return model, r.runtime, r.batch, r.device, r.dtype, r.img_size

    theirs = {key(r, r.model.removeprefix(TORCHVISION_PREFIX)): r for r in results
              if r.model.startswith(TORCHVISION_PREFIX)}  # fmt: skip
    return {i: theirs[key(r, r.model)] for i, r in enumerate(results)
            if not r.model.startswith(TORCHVISION_PREFIX) and key(r, r.model) in theirs}  # fmt: skip


def torchvision_round_ratios(results: Sequence[BenchResult]) -> dict[int, list[float]]:
    """For each of our results raced in the same rounds as its torchvision namesake (:func:`_namesakes`): its index
    -> torchvision's latency / ours in each round in which both ran near their best, sorted (:func:`steady_ratios`:
    a cloud host's slow regime changes the ratio itself, and can start inside a round)."""
    return {i: steady_ratios(other.round_ms, results[i].round_ms) for i, other in _namesakes(results).items()
            if results[i].round_ms and len(results[i].round_ms) == len(other.round_ms)}  # fmt: skip


def speedups_over_torchvision(results: Sequence[BenchResult]) -> dict[int, float]:
    """For each of our results whose torchvision namesake was timed too (:func:`_namesakes`): its index in
    ``results`` -> torchvision's latency / ours, the median of the per-round ratios where both were raced in the
    same rounds (the least touched by the host's swings) over the rounds :func:`torchvision_round_ratios` counts,
    else the ratio of the medians."""
    per_round = torchvision_round_ratios(results)
    return {
        i: statistics.median(per_round[i]) if i in per_round else other.latency_ms_median / results[i].latency_ms_median
        for i, other in _namesakes(results).items()
    }


@renamed_kwargs(input_size="img_size", dtype="precision")
def benchmark(
    model: str | nn.Module,
    *,
    batch: int = 1,
    img_size: int = 224,
    in_chans: int = 3,
    small_input: bool = False,
    threads: int | None = None,
    runtime: str = "eager",
    device: str = "cpu",
    precision: str = "float32",
    min_time_s: float = 1.0,
    max_time_s: float = 30.0,
    name: str | None = None,
) -> BenchResult:
    """Measure one (model, runtime, batch) point; see :func:`benchmark_many` for grids."""
    suite = benchmark_many(
        [model], batches=[batch], runtimes=[runtime], img_size=img_size, in_chans=in_chans,
        small_input=small_input, threads=threads, device=device, precision=precision,
        min_time_s=min_time_s, max_time_s=max_time_s,
    )  # fmt: skip
    result = suite.results[0]
    return result if name is None else BenchResult(**{**asdict(result), "model": name})


@dataclass
class BenchSuite:
    results: list[BenchResult]
    skipped: list[tuple[str, str, int]]  # (model, runtime, batch) left out by the time budget

    @property
    def complete(self) -> bool:
        return not self.skipped


def _result(blocks: Sequence[LatencyStats], **fields: Any) -> BenchResult:
    """A record of one raced point: its ``fields`` and its blocks' timings, one per round."""
    stats = LatencyStats.combine(blocks)
    return BenchResult(
        **fields, latency_ms_median=stats.median_ms, latency_ms_p10=stats.p10_ms, latency_ms_p90=stats.p90_ms,
        latency_ms_min=stats.min_ms, iterations=stats.iterations, truncated=stats.truncated,
        images_per_s=fields["batch"] * 1e3 / stats.median_ms, machine=machine_info(),
        round_ms=tuple(b.median_ms for b in blocks),
    )  # fmt: skip


def _race_points(
    calls: Mapping[K, Callable[[], object]],
    rounds: int,
    min_time_s: float,
    max_time_s: float,
    pause_s: float,
    **kwargs: Any,
) -> dict[K, list[LatencyStats]]:
    """:func:`race_stats` with a point's budget (``min_time_s``, ``max_time_s``, at least 10 calls) split
    over ``rounds`` blocks."""
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    return race_stats(calls, rounds=rounds, block_s=min_time_s / rounds, max_time_s=max_time_s / rounds,
                      pause_s=pause_s, min_iters=max(3, -(-10 // rounds)), **kwargs)  # fmt: skip


@renamed_kwargs(input_size="img_size", dtype="precision")
def benchmark_many(
    models: Sequence[str | nn.Module],
    *,
    batches: Sequence[int] = (1,),
    runtimes: Sequence[str] = ("eager",),
    img_size: int = 224,
    in_chans: int = 3,
    small_input: bool = False,
    threads: int | None = None,
    device: str = "cpu",
    precision: str = "float32",
    min_time_s: float = 1.0,
    max_time_s: float = 30.0,
    time_budget_s: float | None = None,
    rounds: int = 1,
    pause_s: float = 0.1,
    progress: Callable[[str], None] | None = None,
) -> BenchSuite:
    """Measure every (model, runtime, batch); stop cleanly when ``time_budget_s`` is spent (the first
    batch is always measured, so that a budget shorter than building the models still gives a table).

    At each batch every (model, runtime) is prepared, then all are raced
    (:func:`~shufflenet.bench.timing.race_stats`): ``rounds`` rounds of one block each, ``min_time_s /
    rounds`` seconds long (at most ``max_time_s / rounds``), after ``pause_s`` of rest, so that ratios
    between them are measured side by side. Batches not started when the budget runs out are listed in
    ``skipped``; a batch that is running finishes. Results come in (model, runtime, batch) order.
    """
    if rounds < 1:  # checked before any model is built
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    for b in batches:
        _check_setup(b, img_size, in_chans, device, precision)
    specs = [get_runtime(r) for r in runtimes]
    for spec in specs:
        if precision != "float32" and spec.float32_only:
            raise ValueError(f"the {spec.name} runtime measures float32 only")
        spec.check_device(torch.device(device))
    note = emulated_precision(precision, torch.device(device))
    if note:
        warnings.warn(f"{note}; these timings measure the emulation", stacklevel=2)
    start = time.perf_counter()
    results: dict[tuple[int, int, int], BenchResult] = {}  # (model, runtime, batch) indices -> record
    skipped: list[tuple[str, str, int]] = []
    dev = torch.device(device)
    timer = device_timer(dev.type)
    with num_threads(threads) as used_threads:
        built = []
        for model in models:
            name, net = build_model(model, in_chans, small_input)
            report = analyze(net.eval(), (1, in_chans, img_size, img_size))  # counted in float32 on the CPU
            built.append((name, net.to(dev, DTYPES[precision]), report))
        points = [(m, r) for m in range(len(built)) for r in range(len(specs))]
        prepared: dict[tuple[int, int], Callable[[torch.Tensor], object]] = {}
        for bi, b in enumerate(batches if points else []):
            if bi and time_budget_s is not None and time.perf_counter() - start > time_budget_s:
                skipped += [(built[m][0], specs[r].name, b) for m, r in points]
                continue
            x = torch.randn(b, in_chans, img_size, img_size, device=dev, dtype=DTYPES[precision])
            for m, r in points:
                if (m, r) not in prepared or specs[r].static_shapes:
                    if progress:
                        progress(f"{built[m][0]} {specs[r].name} batch {b}: preparing")
                    prepared[(m, r)] = specs[r].prepare(built[m][1], x, threads)

            def say(key: tuple[int, int], round_: int, b: int = b) -> None:
                if progress:
                    progress(f"{built[key[0]][0]} {specs[key[1]].name} batch {b}: round {round_}/{rounds}")

            timed = _race_points({(m, r): partial(prepared[(m, r)], x) for m, r in points}, rounds, min_time_s,
                                 max_time_s, pause_s, timer=timer, progress=say)  # fmt: skip
            for (m, r), blocks in timed.items():
                name, _, report = built[m]
                results[(m, r, bi)] = _result(
                    blocks, model=name, runtime=specs[r].name, batch=b, img_size=img_size, in_chans=in_chans,
                    threads=used_threads, device=str(dev), dtype=precision, flops=report.flops, params=report.params,
                    mac=report.mac,
                )  # fmt: skip
    return BenchSuite([results[k] for k in sorted(results)], skipped)


@renamed_kwargs(input_size="img_size")
def benchmark_artifacts(
    paths: Sequence[str | os.PathLike[str]],
    *,
    batches: Sequence[int] = (1,),
    img_size: int = 224,
    in_chans: int = 3,
    threads: int | None = None,
    min_time_s: float = 1.0,
    max_time_s: float = 30.0,
    rounds: int = 1,
    pause_s: float = 0.1,
) -> list[BenchResult]:
    r"""Time exported files (any of :data:`~shufflenet.export.predictor.ARTIFACT_SUFFIXES`), each in the
    runtime its suffix names, through :class:`~shufflenet.export.Predictor` (as ``eval`` and ``predict``
    run it); at each batch all files are raced as :func:`benchmark_many` races its points. A file's input
    shape is its own where it says one, else its model's ``pretrained_cfg``'s, else ``in_chans`` x
    ``img_size``\ :sup:`2`; FLOPs, params and MAC are those of the network its ``pretrained_cfg``'s ``arch``
    names (:func:`artifact_complexity`; 0 for a file without one). Results come in (file, batch) order."""
    from shufflenet.export.predictor import Predictor

    files = []
    for path in paths:
        predictor = Predictor(path, threads=threads)
        shape = artifact_input(predictor, in_chans, img_size)
        files.append((str(path), predictor, shape, artifact_complexity(predictor.pretrained_cfg, shape)))
    results: dict[tuple[int, int], BenchResult] = {}
    with num_threads(threads) as used_threads:
        for bi, b in enumerate(batches):
            inputs = []
            for _, _, (c, h, w), _ in files:
                _check_setup(b, h, c, "cpu", "float32")
                inputs.append(np.random.default_rng(0).standard_normal((b, c, h, w), dtype=np.float32))
            timed = _race_points({i: partial(f[1].predict, x) for i, (f, x) in enumerate(zip(files, inputs))},
                                 rounds, min_time_s, max_time_s, pause_s)  # fmt: skip
            for i, blocks in timed.items():
                name, predictor, (c, h, _), (flops, params, mac) = files[i]
                results[(i, bi)] = _result(
                    blocks, model=name, runtime=predictor.runtime, batch=b, img_size=h, in_chans=c,
                    threads=threads or used_threads, device="cpu", dtype="float32", flops=flops, params=params, mac=mac,
                )  # fmt: skip
    return [results[k] for k in sorted(results)]


def artifact_input(predictor: Any, in_chans: int = 3, img_size: int = 224) -> tuple[int, int, int]:
    r"""The input (C, H, W) an exported file (open in a :class:`~shufflenet.export.Predictor`) was made for:
    its own where it says one, else its model's ``pretrained_cfg``'s, else ``in_chans`` x ``img_size``\ :sup:`2`."""
    _, c, h, w = (*predictor.input_shape, None, None, None, None)[:4]
    chans, side = predictor.pretrained_cfg["input_size"][:2] if predictor.pretrained_cfg else (in_chans, img_size)
    return c or chans, h or side, w or side


def artifact_complexity(cfg: Mapping[str, Any] | None, input_chw: Sequence[int]) -> tuple[int, int, int]:
    """FLOPs (multiply-adds), params and MAC per image of the network an exported file holds, at its input
    (C, H, W): counted on the architecture its ``pretrained_cfg`` records (``arch``; built on the meta device:
    shapes only, no weights, instant even for VGG), as for the model it came from. (0, 0, 0) for a file that
    records none (a fresh model's export, a file from before the record)."""
    arch = (cfg or {}).get("arch")
    if not arch:
        return 0, 0, 0
    with torch.device("meta"):
        net = create_from_arch(arch).eval()
    report = analyze(net, (1, *input_chw))
    return report.flops, report.params, report.mac


def benchmark_artifact(path: str | os.PathLike[str], **kwargs: Any) -> list[BenchResult]:
    """:func:`benchmark_artifacts` of one file."""
    return benchmark_artifacts([path], **kwargs)
