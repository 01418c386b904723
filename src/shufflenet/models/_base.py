"""The face every classifier in the package shows: features, head, classifier reset."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from shufflenet.layers import ConvBnAct, check_nchw, deploy

__all__ = ["Classifier", "UnitFactory", "build_stages", "check_multiplier", "make_stem"]

#: ``(stage_index, unit_index, in_chs, out_chs, stride) -> unit``
UnitFactory = Callable[[int, int, int, int, int], nn.Module]


def check_multiplier(value: float, what: str = "width multiplier") -> float:
    """Width multipliers scale channel counts: only positive values make sense."""
    if not value > 0:
        raise ValueError(f"{what} must be > 0, got {value}")
    return value


def make_stem(in_chans: int, out_chs: int | Sequence[int], small_input: bool) -> nn.Sequential:
    """3x3 conv(s) (the first with stride 2) + 3x3 max-pool (stride 2).

    A sequence of widths gives a deep stem of several 3x3 convs (SENet-style, for
    the very deep SE-ShuffleNet v2-164). The small-input stem keeps 28x28 or
    32x32 images at full resolution into stage 2 (stride-1 conv, no max-pool),
    so stage 4 still sees 4x4 instead of 1x1.
    """
    widths = [out_chs] if isinstance(out_chs, int) else list(out_chs)
    layers: list[nn.Module] = []
    for i, (cin, cout) in enumerate(zip([in_chans, *widths[:-1]], widths)):
        layers.append(ConvBnAct(cin, cout, 3, stride=2 if i == 0 and not small_input else 1))
    if not small_input:
        layers.append(nn.MaxPool2d(3, 2, 1))
    return nn.Sequential(*layers)


def build_stages(
    in_chs: int,
    widths: Sequence[int],
    repeats: Sequence[int],
    make_unit: UnitFactory,
    strides: Sequence[int] | None = None,
) -> nn.Sequential:
    """Stages of units; the first unit of each takes the stage's stride and new width.

    This is the skeleton shared by ShuffleNet V1/V2 and the unit comparisons of
    the V1 paper (Table 4): only the unit differs. ``strides`` defaults to 2 for
    every stage; ResNet-50-like deep models keep stage 2 at stride 1.
    """
    strides = [2] * len(widths) if strides is None else list(strides)
    if not len(widths) == len(repeats) == len(strides):
        raise ValueError(
            f"need one width, repeat and stride per stage: got {len(widths)}, {len(repeats)} and {len(strides)}"
        )
    stages = []
    for i, (out_chs, n, stride) in enumerate(zip(widths, repeats, strides)):
        units = [make_unit(i, j, in_chs if j == 0 else out_chs, out_chs, stride if j == 0 else 1) for j in range(n)]
        stages.append(nn.Sequential(*units))
        in_chs = out_chs
    return nn.Sequential(*stages)


class Classifier(nn.Module):
    """Base class: ``stem -> stages -> head_conv -> global pool -> dropout -> fc``.

    Subclasses build ``stem``, ``stages`` and ``head_conv`` (``nn.Identity`` where
    the network has none) and call :meth:`_init_head`. Global average pooling
    adapts to any resolution (no fixed 7x7 pool).
    """

    stem: nn.Module
    stages: nn.Module
    head_conv: nn.Module

    def __init__(self, in_chans: int, num_classes: int) -> None:
        super().__init__()
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.num_features = 0

    def _init_head(self, num_features: int, drop_rate: float = 0.0) -> None:
        self.num_features = num_features
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(drop_rate) if drop_rate > 0 else nn.Identity()
        self.fc: nn.Module = nn.Linear(num_features, self.num_classes) if self.num_classes > 0 else nn.Identity()
        self._init_weights()

    def _init_weights(self) -> None:
        if next(self.parameters()).is_meta:
            return  # shapes only (analysis): meta tensors hold no values, and their init runs Python decompositions
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def check_input(self, x: Tensor) -> None:
        """Raise a ValueError naming the problem when ``x`` cannot be fed to the model."""
        check_nchw(x)
        if x.shape[1] != self.in_chans:
            raise ValueError(
                f"input has {x.shape[1]} channels but the model takes {self.in_chans} (in_chans={self.in_chans}): "
                f"give it {self.in_chans}-channel images, or build it with in_chans={x.shape[1]} (not pretrained "
                "weights, which fix in_chans)"
            )

    def forward_features(self, x: Tensor) -> Tensor:
        self.check_input(x)
        return self.head_conv(self.stages(self.stem(x)))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.drop(torch.flatten(self.global_pool(x), 1))
        return x if pre_logits else self.fc(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def fuse(self) -> nn.Module:
        """The fastest eager form of this network for inference (a new module, same logits).

        BN is folded into the convs and the layout is channels-last (see
        :mod:`shufflenet.layers.deploy`). The original model is left untouched.
        """
        return deploy(self)

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the final layer (e.g. for fine-tuning); 0 leaves pooled features."""
        if num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {num_classes}")
        self.num_classes = num_classes
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
