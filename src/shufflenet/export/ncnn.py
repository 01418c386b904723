"""ncnn export with verification: ``MODEL.ncnn.param`` + ``MODEL.ncnn.bin`` (+ ``MODEL.ncnn.json``, the
model's ``pretrained_cfg``, which ncnn's format has no room for), written only if ncnn reproduces PyTorch.

The net is converted by pnnx, ncnn's own PyTorch converter, from our eager model: pnnx folds BN
into the convolutions and writes our channel shuffle as two Reshapes around a permute-free view,
which ran 1.09x faster in ncnn than torchvision's graph, where pnnx writes ncnn's own
ShuffleChannel layer (``docs/results/deployment.md``, "ncnn"). ncnn packs channels in fours (ARM),
eights (AVX2) or sixteens (AVX-512) only where a layer's channel count divides, so V2 1x's branches
(58 channels) ran unpacked: the converted model's branches are zero-padded inside (:func:`_packed_branches`).

int8 (``calibration`` given): ncnn's own int8 format, written from pnnx's float net as ncnn's ``ncnn2int8`` tool
would (:func:`_int8_net`): every plain and depthwise convolution's weights in int8 with one scale per output
channel (grouped convs stay float32: :func:`_quantised`), and the scale of its input from the largest magnitude
that input reaches on the calibration images; ncnn quantises each conv's input, computes in int8 and returns
float32. The classifier stays float32. Shipped V2 1x Fashion-MNIST weights: both files 3.71x smaller, top-1
93.99% (float 93.97%) (``docs/results/deployment.md``, "int8").
"""

from __future__ import annotations

import os
import struct
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from shufflenet.export._folded import grown, round_up
from shufflenet.export.onnx import ExportResult
from shufflenet.export.verify import exportable, verify_artifact
from shufflenet.layers.conv_bn_act import ConvBnAct
from shufflenet.layers.fuse import fuse_conv_bn
from shufflenet.runtimes.ncnn import NCNN_SUFFIX, NcnnRunner
from shufflenet.runtimes.sidecar import write_cfg_sidecar
from shufflenet.utils.files import atomic_write, check_artifact_name, check_output_file
from shufflenet.utils.optional import require
from shufflenet.utils.quiet import quiet_fds

__all__ = ["export_ncnn", "is_int8_param"]

#: V2 branch channels are zero-padded to a multiple of this inside the branch (8: packed on ARM, AVX2 and
#: AVX-512 alike; 16 was no faster on AVX-512): 1.07-1.09x in ncnn (docs/results/deployment.md, "ncnn")
_BRANCH_MULTIPLE = 8


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
        chs = round_up(first.out_channels, multiple)
        if chs == first.out_channels or not dw.groups == dw.in_channels == first.out_channels:
            continue
        unit.branch[0].conv = grown(first, chs, first.in_channels)
        unit.branch[1].conv = grown(dw, chs, chs)
        unit.branch[2].conv = grown(last, last.out_channels, chs)
    return fused


class _Root(nn.Module):
    """A model under one named attribute. pnnx names the attributes of the Python module it writes (and
    imports again) after module paths with dots as underscores, so the children of an ``nn.Sequential``
    (``0.0`` -> ``self.0_0``) make it invalid Python and the conversion fails; under ``net`` every path
    is a name."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


#: ncnn's .bin tag before a layer's weights stored as int8 (raw float32 has tag 0)
_INT8_TAG = 0x000D4B38
#: layers whose weights pnnx writes: (key of the weight count, key of bias_term)
_WEIGHTED = {"Convolution": ("6", "5"), "ConvolutionDepthWise": ("6", "5"), "InnerProduct": ("2", "1")}


@dataclass
class _Layer:
    kind: str
    name: str
    ins: list[str]
    outs: list[str]
    params: dict[str, str]  # ncnn's key=value pairs, as written

    def line(self) -> str:
        blobs = " ".join(self.ins + self.outs)
        return f"{self.kind:<24} {self.name:<24} {len(self.ins)} {len(self.outs)} {blobs} " + " ".join(
            f"{k}={v}" for k, v in self.params.items()
        )


def _parse_param(text: str) -> list[_Layer]:
    layers = []
    for line in filter(str.strip, text.splitlines()[2:]):
        kind, name, n_in, n_out, *rest = line.split()
        blobs, pairs = rest[: int(n_in) + int(n_out)], rest[int(n_in) + int(n_out) :]
        layers.append(_Layer(kind, name, blobs[: int(n_in)], blobs[int(n_in) :], dict(p.split("=", 1) for p in pairs)))
    return layers


#: layers whose param 8 is ncnn's int8_scale_term (non-zero: int8 weights and a scale for the input)
_INT8_SCALED = ("Convolution", "ConvolutionDepthWise", "InnerProduct")


def is_int8_param(text: str) -> bool:
    """Whether an ncnn ``.param`` text describes an int8 net (ours or ``ncnn2int8``'s)."""
    return any(la.kind in _INT8_SCALED and la.params.get("8", "0") != "0" for la in _parse_param(text))


def _read_weights(layers: list[_Layer], data: bytes) -> list[tuple[np.ndarray, np.ndarray | None] | None]:
    """Each layer's (weights, bias) from pnnx's float32 .bin (None for a layer without weights)."""
    out: list[tuple[np.ndarray, np.ndarray | None] | None] = []
    offset = 0
    for layer in layers:
        if layer.kind not in _WEIGHTED:
            out.append(None)
            continue
        size_key, bias_key = _WEIGHTED[layer.kind]
        size, n_out = int(layer.params[size_key]), int(layer.params["0"])
        if struct.unpack_from("<I", data, offset)[0] != 0:
            raise ValueError(f"ncnn int8: {layer.name}'s weights are not stored as float32")
        weights = np.frombuffer(data, np.float32, size, offset + 4)
        offset += 4 + 4 * size
        bias = None
        if layer.params.get(bias_key, "0") != "0":
            bias = np.frombuffer(data, np.float32, n_out, offset)
            offset += 4 * n_out
        out.append((weights, bias))
    if offset != len(data):  # a layer kind with weights this reader does not know
        kinds = sorted({la.kind for la in layers} - set(_WEIGHTED))
        raise ValueError(f"ncnn int8: the net holds weights of layers other than {', '.join(_WEIGHTED)} ({kinds})")
    return out


def _input_ranges(runner: NcnnRunner, blobs: list[str], calibration: Sequence[np.ndarray]) -> dict[str, float]:
    """The largest |value| each of ``blobs`` takes on the calibration images, from the float net."""
    peak = dict.fromkeys(blobs, 0.0)
    for image in (im for batch in calibration for im in batch):
        ex, _held = runner.extractor(image)
        ex.set_light_mode(False)  # keep every blob: each is read after the next is computed
        for blob in blobs:
            status, mat = ex.extract(blob)
            if status != 0:
                raise ValueError(f"ncnn int8: could not compute blob {blob} on a calibration image")
            peak[blob] = max(peak[blob], float(np.abs(np.array(mat)).max()))
    return peak


def _quantised(layer: _Layer) -> bool:
    """Whether ``layer`` goes int8: plain and depthwise convs. A grouped conv (V1's) stays float32: ncnn's x86
    kernel splits it into one conv per group and hands each one scale where it reads one per output channel
    (V1 g3's int8 logits came out wrong)."""
    if layer.kind != "ConvolutionDepthWise":
        return layer.kind == "Convolution"
    p = layer.params
    return p.get("7") == p["0"] and int(p["6"]) == int(p["0"]) * int(p["1"]) * int(p.get("11", p["1"]))


def _int8_net(param: str, weights: bytes, runner: NcnnRunner, calibration: Sequence[np.ndarray]) -> tuple[str, bytes]:
    """pnnx's float net (``param`` text, ``weights`` .bin) with its convs in ncnn's int8 format."""
    layers = _parse_param(param)
    stored = _read_weights(layers, weights)
    peak = _input_ranges(runner, sorted({la.ins[0] for la in layers if _quantised(la)}), calibration)
    out = bytearray()
    for layer, held in zip(layers, stored):
        if held is None:
            continue
        w, bias = held
        if not _quantised(layer):
            out += struct.pack("<I", 0) + w.tobytes() + (bias.tobytes() if bias is not None else b"")
            continue
        n_out = int(layer.params["0"])
        rows = w.reshape(n_out, -1)  # one scale per output channel (a depthwise conv's group is one channel)
        largest = np.abs(rows).max(1)
        scales = np.where(largest > 0, 127.0 / np.maximum(largest, 1e-30), 0.0).astype(np.float32)
        q = np.clip(np.round(rows * scales[:, None]), -127, 127).astype(np.int8).tobytes()
        out += struct.pack("<I", _INT8_TAG) + q + b"\0" * (-len(q) % 4)  # int8 weights, padded to 4 bytes
        out += (bias.tobytes() if bias is not None else b"") + scales.tobytes()
        out += np.float32(127.0 / max(peak[layer.ins[0]], 1e-12)).tobytes()  # the input's scale
        layer.params["8"] = "1"  # int8_scale_term: the scales follow the bias
    head = param.splitlines()[:2]
    return "\n".join([*head, *(la.line() for la in layers)]) + "\n", bytes(out)


def export_ncnn(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    input_shape: Sequence[int] = (1, 3, 224, 224),
    images: np.ndarray | None = None,
    atol: float = 1e-3,
    calibration: Sequence[np.ndarray] | None = None,
) -> ExportResult:
    """Export ``model`` to ncnn at ``path`` (``MODEL.ncnn.param``; the weights go to ``MODEL.ncnn.bin``).

    Verified in float32 against PyTorch on random images and, when given, on ``images`` (normalised,
    N x C x H x W), whose top-1 agreement is reported: a difference above ``atol`` is an error and
    nothing is written. With ``calibration`` (batches of normalised real images) the net is int8
    (module docstring); int8 is lossy: its difference from float and its top-1 agreement on the
    calibration images are reported, not bounded.
    """
    pnnx = require("pnnx", "ncnn")
    param = check_artifact_name(path, NCNN_SUFFIX, "an ncnn net", weights=".ncnn.bin")
    check_output_file(param, "--out")
    reference = model = exportable(model, input_shape)
    with tempfile.TemporaryDirectory() as tmp:
        with quiet_fds():
            pnnx.export(
                _Root(_packed_branches(reference)),
                str(Path(tmp) / "m.pt"),
                torch.randn(1, *input_shape[1:]),
                fp16=False,
            )  # f32 weights; verified against the model as it is below
        made = Path(tmp) / f"m{NCNN_SUFFIX}"
        if not made.is_file():
            raise ValueError(f"pnnx could not convert {type(model).__name__} to ncnn")
        runner = NcnnRunner(made, 1)
        inputs = [torch.randn(2, *input_shape[1:])]
        diff, agreement = verify_artifact(reference, runner.run, inputs, "ncnn", images=images, atol=atol)
        text, weights = made.read_text(), made.with_suffix(".bin").read_bytes()
        if calibration is not None:
            text, weights = _int8_net(text, weights, runner, calibration)
            made.write_text(text)
            made.with_suffix(".bin").write_bytes(weights)
            diff, agreement = verify_artifact(reference, NcnnRunner(made, 1).run, inputs, "ncnn int8",
                                              calibration=calibration)  # fmt: skip
    atomic_write(param.with_suffix(".bin"), lambda t: t.write_bytes(weights))
    write_cfg_sidecar(param, getattr(model, "pretrained_cfg", None))
    atomic_write(param, lambda t: t.write_text(text, encoding="utf-8"))  # last: never without its .bin
    layers = Counter(la.kind for la in _parse_param(text))
    layers.pop("Input", None)
    return ExportResult(param, diff, dict(layers), "pnnx" if calibration is None else "pnnx, int8", agreement)
