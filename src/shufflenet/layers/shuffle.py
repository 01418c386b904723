"""Channel shuffle and the ShuffleNet V2 merged concat + shuffle + split.

A channel shuffle with ``g`` groups is the paper's reshape (g, C/g) -> transpose
-> flatten. It is a fixed permutation of channels, so it is differentiable and
costs one read and one write of the tensor. Both NCHW-contiguous and
channels-last tensors are handled without an extra layout conversion: for a
channels-last tensor the same permutation is done on its NHWC view, so the
result keeps the input's memory format.

Training in channels-last needs one more thing: autograd's own backward of a
channel slice writes the gradient into NCHW zeros, and the backward of the
interleave hands out channel-strided views. Every ReLU and BatchNorm backward
after them then mixes layouts, which sends PyTorch's element-wise kernels down a
strided path 10-30x slower than the contiguous one (V2 1.5x on Fashion-MNIST
lost ~10% of its training step to it). :func:`split_channels` and
:func:`concat_shuffle` therefore carry backward passes that hand back
contiguous channels-last gradients.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = [
    "ChannelShuffle",
    "channel_shuffle",
    "check_nchw",
    "concat_shuffle",
    "concat_shuffle_split",
    "split_channels",
]


def check_nchw(x: Tensor, what: str = "input") -> None:
    """Raise a ValueError unless ``x`` is a 4-D (N, C, H, W) tensor."""
    if x.dim() != 4:
        raise ValueError(f"{what} must be a 4-D tensor (N, C, H, W), got shape {tuple(x.shape)}")


def _is_channels_last(x: Tensor) -> bool:
    """Channels are the innermost dimension: a channels-last tensor or a channel slice of one
    (V2's split hands such slices to concat_shuffle; judging them NCHW flipped every other
    unit's output to NCHW and made training pay layout conversions in both directions).
    A tensor that is both (e.g. H == W == 1) is treated as NCHW."""
    return x.stride(1) == 1 and x.shape[1] > 1 and not x.is_contiguous()


def _recording_grad(*xs: Tensor) -> bool:
    """Whether a gradient is being recorded for any of ``xs`` outside an exporter's trace
    (exporters know only aten ops, not the custom backward passes below)."""
    return (
        torch.is_grad_enabled()
        and any(x.requires_grad for x in xs)
        and not torch.jit.is_tracing()
        and not torch.onnx.is_in_onnx_export()
    )


class _SplitChannelsLast(torch.autograd.Function):
    """Two channel slices; the backward writes the input's gradient in channels-last."""

    @staticmethod
    def forward(ctx, x: Tensor, at: int) -> tuple[Tensor, Tensor]:
        ctx.shape, ctx.at = x.shape, at
        return x[:, :at], x[:, at:]

    @staticmethod
    def backward(ctx, grad_a: Tensor | None, grad_b: Tensor | None) -> tuple[Tensor, None]:
        like = grad_a if grad_a is not None else grad_b
        assert like is not None  # autograd calls backward only when some output has a gradient
        new = torch.empty if grad_a is not None and grad_b is not None else torch.zeros
        grad = new(ctx.shape, dtype=like.dtype, device=like.device, memory_format=torch.channels_last)  # type: ignore[call-overload]  # the stubs lack memory_format
        if grad_a is not None:
            grad[:, : ctx.at] = grad_a
        if grad_b is not None:
            grad[:, ctx.at :] = grad_b
        return grad, None


class _InterleaveChannelsLast(torch.autograd.Function):
    """``concat_shuffle`` of channels-last tensors; the backward de-interleaves into
    contiguous channels-last gradients (not stride-2 channel views of the output's)."""

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor) -> Tensor:
        return _interleave_nhwc(a, b)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor]:
        n, c2, h, w = grad.shape
        pairs = grad.permute(0, 2, 3, 1).reshape(n, h, w, c2 // 2, 2)
        return pairs[..., 0].contiguous().permute(0, 3, 1, 2), pairs[..., 1].contiguous().permute(0, 3, 1, 2)


def _interleave_nhwc(a: Tensor, b: Tensor) -> Tensor:
    n, c, h, w = a.shape
    pair = torch.stack((a.permute(0, 2, 3, 1), b.permute(0, 2, 3, 1)), dim=4)
    return pair.reshape(n, h, w, 2 * c).permute(0, 3, 1, 2)


def split_channels(x: Tensor, at: int) -> tuple[Tensor, Tensor]:
    """``x[:, :at], x[:, at:]``: ShuffleNet V2's channel split, two views (no copy).

    ``at`` is a Python int, so an exported graph gets two static slices.
    """
    check_nchw(x)
    if not 0 < at < x.shape[1]:
        raise ValueError(f"split_channels: split point {at} must be inside 1..{x.shape[1] - 1}")
    if _is_channels_last(x) and _recording_grad(x):
        return _SplitChannelsLast.apply(x, at)
    return x[:, :at], x[:, at:]


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """Shuffle channels so that each new group holds one channel of every old group.

    Output channel ``i * groups + j`` is input channel ``j * (C // groups) + i``.
    """
    check_nchw(x)
    n, c, h, w = x.shape
    if groups < 1 or c % groups != 0:
        raise ValueError(
            f"channel_shuffle: {c} channels are not divisible by groups={groups}; "
            "use a group count that divides the channel count"
        )
    if groups == 1:
        return x
    if _is_channels_last(x):
        nhwc = x.permute(0, 2, 3, 1).reshape(n, h, w, groups, c // groups)
        return nhwc.transpose(3, 4).reshape(n, h, w, c).permute(0, 3, 1, 2)
    return x.reshape(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


def concat_shuffle(a: Tensor, b: Tensor) -> Tensor:
    """``channel_shuffle(cat([a, b]), 2)`` as a single interleaving copy.

    ShuffleNet V2's guideline G4 asks for concat, shuffle and the next split to
    be one element-wise operation; interleaving writes the output once instead
    of twice (once for the concat, once for the shuffle).
    """
    check_nchw(a, "first input")
    check_nchw(b, "second input")
    if a.shape != b.shape:
        raise ValueError(f"concat_shuffle needs two tensors of equal shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    if _is_channels_last(a):
        if _recording_grad(a, b):
            return _InterleaveChannelsLast.apply(a, b)
        return _interleave_nhwc(a, b)
    # flatten, not reshape(n, 2c, h, w): an exported graph then needs no shape arithmetic
    return torch.stack((a, b), dim=2).flatten(1, 2)


def concat_shuffle_split(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Concat, shuffle with 2 groups and split into halves, as one operation.

    Identical to ``channel_shuffle(torch.cat([a, b], 1), 2).chunk(2, 1)``; the
    split costs nothing because the halves are views of the interleaved tensor.
    """
    return split_channels(concat_shuffle(a, b), a.shape[1])


class ChannelShuffle(nn.Module):
    """Module form of :func:`channel_shuffle`, so it shows up in model summaries."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        if groups < 1:
            raise ValueError(f"ChannelShuffle: groups must be >= 1, got {groups}")
        self.groups = groups

    def forward(self, x: Tensor) -> Tensor:
        return channel_shuffle(x, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"
