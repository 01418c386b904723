"""ShuffleNet V1 (Zhang et al., CVPR 2018): pointwise group convs + channel shuffle.

Variants are data: the stage widths of the paper's Table 1 per group count,
scaled by the width multiplier ``s`` and rounded so that every group conv is
valid. One class reads the table; the registry holds one entry per (g, s).
"""

from __future__ import annotations

import math
from functools import partial

import torch
from torch import Tensor, nn

from shufflenet.layers import RELU, ChannelShuffle, ConvBnAct, SqueezeExcite, pw_group_conv
from shufflenet.models._base import Classifier, build_stages, check_multiplier, make_stem
from shufflenet.models._registry import PaperReference, register_model, width_tag

__all__ = ["ShuffleNetV1", "ShuffleV1Unit", "v1_stage_widths", "v1_stem_chs"]

#: Table 1: output channels of stages 2-4 at 1x, per group count.
STAGE_WIDTHS: dict[int, tuple[int, int, int]] = {
    1: (144, 288, 576),
    2: (200, 400, 800),
    3: (240, 480, 960),
    4: (272, 544, 1088),
    8: (384, 768, 1536),
}
#: Units per stage (the first of each has stride 2); ``shallow`` halves them.
STAGE_REPEATS = (4, 8, 4)
WIDTHS = (0.25, 0.5, 1.0, 1.5, 2.0)


def v1_stage_widths(groups: int, width: float) -> tuple[int, int, int]:
    """Table 1 widths times ``width``, rounded to a multiple of 4g.

    A multiple of 4g keeps the bottleneck (1/4 of the output) divisible by g,
    and, since the stem is a multiple of g too (:func:`v1_stem_chs`), so is the
    ``out - in`` branch of each stride-2 unit.
    """
    if groups not in STAGE_WIDTHS:
        raise ValueError(f"ShuffleNet V1 groups must be one of {sorted(STAGE_WIDTHS)}, got {groups}")
    check_multiplier(width)
    q = 4 * groups
    return tuple(max(q, int(round(c * width / q)) * q) for c in STAGE_WIDTHS[groups])  # type: ignore[return-value]


def v1_stem_chs(groups: int, width: float) -> int:
    """Stem width: 24 at 1x, halved or doubled only at whole octaves of ``width``.

    This is the reference implementation's choice (12 at 0.5x, 24 at 1x and
    1.5x, 48 at 2x) and reproduces the papers' 38M / 292M / 524M; it never goes
    below 12 and is rounded up to a multiple of ``groups`` so that the
    ``out - in`` branch of the first stride-2 unit splits into groups.
    """
    chs = max(12, int(24 * 2 ** math.floor(math.log2(width))))
    return -(-chs // groups) * groups


class ShuffleV1Unit(nn.Module):
    """1x1 GConv -> BN -> ReLU -> shuffle -> 3x3 DWConv -> BN -> 1x1 GConv -> BN, then
    add + ReLU (stride 1) or concat with a 3x3 average-pooled shortcut + ReLU (stride 2).
    A stride-1 unit that widens its input (stage 2 of deep models) concatenates
    the identity instead.

    No ReLU follows the depthwise conv (the paper's choice). ``first_groups`` is
    the group count of the first pointwise conv: 1 in the first unit of stage 2,
    whose 24 input channels are too few to group; the shuffle is then skipped,
    since after a dense conv it is only a relabelling of channels.

    The same bottleneck, re-parameterised, gives the other units of the paper's
    Table 4 on the same skeleton: ``mid_ratio`` (bottleneck = out * ratio),
    ``mid_groups`` (None = depthwise; 1 = dense 3x3 as in ResNet; 16 = ResNeXt's
    cardinality, the bottleneck then rounded to whole groups) and ``mid_act`` (ReLU after the 3x3 conv, as ResNet/ResNeXt do).
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        stride: int,
        groups: int,
        first_groups: int | None = None,
        shuffle: bool = True,
        se: bool = False,
        *,
        mid_ratio: float = 0.25,
        mid_groups: int | None = None,
        mid_act: bool = False,
    ) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        self.concat = stride == 2 or in_chs != out_chs
        if self.concat and out_chs <= in_chs:
            raise ValueError(f"a stride-2 unit must widen its input, got {in_chs} -> {out_chs}")
        first_groups = groups if first_groups is None else first_groups
        mid = int(out_chs * mid_ratio)
        if mid_groups is not None:  # a grouped 3x3 (ResNeXt): round the bottleneck to whole groups
            mid = max(mid_groups, round(mid / mid_groups) * mid_groups)
        branch_out = out_chs - in_chs if self.concat else out_chs
        self.conv1 = pw_group_conv(in_chs, mid, first_groups)
        self.shuffle = ChannelShuffle(groups) if shuffle and first_groups > 1 else nn.Identity()
        self.conv3x3 = ConvBnAct(
            mid, mid, 3, stride, groups=mid if mid_groups is None else mid_groups, act=RELU if mid_act else None
        )
        self.conv2 = pw_group_conv(mid, branch_out, groups, act=None)
        self.se = SqueezeExcite(branch_out) if se else nn.Identity()
        self.shortcut = nn.AvgPool2d(3, 2, 1) if stride == 2 else nn.Identity()
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        out = self.se(self.conv2(self.conv3x3(self.shuffle(self.conv1(x)))))
        if self.concat:
            return self.act(torch.cat((self.shortcut(x), out), dim=1))
        return self.act(x + out)


class ShuffleNetV1(Classifier):
    """ShuffleNet V1 with ``groups`` in {1, 2, 3, 4, 8} and any width multiplier.

    ``stage_widths``/``stage_repeats``/``stage_strides`` override the table
    (width fitting, the deep v1-50); ``shuffle=False`` is the ablation of the paper's Table 3;
    ``shallow`` halves the units of each stage (the 26-layer model of Table 5);
    ``se`` adds squeeze-excitation.
    """

    def __init__(
        self,
        groups: int = 3,
        width: float = 1.0,
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        small_input: bool = False,
        shuffle: bool = True,
        shallow: bool = False,
        se: bool = False,
        stage_widths: tuple[int, ...] | None = None,
        stage_repeats: tuple[int, ...] = STAGE_REPEATS,
        stage_strides: tuple[int, ...] | None = None,
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__(in_chans, num_classes)
        widths = v1_stage_widths(groups, width) if stage_widths is None else tuple(stage_widths)
        repeats = tuple(max(1, r // 2) for r in stage_repeats) if shallow else tuple(stage_repeats)
        self.groups, self.width, self.stage_widths = groups, width, widths
        stem_chs = v1_stem_chs(groups, width)
        self.stem = make_stem(in_chans, stem_chs, small_input)

        def unit(i: int, j: int, cin: int, cout: int, stride: int) -> nn.Module:
            first = 1 if (i == 0 and j == 0) else groups
            return ShuffleV1Unit(cin, cout, stride, groups, first_groups=first, shuffle=shuffle, se=se)

        self.stages = build_stages(stem_chs, widths, repeats, unit, stage_strides)
        self.head_conv = nn.Identity()
        self._init_head(widths[-1], drop_rate)


# Paper figures (ImageNet, 224x224): Table 1 FLOPs at 1x; Tables 3 and 5 errors.
REFERENCES: dict[tuple[int, float], PaperReference] = {
    (1, 1.0): PaperReference("V1 Table 1", flops=143e6),
    (2, 1.0): PaperReference("V1 Table 1", flops=140e6),
    (3, 1.0): PaperReference("V1 Tables 1, 3", flops=137e6, top1=100 - 32.6),
    (4, 1.0): PaperReference("V1 Table 1", flops=133e6),
    (8, 1.0): PaperReference("V1 Tables 1, 3, 5", flops=137e6, top1=100 - 32.4),
    (3, 0.25): PaperReference("V1 Table 3", flops=13e6, top1=100 - 55.0),
    (8, 0.25): PaperReference("V1 Table 3", flops=13e6, top1=100 - 52.7),
    (3, 0.5): PaperReference("V1 Tables 3, 8", flops=38e6, top1=100 - 43.2),
    (4, 0.5): PaperReference("V1 Table 5", flops=38e6, top1=100 - 41.6),
    (8, 0.5): PaperReference("V1 Table 3", flops=38e6, top1=100 - 42.3),
    (3, 1.5): PaperReference("V1 Table 5", flops=292e6, top1=100 - 28.5),
    (3, 2.0): PaperReference("V1 Table 5", flops=524e6, top1=100 - 26.3),
}


def _register() -> None:
    for g in STAGE_WIDTHS:
        for s in WIDTHS:
            register_model(
                f"shufflenet_v1_g{g}_x{width_tag(s)}",
                partial(ShuffleNetV1, g, s),
                family="shufflenet_v1",
                reference=REFERENCES.get((g, s)),
            )


_register()

# The V2 paper's ShuffleNet v1-50 (2.3 GFLOPs): g=3, ResNet-50's 3/4/6/3 units with
# stage 2 at stride 1, widths doubling from 516 (fitted: 2.305 GFLOPs here).
register_model(
    "shufflenet_v1_50",
    partial(
        ShuffleNetV1, 3, stage_widths=(516, 1032, 2064, 4128), stage_repeats=(3, 4, 6, 3), stage_strides=(1, 2, 2, 2)
    ),
    family="shufflenet_v1",
    reference=PaperReference("V2 Table 9", flops=2.3e9, top1=100 - 25.2),
)
