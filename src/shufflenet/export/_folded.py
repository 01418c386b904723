"""Reading and padding a BN-folded ShuffleNet's layers: what the graph writers share (below all of them)."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import torch
from torch import nn

from shufflenet.layers.conv_bn_act import ConvBnAct

__all__ = ["UnsupportedModel", "conv_of", "grown", "plain_v2", "round_up", "weights"]


class UnsupportedModel(ValueError):
    """The model holds a layer the graph writer has no rule for (use the traced export)."""


def conv_of(block: Any) -> tuple[nn.Conv2d, bool]:
    """The conv of a BN-folded :class:`ConvBnAct` and whether a ReLU follows it."""
    if not isinstance(block, ConvBnAct):
        raise UnsupportedModel(f"expected a ConvBnAct, got {type(block).__name__}")
    if any(isinstance(m, nn.BatchNorm2d) for m in block.children()):
        raise UnsupportedModel("fold BatchNorm into the convs first (fuse_conv_bn)")
    act = getattr(block, "act", None)
    if act is not None and not isinstance(act, nn.ReLU):
        raise UnsupportedModel(f"activation {type(act).__name__} is not supported")
    return block.conv, act is not None


def weights(conv: nn.Conv2d) -> tuple[np.ndarray, np.ndarray]:
    """A conv's weights and bias (zeros when it has none) as float32 arrays."""
    w = conv.weight.detach().cpu().numpy()
    return w, (conv.bias.detach().cpu().numpy() if conv.bias is not None else np.zeros(w.shape[0], np.float32))


def plain_v2(model: Any) -> bool:
    """Whether every unit is a plain V2 unit (no SE, residual or extra depthwise conv) and a head conv
    follows: only those can be written without a shuffle."""
    units = [unit for stage in model.stages for unit in stage]
    plain = all(not u.residual and isinstance(u.se, nn.Identity) and len(u.branch) == 3 for u in units)
    return plain and isinstance(model.head_conv, ConvBnAct)


def round_up(n: int, multiple: int) -> int:
    """``n`` rounded up to a whole number of ``multiple`` (channels to whole blocks or packs)."""
    return -(-n // multiple) * multiple


def grown(conv: nn.Conv2d, out: int, inp: int) -> nn.Conv2d:
    """``conv`` (with a bias, BN folded) with zero output/input channels appended up to ``out``/``inp``."""
    depthwise = conv.groups == conv.in_channels == conv.out_channels
    kernel, stride, pad = cast(Any, (conv.kernel_size, conv.stride, conv.padding))
    bigger = nn.Conv2d(out if depthwise else inp, out, kernel, stride, pad, groups=out if depthwise else conv.groups)
    w, b = conv.weight.detach(), conv.bias.detach() if conv.bias is not None else torch.zeros(conv.out_channels)
    with torch.no_grad():
        bigger.weight.zero_()
        bigger.weight[: w.shape[0], : w.shape[1]] = w
        bigger.bias.zero_()  # type: ignore[union-attr]
        bigger.bias[: b.shape[0]] = b  # type: ignore[index]
    return bigger
