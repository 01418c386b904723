"""Pure per-operator cost functions.

Conventions (those of the ShuffleNet papers, written down once here):

* **FLOPs** are *multiply-adds* of convolutions and fully connected layers.
  Bias adds, BN, activations, pooling and data movement count 0 FLOPs, as in
  the papers' tables. ``torch.utils.flop_counter`` counts 2 FLOPs per
  multiply-add, so its figures are twice ours.
* **MAC** (memory access cost) is the number of tensor *elements* read plus
  written by an operator, weights included, assuming nothing stays in cache
  between operators: for a 1x1 conv that is the V2 paper's G1 formula
  ``hw(c1 + c2) + c1*c2`` (plus the bias, when there is one). In-place ops
  read and write their operand; only an operator's primary output counts as
  written (BN's saved statistics and max-pool's indices serve only the
  backward pass). Multiply by the element size for bytes.
* Costs are for the batch that was analysed; the papers quote batch 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

__all__ = [
    "OpCost",
    "OpType",
    "classify_conv",
    "classify_op",
    "conv_cost",
    "matmul_cost",
    "memory_cost",
]

Shape = Sequence[int]


class OpType(str, Enum):
    """Operator classes used for totals and for runtime breakdowns."""

    CONV1X1 = "conv1x1"
    GROUP_CONV = "group_conv"
    DEPTHWISE = "depthwise"
    DENSE_CONV = "dense_conv"
    LINEAR = "linear"
    ELEMENTWISE = "elementwise"
    DATA_MOVEMENT = "data_movement"
    POOLING = "pooling"
    OTHER = "other"


@dataclass(frozen=True)
class OpCost:
    flops: int
    mac: int


def numel(shape: Shape) -> int:
    return math.prod(shape)


def classify_conv(in_chs: int, out_chs: int, kernel: Shape, groups: int) -> OpType:
    """Depthwise (one group per input channel), 1x1, grouped or dense."""
    if groups > 1 and groups == in_chs and out_chs % in_chs == 0:
        return OpType.DEPTHWISE
    if groups > 1:
        return OpType.GROUP_CONV
    return OpType.CONV1X1 if all(k == 1 for k in kernel) else OpType.DENSE_CONV


_MOVEMENT = {
    "cat", "stack", "clone", "_to_copy", "copy_", "contiguous", "constant_pad_nd", "index_select",
    "gather", "roll", "flip", "repeat", "pixel_shuffle", "pixel_unshuffle", "channel_shuffle",
    "native_channel_shuffle",
}  # fmt: skip
_POOLING = {"mean", "amax", "sum"}
_NORMS = {
    "native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_no_training", "batch_norm",
    "native_layer_norm", "native_group_norm", "_softmax", "_log_softmax",
}  # fmt: skip


def classify_op(name: str, pointwise: bool = False) -> OpType:
    """Class of a non-conv, non-matmul ATen operator from its name (``pointwise``: its ATen tag)."""
    if name in _MOVEMENT:
        return OpType.DATA_MOVEMENT
    if "pool" in name or name in _POOLING:
        return OpType.POOLING
    if pointwise or name in _NORMS:
        return OpType.ELEMENTWISE
    return OpType.OTHER


def conv_cost(
    input_shape: Shape,
    weight_shape: Shape,
    output_shape: Shape,
    bias: bool = False,
    transposed: bool = False,
) -> OpCost:
    """Multiply-adds and MAC of an N-d convolution.

    Every output element of a (non-transposed) conv costs ``prod(weight[1:])``
    multiply-adds (``C_in/g * k_h * k_w``); a transposed conv scatters every
    input element through ``prod(weight[1:])`` weights instead.
    """
    per_element = numel(weight_shape[1:])
    if transposed:
        flops = numel(input_shape) * numel(weight_shape) // input_shape[1]
    else:
        flops = numel(output_shape) * per_element
    weights = numel(weight_shape) + (output_shape[1] if bias else 0)
    return OpCost(flops, numel(input_shape) + weights + numel(output_shape))


def matmul_cost(a_shape: Shape, b_shape: Shape, bias_numel: int = 0) -> OpCost:
    """``(..., m, k) @ (..., k, n)`` (+ bias): ``batch * m * k * n`` multiply-adds."""
    *batch, m, k = a_shape
    n = b_shape[-1]
    out = numel(batch) * m * n
    return OpCost(numel(batch) * m * k * n, numel(a_shape) + numel(b_shape) + bias_numel + out)


def memory_cost(read: Sequence[Shape], written: Sequence[Shape]) -> OpCost:
    """Element-wise, pooling and data-movement ops: no FLOPs, MAC = read + written."""
    return OpCost(0, sum(numel(s) for s in read) + sum(numel(s) for s in written))
