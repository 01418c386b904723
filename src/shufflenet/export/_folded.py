"""Reading a BN-folded ShuffleNet's layers: what the graph writers share (below both of them)."""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import nn

from shufflenet.layers.conv_bn_act import ConvBnAct

__all__ = ["UnsupportedModel", "conv_of", "plain_v2", "weights"]


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
