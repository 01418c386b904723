"""ShuffleNet V2 (Ma et al., ECCV 2018): channel split, equal widths, one merged
concat + shuffle + split per unit (guideline G4).

Variants are the stage widths of the paper's Table 5; the options add SE, a
residual path (for very deep nets) and the v2* extra depthwise conv.
"""

from __future__ import annotations

from functools import partial

from torch import Tensor, nn

from shufflenet.layers import RELU, ConvBnAct, SqueezeExcite, concat_shuffle, split_channels
from shufflenet.models._base import Classifier, build_stages, make_stem
from shufflenet.models._registry import PaperReference, register_model, width_tag

__all__ = ["ShuffleNetV2", "ShuffleV2Unit"]

#: Table 5: output channels of stages 2-4 and of Conv5, per width.
STAGE_WIDTHS: dict[float, tuple[int, int, int, int]] = {
    0.5: (48, 96, 192, 1024),
    1.0: (116, 232, 464, 1024),
    1.5: (176, 352, 704, 1024),
    2.0: (244, 488, 976, 2048),
}
STAGE_REPEATS = (4, 8, 4)
STEM_CHS = 24


class ShuffleV2Unit(nn.Module):
    """Stride 1: split channels in half, transform one half, concat + shuffle.
    Stride 2: no split; both branches see the whole input and halve the resolution
    (a stride-1 unit that changes the width, stage 2 of deep models, does the same
    at full resolution).

    Branch: [3x3 DW (v2*)] -> 1x1 conv -> BN -> ReLU -> 3x3 DW -> BN -> 1x1 conv
    -> BN -> ReLU. The concat and channel shuffle are one interleaving copy
    (:func:`concat_shuffle`); the next unit's split is a free view.
    ``residual`` adds the branch input back (stride-1 units) before the last ReLU.
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        stride: int,
        *,
        se: bool = False,
        residual: bool = False,
        extra_dw: bool = False,
    ) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, got {stride}")
        if out_chs % 2:
            raise ValueError(f"a ShuffleNet V2 unit needs an even number of output channels, got {out_chs}")
        self.split = stride == 1 and in_chs == out_chs
        self.split_at = in_chs // 2  # a constant, so the split exports as two static slices
        self.residual = residual and self.split
        half = out_chs // 2
        branch_in = in_chs // 2 if self.split else in_chs
        if not self.split:
            self.proj = nn.Sequential(
                ConvBnAct(in_chs, in_chs, 3, stride, groups=in_chs, act=None),
                ConvBnAct(in_chs, half, 1),
            )
        layers: list[nn.Module] = []
        if extra_dw:
            layers.append(ConvBnAct(branch_in, branch_in, 3, groups=branch_in, act=None))
        layers += [
            ConvBnAct(branch_in, half, 1),
            ConvBnAct(half, half, 3, stride, groups=half, act=None),
            ConvBnAct(half, half, 1, act=None if self.residual else RELU),
        ]
        self.branch = nn.Sequential(*layers)
        self.se = SqueezeExcite(half) if se else nn.Identity()
        self.act = nn.ReLU(inplace=True) if self.residual else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        if self.split:
            keep, x = split_channels(x, self.split_at)
        else:
            keep = self.proj(x)
        out = self.se(self.branch(x))
        if self.residual:
            out = self.act(out + x)
        return concat_shuffle(keep, out)


class ShuffleNetV2(Classifier):
    """ShuffleNet V2 at widths 0.5x, 1x, 1.5x, 2x (or explicit ``stage_widths``)."""

    def __init__(
        self,
        width: float = 1.0,
        *,
        num_classes: int = 1000,
        in_chans: int = 3,
        small_input: bool = False,
        se: bool = False,
        residual: bool = False,
        extra_dw: bool = False,
        stage_widths: tuple[int, ...] | None = None,
        stage_repeats: tuple[int, ...] = STAGE_REPEATS,
        stage_strides: tuple[int, ...] | None = None,
        stem_chs: int | tuple[int, ...] = STEM_CHS,
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__(in_chans, num_classes)
        if stage_widths is None:
            if width not in STAGE_WIDTHS:
                raise ValueError(
                    f"ShuffleNet V2 width must be one of {sorted(STAGE_WIDTHS)} (or pass stage_widths), got {width}"
                )
            stage_widths = STAGE_WIDTHS[width]
        *widths, final_chs = stage_widths
        if len(widths) != len(stage_repeats):
            raise ValueError(
                f"stage_widths needs one width per stage plus Conv5 ({len(stage_repeats) + 1} values), "
                f"got {len(stage_widths)}"
            )
        self.width, self.stage_widths = width, tuple(stage_widths)
        self.stem = make_stem(in_chans, stem_chs, small_input)

        def unit(i: int, j: int, cin: int, cout: int, stride: int) -> nn.Module:
            return ShuffleV2Unit(cin, cout, stride, se=se, residual=residual, extra_dw=extra_dw)

        last_stem = stem_chs if isinstance(stem_chs, int) else stem_chs[-1]
        self.stages = build_stages(last_stem, widths, stage_repeats, unit, stage_strides)
        self.head_conv = ConvBnAct(widths[-1], final_chs, 1)
        self._init_head(final_chs, drop_rate)


# Table 5 (FLOPs, weights) and Table 8 (classification error) of the V2 paper.
REFERENCES: dict[float, PaperReference] = {
    0.5: PaperReference("V2 Tables 5, 8", flops=41e6, params=1.4e6, top1=100 - 39.7),
    1.0: PaperReference("V2 Tables 5, 8", flops=146e6, params=2.3e6, top1=100 - 30.6),
    1.5: PaperReference("V2 Tables 5, 8", flops=299e6, params=3.5e6, top1=100 - 27.4),
    2.0: PaperReference("V2 Tables 5, 8", flops=591e6, params=7.4e6, top1=100 - 25.1),
}


def _register() -> None:
    for s, ref in REFERENCES.items():
        register_model(
            f"shufflenet_v2_x{width_tag(s)}",
            partial(ShuffleNetV2, s),
            family="shufflenet_v2",
            reference=ref,
        )


_register()


# The V2 paper's large models (its appendix): ResNet-50-like stage layout, stage 2
# at stride 1 (56x56). v2-50: 2.30 GFLOPs here vs 2.3G; SE-v2-164 (residual, SE,
# SENet's 3-conv stem): 12.55G here vs 12.7G.
register_model(
    "shufflenet_v2_50",
    partial(
        ShuffleNetV2,
        stage_widths=(244, 488, 976, 1952, 2048),
        stage_repeats=(3, 4, 6, 3),
        stage_strides=(1, 2, 2, 2),
        stem_chs=64,
    ),  # fmt: skip
    family="shufflenet_v2",
    reference=PaperReference("V2 Table 9", flops=2.3e9, top1=100 - 22.8),
)
register_model(
    "se_shufflenet_v2_164",
    partial(
        ShuffleNetV2,
        stage_widths=(340, 680, 1360, 2720, 2048),
        stage_repeats=(10, 10, 23, 10),
        stage_strides=(1, 2, 2, 2),
        stem_chs=(64, 64, 128),
        se=True,
        residual=True,
    ),  # fmt: skip
    family="shufflenet_v2",
    reference=PaperReference("V2 Table 9", flops=12.7e9, top1=100 - 18.56),
)
