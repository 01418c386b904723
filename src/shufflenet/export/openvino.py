"""OpenVINO IR export with verification: ``MODEL.xml`` + ``MODEL.bin``, written only if OpenVINO
reproduces PyTorch.

The IR is converted by OpenVINO's own ONNX frontend. A plain ShuffleNet V2 goes in its shuffle-free
form (:func:`~shufflenet.export.unshuffled.unshuffled_v2`: convs, channel Slices and Concats only):
OpenVINO computes in NHWC, where torchvision's shuffle costs a ShuffleChannels copy per unit and our
paired ONNX graph ~40 layout reorders; the shuffle-free IR has neither and ran 1.12-1.18x faster than
the paired one (``docs/results/deployment.md``, "OpenVINO"), and its int8 form (ONNX Runtime's QDQ
quantisation of it, run by OpenVINO as int8) 1.28x faster than the paired graph's at batch 64. Other
models and a named ``layout`` go through our shuffle-aware ONNX graph (:func:`~shufflenet.export.onnx.export_onnx`). The model's
``pretrained_cfg`` travels in the IR's ``rt_info``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from shufflenet.export.graph import UnsupportedModel
from shufflenet.export.onnx import ExportResult, export_onnx, export_onnx_file, export_onnx_int8
from shufflenet.export.quantize import quantize_onnx
from shufflenet.export.unshuffled import unshuffled_v2
from shufflenet.export.verify import exportable, verify_artifact
from shufflenet.runtimes.openvino import OV_RT_INFO, OpenVinoRunner, ov_compile
from shufflenet.utils.files import atomic_write, check_artifact_name, check_output_file
from shufflenet.utils.optional import require

__all__ = ["export_openvino"]

#: the shuffle-free V2 as OpenVINO runs it fastest, float and int8: each branch reads one Concat (XNNPACK's
#: limit of 5 tensors cost 3-5%); in float each branch's last conv is one conv sliced for its readers (a conv
#: per reader cost 4-13% more: its small groups fill the vectors poorly), in int8 a conv per group of >= 4
#: channels (the sliced int8 IR ran 9% slower at batch 1 and 18% at batch 64; docs/results/deployment.md)
_OV_SHUFFLE_FREE: dict[str, dict[str, Any]] = {
    "float32": {"max_cat": None, "min_group": 1, "slices": True},
    "int8": {"max_cat": None, "min_group": 4},
}


def _onnx_source(
    model: nn.Module, path: Path, input_shape: Sequence[int], target: str, layout: str | None,
    calibration: Sequence[np.ndarray] | None,
) -> str:  # fmt: skip
    """Write the ONNX file the IR is converted from to ``path`` (int8 QDQ with ``calibration``); returns its
    writer's name."""
    if layout is None:
        try:
            free = unshuffled_v2(model, **_OV_SHUFFLE_FREE["float32" if calibration is None else "int8"])
        except UnsupportedModel:
            pass
        else:
            float_path = path if calibration is None else path.with_name("float.onnx")
            export_onnx_file(free, torch.randn(*input_shape), float_path)
            if calibration is None:
                return "shuffle-free V2"
            quantize_onnx(float_path, path, calibration)
            return "shuffle-free V2, int8"
    if calibration is not None:
        return export_onnx_int8(model, path, calibration, input_shape=input_shape).writer
    result = export_onnx(model, path, input_shape=input_shape, verify=False, target=target, layout=layout or "paired")
    return result.writer


def export_openvino(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    input_shape: Sequence[int] = (1, 3, 224, 224),
    images: np.ndarray | None = None,
    atol: float = 1e-3,
    target: str = "portable",
    layout: str | None = None,
    calibration: Sequence[np.ndarray] | None = None,
) -> ExportResult:
    """Export ``model`` to an OpenVINO IR at ``path`` (``.xml``; the weights go to the ``.bin`` beside it).

    Verified against PyTorch on a random batch and, when given, on ``images`` (normalised real
    images, N x C x H x W), whose top-1 agreement is reported: a difference above ``atol`` is an
    error and nothing is written. A plain V2 is converted in its shuffle-free form unless ``layout``
    names one of the ONNX graph's (``paired``, ``pieces``; ``target`` pads that graph's channels).

    With ``calibration`` (batches of normalised real images) the IR is int8: the ONNX graph is
    quantised as :func:`~shufflenet.export.onnx.export_onnx_int8` does (QDQ, calibrated on those
    images) and OpenVINO runs its quantize-dequantize pairs as int8 kernels. int8 is lossy: the
    difference from float and the top-1 agreement on the calibration images are reported, not bounded.
    """
    ov = require("openvino", "openvino")
    xml = check_artifact_name(path, ".xml", "an OpenVINO IR", weights=".bin")
    check_output_file(xml, "--out")
    reference = model = exportable(model, input_shape)
    with tempfile.TemporaryDirectory() as tmp:
        writer = _onnx_source(model, Path(tmp) / "m.onnx", input_shape, target, layout, calibration)
        ir = ov.convert_model(str(Path(tmp) / "m.onnx"))
        cfg = getattr(model, "pretrained_cfg", None)
        if cfg:
            ir.set_rt_info(json.dumps(cfg), OV_RT_INFO)
        ov.save_model(ir, str(Path(tmp) / "m.xml"), compress_to_fp16=False)
        runner = OpenVinoRunner(ov_compile(Path(tmp) / "m.xml", 1))
        inputs = [torch.randn(*input_shape), torch.randn(input_shape[0] + 1, *input_shape[1:])]
        diff, agreement = verify_artifact(reference, runner.run, inputs, "OpenVINO", images=images,
                                          calibration=calibration, atol=atol)  # fmt: skip
        bin_bytes, xml_bytes = (Path(tmp) / "m.bin").read_bytes(), (Path(tmp) / "m.xml").read_bytes()
    atomic_write(xml.with_suffix(".bin"), lambda t: t.write_bytes(bin_bytes))  # the weights first: an .xml
    atomic_write(xml, lambda t: t.write_bytes(xml_bytes))  # is never there without the .bin it names
    nodes = Counter(op.get_type_name() for op in ir.get_ordered_ops())
    for io in ("Parameter", "Result", "Constant"):
        nodes.pop(io, None)
    return ExportResult(xml, diff, dict(nodes), f"{writer} (via ONNX)", agreement)
