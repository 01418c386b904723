"""A shuffle-aware ONNX graph for ShuffleNet V1 and V2, written node by node.

``torch.onnx.export`` traces a channel shuffle as Reshape -> Transpose -> Reshape
(plus shape arithmetic when the batch axis is dynamic) and the V2 split as a
further copy. Channel shuffle is a fixed permutation, so this writer never
materialises it as a Transpose:

* **V2, paired** (``portable``'s layout, and always for units with SE, a residual or an extra
  depthwise conv): a unit's output is kept as ``(N, C/2, 2H, W)``, rows
  ``[i, :H]`` the kept channel ``i`` and rows ``[i, H:]`` the branch output ``i``, which in memory
  is exactly channels ``2i`` and ``2i + 1`` of the shuffled tensor; concat + shuffle is one
  Concat along the height axis, a Reshape reads it back and the next split is one Split.
* **V2, pieces** (``layout="pieces"``; ``avx2`` and ``avx512`` write V2 1x and 2x so): the shuffle-free program
  of :func:`~shufflenet.export.unshuffled.unshuffled_v2` with every tensor in whole blocks. Each
  conv that ends a branch writes its channels as *pieces*, one per run of later units that read
  them; a branch reads its pieces with one channel Concat. ONNX Runtime keeps every conv and
  Concat in its blocked layout: no Split, Reshape or reorder is left between the stem and the
  pooling, for about 12% more multiply-adds (zero channels) on V2 1x with blocks of 8.
* **V1**: a shuffle after a group conv commutes with the channel-wise depthwise
  conv and BN that follow it, so their weights are re-indexed and the
  permutation becomes one Gather applied after the depthwise conv, where a
  stride-2 unit has a quarter of the pixels left to move.

SE blocks (ReduceMean -> Conv -> Relu -> Conv -> Sigmoid -> Mul) and residual V2
units (Add -> Relu before the pairing) are written as they are. ONNX Runtime runs a conv
in its fast blocked (NCHWc) layout only when its channels are multiples of its block (16
floats with AVX-512, 8 with AVX2): branches and pieces are zero-padded for a *target*
(zero weights: the logits do not change), never for the CPU that happens to write the file.

Which layout by default: paired for ``portable``; for a named CPU class pieces where most units' branches
are not whole blocks of the target (V2 1x and 2x), else paired (V2 0.5x and 1.5x). In plain ONNX Runtime
sessions, timed in short alternating blocks, on an AVX-512 host (blocks of 16), pieces ran V2 1x 1.27-1.37x
torchvision's export at batch 1 against paired's 1.21-1.23x and were ahead on V2 2x, but behind on V2 0.5x
and 1.5x, whose branches in stages 3 and 4 are whole blocks; the pieces' extra multiply-adds (zero
channels: +26%, +11%, +46%, +18%) do not predict it. With blocks of 8 on an AVX2 host pieces were level
with paired or up to 8% ahead on V2 1x. Pieces in 16s on an AVX2 host fell behind paired, so the file meant
for every host stays paired (``docs/results/deployment.md``, "Layouts").

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

from shufflenet.export._folded import UnsupportedModel, conv_of, plain_v2, round_up, weights
from shufflenet.export.unshuffled import UnshuffledV2, unshuffled_v2
from shufflenet.layers.se import SqueezeExcite
from shufflenet.utils.optional import require

__all__ = ["LAYOUTS", "OPSET", "TARGETS", "UnsupportedModel", "channel_block", "write_shuffle_graph"]


#: channels per block of ONNX Runtime's blocked (NCHWc) float layout by target CPU class: 16 floats
#: with AVX-512, 8 with AVX2. A conv runs blocked on channels in 4s, a MaxPool (and a channel Concat)
#: only on whole blocks, so in the paired layout the target pads just the stem (V2's 24 channels to 32
#: for 16) and in pieces every tensor. "portable" pads to 16, which runs blocked on both: the same file
#: on every host, for 3% (batch 1) to 9% (batch 8) behind ``avx2`` on an AVX2 host, where its wider stem
#: conv and max-pool cost the difference (docs/results/deployment.md, ninth and tenth sessions)
TARGETS = {"portable": 16, "avx512": 16, "avx2": 8}

#: the ONNX opset our files are written in unless one is asked for (ONNX Runtime 1.14 and later read it)
OPSET = 18

#: how plain V2 units are written (units with SE, a residual or an extra depthwise conv are always paired)
LAYOUTS = ("paired", "pieces")


@dataclass(frozen=True)
class _Value:
    name: str
    chs: int
    hw: tuple[int, int]
    paired: bool = False  # stored as (N, C/2, 2H, W), see the module docstring


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
        w, b = weights(conv)
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
        return self.conv(x, *conv_of(block), perm=perm, out_chs=out_chs)

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

    # -- the shuffle-free V2 ("pieces") ------------------------------------------
    def program(self, stem: _Value, net: UnshuffledV2) -> _Value:
        """The straight-line program of :func:`~shufflenet.export.unshuffled.unshuffled_v2` after the stem."""
        values = [stem]
        for kind, arg in net.steps:
            if kind == "conv":
                y = self.conv(values[arg[1]], net.convs[arg[0]], relu=False)
            elif kind == "cat":
                ins = [values[i] for i in arg]
                (name,) = self.node("Concat", [v.name for v in ins], axis=1)
                y = _Value(name, sum(v.chs for v in ins), ins[0].hw)
            elif kind in ("add", "relu"):  # of two slots, of one
                ins = [values[i] for i in (arg if kind == "add" else [arg])]
                (name,) = self.node(kind.capitalize(), [v.name for v in ins])
                y = _Value(name, ins[0].chs, ins[0].hw)
            else:  # a slice cuts the blocks this graph keeps whole: never written with block > 1
                raise UnsupportedModel(f"the blocked ONNX graph has no {kind!r} step")
            values.append(y)
        return values[-1]

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
        x = self.pad_channels(x, round_up(x.chs, 4))
        last = len(unit.branch) - 1
        for i, block in enumerate(unit.branch):
            x = self.conv_bn_act(x, block, out_chs=None if i == last else round_up(block.conv.out_channels, 4))
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


def channel_block(target: str, layout: str | None = None) -> int:
    """Channels that V2 pieces and branches are padded to for ``target`` (see :data:`TARGETS`);
    an unknown target or ``layout`` raises, naming the choices."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; choose from {', '.join(TARGETS)}")
    if layout is not None and layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose from {', '.join(LAYOUTS)}")
    return TARGETS[target]


def _pieces(net: Any, target: str, layout: str | None) -> UnshuffledV2 | None:
    """The shuffle-free program a plain V2 is written as for ``target`` and ``layout`` (None: the target's
    choice, see the module docstring), or None where its units are paired."""
    if layout == "paired" or (layout is None and target == "portable") or not plain_v2(net):
        return None
    block = TARGETS[target]
    widths = [unit.branch[-1].conv.out_channels for stage in net.stages for unit in stage]
    if layout is None and 2 * sum(w % block != 0 for w in widths) <= len(widths):
        return None  # most branches are whole blocks: paired was the faster there
    return unshuffled_v2(net, max_cat=None, min_group=1, block=block)


def write_shuffle_graph(
    model: nn.Module,
    path: str | os.PathLike[str],
    input_shape: Sequence[int],
    opset: int = OPSET,
    *,
    target: str = "portable",
    layout: str | None = None,
) -> None:
    """Write the shuffle-aware graph of a BN-folded ShuffleNet V1/V2 to ``path``.

    The batch axis is dynamic; height and width are those of ``input_shape``. V2 channels are
    zero-padded for ONNX Runtime's blocked layout of ``target`` (:data:`TARGETS`; never guessed from
    the CPU that writes the file, so every host writes the same file). ``layout``: plain V2 units
    ``paired`` (one Concat and one Split per unit) or in ``pieces`` (shuffle-free, more padding), or
    None: the target's choice; see the module docstring. SE blocks and residual V2 units are written too; raises
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
    # a plain V2 in pieces: the shuffle-free program, its every tensor in whole blocks (stem included)
    free = _pieces(net, target, layout) if v2 else None
    stem: Any = net.stem if free is None else free.stem
    for layer in stem:
        if isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
            x = g.pool(x, layer)
        else:
            # V2's first units read the stem only through convs, so its output may carry zero
            # channels: in whole blocks (24 is not one) the stem conv and max-pool stay blocked,
            # without a reorder to NCHW and back of the largest activation in the network
            # (V1 concatenates the stem output, so it keeps 24)
            x = g.conv_bn_act(x, layer, out_chs=round_up(layer.conv.out_channels, g.block) if v2 else None)
    if free is not None:
        x = g.program(x, free)
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
