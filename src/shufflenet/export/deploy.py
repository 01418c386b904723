"""Inference form of a network for PyTorch eager: BN folded, channels-last, no autograd.

``deploy(model)`` (``model.fuse()``) returns a new module with the same logits:

* every Conv -> BN pair becomes one conv with a bias (:func:`fuse_conv_bn`);
* weights and activations are channels-last (NHWC): oneDNN's convolutions work
  in that layout natively, while NCHW tensors are reordered to a blocked layout
  and back around every conv. The input is converted on entry, so callers keep
  passing ordinary NCHW batches;
* every 1x1 stride-1 ungrouped conv runs as a matrix product on the NHWC view of
  its input (:class:`PointwiseLinear`), which in channels-last is the same memory:
  no copy, and BLAS's sgemm instead of a oneDNN convolution, whose fixed cost per
  call (~50-100 us here) exceeds the arithmetic of most of ShuffleNet's small 1x1
  convs at batch 1 (V2 1x, 2 threads, AVX2, per-round medians of interleaved runs:
  1.38x -> 1.52x and 1.52x -> 1.65x over torchvision eager at batch 1; batch 8
  1.63x -> 1.70x and 2.04x -> 2.00x, unchanged within noise);
* eval mode, gradients off.

ShuffleNet V2's shuffle costs one interleaving copy per unit in either layout
(:func:`shufflenet.layers.concat_shuffle`), the next split being free views.
Measured on a 2-core CPU, batch 1 and 8, ShuffleNet V2 1x: BN folding alone gives
1.0-1.1x over the original model, channels-last another 1.4x; fusing conv + ReLU
into one oneDNN call and replacing the max-pool did not pay once channels-last
(see ``benchmarks/deploy.py`` for the side-by-side figures).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from shufflenet.export.fuse import fuse_conv_bn

__all__ = ["PointwiseLinear", "deploy"]


def _to_channels_last(module: nn.Module, args: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    x, *rest = args
    if isinstance(x, Tensor) and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return (x, *rest)


class PointwiseLinear(nn.Conv2d):
    """A 1x1, stride-1, ungrouped conv computed as ``F.linear`` over the NHWC view of
    its input (a channels-last tensor's own memory), the result viewed back as NCHW
    (channels-last). Same parameters and outputs as the conv it replaces."""

    @classmethod
    def applies_to(cls, conv: nn.Module) -> bool:
        return (
            type(conv) is nn.Conv2d and conv.kernel_size == (1, 1) and conv.stride == (1, 1)
            and conv.padding in ((0, 0), "valid") and conv.dilation == (1, 1) and conv.groups == 1
        )  # fmt: skip

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> PointwiseLinear:
        conv.__class__ = cls  # same parameters and buffers; only forward differs
        return conv  # type: ignore[return-value]

    def forward(self, x: Tensor) -> Tensor:
        y = nn.functional.linear(x.permute(0, 2, 3, 1), self.weight.flatten(1), self.bias)
        return y.permute(0, 3, 1, 2)


def deploy(model: nn.Module) -> nn.Module:
    """The eager inference form of ``model`` (a copy; the original is untouched)."""
    fused = fuse_conv_bn(model)
    for module in fused.modules():
        if PointwiseLinear.applies_to(module):
            PointwiseLinear.from_conv(module)  # type: ignore[arg-type]
    fused.requires_grad_(False)
    fused = fused.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    fused.register_forward_pre_hook(_to_channels_last)
    return fused.eval()
