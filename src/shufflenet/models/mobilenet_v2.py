"""MobileNet V2 (Sandler et al., 2018): inverted residuals with linear bottlenecks."""

from __future__ import annotations

from functools import partial

from torch import Tensor, nn

from shufflenet.layers import ConvBnAct, make_divisible
from shufflenet.models._base import Classifier, check_multiplier
from shufflenet.models._registry import PaperReference, register_model, width_tag

__all__ = ["InvertedResidual", "MobileNetV2"]

#: (expansion t, output channels c, repeats n, first stride s), the paper's Table 2.
STAGES: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
)  # fmt: skip
STEM_CHS, LAST_CHS = 32, 1280
RELU6 = partial(nn.ReLU6, inplace=True)


class InvertedResidual(nn.Module):
    """1x1 expand (t) -> ReLU6 -> 3x3 depthwise -> ReLU6 -> 1x1 linear projection.

    No activation after the projection (the linear bottleneck); the residual is
    added when the block keeps resolution and width.
    """

    def __init__(self, in_chs: int, out_chs: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = int(round(in_chs * expand))
        self.use_residual = stride == 1 and in_chs == out_chs
        layers: list[nn.Module] = [ConvBnAct(in_chs, hidden, 1, act=RELU6)] if expand != 1 else []
        layers += [
            ConvBnAct(hidden, hidden, 3, stride, groups=hidden, act=RELU6),
            ConvBnAct(hidden, out_chs, 1, act=None),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv(x) if self.use_residual else self.conv(x)


class MobileNetV2(Classifier):
    """Width multiplier ``alpha`` scales every layer (the last only upwards, as in the paper)."""

    def __init__(
        self,
        alpha: float = 1.0,
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        small_input: bool = False,
        drop_rate: float = 0.2,
    ) -> None:
        super().__init__(in_chans, num_classes)
        self.alpha = check_multiplier(alpha, "width multiplier alpha")
        in_chs = make_divisible(STEM_CHS * alpha)
        self.stem = nn.Sequential(ConvBnAct(in_chans, in_chs, 3, stride=1 if small_input else 2, act=RELU6))
        blocks = []
        for t, c, n, s in STAGES:
            out = make_divisible(c * alpha)
            for i in range(n):
                blocks.append(InvertedResidual(in_chs, out, s if i == 0 else 1, t))
                in_chs = out
        self.stages = nn.Sequential(*blocks)
        last = make_divisible(LAST_CHS * max(1.0, alpha))
        self.head_conv = ConvBnAct(in_chs, last, 1, act=RELU6)
        self._init_head(last, drop_rate)


REFERENCES = {1.0: PaperReference("MobileNetV2; SPEC §3", flops=300e6, params=3.4e6, top1=72.0)}

for _alpha in (0.35, 0.5, 0.75, 1.0, 1.4):  # the paper's widths (0.35x: its smallest, ~59M at 224 px)
    register_model(
        f"mobilenet_v2_x{width_tag(_alpha)}",
        partial(MobileNetV2, _alpha),
        family="mobilenet_v2",
        reference=REFERENCES.get(_alpha),
    )
