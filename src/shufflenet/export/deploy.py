"""Inference form of a network: BN folded, inference mode, shuffle copies removed."""

from __future__ import annotations

from torch import nn

from shufflenet.export.fuse import fuse_conv_bn

__all__ = ["deploy"]


def deploy(model: nn.Module) -> nn.Module:
    return fuse_conv_bn(model)
