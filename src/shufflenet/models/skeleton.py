"""The V1 paper's unit comparison (Table 4): other units dropped into ShuffleNet's skeleton.

Same stem (3x3 conv, 24 channels + max-pool), stages 2-4 with 4/8/4 units (the
first of each with stride 2, widths c, 2c, 4c), same head (global pool + FC);
only the unit differs. Stage widths are fitted to a FLOPs budget
(:func:`fit_stage_widths`), so units are compared at equal complexity:
``create_model("skeleton_resnet", flops=38e6)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache, partial

import torch
from torch import Tensor, nn

from shufflenet.complexity import analyze
from shufflenet.layers import ConvBnAct
from shufflenet.models._base import Classifier, build_stages, make_stem
from shufflenet.models._registry import register_model
from shufflenet.models.shufflenet_v1 import STAGE_REPEATS, ShuffleV1Unit

__all__ = ["UNITS", "DenseUnit", "UnitSkeleton", "VGGUnit", "fit_stage_widths", "skeleton_flops"]

STEM_CHS = 24


class VGGUnit(nn.Sequential):
    """Two 3x3 conv + BN + ReLU (the first carries the stride); no shortcut."""

    def __init__(self, in_chs: int, out_chs: int, stride: int) -> None:
        super().__init__(ConvBnAct(in_chs, out_chs, 3, stride), ConvBnAct(out_chs, out_chs, 3))


class DenseUnit(nn.Module):
    """DenseNet-style unit at a fixed width: append k = c/4 new channels, drop the oldest k.

    Each unit's output reaches the next four units directly (DenseNet's feature
    reuse, windowed so the width stays constant, as the skeleton requires);
    1x1 (in -> 2k) then 3x3 (2k -> k). Stride 2: concat the 3x3 average-pooled
    input with out - in new channels, as ShuffleNet does.
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int) -> None:
        super().__init__()
        self.concat = stride == 2 or in_chs != out_chs
        self.growth = out_chs - in_chs if self.concat else out_chs // 4
        self.new = nn.Sequential(
            ConvBnAct(in_chs, 2 * self.growth, 1), ConvBnAct(2 * self.growth, self.growth, 3, stride)
        )
        self.shortcut = nn.AvgPool2d(3, 2, 1) if stride == 2 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        kept = self.shortcut(x) if self.concat else x[:, self.growth :]
        return torch.cat((kept, self.new(x)), 1)


@dataclass(frozen=True)
class UnitSpec:
    """How to build one unit type, and the multiple its stage-2 width must be."""

    make: Callable[[int, int, int, int, int, int], nn.Module]  # (stage, index, in, out, stride, groups)
    quantum: Callable[[int], int]  # groups -> width multiple
    default_widths: tuple[int, int, int]  # fit_stage_widths(unit, 140e6, groups=3), kept as data
    paper_stage4_at_38m: int | None = None


def _bottleneck(**kw: object) -> Callable[[int, int, int, int, int, int], nn.Module]:
    return lambda i, j, cin, cout, s, g: ShuffleV1Unit(cin, cout, s, groups=1, shuffle=False, **kw)  # type: ignore[arg-type]


UNITS: dict[str, UnitSpec] = {
    "vgg": UnitSpec(lambda i, j, cin, cout, s, g: VGGUnit(cin, cout, s), lambda g: 2, (24, 50, 98), 50),
    # ResNet bottleneck, ratio 1:4, dense 3x3 with ReLU.
    "resnet": UnitSpec(_bottleneck(mid_ratio=0.25, mid_groups=1, mid_act=True), lambda g: 4, (96, 200, 396), 192),
    # ResNeXt, cardinality 16, ratio 1:2 (the bottleneck rounded to whole groups of 16).
    "resnext": UnitSpec(_bottleneck(mid_ratio=0.5, mid_groups=16, mid_act=True), lambda g: 4, (92, 188, 376), 192),
    # Xception-like = ShuffleNet unit with g = 1 and no shuffle.
    "xception": UnitSpec(_bottleneck(), lambda g: 4, (144, 284, 564), 288),
    "shufflenet": UnitSpec(
        lambda i, j, cin, cout, s, g: ShuffleV1Unit(cin, cout, s, g, first_groups=1 if i == j == 0 else g),
        lambda g: 4 * g,
        (228, 492, 984),
        576,
    ),
    "densenet": UnitSpec(lambda i, j, cin, cout, s, g: DenseUnit(cin, cout, s), lambda g: 4, (60, 128, 252)),
}


class UnitSkeleton(Classifier):
    """ShuffleNet's skeleton with a chosen unit; widths from ``stage_widths`` or a ``flops`` budget.

    With neither, the widths fitted to 140 MFLOPs (the V1 paper's 1x level) are used.
    """

    def __init__(
        self,
        unit: str,
        *,
        flops: float | None = None,
        stage_widths: tuple[int, int, int] | None = None,
        groups: int = 3,
        num_classes: int = 1000,
        in_chans: int = 3,
        small_input: bool = False,
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__(in_chans, num_classes)
        if unit not in UNITS:
            raise ValueError(f"unknown unit {unit!r}; choose one of {', '.join(UNITS)}")
        if stage_widths is None:
            if flops is None and groups == 3:
                stage_widths = UNITS[unit].default_widths
            else:
                stage_widths = fit_stage_widths(unit, 140e6 if flops is None else flops, groups=groups)
        self.unit, self.groups, self.stage_widths = unit, groups, tuple(stage_widths)
        make = UNITS[unit].make
        self.stem = make_stem(in_chans, STEM_CHS, small_input)
        self.stages = build_stages(
            STEM_CHS, stage_widths, STAGE_REPEATS, lambda i, j, cin, cout, s: make(i, j, cin, cout, s, groups)
        )
        self.head_conv = nn.Identity()
        self._init_head(stage_widths[-1], drop_rate)


def _round_to(x: float, q: int) -> int:
    return max(q, int(round(x / q)) * q)


def _widths(stage4: int, q: int) -> tuple[int, int, int]:
    """Widths halving from stage 4, each rounded to the unit's quantum."""
    return (_round_to(stage4 / 4, q), _round_to(stage4 / 2, q), stage4)


def skeleton_flops(unit: str, stage_widths: tuple[int, int, int], groups: int = 3) -> int:
    """224x224 multiply-adds of a skeleton (built on the meta device: no arithmetic)."""

    with torch.device("meta"):
        model = UnitSkeleton(unit, stage_widths=stage_widths, groups=groups)
    return analyze(model, (1, 3, 224, 224)).flops


def fit_stage_widths(unit: str, flops: float, *, groups: int = 3) -> tuple[int, int, int]:
    """Stage widths (about c, 2c, 4c) whose 224x224 multiply-adds are closest to ``flops``.

    The stage-4 width runs over multiples of the unit's quantum (so every
    grouped conv is valid), stages 3 and 2 are its half and quarter rounded to
    the quantum; FLOPs grow with the width, so a bisection finds the bracketing
    pair, and a last step nudges stages 2 and 3 by one quantum for a closer fit.
    Skeletons too narrow to build (a stride-2 unit must widen its input) count
    as under budget.
    """
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}; choose one of {', '.join(UNITS)}")
    if flops <= 0:
        raise ValueError(f"flops budget must be > 0, got {flops}")
    return _fit_stage_widths(unit, float(flops), groups)  # one cache entry however the caller spells the arguments


@lru_cache(maxsize=256)
def _fit_stage_widths(unit: str, flops: float, groups: int) -> tuple[int, int, int]:
    q = UNITS[unit].quantum(groups)

    @cache  # the last step revisits the bracketing pair; an analysis costs about 0.1 s
    def cost(widths: tuple[int, int, int]) -> float:
        try:
            return skeleton_flops(unit, widths, groups)
        except ValueError:
            if widths[-1] <= 8 * STEM_CHS:  # too narrow to widen stage by stage: under any budget
                return 0.0
            raise

    lo, hi = 1, 2
    while cost(_widths(hi * q, q)) < flops:
        lo, hi = hi, hi * 2
        if hi * q > 1 << 16:
            raise ValueError(f"a {flops:.3g} FLOPs budget is out of reach for the {unit} skeleton")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if cost(_widths(mid * q, q)) < flops else (lo, mid)
    candidates = [
        (w2 + a * q, w3 + b * q, w4)
        for w2, w3, w4 in (_widths(lo * q, q), _widths(hi * q, q))
        for a in (-1, 0, 1)
        for b in (-1, 0, 1)
        if q <= w2 + a * q < w3 + b * q < w4
    ]
    return min(candidates, key=lambda w: abs(cost(w) - flops))


for _unit in UNITS:
    register_model(f"skeleton_{_unit}", partial(UnitSkeleton, _unit), family="skeleton")
