"""Inference form of a network for PyTorch eager: BN folded, conv + ReLU as one kernel.

``deploy(model)`` returns a new module with the same logits:

* every Conv -> BN pair becomes one conv with a bias (:func:`fuse_conv_bn`);
* on the CPU, a conv and the ReLU after it run as one oneDNN call
  (``mkldnn._convolution_pointwise``, the kernel ``torch.compile`` itself emits
  for CPU inference), so the activation is applied while the output is still in
  cache instead of by a second pass over memory;
* max-pooling runs as separable strided element-wise maxima (:class:`StridedMaxPool2d`);
* the module is in eval mode with gradients off.

ShuffleNet V2's shuffle already costs one copy per unit in eager mode (the
interleaving of :func:`shufflenet.layers.concat_shuffle`, the next split being
free views), so the deploy form keeps the model's own forward.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from shufflenet.export.fuse import fuse_conv_bn

__all__ = ["FusedConvReLU", "StridedMaxPool2d", "deploy"]


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


class StridedMaxPool2d(nn.Module):
    """Max-pooling as running maxima of strided views of the padded input (separably).

    PyTorch's CPU ``max_pool2d`` on an NCHW float tensor computes indices it then
    drops and is slow for the 3x3/2 stem pool of ShuffleNet (measured: a fifth of
    V2 1x's eager time at batch 1); four element-wise maxima give the same values.
    """

    def __init__(self, pool: nn.MaxPool2d) -> None:
        super().__init__()
        k, s, p = (v if isinstance(v, int) else v[0] for v in (pool.kernel_size, pool.stride, pool.padding))
        self.kernel, self.stride, self.padding = int(k), int(s), int(p)

    @staticmethod
    def supports(pool: nn.Module) -> bool:
        def square(v: object) -> bool:
            return isinstance(v, int) or (isinstance(v, tuple) and len(set(v)) == 1)

        return (
            isinstance(pool, nn.MaxPool2d) and not pool.ceil_mode and not pool.return_indices
            and pool.dilation in (1, (1, 1)) and pool.stride is not None
            and all(square(v) for v in (pool.kernel_size, pool.stride, pool.padding))
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        k, s, p = self.kernel, self.stride, self.padding
        ho, wo = (x.shape[-2] + 2 * p - k) // s + 1, (x.shape[-1] + 2 * p - k) // s + 1
        padded = nn.functional.pad(x, (p, p, p, p), value=float("-inf")) if p else x
        # separable: the maximum over columns, then over rows (2(k-1) maxima instead of k*k-1)
        rows = padded[..., 0 : s * (wo - 1) + 1 : s].clone()
        for j in range(1, k):
            torch.maximum(rows, padded[..., j : j + s * (wo - 1) + 1 : s], out=rows)
        out = rows[..., 0 : s * (ho - 1) + 1 : s, :].clone()
        for i in range(1, k):
            torch.maximum(out, rows[..., i : i + s * (ho - 1) + 1 : s, :], out=out)
        return out


def _fast_pools(model: nn.Module) -> None:
    for module in list(model.modules()):
        for name, child in list(module._modules.items()):
            if child is not None and StridedMaxPool2d.supports(child):
                module._modules[name] = StridedMaxPool2d(child)  # type: ignore[arg-type]


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
    _fast_pools(fused)
    fused.requires_grad_(False)
    return fused.eval()
