"""Inference form of a network for PyTorch eager: BN folded, channels-last, no autograd.

``deploy(model)`` (``model.fuse()``) returns a new module with the same logits:

* every Conv -> BN pair becomes one conv with a bias (:func:`fuse_conv_bn`);
* weights and activations are channels-last (NHWC): oneDNN's convolutions work
  in that layout natively, while NCHW tensors are reordered to a blocked layout
  and back around every conv. The input is converted on entry, so callers keep
  passing ordinary NCHW batches;
* every 1x1 stride-1 ungrouped conv runs as a matrix product on the NHWC view of
  its input (:class:`shufflenet.layers.PointwiseConv2d`, which our models use from
  the start; its docstring gives why and the measured gain);
* eval mode, gradients off.

ShuffleNet V2's shuffle costs one interleaving copy per unit in either layout
(:func:`shufflenet.layers.concat_shuffle`), the next split being free views.
Fusing conv + ReLU into one oneDNN call and replacing the max-pool were measured
and did not pay once channels-last (``docs/results/deployment.md``).
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from shufflenet.layers.fuse import fuse_conv_bn
from shufflenet.layers.pointwise import PointwiseConv2d

__all__ = ["deploy", "traceable"]


def _to_channels_last(module: nn.Module, args: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    x, *rest = args
    if isinstance(x, Tensor) and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return (x, *rest)


def deploy(model: nn.Module) -> nn.Module:
    """The eager inference form of ``model`` (a copy; the original is untouched)."""
    fused = fuse_conv_bn(model)
    for module in fused.modules():  # ours are built so; other 1x1 convs (SE, torchvision's) are switched here
        if PointwiseConv2d.applies_to(module):
            PointwiseConv2d.from_conv(module)  # type: ignore[arg-type]
    fused.requires_grad_(False)
    fused = fused.to(memory_format=torch.channels_last)
    fused.register_forward_pre_hook(_to_channels_last)
    return fused.eval()


def traceable(model: nn.Module) -> nn.Module:
    """``model`` as an exporter should trace it: float32 on the CPU (the artifacts are float32 files), and
    a :func:`deploy` form back in NCHW without its channels-last entry (XNNPACK's layout pass in ExecuTorch
    rejects that conversion in a graph). A copy where anything changes, else ``model`` itself."""
    hooks = [k for k, hook in model._forward_pre_hooks.items() if hook is _to_channels_last]
    tensors = [*model.parameters(), *model.buffers()]
    other = any(t.is_floating_point() and (t.dtype != torch.float32 or t.device.type != "cpu") for t in tensors)
    if not hooks and not other:
        return model
    plain = copy.deepcopy(model)
    for k in hooks:
        del plain._forward_pre_hooks[k]
    return plain.to(device="cpu", dtype=torch.float32).to(memory_format=torch.contiguous_format)
