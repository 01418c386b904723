"""The ShuffleNet V2 paper's four guideline experiments, rerun on this machine.

Each experiment stacks a small block 10 times on a 56x56 input and compares
configurations of equal FLOPs (checked with the analyser in the tests), so any
speed difference comes from memory access cost, parallelism or element-wise
work, not from arithmetic. Widths are the paper's CPU/ARM widths and their x2
and x4 scalings (SPEC.md section 2).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from shufflenet.bench.runtimes import get_runtime
from shufflenet.bench.timing import measure
from shufflenet.complexity import analyze
from shufflenet.runtimes import num_threads

__all__ = ["EXPERIMENTS", "Experiment", "GuidelineResult", "Variant", "run_guideline"]

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


EXPERIMENTS: dict[str, Experiment] = {
    "G1": Experiment(
        "G1", "Equal channel width minimises MAC: two 1x1 convs c1 -> c2 -> c1 at fixed FLOPs",
        "width", (1, 2, 4),
        (_g1(32, 32, 1480), _g1(22, 44, 1296), _g1(13, 78, 876), _g1(9, 108, 748)),
        (("32:32 (1:1)", "22:44 (1:2)"), ("22:44 (1:2)", "13:78 (1:6)"), ("13:78 (1:6)", "9:108 (1:12)")),
    ),
    "G2": Experiment(
        "G2", "Excessive group convolution increases MAC: 10 pointwise group convs at fixed FLOPs",
        "width", (1, 2, 4),
        (_g2(1, 64, 2451), _g2(2, 90, 1725), _g2(4, 128, 1026), _g2(8, 180, 634)),
        (("g=1, c=64", "g=2, c=90"), ("g=2, c=90", "g=4, c=128"), ("g=4, c=128", "g=8, c=180")),
    ),
    "G3": Experiment(
        "G3", "Network fragmentation reduces parallelism: 1x1 convs in series or parallel at fixed FLOPs",
        "c", (64, 128, 256),
        (
            Variant("1-fragment", lambda c: (_stack(lambda: _conv1x1(c, c)), c), 2446),
            Variant("2-fragment-series", _series(2), 1790),
            Variant("4-fragment-series", _series(4), 752),
            Variant("2-fragment-parallel", lambda c: (_stack(lambda: Parallel(c, 2)), c), 1537),
            Variant("4-fragment-parallel", lambda c: (_stack(lambda: Parallel(c, 4)), c), 691),
        ),
        (
            ("1-fragment", "2-fragment-series"), ("2-fragment-series", "4-fragment-series"),
            ("1-fragment", "2-fragment-parallel"), ("2-fragment-parallel", "4-fragment-parallel"),
        ),
    ),
    "G4": Experiment(
        "G4", "Element-wise operations are not negligible: ResNet bottleneck with/without ReLU and shortcut",
        "c", (32, 64, 128),
        (
            _g4(True, True, "ReLU + shortcut", 2427),
            _g4(False, True, "no ReLU", None),
            _g4(True, False, "no shortcut", None),
            _g4(False, False, "neither", 2842),
        ),
        (("no ReLU", "ReLU + shortcut"), ("no shortcut", "ReLU + shortcut"), ("neither", "ReLU + shortcut")),
    ),
}  # fmt: skip


@dataclass
class GuidelineResult:
    """Measured images/s per (variant, scale), with each block's complexity."""

    experiment: Experiment
    runtime: str = "eager"
    scales: list[int] = field(default_factory=list)  # the scales measured
    images_per_s: dict[tuple[str, int], float] = field(default_factory=dict)
    flops: dict[tuple[str, int], int] = field(default_factory=dict)
    mac: dict[tuple[str, int], int] = field(default_factory=dict)

    def verdict(self, faster: str, slower: str, scale: int, tie: float = TIE) -> str:
        """'holds' when ``faster`` beats ``slower`` by more than ``tie`` (relative), 'tie' within
        it (machine noise), 'reversed' otherwise."""
        ratio = self.images_per_s[(faster, scale)] / self.images_per_s[(slower, scale)]
        return "holds" if ratio > 1 + tie else "tie" if ratio >= 1 - tie else "reversed"

    def to_dict(self) -> dict[str, object]:
        exp = self.experiment
        return {
            "experiment": exp.name,
            "title": exp.title,
            "runtime": self.runtime,
            "rows": [
                {
                    "variant": v.label,
                    exp.scale_label: s,
                    "flops": self.flops[(v.label, s)],
                    "mac": self.mac[(v.label, s)],
                    "images_per_s": self.images_per_s[(v.label, s)],
                    "paper_gpu_batches_per_s": v.paper_gpu if s == exp.scales[0] else None,
                }  # fmt: skip
                for v in exp.variants
                for s in self.scales
            ],
            "claims": [
                {"faster": f, "slower": sl, "verdict": {str(s): self.verdict(f, sl, s) for s in self.scales}}
                for f, sl in exp.claims
            ],
        }


def build_block(experiment: str, variant: str, scale: int) -> tuple[nn.Module, int]:
    """The stacked block of one configuration and its input channels."""
    return get_experiment(experiment).variant(variant).build(scale)


def get_experiment(name: str) -> Experiment:
    try:
        return EXPERIMENTS[name.upper()]
    except KeyError:
        raise ValueError(f"unknown guideline {name!r}; choose from {', '.join(EXPERIMENTS)}") from None


def run_guideline(
    name: str,
    *,
    scales: Sequence[int] | None = None,
    runtime: str = "eager",
    threads: int | None = None,
    batch: int = 1,
    min_time_s: float = 0.5,
    rounds: int = 3,
    progress: Callable[[str], None] | None = None,
) -> GuidelineResult:
    """Measure every variant of one experiment at every scale (batch 1, 56x56, as on ARM).

    Variants are measured in interleaved ``rounds`` (each ``min_time_s / rounds``
    long) and the median of the rounds' medians is kept, so slow drifts of a
    noisy machine (frequency, other processes) hit every variant alike.
    """
    exp = get_experiment(name)
    spec = get_runtime(runtime)
    result = GuidelineResult(exp, runtime=spec.name, scales=list(scales or exp.scales))
    with num_threads(threads):
        for scale in result.scales:
            predictors = {}
            for v in exp.variants:
                if progress:
                    progress(f"{exp.name} {v.label} {exp.scale_label}={scale}: preparing")
                block, chs = v.build(scale)
                block.eval()
                x = torch.randn(batch, chs, INPUT_SIZE, INPUT_SIZE)
                report = analyze(block, tuple(x.shape))
                result.flops[(v.label, scale)], result.mac[(v.label, scale)] = report.flops, report.mac
                predictors[v.label] = (spec.prepare(block, x, threads), x)
            medians: dict[str, list[float]] = {v.label: [] for v in exp.variants}
            for r in range(rounds):
                for label, (predict, x) in predictors.items():
                    if progress:
                        progress(f"{exp.name} {label} {exp.scale_label}={scale}: round {r + 1}/{rounds}")
                    stats = measure(lambda: predict(x), min_time_s=min_time_s / rounds, min_iters=5)
                    medians[label].append(stats.median_ms)
            for label, ms in medians.items():
                result.images_per_s[(label, scale)] = batch * 1e3 / statistics.median(ms)
    return result
