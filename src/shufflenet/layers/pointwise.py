"""A 1x1 convolution computed as a matrix product where that is cheaper.

A 1x1, stride-1, ungrouped conv over a tensor whose channels are innermost in
memory (channels-last, or a channel slice of one such as V2's split halves) is
exactly ``F.linear`` over the NHWC view of the same memory: no copy, and one BLAS
sgemm instead of a oneDNN convolution. oneDNN's call costs ~50-100 us on a CPU
before any arithmetic (primitive lookup, layout checks, and a copy of a
non-contiguous slice), which is more than most of ShuffleNet's small 1x1 convs
need at batch 1 (the gains measured: ``docs/results/deployment.md``, ``docs/results/training.md``).

The conv path is kept for NCHW inputs, off the CPU (cuDNN is tuned for convs),
under CPU autocast (oneDNN's bfloat16 1x1 convs are much faster than float32 on
CPUs with AVX-512 BF16; the matrix product's bfloat16 path is not), and while a
graph is traced or exported, so that exported files keep one Conv node per conv.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["PointwiseConv2d"]


class PointwiseConv2d(nn.Conv2d):
    """``nn.Conv2d`` with a 1x1 kernel whose forward is a matrix product on the NHWC
    view of channels-innermost CPU inputs. Same parameters, state dict and outputs."""

    @staticmethod
    def applies_to(conv: nn.Module) -> bool:
        """Whether ``conv`` is a plain 1x1, stride-1, ungrouped, unpadded ``nn.Conv2d`` (or already one of these)."""
        return bool(
            type(conv) in (nn.Conv2d, PointwiseConv2d) and conv.kernel_size == (1, 1) and conv.stride == (1, 1)
            and conv.padding in ((0, 0), "valid") and conv.dilation == (1, 1) and conv.groups == 1
        )  # fmt: skip

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> PointwiseConv2d:
        """``conv`` itself, its forward now this class's (parameters and hooks untouched)."""
        if not cls.applies_to(conv):
            raise ValueError(f"{conv} is not a 1x1, stride-1, ungrouped, unpadded conv")
        conv.__class__ = cls
        return conv  # type: ignore[return-value]

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.stride(1) != 1 or x.device.type != "cpu" or torch.is_autocast_enabled("cpu") or _tracing():
            return super().forward(x)
        y = nn.functional.linear(x.permute(0, 2, 3, 1), _matrix(self.weight), self.bias)
        return y.permute(0, 3, 1, 2)


def _matrix(weight: Tensor) -> Tensor:
    """The ``(out, in)`` view of a 1x1 kernel whose backward hands the gradient back in the kernel's own
    strides. Both memory formats of a 1x1 kernel are the same memory but not the same strides, and
    ``DistributedDataParallel`` copies (and warns about) every gradient whose strides differ from its
    parameter's: a channels-last kernel (strides ``(in, 1, in, in)``) is read through its NHWC view."""
    return weight.permute(0, 2, 3, 1).flatten(1) if weight.stride(-1) != 1 else weight.flatten(1)


def _tracing() -> bool:
    return torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or torch.compiler.is_exporting()
