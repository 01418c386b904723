"""Inference form of a network for PyTorch eager: BN folded, conv + ReLU as one kernel.

``deploy(model)`` returns a new module with the same logits:

* every Conv -> BN pair becomes one conv with a bias (:func:`fuse_conv_bn`);
* on the CPU, a conv and the ReLU after it run as one oneDNN call
  (``mkldnn._convolution_pointwise``, the kernel ``torch.compile`` itself emits
  for CPU inference), so the activation is applied while the output is still in
  cache instead of by a second pass over memory;
* the module is in eval mode with gradients off.

ShuffleNet V2's shuffle already costs one copy per unit in eager mode (the
interleaving of :func:`shufflenet.layers.concat_shuffle`, the next split being
free views), so the deploy form keeps the model's own forward.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from shufflenet.export.fuse import fuse_conv_bn

__all__ = ["FusedConvReLU", "deploy"]


def _pointwise_kernel_available() -> bool:
    return hasattr(torch.ops, "mkldnn") and hasattr(torch.ops.mkldnn, "_convolution_pointwise")


class FusedConvReLU(nn.Module):
    """``relu(conv2d(x))`` as one oneDNN kernel on the CPU (float32); plain PyTorch elsewhere."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv
        self.args = (list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups)  # type: ignore[arg-type]

    def forward(self, x: Tensor) -> Tensor:
        if x.device.type == "cpu" and x.dtype == torch.float32 and not torch.is_grad_enabled():
            padding, stride, dilation, groups = self.args
            return torch.ops.mkldnn._convolution_pointwise(
                x, self.conv.weight, self.conv.bias, padding, stride, dilation, groups, "relu", [], ""
            )
        return torch.relu(self.conv(x))


def _fuse_relu(model: nn.Module) -> None:
    """Conv then ReLU in a Sequential (BN folded away to an Identity between them) -> one kernel."""
    for module in list(model.modules()):
        if not isinstance(module, nn.Sequential):
            continue
        prev: str | None = None
        for name, child in list(module._modules.items()):
            if isinstance(child, nn.Identity):
                continue
            if isinstance(child, nn.ReLU) and prev is not None:
                module._modules[prev] = FusedConvReLU(module._modules[prev])  # type: ignore[arg-type]
                module._modules[name] = nn.Identity()
                prev = None
                continue
            prev = name if isinstance(child, nn.Conv2d) and child.padding_mode == "zeros" else None


def deploy(model: nn.Module) -> nn.Module:
    """The eager inference form of ``model`` (a copy; the original is untouched)."""
    fused = fuse_conv_bn(model)
    if _pointwise_kernel_available():
        _fuse_relu(fused)
    fused.requires_grad_(False)
    return fused.eval()
