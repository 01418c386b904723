"""ShuffleNet V2 without a channel shuffle, for runtimes that compute in NHWC (LiteRT, XNNPACK).

A converter from PyTorch to an NHWC runtime writes V2's concat + shuffle + split as a Concat, a
Transpose to NCHW and back around the shuffle's Reshapes, and two Slices: five copies of every
unit's output, where only the branch's half is read by the next conv. In LiteRT that is a third of
torchvision's V2 1x latency (``docs/results/deployment.md``, "LiteRT").

The shuffle is a fixed permutation, so this module never makes it. Each channel a unit produces is
read by the branch of exactly one later unit of its stage (or by the next stage): the last conv of
every branch writes its channels in *groups*, one conv per future reader, and each branch reads the
groups it needs with one Concat along channels, its first 1x1 conv's columns re-indexed to their
order. What is left per unit is one Concat of the half a branch reads: channel-axis ops only, which
the converter maps to NHWC without a Transpose. The logits equal the model's up to float rounding.
OpenVINO runs each branch's last conv faster as one conv whose output is sliced for the readers
(``slices=True``) than as small convs that fill its vectors poorly; XNNPACK, where a channel slice is a
strided copy, the reverse (``docs/results/deployment.md``, fifteenth session).

For ONNX Runtime's blocked (NCHWc) layout (``block``: 8 floats with AVX2, 16 with AVX-512) every tensor
must hold whole blocks, or the op leaves the layout with a reorder on each side: the groups, the branch
interiors and the stem are zero-padded to whole blocks, and small groups of one conv share a block that
each of their readers reads whole (zero columns), whichever costs fewer multiply-adds. That form has no
Split, Reshape or reorder left: ``export_onnx(layout="pieces")`` (``docs/results/deployment.md``, "Layouts").

Only plain V2 units (no SE, residual or extra depthwise conv) are rewritten; BN is folded first.
:func:`nhwc_form` also gives V1 its NHWC form: the stride-2 units' average-pool shortcuts as depthwise convs.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from shufflenet.export._folded import UnsupportedModel, conv_of, grown, plain_v2, round_up, weights
from shufflenet.layers.conv_bn_act import ConvBnAct
from shufflenet.layers.fuse import fuse_conv_bn

__all__ = ["UnshuffledV2", "nhwc_form", "pool_free_v1", "unshuffled_v2"]

#: the most tensors one Concat joins by default: LiteRT's XNNPACK delegate leaves larger ones to
#: LiteRT's own kernels, splitting the graph around each
_MAX_CAT = 5

#: by default a group of fewer channels than this shares a conv with the next reader's group (both read it)
_MIN_GROUP = 8


@dataclass(frozen=True)
class _Group:
    slot: int  # index of the tensor in the forward pass's list
    pos: np.ndarray  # stage position of each of its channels now; -1: already read, no longer needed


class UnshuffledV2(nn.Module):
    """A straight-line program of convs, channel Concats and Adds; built by :func:`unshuffled_v2`."""

    def __init__(
        self,
        stem: nn.Module,
        pool: nn.Module,
        fc: nn.Module,
        max_cat: int | None,
        min_group: int,
        block: int,
        slices: bool = False,
    ) -> None:
        super().__init__()
        self.stem, self.pool, self.fc = stem, pool, fc
        self.max_cat, self.min_group, self.block, self.slices = max_cat, min_group, block, slices  # see unshuffled_v2
        self.convs = nn.ModuleList()
        # step k writes slot k + 1 (slot 0: the stem's output): ("conv", (conv index, input slot)),
        # ("cat", slots), ("add", slots), ("relu", slot) or ("slice", (slot, first channel, end))
        self.steps: list[tuple[str, Any]] = []

    def _step(self, kind: str, arg: Any) -> int:
        self.steps.append((kind, arg))
        return len(self.steps)  # the slot it writes

    def conv(self, src: int, weight: np.ndarray, bias: np.ndarray, like: nn.Conv2d, groups: int = 1) -> int:
        self.convs.append(_conv2d(weight, bias, like, groups))
        return self._step("conv", (len(self.convs) - 1, src))

    def chunks(self, groups: list[_Group]) -> list[_Group]:
        """``groups`` joined into as few tensors as one Concat may join (``max_cat``; None: one)."""
        size = self.max_cat or max(len(groups), 1)
        return [
            _Group(self._step("cat", [g.slot for g in part]) if len(part) > 1 else part[0].slot,
                   np.concatenate([g.pos for g in part]))
            for part in (groups[i : i + size] for i in range(0, len(groups), size))
        ]  # fmt: skip

    def pointwise(self, chunks: list[_Group], w: np.ndarray, b: np.ndarray, like: nn.Conv2d, relu: bool) -> int:
        """The 1x1 conv ``w`` (columns: logical input channels) on channels held in ``chunks``: one conv
        per chunk, summed."""
        partial = [self.conv(c.slot, _columns(w, c.pos), b if i == 0 else np.zeros_like(b), like)
                   for i, c in enumerate(chunks)]  # fmt: skip
        y = partial[0]
        for other in partial[1:]:
            y = self._step("add", [y, other])
        return self._step("relu", y) if relu else y

    def forward(self, x: Tensor) -> Tensor:
        t = [self.stem(x)]
        for kind, arg in self.steps:
            if kind == "conv":
                t.append(self.convs[arg[0]](t[arg[1]]))
            elif kind == "cat":
                t.append(torch.cat([t[s] for s in arg], 1))
            elif kind == "add":
                t.append(t[arg[0]] + t[arg[1]])
            elif kind == "slice":
                t.append(t[arg[0]][:, arg[1] : arg[2]])
            else:
                t.append(torch.relu(t[arg]))
        return self.fc(torch.flatten(self.pool(t[-1]), 1))


def _conv2d(weight: np.ndarray, bias: np.ndarray, like: nn.Conv2d, groups: int = 1) -> nn.Conv2d:
    """A conv with ``like``'s kernel, stride and padding holding ``weight`` and ``bias``."""
    conv = nn.Conv2d(weight.shape[1] * groups, weight.shape[0], like.kernel_size, like.stride, like.padding,  # type: ignore[arg-type]
                     groups=groups)  # fmt: skip
    conv.weight.data = torch.from_numpy(np.ascontiguousarray(weight, dtype=np.float32))
    conv.bias.data = torch.from_numpy(np.ascontiguousarray(bias, dtype=np.float32))  # type: ignore[union-attr]
    return conv


def _columns(w: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """1x1 conv weights ``(out, len(pos), 1, 1)`` for an input whose channel ``j`` is logical input
    ``pos[j]`` (zero columns for channels < 0 or beyond ``w``'s inputs)."""
    ok = (pos >= 0) & (pos < w.shape[1])
    out = np.zeros((w.shape[0], len(pos), *w.shape[2:]), np.float32)
    out[:, ok] = w[:, pos[ok]]
    return out


def _reader(pos: int, chs: int, remaining: int) -> int:
    """Which later unit of a stage reads logical channel ``pos`` of a stage tensor of
    ``chs`` channels: 1 = the next (a kept channel moves from ``p`` to ``2p``, a branch
    reads positions ``>= chs / 2``); ``remaining + 1`` = the next stage or the head."""
    t = 1
    while t <= remaining and pos < chs // 2:
        pos, t = 2 * pos, t + 1
    return t


def _padded(rows: np.ndarray, block: int) -> np.ndarray:
    """``rows`` with -1 (a zero channel) appended up to a whole number of blocks."""
    return np.pad(rows, (0, round_up(len(rows), block) - len(rows)), constant_values=-1)


def _rows(w: np.ndarray, b: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weights and bias of output channels ``rows`` (-1: a zero channel, zero through ReLU)."""
    ok = rows >= 0
    wr, br = np.zeros((len(rows), *w.shape[1:]), np.float32), np.zeros(len(rows), np.float32)
    wr[ok], br[ok] = w[rows[ok]], b[rows[ok]]
    return wr, br


def _partition(sizes: list[int], block: int, min_group: int) -> list[tuple[int, int]]:
    """Runs ``[i, j)`` of consecutive readers' channel groups (``sizes``) that one conv writes together.

    The fewest multiply-adds per pixel and mid channel: a run's channels, padded to whole blocks, are
    written once and read whole by each of its readers; every run holds at least ``min_group`` channels,
    or one run holds them all."""
    m, none = len(sizes), (float("inf"), list[tuple[int, int]]())
    best: list[tuple[float, list[tuple[int, int]]]] = [(0.0, [])]  # the cheapest cut of the first j groups
    for j in range(1, m + 1):
        options = [
            (best[i][0] + round_up(sum(sizes[i:j]), block) * (1 + j - i), [*best[i][1], (i, j)])
            for i in range(j) if best[i] is not none and (sum(sizes[i:j]) >= min_group or (i, j) == (0, m))
        ]  # fmt: skip
        best.append(min(options, key=lambda o: o[0]) if options else none)
    return best[-1][1]


def _emit(
    net: UnshuffledV2, chunks: list[_Group], block: Any, positions: np.ndarray, chs: int, remaining: int
) -> list[_Group]:
    """The 1x1 conv ``block`` on ``chunks``, its output channel ``i`` bound for stage position
    ``positions[i]``: one conv per run of readers (:func:`_partition`), or with ``net.slices`` one conv
    whose output is sliced into the runs."""
    conv, relu = conv_of(block)
    w, b = weights(conv)
    readers = np.array([_reader(int(p), chs, remaining) for p in positions])
    by_reader = [np.flatnonzero(readers == r) for r in np.unique(readers)]
    runs = [_padded(np.concatenate(by_reader[i:j]), net.block)
            for i, j in _partition([len(r) for r in by_reader], net.block, net.min_group)]  # fmt: skip
    if net.slices:
        whole = net.pointwise(chunks, *_rows(w, b, np.concatenate(runs)), conv, relu)
        ends = np.cumsum([0, *map(len, runs)])
        slots = [net._step("slice", (whole, int(a), int(z))) for a, z in zip(ends[:-1], ends[1:])]
    else:
        slots = [net.pointwise(chunks, *_rows(w, b, rows), conv, relu) for rows in runs]
    return [_Group(slot, np.where(rows >= 0, positions[rows], -1)) for slot, rows in zip(slots, runs)]


def _depthwise(net: UnshuffledV2, chunks: list[_Group], block: Any) -> list[_Group]:
    """A depthwise conv on each chunk; a channel nothing reads (< 0: padding, or already read) stays zero,
    so it widens no int8 range."""
    conv, relu = conv_of(block)
    w, b = weights(conv)
    out = []
    for c in chunks:
        y = net.conv(c.slot, *_rows(w, b, c.pos), conv, groups=len(c.pos))
        out.append(_Group(net._step("relu", y) if relu else y, c.pos))
    return out


def _branch_mid(net: UnshuffledV2, chunks: list[_Group], unit: Any) -> list[_Group]:
    """A branch's first 1x1 conv and its depthwise conv, on ``chunks`` (positions relative to the branch)."""
    first, dw, _ = unit.branch
    conv, relu = conv_of(first)
    rows = _padded(np.arange(conv.out_channels), net.block)
    mid = net.pointwise(chunks, *_rows(*weights(conv), rows), conv, relu)
    return _depthwise(net, [_Group(mid, rows)], dw)


def _unit(net: UnshuffledV2, held: list[_Group], chs: int, unit: Any, remaining: int) -> tuple[list[_Group], int]:
    """One V2 unit on a stage tensor of ``chs`` channels held as ``held`` groups; ``remaining`` units
    follow in the stage."""
    if unit.split:
        half = chs // 2
        read = net.chunks([_Group(g.slot, np.where(g.pos >= half, g.pos - half, -1)) for g in held
                           if (g.pos >= half).any()])  # fmt: skip
        mid = _branch_mid(net, read, unit)
        kept = [_Group(g.slot, np.where((g.pos >= 0) & (g.pos < half), 2 * g.pos, -1)) for g in held]
        kept = [g for g in kept if (g.pos >= 0).any()]
        return kept + _emit(net, mid, unit.branch[2], 2 * np.arange(half) + 1, chs, remaining), chs
    every = net.chunks(held)  # a stride-2 unit reads every channel, in both branches
    dw, pw = unit.proj
    half = conv_of(pw)[0].out_channels
    left = _emit(net, _depthwise(net, every, dw), pw, 2 * np.arange(half), 2 * half, remaining)
    right = _emit(net, _branch_mid(net, every, unit), unit.branch[2], 2 * np.arange(half) + 1, 2 * half, remaining)
    return left + right, 2 * half


def unshuffled_v2(
    model: nn.Module,
    *,
    max_cat: int | None = _MAX_CAT,
    min_group: int = _MIN_GROUP,
    block: int = 1,
    slices: bool = False,
) -> UnshuffledV2:
    """``model`` (a plain ShuffleNet V2, any width) as an :class:`UnshuffledV2` with the same logits.

    ``max_cat``: the most tensors one Concat joins (None: no limit; a branch then reads one tensor);
    ``min_group``: the fewest channels one conv of a branch's end writes (smaller groups share a conv);
    ``block``: every tensor zero-padded to whole blocks of this many channels (ONNX Runtime's blocked
    layout; 1: no padding); ``slices``: a branch's last conv is one conv whose output is sliced into its
    groups, rather than a conv per group (a slice cuts a block, so only without padding). The defaults suit
    XNNPACK (ExecuTorch, LiteRT); OpenVINO runs ``max_cat=None, min_group=1, slices=True`` faster
    (``docs/results/deployment.md``, "OpenVINO").
    """
    if slices and block > 1:
        raise ValueError(f"slices cut channel blocks: they need block=1, not {block}")
    from shufflenet.models.shufflenet_v2 import ShuffleNetV2

    if not isinstance(model, ShuffleNetV2) or not plain_v2(model):
        raise UnsupportedModel("only plain ShuffleNet V2 units (no SE, residual or extra depthwise conv) are rewritten")
    if not isinstance(model.drop, (nn.Identity, nn.Dropout)) or not isinstance(model.fc, nn.Linear):
        raise UnsupportedModel("the classifier head must be (dropout +) a linear layer")
    fused: Any = fuse_conv_bn(model)
    net = UnshuffledV2(fused.stem, fused.global_pool, fused.fc, max_cat, min_group, block, slices)
    last = [m for m in fused.stem if isinstance(m, ConvBnAct)][-1]
    chs = last.conv.out_channels
    rows = _padded(np.arange(chs), block)  # the stem in whole blocks too: its conv and max-pool stay blocked
    if len(rows) > chs:
        last.conv = grown(conv_of(last)[0], len(rows), last.conv.in_channels)
    held = [_Group(0, rows)]
    for stage in fused.stages:
        for k, unit in enumerate(stage):
            held, chs = _unit(net, held, chs, unit, len(stage) - 1 - k)
    conv, relu = conv_of(fused.head_conv)
    w, b = weights(conv)
    net.pointwise(net.chunks(held), w, b, conv, relu)
    return net.eval()


def pool_free_v1(model: nn.Module) -> nn.Module | None:
    """A copy of a ShuffleNet V1 whose stride-2 units' shortcut average pools (3x3, stride 2, padding counted)
    are depthwise convs of weight 1/9: the same sums, in an op XNNPACK takes. ExecuTorch left each ``avg_pool2d``
    with padding outside its XNNPACK delegate, in four pieces: V1 g3 1x ran 13.5 ms, 2.7 ms as convs
    (``docs/results/deployment.md``). None for any other model."""
    from shufflenet.models.shufflenet_v1 import ShuffleNetV1

    if not isinstance(model, ShuffleNetV1):
        return None
    net: Any = copy.deepcopy(model).eval()
    for unit in (u for stage in net.stages for u in stage):
        pool = unit.shortcut
        if not isinstance(pool, nn.AvgPool2d) or not pool.count_include_pad or pool.ceil_mode or pool.divisor_override:
            continue
        k, stride, pad = (v if isinstance(v, int) else v[0] for v in (pool.kernel_size, pool.stride, pool.padding))
        chs = unit.conv1.conv.in_channels  # the shortcut pools the unit's input
        conv = nn.Conv2d(chs, chs, k, stride, pad, groups=chs, bias=False).requires_grad_(False)
        conv.weight.fill_(1.0 / (k * k))
        unit.shortcut = conv
    return net


def nhwc_form(model: nn.Module) -> tuple[nn.Module, str]:
    """What an NHWC runtime's converter should get for ``model``, and its name: the shuffle-free form of a
    plain V2 (``"shuffle-free V2"``), a V1 with its shortcut pools as depthwise convs (``"V1, pools as
    convs"``), else the model itself (``"eager model"``)."""
    try:
        return unshuffled_v2(model), "shuffle-free V2"
    except UnsupportedModel:
        pass
    v1 = pool_free_v1(model)
    return (v1, "V1, pools as convs") if v1 is not None else (model.eval(), "eager model")
