"""Inference-time graph simplification in PyTorch: fold BatchNorm into the preceding conv."""

from __future__ import annotations

import copy

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

__all__ = ["fuse_conv_bn"]


def fuse_conv_bn(model: nn.Module, inplace: bool = False) -> nn.Module:
    """Every ``Conv2d`` directly followed by a ``BatchNorm2d`` inside an ``nn.Sequential``
    (our ConvBnAct and torchvision's blocks alike) becomes one conv with a bias.

    The result is for inference: it is returned in eval mode, and its outputs equal
    the original's in eval mode up to float rounding.
    """
    model = model if inplace else copy.deepcopy(model)
    model.eval()
    for module in model.modules():
        if not isinstance(module, nn.Sequential):
            continue
        names = list(module._modules)
        for a, b in zip(names, names[1:]):
            conv, bn = module._modules[a], module._modules[b]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats:
                module._modules[a] = fuse_conv_bn_eval(conv, bn)
                module._modules[b] = nn.Identity()
    return model
