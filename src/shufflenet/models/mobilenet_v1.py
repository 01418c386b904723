"""MobileNet V1 (Howard et al., 2017): a plain stack of depthwise separable convs."""

from __future__ import annotations

from functools import partial

from torch import nn

from shufflenet.layers import ConvBnAct, make_divisible
from shufflenet.models._base import Classifier, check_multiplier
from shufflenet.models._registry import PaperReference, register_model, width_tag

__all__ = ["MobileNetV1"]

#: (output channels, stride) of each depthwise separable layer (seed 004's table).
LAYERS: tuple[tuple[int, int], ...] = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
)  # fmt: skip
STEM_CHS = 32


class MobileNetV1(Classifier):
    """Width multiplier ``alpha`` (any float; channels rounded to multiples of 8)."""

    def __init__(
        self,
        alpha: float = 1.0,
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        small_input: bool = False,
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__(in_chans, num_classes)
        self.alpha = check_multiplier(alpha, "width multiplier alpha")
        in_chs = make_divisible(STEM_CHS * alpha)
        # MobileNet has no max-pool: its stem is the stride-2 conv alone.
        self.stem = nn.Sequential(ConvBnAct(in_chans, in_chs, 3, stride=1 if small_input else 2))
        layers = []
        for out, stride in LAYERS:
            out = make_divisible(out * alpha)
            layers.append(nn.Sequential(ConvBnAct(in_chs, in_chs, 3, stride, groups=in_chs), ConvBnAct(in_chs, out, 1)))
            in_chs = out
        self.stages = nn.Sequential(*layers)
        self.head_conv = nn.Identity()
        self._init_head(in_chs, drop_rate)


# MobileNet paper via the ShuffleNet V1 paper's Table 5 and SPEC §3.
REFERENCES = {
    1.0: PaperReference("MobileNet; V1 Table 5", flops=569e6, params=4.2e6, top1=70.6),
    0.75: PaperReference("MobileNet; V1 Table 5", flops=325e6, params=2.6e6, top1=100 - 31.6),
    0.5: PaperReference("MobileNet; V1 Table 5", flops=149e6, params=1.3e6, top1=100 - 36.3),
    0.25: PaperReference("MobileNet; V1 Table 5", flops=41e6, params=0.5e6, top1=100 - 49.4),
}

for _alpha, _ref in REFERENCES.items():
    register_model(
        f"mobilenet_v1_x{width_tag(_alpha)}",
        partial(MobileNetV1, _alpha),
        family="mobilenet_v1",
        reference=_ref,
    )
