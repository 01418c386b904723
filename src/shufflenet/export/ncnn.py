"""ncnn export with verification: ``MODEL.ncnn.param`` + ``MODEL.ncnn.bin`` (+ ``MODEL.ncnn.json``, the
model's ``pretrained_cfg``, which ncnn's format has no room for), written only if ncnn reproduces PyTorch.

The net is converted by pnnx, ncnn's own PyTorch converter, from our eager model: pnnx folds BN
into the convolutions and writes our channel shuffle as two Reshapes around a permute-free view,
which ran 1.09x faster in ncnn than torchvision's graph, where pnnx writes ncnn's own
ShuffleChannel layer (``docs/results/deployment.md``, "ncnn"). ncnn packs channels in fours (ARM),
eights (AVX2) or sixteens (AVX-512) only where a layer's channel count divides, so V2 1x's branches
(58 channels) ran unpacked: the converted model's branches are zero-padded inside (:func:`_packed_branches`).
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from shufflenet.complexity import check_input_fits
from shufflenet.export.onnx import ExportResult
from shufflenet.export.verify import verify_artifact
from shufflenet.layers.conv_bn_act import ConvBnAct
from shufflenet.layers.fuse import fuse_conv_bn
from shufflenet.runtimes.ncnn import NCNN_SUFFIX, NcnnRunner
from shufflenet.runtimes.sidecar import write_cfg_sidecar
from shufflenet.utils.files import atomic_write, check_output_file
from shufflenet.utils.optional import require
from shufflenet.utils.quiet import quiet_fds

__all__ = ["export_ncnn"]

#: V2 branch channels are zero-padded to a multiple of this inside the branch (8: packed on ARM, AVX2 and
#: AVX-512 alike; 16 was no faster on AVX-512): 1.07-1.09x in ncnn (docs/results/deployment.md, "ncnn")
_BRANCH_MULTIPLE = 8


def _grown(conv: nn.Conv2d, out: int, inp: int) -> nn.Conv2d:
    """``conv`` (with a bias, BN folded) with zero output/input channels appended up to ``out``/``inp``."""
    depthwise = conv.groups == conv.in_channels == conv.out_channels
    kernel, stride, pad = cast(Any, (conv.kernel_size, conv.stride, conv.padding))
    grown = nn.Conv2d(out if depthwise else inp, out, kernel, stride, pad, groups=out if depthwise else conv.groups)
    w, b = conv.weight.detach(), conv.bias.detach() if conv.bias is not None else torch.zeros(conv.out_channels)
    with torch.no_grad():
        grown.weight.zero_()
        grown.weight[: w.shape[0], : w.shape[1]] = w
        grown.bias.zero_()  # type: ignore[union-attr]
        grown.bias[: b.shape[0]] = b  # type: ignore[index]
    return grown


def _packed_branches(model: nn.Module, multiple: int = _BRANCH_MULTIPLE) -> nn.Module:
    """A BN-folded copy of a ShuffleNet V2 whose branches (1x1 -> depthwise -> 1x1) carry zero channels up
    to a multiple of ``multiple`` between their first and last conv (zero weights and biases: the same
    logits); any other model is returned as it is."""
    from shufflenet.models.shufflenet_v2 import ShuffleNetV2

    if not isinstance(model, ShuffleNetV2):
        return model
    fused: Any = fuse_conv_bn(model)
    for unit in (u for stage in fused.stages for u in stage):
        if len(unit.branch) != 3 or not all(isinstance(b, ConvBnAct) for b in unit.branch):
            continue
        first, dw, last = (b.conv for b in unit.branch)
        chs = -(-first.out_channels // multiple) * multiple
        if chs == first.out_channels or not dw.groups == dw.in_channels == first.out_channels:
            continue
        unit.branch[0].conv = _grown(first, chs, first.in_channels)
        unit.branch[1].conv = _grown(dw, chs, chs)
        unit.branch[2].conv = _grown(last, last.out_channels, chs)
    return fused


def export_ncnn(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    input_shape: Sequence[int] = (1, 3, 224, 224),
    images: np.ndarray | None = None,
    atol: float = 1e-3,
) -> ExportResult:
    """Export ``model`` to ncnn at ``path`` (``MODEL.ncnn.param``; the weights go to ``MODEL.ncnn.bin``).

    Verified in float32 against PyTorch on random images and, when given, on ``images`` (normalised,
    N x C x H x W), whose top-1 agreement is reported: a difference above ``atol`` is an error and
    nothing is written.
    """
    pnnx = require("pnnx", "ncnn")
    param = Path(path)
    if not param.name.endswith(NCNN_SUFFIX):
        raise ValueError(f"{param}: an ncnn net is MODEL{NCNN_SUFFIX} (its weights go to MODEL.ncnn.bin); name it so")
    check_output_file(param, "--out")
    reference = model.eval()
    check_input_fits(reference, input_shape)
    with tempfile.TemporaryDirectory() as tmp:
        with quiet_fds():
            pnnx.export(
                _packed_branches(reference), str(Path(tmp) / "m.pt"), torch.randn(1, *input_shape[1:]), fp16=False
            )  # f32 weights; verified against the model as it is below
        made = Path(tmp) / f"m{NCNN_SUFFIX}"
        if not made.is_file():
            raise ValueError(f"pnnx could not convert {type(model).__name__} to ncnn")
        runner = NcnnRunner(made, 1)
        diff, agreement = verify_artifact(reference, runner.run, [torch.randn(2, *input_shape[1:])], "ncnn",
                                          images=images, atol=atol)  # fmt: skip
        text, weights = made.read_text(), made.with_suffix(".bin").read_bytes()
    atomic_write(param.with_suffix(".bin"), lambda t: t.write_bytes(weights))
    write_cfg_sidecar(param, getattr(model, "pretrained_cfg", None))
    atomic_write(param, lambda t: t.write_text(text, encoding="utf-8"))  # last: never without its .bin
    layers = Counter(line.split()[0] for line in text.splitlines()[2:] if line.strip())
    layers.pop("Input", None)
    return ExportResult(param, diff, dict(layers), "pnnx", agreement)
