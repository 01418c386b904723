"""A shuffle-aware ONNX graph for ShuffleNet V1 and V2, written node by node.

``torch.onnx.export`` traces a channel shuffle as Reshape -> Transpose -> Reshape
(plus shape arithmetic when the batch axis is dynamic) and the V2 split as a
further copy. Channel shuffle is a fixed permutation, so this writer never
materialises it as a Transpose:

* **V2, paired** (the default layout, and always for units with SE, a residual or an
  extra depthwise conv): a unit's output is kept as ``(N, C/2, 2H, W)``, rows ``[i, :H]``
  the kept channel ``i`` and rows ``[i, H:]`` the branch output ``i``, which in memory is
  exactly channels ``2i`` and ``2i + 1`` of the shuffled tensor; concat + shuffle is one
  Concat along the height axis, a Reshape reads it back and the next split is one Split.
* **V2, pieces** (``layout="pieces"``): a unit's channels are never gathered into one
  tensor. Each conv that makes channels writes them as *pieces*, one per future consumer:
  the shuffle sends the kept half on unchanged and the next split reads half of every
  earlier output, so channel ``i`` of a unit's output is read by the branch of exactly one
  later unit (or, at the end of a stage, by the next stage), found by following its
  position. A conv that reads channels scattered over pieces is a sum of partial convs, one
  per piece, which ONNX Runtime fuses (NCHWc Conv with a Sum input): no Concat, Split,
  Reshape or layout reorder is left between the stem and the pooling. Pieces are
  zero-padded to at least ``block`` channels, to multiples of it where a depthwise conv
  reads them and of 4 elsewhere, and groups smaller than ``_MIN_PIECE`` share one piece
  that several units read.
* **V1**: a shuffle after a group conv commutes with the channel-wise depthwise
  conv and BN that follow it, so their weights are re-indexed and the
  permutation becomes one Gather applied after the depthwise conv, where a
  stride-2 unit has a quarter of the pixels left to move.

SE blocks (ReduceMean -> Conv -> Relu -> Conv -> Sigmoid -> Mul) and residual V2
units (Add -> Relu before the pairing) are written as they are. ONNX Runtime runs a conv
in its fast blocked (NCHWc) layout only when its channels are multiples of its block (16
floats with AVX-512, 8 with AVX2): branches and pieces are zero-padded for a *target*
(zero weights: the logits do not change), never for the CPU that happens to write the file.

Why paired by default: in a plain ONNX Runtime session it was the faster or equal layout at
batch 1 on every host measured (AVX2 and AVX-512); pieces were up to ~10% faster at batch 8 on
an AVX2 host and slower at batch 1 on an AVX-512 one (``docs/results/deployment.md``, "Layouts").

BN must be folded first (:func:`shufflenet.layers.fuse_conv_bn`); the
result is checked against PyTorch by :func:`shufflenet.export.onnx.export_onnx`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from shufflenet.layers.conv_bn_act import ConvBnAct
from shufflenet.layers.se import SqueezeExcite
from shufflenet.utils.optional import require

__all__ = ["LAYOUTS", "TARGETS", "UnsupportedModel", "channel_block", "write_shuffle_graph"]


#: channels per block of ONNX Runtime's blocked (NCHWc) float layout by target CPU class: 16 floats
#: with AVX-512, 8 with AVX2. "portable" pads to 16, which runs blocked on both (16 is a whole number
#: of 8-blocks): the same file on every host, within the noise of a file padded to 8 on an AVX2 host
#: (docs/results/deployment.md, "Layouts")
TARGETS = {"portable": 16, "avx512": 16, "avx2": 8}

#: how plain V2 units are written (units with SE, a residual or an extra depthwise conv are always paired)
LAYOUTS = ("paired", "pieces")


#: a unit's output channels bound for the same later unit get their own piece if at least this many
#: (fewer would be mostly padding); smaller groups share one piece that each of their readers reads whole
_MIN_PIECE = 12


class UnsupportedModel(ValueError):
    """The model holds a layer the graph writer has no rule for (use the traced export)."""


@dataclass(frozen=True)
class _Value:
    name: str
    chs: int
    hw: tuple[int, int]
    paired: bool = False  # stored as (N, C/2, 2H, W), see the module docstring


@dataclass(frozen=True)
class _Piece:
    """One tensor of a V2 stage: its channel ``j`` is logical channel ``pos[j]`` of the
    (shuffled) stage tensor; -1 marks a zero channel or one already consumed."""

    name: str
    pos: np.ndarray
    hw: tuple[int, int]

    @property
    def chs(self) -> int:
        return len(self.pos)


def _positions(real: int, chs: int) -> np.ndarray:
    """Logical positions of a tensor holding channels ``0..real-1`` and zero channels up to ``chs``."""
    return np.concatenate([np.arange(real), np.full(chs - real, -1)])


class _Writer:
    def __init__(self, opset: int, block: int) -> None:
        import onnx

        self.onnx = onnx
        self.opset = opset
        self.block = block  # channels of the float blocked layout that pieces are padded to (1: no padding)
        self.nodes: list[object] = []
        self.inits: list[object] = []
        self._count = 0

    def _name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, array: np.ndarray | Sequence[int], hint: str) -> str:
        name = self._name(hint)
        arr = np.asarray(array)
        arr = arr.astype(np.int64) if arr.dtype.kind in "iu" else arr.astype(np.float32)
        self.inits.append(self.onnx.numpy_helper.from_array(arr, name))
        return name

    def node(self, op: str, inputs: Sequence[str], n_out: int = 1, name: str | None = None, **attrs: Any) -> list[str]:
        outs = [self._name(op.lower()) for _ in range(n_out)]
        self.nodes.append(self.onnx.helper.make_node(op, list(inputs), outs, name=name, **attrs))
        return outs

    # -- layers -----------------------------------------------------------------
    def conv(
        self, x: _Value, conv: nn.Conv2d, relu: bool, *, perm: np.ndarray | None = None, out_chs: int | None = None
    ) -> _Value:
        """Conv (+ ReLU); ``perm`` re-indexes a depthwise conv's channels (V1, V2 pieces; -1: a zero channel).

        ``x`` may carry zero channels after the conv's real inputs (see :meth:`pad_channels`);
        ``out_chs`` appends zero output channels (zero weights and bias, so they stay zero
        through ReLU and a following depthwise conv).
        """
        x = self.unpair(x)
        depthwise = conv.groups == conv.in_channels == conv.out_channels
        extra_in = x.chs - (conv.in_channels if perm is None else len(perm))
        if extra_in < 0 or (extra_in and conv.groups != 1 and not depthwise):
            raise UnsupportedModel(f"conv expects {conv.in_channels} channels, graph has {x.chs}")
        w, b = _weights(conv)
        if perm is not None:
            keep = (perm >= 0).astype(np.float32)
            w, b = w[perm] * keep[:, None, None, None], b[perm] * keep
        out = x.chs if depthwise else max(out_chs or 0, conv.out_channels)
        w = np.pad(w, ((0, out - w.shape[0]), (0, 0 if depthwise else extra_in), (0, 0), (0, 0)))
        b = np.pad(b, (0, out - b.shape[0]))
        groups = out if depthwise else conv.groups
        if conv.dilation != (1, 1) or conv.padding_mode != "zeros" or isinstance(conv.padding, str):
            raise UnsupportedModel("only undilated convs with numeric zero padding are supported")
        (kh, kw), (sh, sw), (ph, pw) = conv.kernel_size, conv.stride, conv.padding
        (y,) = self.node(
            "Conv", [x.name, self.const(w, "w"), self.const(b, "b")], kernel_shape=[kh, kw], strides=[sh, sw],
            pads=[ph, pw, ph, pw], group=groups,
        )  # fmt: skip
        if relu:
            (y,) = self.node("Relu", [y])
        h, wd = ((x.hw[0] + 2 * ph - kh) // sh + 1, (x.hw[1] + 2 * pw - kw) // sw + 1)
        return _Value(y, out, (h, wd))

    def pad_channels(self, x: _Value, chs: int) -> _Value:
        """Append zero channels up to ``chs``."""
        x = self.unpair(x)
        if chs == x.chs:
            return x
        (y,) = self.node("Pad", [x.name, self.const([0, 0, 0, 0, 0, chs - x.chs, 0, 0], "pads")])
        return _Value(y, chs, x.hw)

    def conv_bn_act(
        self, x: _Value, block: Any, *, perm: np.ndarray | None = None, out_chs: int | None = None
    ) -> _Value:
        return self.conv(x, *_conv_of(block), perm=perm, out_chs=out_chs)

    def pool(self, x: _Value, pool: Any) -> _Value:
        x = self.unpair(x)
        if isinstance(pool, nn.MaxPool2d):
            op, k, s, p = "MaxPool", pool.kernel_size, pool.stride, pool.padding
            extra: dict[str, Any] = {}
        elif isinstance(pool, nn.AvgPool2d):
            op, k, s, p = "AveragePool", pool.kernel_size, pool.stride, pool.padding
            extra = {"count_include_pad": int(pool.count_include_pad)}
            if pool.divisor_override is not None:
                raise UnsupportedModel("AvgPool2d with divisor_override is not supported")
        else:
            raise UnsupportedModel(f"pooling layer {type(pool).__name__} is not supported")
        if getattr(pool, "ceil_mode", False) or getattr(pool, "dilation", 1) not in (1, (1, 1)):
            raise UnsupportedModel("ceil_mode or dilated pooling is not supported")
        k, s, p = (int(v) if isinstance(v, int) else int(v[0]) for v in (k, s, p))
        (y,) = self.node(op, [x.name], kernel_shape=[k, k], strides=[s, s], pads=[p] * 4, **extra)
        return _Value(y, x.chs, ((x.hw[0] + 2 * p - k) // s + 1, (x.hw[1] + 2 * p - k) // s + 1))

    def mean(self, x: _Value, keepdims: bool) -> _Value:
        """Mean over height and width (ReduceMean; its axes became an input in opset 18)."""
        x = self.unpair(x)
        if self.opset >= 18:
            (y,) = self.node("ReduceMean", [x.name, self.const([2, 3], "axes")], keepdims=int(keepdims))
        else:
            (y,) = self.node("ReduceMean", [x.name], axes=[2, 3], keepdims=int(keepdims))
        return _Value(y, x.chs, (1, 1))

    def squeeze_excite(self, x: _Value, se: Any) -> _Value:
        """``x * sigmoid(expand(relu(reduce(mean(x)))))`` (:class:`SqueezeExcite`)."""
        if isinstance(se, nn.Identity):
            return x
        if not isinstance(se, SqueezeExcite):
            raise UnsupportedModel(f"attention block {type(se).__name__} is not supported")
        x = self.unpair(x)
        s = self.conv(self.mean(x, keepdims=True), se.reduce, relu=True)
        s = self.conv(s, se.expand, relu=False)
        (gate,) = self.node("Sigmoid", [s.name])
        (y,) = self.node("Mul", [x.name, gate])
        return _Value(y, x.chs, x.hw)

    # -- the paired layout of V2 ------------------------------------------------
    def reshape(self, x: str, shape: Sequence[int], name: str | None = None) -> str:
        return self.node("Reshape", [x, self.const(list(shape), "shape")], name=name)[0]

    def unpair(self, x: _Value) -> _Value:
        if not x.paired:
            return x
        return _Value(self.reshape(x.name, [0, x.chs, *x.hw]), x.chs, x.hw)

    def pair(self, a: _Value, b: _Value) -> _Value:
        """``channel_shuffle(cat([a, b]), 2)`` as one Concat along the height axis."""
        (y,) = self.node("Concat", [self.unpair(a).name, self.unpair(b).name], axis=2)
        return _Value(y, 2 * a.chs, a.hw, paired=True)

    def split_halves(self, x: _Value) -> tuple[_Value, _Value]:
        """The halves of a (shuffled) tensor: one free view as (N, C, H, W), one Split."""
        x = self.unpair(x)
        a, b = self.node("Split", [x.name, self.const([x.chs // 2] * 2, "split")], 2, axis=1)
        return _Value(a, x.chs // 2, x.hw), _Value(b, x.chs // 2, x.hw)

    # -- the pieces of V2 ---------------------------------------------------------
    def conv1x1(self, terms: Sequence[tuple[_Piece, np.ndarray]], bias: np.ndarray, relu: bool) -> str:
        """A 1x1 conv reading several pieces: one partial conv per piece (weights ``(out, piece.chs)``),
        summed, the bias on the first; ONNX Runtime fuses the sum into its blocked convs."""
        total: str | None = None
        for piece, wp in terms:
            if not wp.any():
                continue
            inputs = [piece.name, self.const(wp[:, :, None, None], "w")]
            if total is None:  # the bias once; the partial convs added to it have none
                inputs.append(self.const(bias, "b"))
            (y,) = self.node("Conv", inputs, kernel_shape=[1, 1])
            total = y if total is None else self.node("Add", [total, y])[0]
        if total is None:
            raise UnsupportedModel("a conv reads none of the pieces")
        if relu:
            (total,) = self.node("Relu", [total])
        return total

    def conv_sum(
        self, pieces: Sequence[_Piece], block: Any, rows: np.ndarray, *, offset: int = 0, align: int | None = None
    ) -> _Piece:
        """Output channels ``rows`` (-1: a zero channel) of a 1x1 conv reading logical channels
        ``offset..offset+in`` held in ``pieces``, zero channels appended up to a multiple of ``align``."""
        conv, relu = _conv_of(block)
        w, b = _pointwise(conv)
        out = _align(len(rows), self.block if align is None else align)
        rows = np.pad(rows, (0, out - len(rows)), constant_values=-1)
        bias = np.where(rows >= 0, b[np.maximum(rows, 0)], 0).astype(np.float32)
        name = self.conv1x1([(p, _piece_weights(p, w, rows, offset)) for p in pieces], bias, relu)
        return _Piece(name, np.where(rows >= 0, np.arange(out), -1), pieces[0].hw)

    def emit(
        self, pieces: Sequence[_Piece], block: Any, positions: np.ndarray, chs: int, remaining: int
    ) -> list[_Piece]:
        """The 1x1 conv that ends a branch, whose output channel ``i`` becomes logical
        channel ``positions[i]`` of a stage tensor of ``chs`` channels: one piece per
        unit that will read it (see :func:`_reader`), small groups merged."""
        readers = np.array([_reader(int(q), chs, remaining) for q in positions])
        groups: list[np.ndarray] = []
        small: list[np.ndarray] = []
        for t in np.unique(readers):
            (rows,) = np.nonzero(readers == t)
            (groups if len(rows) >= _MIN_PIECE else small).append(rows)
        if small:
            groups.append(np.concatenate(small))
        out = []
        for rows in groups:
            # a piece read by the next stage meets its depthwise conv, which stays blocked only in whole
            # blocks; the others need multiples of 4, and at least a block (fewer are read unblocked)
            last = readers[rows].max() > remaining
            align = self.block if last or len(rows) < self.block else min(4, self.block)
            y = self.conv_sum(pieces, block, rows, align=align)
            out.append(_Piece(y.name, np.where(y.pos >= 0, positions[rows][np.maximum(y.pos, 0)], -1), y.hw))
        return out

    def depthwise_pieces(self, pieces: Sequence[_Piece], block: Any) -> list[_Piece]:
        """A depthwise conv works piece by piece (its weights re-indexed to each piece's channels)."""
        out = []
        for p in pieces:
            y = self.conv_bn_act(_Value(p.name, p.chs, p.hw), block, perm=p.pos)
            out.append(_Piece(y.name, p.pos, y.hw))
        return out

    def branch_mid(self, pieces: Sequence[_Piece], unit: Any, offset: int) -> _Piece:
        """First 1x1 conv (a sum over pieces) and depthwise conv of a branch."""
        first, dw, _ = unit.branch
        mid = self.conv_sum(pieces, first, np.arange(_conv_of(first)[0].out_channels), offset=offset)
        y = self.conv_bn_act(_Value(mid.name, mid.chs, mid.hw), dw)
        return _Piece(y.name, mid.pos, y.hw)

    def v2_unit_pieces(self, pieces: list[_Piece], chs: int, unit: Any, remaining: int) -> tuple[list[_Piece], int]:
        """A plain V2 unit on a stage tensor of ``chs`` channels held as ``pieces``;
        ``remaining`` units follow in the stage."""
        if unit.split:
            half = chs // 2
            mid = self.branch_mid([p for p in pieces if (p.pos >= half).any()], unit, half)
            kept = []
            for p in pieces:  # the kept half moves from position p to 2p; the rest was read by the branch
                stays = (p.pos >= 0) & (p.pos < half)
                if stays.any():
                    kept.append(_Piece(p.name, np.where(stays, 2 * p.pos, -1), p.hw))
            return kept + self.emit([mid], unit.branch[2], 2 * np.arange(half) + 1, chs, remaining), chs
        dw, pw = unit.proj
        left_in = self.depthwise_pieces(pieces, dw)
        half = _conv_of(pw)[0].out_channels
        left = self.emit(left_in, pw, 2 * np.arange(half), 2 * half, remaining)
        mid = self.branch_mid(pieces, unit, 0)
        right = self.emit([mid], unit.branch[2], 2 * np.arange(half) + 1, 2 * half, remaining)
        return left + right, 2 * half

    # -- units ------------------------------------------------------------------
    def v2_unit(self, x: _Value, unit: Any) -> _Value:
        if unit.split:
            keep, x = self.split_halves(x)
        else:
            keep = x
            for block in unit.proj:
                keep = self.conv_bn_act(keep, block)
        branch_in = x
        # ONNX Runtime runs a conv in its fast blocked (NCHWc) layout only if its input
        # channels, and a depthwise conv's channels, are multiples of 4; V2 1x's stage 2
        # (58 per branch) misses that, so its branch runs on zero-padded channels
        x = self.pad_channels(x, _align(x.chs))
        last = len(unit.branch) - 1
        for i, block in enumerate(unit.branch):
            x = self.conv_bn_act(x, block, out_chs=None if i == last else _align(block.conv.out_channels))
        x = self.squeeze_excite(x, unit.se)
        if unit.residual:  # the last conv has no ReLU then: add the branch input, then ReLU
            (y,) = self.node("Add", [x.name, branch_in.name])
            (y,) = self.node("Relu", [y])
            x = _Value(y, x.chs, x.hw)
        if keep.chs != x.chs:
            raise UnsupportedModel("a V2 unit must keep as many channels as its branch makes")
        return self.pair(keep, x)

    def v1_unit(self, x: _Value, unit: Any) -> _Value:
        x = self.unpair(x)
        mid = self.conv_bn_act(x, unit.conv1)
        groups = getattr(unit.shuffle, "groups", 1)
        dw = unit.conv3x3.conv
        if groups > 1 and dw.groups != dw.in_channels:
            raise UnsupportedModel("a shuffle can only be moved past a depthwise conv")
        if groups > 1:
            n = mid.chs // groups
            shuffle = np.arange(mid.chs).reshape(groups, n).T.reshape(-1)  # shuffled[k] = mid[shuffle[k]]
            inverse = np.argsort(shuffle)
            mid = self.conv_bn_act(mid, unit.conv3x3, perm=inverse)
            (g,) = self.node("Gather", [mid.name, self.const(shuffle, "shuffle")], axis=1)
            mid = _Value(g, mid.chs, mid.hw)
        else:
            mid = self.conv_bn_act(mid, unit.conv3x3)
        out = self.squeeze_excite(self.conv_bn_act(mid, unit.conv2), unit.se)
        if unit.concat:
            short = self.pool(x, unit.shortcut) if isinstance(unit.shortcut, nn.AvgPool2d) else x
            (y,) = self.node("Concat", [short.name, out.name], axis=1)
            chs = short.chs + out.chs
        else:
            (y,) = self.node("Add", [x.name, out.name])
            chs = out.chs
        (y,) = self.node("Relu", [y])
        return _Value(y, chs, out.hw)


def _reader(pos: int, chs: int, remaining: int) -> int:
    """Which later unit of a stage reads logical channel ``pos`` of a stage tensor of
    ``chs`` channels: 1 = the next (a kept channel moves from ``p`` to ``2p``, a branch
    reads positions ``>= chs / 2``); ``remaining + 1`` = the next stage or the head."""
    t = 1
    while t <= remaining and pos < chs // 2:
        pos, t = 2 * pos, t + 1
    return t


def _pointwise(conv: nn.Conv2d) -> tuple[np.ndarray, np.ndarray]:
    """Weights ``(out, in)`` and bias of a 1x1 conv (only those read channels spread over pieces)."""
    if conv.kernel_size != (1, 1) or conv.stride != (1, 1) or conv.groups != 1:
        raise UnsupportedModel("only 1x1 convs can read channels spread over pieces")
    w, b = _weights(conv)
    return w[:, :, 0, 0], b


def _piece_weights(piece: _Piece, w: np.ndarray, rows: np.ndarray, offset: int) -> np.ndarray:
    """Weights ``(len(rows), piece.chs)`` of the partial conv reading ``piece``: entry ``[k, j]``
    is ``w[rows[k], piece.pos[j] - offset]`` where the row is real (>= 0) and the column in range."""
    cols = piece.pos - offset
    col_ok = (piece.pos >= 0) & (cols >= 0) & (cols < w.shape[1])
    row_ok = rows >= 0
    wp = np.zeros((len(rows), piece.chs), np.float32)
    wp[np.ix_(row_ok, col_ok)] = w[np.ix_(rows[row_ok], cols[col_ok])]
    return wp


def _conv_of(block: Any) -> tuple[nn.Conv2d, bool]:
    """The conv of a BN-folded :class:`ConvBnAct` and whether a ReLU follows it."""
    if not isinstance(block, ConvBnAct):
        raise UnsupportedModel(f"expected a ConvBnAct, got {type(block).__name__}")
    if any(isinstance(m, nn.BatchNorm2d) for m in block.children()):
        raise UnsupportedModel("fold BatchNorm into the convs first (fuse_conv_bn)")
    act = getattr(block, "act", None)
    if act is not None and not isinstance(act, nn.ReLU):
        raise UnsupportedModel(f"activation {type(act).__name__} is not supported")
    return block.conv, act is not None


def _weights(conv: nn.Conv2d) -> tuple[np.ndarray, np.ndarray]:
    w = conv.weight.detach().cpu().numpy()
    return w, (conv.bias.detach().cpu().numpy() if conv.bias is not None else np.zeros(w.shape[0], np.float32))


def _align(chs: int, multiple: int = 4) -> int:
    return -(-chs // multiple) * multiple


def _plain_v2(model: Any) -> bool:
    """Whether every unit is a plain V2 unit (no SE, residual or extra depthwise conv) and a head conv
    follows: only those can be written as pieces; the others are paired."""
    units = [unit for stage in model.stages for unit in stage]
    plain = all(not u.residual and isinstance(u.se, nn.Identity) and len(u.branch) == 3 for u in units)
    return plain and isinstance(model.head_conv, ConvBnAct)


def channel_block(target: str, layout: str = "paired") -> int:
    """Channels that V2 pieces and branches are padded to for ``target`` (see :data:`TARGETS`);
    an unknown target or ``layout`` raises, naming the choices."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; choose from {', '.join(TARGETS)}")
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose from {', '.join(LAYOUTS)}")
    return TARGETS[target]


def write_shuffle_graph(
    model: nn.Module,
    path: str | os.PathLike[str],
    input_shape: Sequence[int],
    opset: int = 18,
    *,
    target: str = "portable",
    layout: str = "paired",
) -> None:
    """Write the shuffle-aware graph of a BN-folded ShuffleNet V1/V2 to ``path``.

    The batch axis is dynamic; height and width are those of ``input_shape``. V2 channels are
    zero-padded for ONNX Runtime's blocked layout of ``target`` (:data:`TARGETS`; never guessed from
    the CPU that writes the file, so every host writes the same file). ``layout``: plain V2 units
    ``paired`` (one Concat and one Split per unit) or in ``pieces`` (no copies, more padding);
    see the module docstring. SE blocks and residual V2 units are written too; raises
    :class:`UnsupportedModel` for anything else (other families, other activations).
    """
    onnx = require("onnx", "onnx")

    from shufflenet.models.shufflenet_v1 import ShuffleNetV1
    from shufflenet.models.shufflenet_v2 import ShuffleNetV2

    block = channel_block(target, layout)
    if not isinstance(model, (ShuffleNetV1, ShuffleNetV2)):
        raise UnsupportedModel(f"{type(model).__name__} is not a ShuffleNet V1/V2")
    if not isinstance(model.drop, (nn.Identity, nn.Dropout)) or not isinstance(model.fc, nn.Linear):
        raise UnsupportedModel("the classifier head must be (dropout +) a linear layer")
    net: Any = model  # a ShuffleNetV1/V2, read by its attributes
    _, c, h, w = (int(d) for d in input_shape)
    g = _Writer(opset, block)
    x = _Value("input", c, (h, w))
    v2 = isinstance(model, ShuffleNetV2)
    real = c
    for layer in net.stem:
        if isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
            x = g.pool(x, layer)
        else:
            # V2's first units read the stem only through convs, so its output may carry zero
            # channels: in whole blocks (24 is not one) the stem conv and max-pool stay blocked,
            # without a reorder to NCHW and back of the largest activation in the network
            # (V1 concatenates the stem output, so it keeps 24)
            x = g.conv_bn_act(x, layer, out_chs=_align(layer.conv.out_channels, g.block) if v2 else None)
            real = layer.conv.out_channels
    if v2 and _plain_v2(net) and layout == "pieces":
        held, chs = [_Piece(x.name, _positions(real, x.chs), x.hw)], real
        for stage in net.stages:
            for k, unit in enumerate(stage):
                held, chs = g.v2_unit_pieces(held, chs, unit, len(stage) - 1 - k)
        head = g.conv_sum(held, net.head_conv, np.arange(net.head_conv.conv.out_channels), align=1)
        x = _Value(head.name, head.chs, head.hw)
    else:
        write_unit = g.v2_unit if v2 else g.v1_unit
        for stage in net.stages:
            for unit in stage:
                x = write_unit(x, unit)
        if not isinstance(net.head_conv, nn.Identity):
            x = g.conv_bn_act(x, net.head_conv)
    # ReduceMean, not GlobalAveragePool + Flatten: ONNX Runtime's blocked-layout global
    # pool was 7x slower than its ReduceMean on the 1024x7x7 features of V2
    flat = g.mean(x, keepdims=False).name
    fc = model.fc
    weight, bias = fc.weight.detach().cpu().numpy(), fc.bias.detach().cpu().numpy()
    g.nodes.append(
        onnx.helper.make_node("Gemm", [flat, g.const(weight, "fc_w"), g.const(bias, "fc_b")], ["logits"], transB=1)
    )
    graph = onnx.helper.make_graph(
        g.nodes,
        "shufflenet",
        [onnx.helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, ["batch", c, h, w])],
        [onnx.helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, ["batch", fc.out_features])],
        g.inits,
    )
    proto = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)])
    proto.producer_name = "shufflenet"
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
