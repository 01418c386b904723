"""LiteRT export with verification: ``MODEL.tflite`` (+ ``MODEL.json``, the model's ``pretrained_cfg``),
written only if LiteRT reproduces PyTorch.

The model is converted by LiteRT's own PyTorch converter (``litert_torch.convert``: torch.export,
then NHWC TFLite ops) from our model, a plain V2 in its shuffle-free form
(:mod:`shufflenet.export.unshuffled`: no Transposes; ``docs/results/deployment.md``). It takes one
image (a batch is a loop, as in an Android app). With calibration images it is int8: PyTorch's
post-training quantisation (PT2E) with LiteRT's quantizer (int8 weights per output channel, int8
activations, int8 input and output), run by XNNPACK's integer kernels.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from shufflenet.export.onnx import ExportResult
from shufflenet.export.quantize import observe_images
from shufflenet.export.unshuffled import nhwc_form
from shufflenet.export.verify import exportable, verify_artifact
from shufflenet.runtimes.litert import LiteRtRunner
from shufflenet.runtimes.sidecar import write_cfg_sidecar
from shufflenet.utils.files import atomic_write, check_artifact_name, check_output_file
from shufflenet.utils.optional import require
from shufflenet.utils.quiet import quiet_fds

__all__ = ["export_litert"]


def export_litert(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    input_shape: Sequence[int] = (1, 3, 224, 224),
    images: np.ndarray | None = None,
    atol: float = 1e-3,
    calibration: Sequence[np.ndarray] | None = None,
) -> ExportResult:
    """Export ``model`` to a LiteRT model at ``path`` (``.tflite``), for one image of ``input_shape[1:]``.
    Verified against PyTorch as :func:`~shufflenet.export.openvino.export_openvino`; with
    ``calibration`` int8, reported as :func:`~shufflenet.export.executorch.export_executorch` does."""
    tflite = check_artifact_name(path, ".tflite", "a LiteRT model")
    check_output_file(tflite, "--out")
    require("ai_edge_litert.interpreter", "litert")
    reference = model = exportable(model, input_shape)
    converted, form = nhwc_form(reference)
    example = torch.randn(1, *input_shape[1:])
    with quiet_fds():  # the converter reports each pass on stdout and its passes' logs on stderr
        litert_torch = require("litert_torch", "litert")
        options: dict[str, Any] = {}
        if calibration is not None:
            converted, options["quant_config"] = _quantize(converted, example, calibration)
        data = litert_torch.convert(converted, (example,), **options).model_content()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "m.tflite").write_bytes(data)
        runner = LiteRtRunner(Path(tmp) / "m.tflite", 1)
        ops = Counter(op["op_name"] for op in runner.interpreter._get_ops_details())
        diff, agreement = verify_artifact(reference, runner.run, [torch.randn(2, *input_shape[1:])], "LiteRT",
                                          images=images, calibration=calibration, atol=atol)  # fmt: skip
    write_cfg_sidecar(tflite, getattr(model, "pretrained_cfg", None))
    atomic_write(tflite, lambda t: t.write_bytes(data))
    writer = f"litert_torch ({form}" + (", int8 by PT2E)" if calibration is not None else ")")
    return ExportResult(tflite, diff, dict(ops), writer, agreement)


def _quantize(model: nn.Module, example: torch.Tensor, calibration: Sequence[np.ndarray]) -> tuple[nn.Module, Any]:
    """``model`` with LiteRT's int8 quantize/dequantize pairs, ranges observed on ``calibration``, and
    the converter's config that keeps them."""
    pt2e_quantizer = require("litert_torch.quantize.pt2e_quantizer", "litert")
    quant_config = require("litert_torch.quantize.quant_config", "litert")
    pt2e = require("torchao.quantization.pt2e.quantize_pt2e", "litert")
    config = pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False)
    quantizer = pt2e_quantizer.PT2EQuantizer().set_global(config)
    prepared = pt2e.prepare_pt2e(torch.export.export(model, (example,)).module(), quantizer)
    observe_images(prepared, calibration)
    return pt2e.convert_pt2e(prepared, fold_quantize=False), quant_config.QuantConfig(pt2e_quantizer=quantizer)
