"""Backbones: a classifier's multi-scale feature maps (``create_model(name, features_only=True)``).

timm's convention: the network without its head returns a list of feature maps, one per *level*
(the last module at each stride), and ``feature_info`` says each level's channels and stride, so a
detector's neck (an FPN) is built from data, not from per-family tables. Levels are found by
running the stem and each stage once and reading the output shapes, so every family built of
``stem`` + ``stages`` (ShuffleNet V1/V2 incl. v2*, MobileNet V1/V2, SqueezeNet, the skeletons) gets
the same face without code of its own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["FeatureExtractor", "FeatureInfo"]

#: the side of the probe image the levels are read from (a multiple of every family's total stride)
_PROBE = 256


@dataclass(frozen=True)
class FeatureInfo:
    """One level: its channels, its stride (``reduction``) and the module that produces it."""

    num_chs: int
    reduction: int
    module: str


class FeatureExtractor(nn.Module):
    """``model``'s stem and stages returning the feature maps of ``out_indices`` (levels; negative
    counts from the deepest). State-dict keys are the classifier's (``stem.*``, ``stages.*``), so its
    weights load into the backbone and back."""

    def __init__(self, model: nn.Module, out_indices: Sequence[int] | None = None) -> None:
        super().__init__()
        stem, stages = getattr(model, "stem", None), getattr(model, "stages", None)
        if not isinstance(stem, nn.Module) or not isinstance(stages, nn.Sequential):
            raise ValueError(f"features_only needs a network built of stem and stages (ShuffleNet, MobileNet, "
                             f"SqueezeNet); {type(model).__name__} is not")  # fmt: skip
        self.stem, self.stages = stem, stages
        self.in_chans = int(getattr(model, "in_chans", 3))
        self.pretrained_cfg = getattr(model, "pretrained_cfg", None)
        levels = self._levels()
        if out_indices is None:
            out_indices = range(len(levels))
        picked = []
        for i in out_indices:
            if not -len(levels) <= i < len(levels):
                raise ValueError(f"out_indices {list(out_indices)}: {type(model).__name__} has {len(levels)} levels "
                                 f"(strides {', '.join(str(lv.reduction) for lv in levels)}); use 0..{len(levels) - 1} "
                                 "or negative indices")  # fmt: skip
            picked.append(i % len(levels))
        if sorted(set(picked)) != picked:
            raise ValueError(f"out_indices {list(out_indices)} must name distinct levels, shallow to deep")
        self.out_indices = tuple(picked)
        self.feature_info = [levels[i] for i in picked]
        self._taps = {levels[i].module for i in picked}
        self._last = max(self._position(levels[i].module) for i in picked)

    @staticmethod
    def _position(module: str) -> int:
        return -1 if module == "stem" else int(module.split(".")[1])

    @torch.no_grad()
    def _levels(self) -> list[FeatureInfo]:
        """The last module at each stride, read from one pass of a probe image (in eval mode, so no
        BatchNorm statistics move)."""
        was_training = self.training
        self.eval()
        try:
            device = next(self.parameters()).device
            x = self.stem(torch.zeros(1, self.in_chans, _PROBE, _PROBE, device=device))
            found = {_stride(x): FeatureInfo(x.shape[1], _stride(x), "stem")}
            for i, stage in enumerate(self.stages):
                x = stage(x)
                found[_stride(x)] = FeatureInfo(x.shape[1], _stride(x), f"stages.{i}")  # a later one replaces
        finally:
            self.train(was_training)
        return [found[r] for r in sorted(found)]

    def forward(self, x: Tensor) -> list[Tensor]:
        outs = []
        x = self.stem(x)
        if "stem" in self._taps:
            outs.append(x)
        for i, stage in enumerate(self.stages):
            if i > self._last:  # deeper stages feed no requested level
                break
            x = stage(x)
            if f"stages.{i}" in self._taps:
                outs.append(x)
        return outs


def _stride(x: Tensor) -> int:
    """The nominal stride of a feature map of the probe image (2^k, whatever the padding rounding)."""
    return 2 ** round(math.log2(_PROBE / x.shape[-1]))
