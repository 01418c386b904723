"""The ShuffleNet V2 paper's four guideline experiments, rerun on this machine.

Each experiment stacks a small block 10 times on a 56x56 input and compares
configurations of equal FLOPs (checked with the analyser in the tests), so any
speed difference comes from memory access cost, parallelism or element-wise
work, not from arithmetic. Widths are the paper's CPU/ARM widths and their x2
and x4 scalings (SPEC.md section 2), or on a GPU its GPU widths at batch 8, where
our batches/s stand beside the paper's (a GTX 1080Ti's).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import torch
from torch import Tensor, nn

from shufflenet.bench.runtimes import get_runtime
from shufflenet.bench.timing import device_timer, race, steady_rounds
from shufflenet.complexity import analyze
from shufflenet.runtimes import num_threads
from shufflenet.utils.devices import torch_device

__all__ = ["EXPERIMENTS", "GPU_EXPERIMENTS", "Experiment", "GuidelineResult", "Variant", "platform_of", "run_guideline"]

INPUT_SIZE = 56
REPEATS = 10
TIE = 0.03  # speed differences within 3% are within this kind of machine's noise


def _conv1x1(cin: int, cout: int, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1, groups=groups, bias=False)


def _stack(block: Callable[[], nn.Module]) -> nn.Sequential:
    return nn.Sequential(*(block() for _ in range(REPEATS)))


class Parallel(nn.Module):
    """``k`` 1x1 convs side by side on the same input, outputs concatenated."""

    def __init__(self, c: int, k: int) -> None:
        super().__init__()
        self.branches = nn.ModuleList(_conv1x1(c, c // k) for _ in range(k))

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([b(x) for b in self.branches], 1)


class Bottleneck(nn.Module):
    """ResNet bottleneck (c -> c/4 -> c/4 -> c, biases as after BN folding), each
    element-wise part (ReLU, shortcut add) removable for G4."""

    def __init__(self, c: int, relu: bool, shortcut: bool) -> None:
        super().__init__()
        mid = c // 4
        self.convs = nn.ModuleList([nn.Conv2d(c, mid, 1), nn.Conv2d(mid, mid, 3, padding=1), nn.Conv2d(mid, c, 1)])
        self.relu, self.shortcut = relu, shortcut

    def forward(self, x: Tensor) -> Tensor:
        out = x
        for i, conv in enumerate(self.convs):
            out = conv(out)
            if self.relu and i < 2:
                out = torch.relu(out)
        if self.shortcut:
            out = out + x
        return torch.relu(out) if self.relu else out


@dataclass(frozen=True)
class Variant:
    """One row of a guideline table: a block builder per scale, and the paper's GPU speed."""

    label: str
    build: Callable[[int], tuple[nn.Module, int]]  # scale -> (stacked blocks, input channels)
    paper_gpu: float | None = None  # batches/s at the first scale, GTX 1080Ti, batch 8 (SPEC.md)


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    scale_label: str
    scales: tuple[int, ...]
    variants: tuple[Variant, ...]
    claims: tuple[tuple[str, str], ...]  # (faster, slower) pairs the paper's figures assert

    def variant(self, label: str) -> Variant:
        return next(v for v in self.variants if v.label == label)


def _g1(c1: int, c2: int, gpu: float) -> Variant:
    return Variant(
        f"{c1}:{c2} (1:{round(c2 / c1)})",
        lambda k: (_stack(lambda: nn.Sequential(_conv1x1(c1 * k, c2 * k), _conv1x1(c2 * k, c1 * k))), c1 * k),
        gpu,
    )


def _g2(g: int, c: int, gpu: float) -> Variant:
    """``c * k`` rounded to a multiple of g: the paper's CPU width 180 at g = 8 is not one (184 is)."""

    def build(k: int) -> tuple[nn.Module, int]:
        width = math.ceil(c * k / g) * g
        return _stack(lambda: _conv1x1(width, width, g)), width

    return Variant(f"g={g}, c={c}", build, gpu)


def _series(k_convs: int) -> Callable[[int], tuple[nn.Module, int]]:
    """``k`` 1x1 convs in series with the FLOPs of one c -> c conv: c -> m -> ... -> m -> c."""

    def build(c: int) -> tuple[nn.Module, int]:
        # 2cm + (k - 2) m^2 = c^2  (k = 2: m = c/2)
        a, b = k_convs - 2, 2 * c
        m = round(c * c / b) if a == 0 else round((-b + math.sqrt(b * b + 4 * a * c * c)) / (2 * a))
        widths = [c] + [m] * (k_convs - 1) + [c]
        return _stack(lambda: nn.Sequential(*(_conv1x1(i, o) for i, o in zip(widths, widths[1:])))), c

    return build


def _g4(relu: bool, shortcut: bool, label: str, gpu: float | None) -> Variant:
    return Variant(label, lambda c: (_stack(lambda: Bottleneck(c, relu, shortcut)), c), gpu)


#: the paper's widths per platform (SPEC.md section 2): "cpu" its CPU/ARM widths, "gpu" its GPU widths
#: (measured there at batch 8); G1 and G2 scale them by x1, x2, x4, G3 and G4 list their channel counts
_G1_WIDTHS = {"cpu": ((32, 32), (22, 44), (13, 78), (9, 108)), "gpu": ((128, 128), (90, 180), (52, 312), (36, 432))}
_G2_WIDTHS = {"cpu": (64, 90, 128, 180), "gpu": (128, 180, 256, 360)}
_G3_SCALES = {"cpu": (64, 128, 256), "gpu": (128, 256, 512)}
_G4_SCALES = {"cpu": (32, 64, 128), "gpu": (32, 64, 128)}
#: the paper's batch per platform: one image on ARM (and here on CPUs), 8 on its GPU
PLATFORM_BATCH = {"cpu": 1, "gpu": 8}


def platform_of(device: torch.device) -> str:
    """Which of the paper's platforms ``device`` stands for: "gpu" for CUDA, else "cpu"."""
    return "gpu" if device.type == "cuda" else "cpu"


def _pairs(variants: Sequence[Variant], *pairs: tuple[int, int]) -> tuple[tuple[str, str], ...]:
    return tuple((variants[a].label, variants[b].label) for a, b in pairs)


def _experiments(platform: str) -> dict[str, Experiment]:
    """The four experiments at ``platform``'s widths (the claims: the paper's orderings, faster first)."""
    g1 = tuple(_g1(c1, c2, gpu) for (c1, c2), gpu in zip(_G1_WIDTHS[platform], (1480, 1296, 876, 748)))
    g2 = tuple(_g2(g, c, gpu) for g, c, gpu in zip((1, 2, 4, 8), _G2_WIDTHS[platform], (2451, 1725, 1026, 634)))
    g3 = (
        Variant("1-fragment", lambda c: (_stack(lambda: _conv1x1(c, c)), c), 2446),
        Variant("2-fragment-series", _series(2), 1790),
        Variant("4-fragment-series", _series(4), 752),
        Variant("2-fragment-parallel", lambda c: (_stack(lambda: Parallel(c, 2)), c), 1537),
        Variant("4-fragment-parallel", lambda c: (_stack(lambda: Parallel(c, 4)), c), 691),
    )
    g4 = (
        _g4(True, True, "ReLU + shortcut", 2427),
        _g4(False, True, "no ReLU", None),
        _g4(True, False, "no shortcut", None),
        _g4(False, False, "neither", 2842),
    )
    chain = ((0, 1), (1, 2), (2, 3))
    return {
        "G1": Experiment("G1", "Equal channel width minimises MAC: two 1x1 convs c1 -> c2 -> c1 at fixed FLOPs",
                         "width", (1, 2, 4), g1, _pairs(g1, *chain)),
        "G2": Experiment("G2", "Excessive group convolution increases MAC: 10 pointwise group convs at fixed FLOPs",
                         "width", (1, 2, 4), g2, _pairs(g2, *chain)),
        "G3": Experiment("G3", "Network fragmentation reduces parallelism: 1x1 convs in series or parallel at fixed "
                         "FLOPs", "c", _G3_SCALES[platform], g3, _pairs(g3, (0, 1), (1, 2), (0, 3), (3, 4))),
        "G4": Experiment("G4", "Element-wise operations are not negligible: ResNet bottleneck with/without ReLU and "
                         "shortcut", "c", _G4_SCALES[platform], g4, _pairs(g4, (1, 0), (2, 0), (3, 0))),
    }  # fmt: skip


#: the experiments at the paper's CPU/ARM widths, and at its GPU widths
EXPERIMENTS: dict[str, Experiment] = _experiments("cpu")
GPU_EXPERIMENTS: dict[str, Experiment] = _experiments("gpu")


@dataclass
class GuidelineResult:
    """Measured images/s per (variant, scale), with each block's complexity."""

    experiment: Experiment
    runtime: str = "eager"
    scales: list[int] = field(default_factory=list)  # the scales measured
    batch: int = 1
    device: str = "cpu"
    images_per_s: dict[tuple[str, int], float] = field(default_factory=dict)
    flops: dict[tuple[str, int], int] = field(default_factory=dict)
    mac: dict[tuple[str, int], int] = field(default_factory=dict)

    def verdict(self, faster: str, slower: str, scale: int, tie: float = TIE) -> str:
        """'holds' when ``faster`` beats ``slower`` by more than ``tie`` (relative), 'tie' within
        it (machine noise), 'reversed' otherwise."""
        ratio = self.images_per_s[(faster, scale)] / self.images_per_s[(slower, scale)]
        return "holds" if ratio > 1 + tie else "tie" if ratio >= 1 - tie else "reversed"

    def vs_paper(self, variant: Variant) -> float | None:
        """Our batches/s over the paper's GPU figure (its batch of 8 at the first scale), on a GPU at that batch."""
        if variant.paper_gpu is None or self.device == "cpu" or self.batch != PLATFORM_BATCH["gpu"]:
            return None
        return self.images_per_s[(variant.label, self.experiment.scales[0])] / self.batch / variant.paper_gpu

    def to_dict(self) -> dict[str, object]:
        exp = self.experiment
        return {
            "experiment": exp.name,
            "title": exp.title,
            "runtime": self.runtime,
            "device": self.device,
            "batch": self.batch,
            "rows": [
                {
                    "variant": v.label,
                    exp.scale_label: s,
                    "flops": self.flops[(v.label, s)],
                    "mac": self.mac[(v.label, s)],
                    "images_per_s": self.images_per_s[(v.label, s)],
                    "paper_gpu_batches_per_s": v.paper_gpu if s == exp.scales[0] else None,
                    "vs_paper_gpu": self.vs_paper(v) if s == exp.scales[0] else None,
                }  # fmt: skip
                for v in exp.variants
                for s in self.scales
            ],
            "claims": [
                {"faster": f, "slower": sl, "verdict": {str(s): self.verdict(f, sl, s) for s in self.scales}}
                for f, sl in exp.claims
            ],
        }


def build_block(experiment: str, variant: str, scale: int, platform: str = "cpu") -> tuple[nn.Module, int]:
    """The stacked block of one configuration and its input channels."""
    return get_experiment(experiment, platform).variant(variant).build(scale)


def get_experiment(name: str, platform: str = "cpu") -> Experiment:
    """Experiment ``name`` at the paper's widths for ``platform`` ("cpu": its CPU/ARM widths, "gpu")."""
    table = {"cpu": EXPERIMENTS, "gpu": GPU_EXPERIMENTS}.get(platform)
    if table is None:
        raise ValueError(f"unknown platform {platform!r}; choose cpu or gpu")
    try:
        return table[name.upper()]
    except KeyError:
        raise ValueError(f"unknown guideline {name!r}; choose from {', '.join(table)}") from None


def run_guideline(
    name: str,
    *,
    scales: Sequence[int] | None = None,
    runtime: str = "eager",
    threads: int | None = None,
    batch: int | None = None,
    device: str = "cpu",
    min_time_s: float = 0.5,
    rounds: int = 3,
    progress: Callable[[str], None] | None = None,
) -> GuidelineResult:
    """Measure every variant of one experiment at every scale, 56x56: on a CPU at the paper's CPU/ARM widths
    (batch 1 by default, as on ARM), on a GPU (``device="cuda"``) at its GPU widths (batch 8, as it measured).

    Variants are raced (:func:`~shufflenet.bench.timing.race`) over ``rounds`` rounds, each block
    ``min_time_s / rounds`` long, and the median of the rounds' medians is kept, so slow drifts of a
    noisy machine (frequency, other processes) hit every variant alike; rounds of a cloud host's slow regime
    (:func:`~shufflenet.bench.timing.steady_rounds`) are left out.
    """
    dev = torch_device(device)
    platform = platform_of(dev)
    exp = get_experiment(name, platform)
    spec = get_runtime(runtime)
    spec.check_device(dev)
    batch = batch or PLATFORM_BATCH[platform]
    result = GuidelineResult(exp, runtime=spec.name, scales=list(scales or exp.scales), batch=batch, device=str(dev))
    timer = device_timer(dev.type)
    with num_threads(threads):
        for scale in result.scales:
            predictors = {}
            for v in exp.variants:
                if progress:
                    progress(f"{exp.name} {v.label} {exp.scale_label}={scale}: preparing")
                block, chs = v.build(scale)
                block.eval()
                report = analyze(block, (1, chs, INPUT_SIZE, INPUT_SIZE))  # per image
                block, x = block.to(dev), torch.randn(batch, chs, INPUT_SIZE, INPUT_SIZE, device=dev)
                result.flops[(v.label, scale)], result.mac[(v.label, scale)] = report.flops, report.mac
                predictors[v.label] = (spec.prepare(block, x, threads), x)

            def say(label: str, round_: int, scale: int = scale) -> None:
                if progress:
                    progress(f"{exp.name} {label} {exp.scale_label}={scale}: round {round_}/{rounds}")

            calls = {label: partial(predict, x) for label, (predict, x) in predictors.items()}
            medians = race(calls, rounds=rounds, block_s=min_time_s / rounds, pause_s=0.05, min_iters=5,
                           timer=timer, progress=say)  # fmt: skip
            steady = steady_rounds(medians)
            for label, ms in medians.items():
                kept = [m for m, ok in zip(ms, steady) if ok]
                result.images_per_s[(label, scale)] = batch * 1e3 / statistics.median(kept)
    return result
