"""ShuffleNet V1 (Zhang et al., CVPR 2018): pointwise group convs + channel shuffle.

Variants are data: the stage widths of the paper's Table 1 per group count,
scaled by the width multiplier ``s`` and rounded so that every group conv is
valid. One class reads the table; the registry holds one entry per (g, s).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from shufflenet.layers import ChannelShuffle, ConvBnAct, SqueezeExcite, pw_group_conv
from shufflenet.models._base import Classifier, make_stem
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
    if width <= 0:
        raise ValueError(f"width multiplier must be > 0, got {width}")
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

    No ReLU follows the depthwise conv (the paper's choice). ``first_groups`` is
    the group count of the first pointwise conv: 1 in the first unit of stage 2,
    whose 24 input channels are too few to group; the shuffle is then skipped,
    since after a dense conv it is only a relabelling of channels.
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
    ) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        if stride == 1 and in_chs != out_chs:
            raise ValueError(f"a stride-1 unit needs in_chs == out_chs, got {in_chs} and {out_chs}")
        if stride == 2 and out_chs <= in_chs:
            raise ValueError(f"a stride-2 unit must widen its input, got {in_chs} -> {out_chs}")
        first_groups = groups if first_groups is None else first_groups
        mid = out_chs // 4
        branch_out = out_chs - in_chs if stride == 2 else out_chs
        self.stride = stride
        self.conv1 = pw_group_conv(in_chs, mid, first_groups)
        self.shuffle = ChannelShuffle(groups) if shuffle and first_groups > 1 else nn.Identity()
        self.dw = ConvBnAct(mid, mid, 3, stride, groups=mid, act=None)
        self.conv2 = pw_group_conv(mid, branch_out, groups, act=None)
        self.se = SqueezeExcite(branch_out) if se else nn.Identity()
        self.shortcut = nn.AvgPool2d(3, 2, 1) if stride == 2 else nn.Identity()
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        out = self.se(self.conv2(self.dw(self.shuffle(self.conv1(x)))))
        if self.stride == 2:
            return self.act(torch.cat((self.shortcut(x), out), dim=1))
        return self.act(x + out)


class ShuffleNetV1(Classifier):
    """ShuffleNet V1 with ``groups`` in {1, 2, 3, 4, 8} and any width multiplier.

    ``stage_widths`` overrides the table (e.g. for width fitting); ``shuffle=False``
    is the ablation of the paper's Table 3; ``shallow`` halves the units of
    stages 2-4 (the 26-layer model of Table 5); ``se`` adds squeeze-excitation.
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
        stage_widths: tuple[int, int, int] | None = None,
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__(in_chans, num_classes)
        widths = v1_stage_widths(groups, width) if stage_widths is None else tuple(stage_widths)
        repeats = tuple(max(1, r // 2) for r in STAGE_REPEATS) if shallow else STAGE_REPEATS
        self.groups, self.width, self.stage_widths = groups, width, widths
        in_chs = v1_stem_chs(groups, width)
        self.stem = make_stem(in_chans, in_chs, small_input)
        stages: list[nn.Module] = []
        for i, (out_chs, n) in enumerate(zip(widths, repeats)):
            units = [
                ShuffleV1Unit(
                    in_chs if j == 0 else out_chs,
                    out_chs,
                    stride=2 if j == 0 else 1,
                    groups=groups,
                    first_groups=1 if (i == 0 and j == 0) else groups,
                    shuffle=shuffle,
                    se=se,
                )
                for j in range(n)
            ]
            stages.append(nn.Sequential(*units))
            in_chs = out_chs
        self.stages = nn.Sequential(*stages)
        self.head_conv = nn.Identity()
        self._init_head(in_chs, drop_rate)


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
                lambda g=g, s=s, **kw: ShuffleNetV1(g, s, **kw),
                family="shufflenet_v1",
                reference=REFERENCES.get((g, s)),
            )


_register()
