"""Convolution -> BatchNorm -> activation, the building block of every network here."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from torch import Tensor, nn

from shufflenet.layers.pointwise import PointwiseConv2d

__all__ = ["RELU", "ActLayer", "ConvBnAct", "check_groups", "pw_group_conv"]

ActLayer = Callable[[], nn.Module]
RELU: ActLayer = partial(nn.ReLU, inplace=True)


def check_groups(in_chs: int, out_chs: int, groups: int) -> None:
    """Raise a ValueError naming the problem when a grouped conv cannot be built."""
    if groups < 1:
        raise ValueError(f"groups must be >= 1, got {groups}")
    for what, chs in (("input", in_chs), ("output", out_chs)):
        if chs < 1:
            raise ValueError(f"{what} channels must be >= 1, got {chs}")
        if chs % groups != 0:
            raise ValueError(
                f"{what} channels ({chs}) are not divisible by groups ({groups}); "
                "choose a width or group count so that groups divides the channels"
            )


class ConvBnAct(nn.Sequential):
    """``Conv2d(bias=False) -> BatchNorm2d -> act`` with 'same' padding for odd kernels.

    Kept as an ``nn.Sequential`` with named children (``conv``, ``bn``, ``act``)
    so state-dict keys are stable and BN folding (deployment) finds its pairs.
    ``act=None`` leaves the activation out, as ShuffleNet does after depthwise
    convs and before the residual add.
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        kernel_size: int = 1,
        stride: int = 1,
        groups: int = 1,
        act: ActLayer | None = RELU,
    ) -> None:
        check_groups(in_chs, out_chs, groups)
        super().__init__()
        self.conv = nn.Conv2d(in_chs, out_chs, kernel_size, stride, padding=kernel_size // 2, groups=groups, bias=False)
        if PointwiseConv2d.applies_to(self.conv):  # 1x1 convs run as a matrix product on channels-last CPU tensors
            PointwiseConv2d.from_conv(self.conv)
        self.bn = nn.BatchNorm2d(out_chs)
        if act is not None:
            self.act = act()

    def forward(self, x: Tensor) -> Tensor:
        # oneDNN's bfloat16 depthwise backward is ~9x slower than float32 on CPU
        # (measured: 328 vs 36 ms per V2 1.5x step), so under CPU autocast the
        # depthwise conv and its BN run in float32; pointwise convs stay bfloat16.
        if self._depthwise and x.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
            with torch.autocast("cpu", enabled=False):
                return super().forward(x.float())
        return super().forward(x)

    @property
    def _depthwise(self) -> bool:
        return self.conv.groups > 1 and self.conv.groups == self.conv.in_channels

    @property
    def out_chs(self) -> int:
        return self.conv.out_channels


def pw_group_conv(in_chs: int, out_chs: int, groups: int, act: ActLayer | None = RELU) -> ConvBnAct:
    """Pointwise (1x1) group convolution with BN and optional activation."""
    return ConvBnAct(in_chs, out_chs, 1, groups=groups, act=act)
