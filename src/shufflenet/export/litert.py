"""LiteRT export with verification: ``MODEL.tflite`` (+ ``MODEL.json``, the model's ``pretrained_cfg``),
written only if LiteRT reproduces PyTorch.

The model is converted by LiteRT's own PyTorch converter (``litert_torch.convert``: torch.export,
then NHWC TFLite ops) from our model, a plain V2 in its shuffle-free form
(:mod:`shufflenet.export.unshuffled`: no Transposes; ``docs/results/deployment.md``). It takes one
image (a batch is a loop, as in an Android app).
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from shufflenet.complexity import check_input_fits
from shufflenet.export.onnx import ExportResult
from shufflenet.export.unshuffled import nhwc_form
from shufflenet.export.verify import check_close, compare_outputs
from shufflenet.runtimes.litert import LiteRtRunner
from shufflenet.runtimes.sidecar import write_cfg_sidecar
from shufflenet.utils.files import atomic_write, check_output_file
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
) -> ExportResult:
    """Export ``model`` to a LiteRT model at ``path`` (``.tflite``), for one image of ``input_shape[1:]``.
    Verified against PyTorch as :func:`~shufflenet.export.openvino.export_openvino`."""
    tflite = Path(path)
    if tflite.suffix != ".tflite":
        raise ValueError(f"{tflite}: a LiteRT model is a .tflite file; name it MODEL.tflite")
    check_output_file(tflite, "--out")
    require("ai_edge_litert.interpreter", "litert")
    reference = model.eval()
    check_input_fits(reference, input_shape)
    converted, form = nhwc_form(reference)
    with quiet_fds():  # the converter reports each pass on stdout and its passes' logs on stderr
        litert_torch = require("litert_torch", "litert")
        data = litert_torch.convert(converted, (torch.randn(1, *input_shape[1:]),)).model_content()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "m.tflite").write_bytes(data)
        runner = LiteRtRunner(Path(tmp) / "m.tflite", 1)
        ops = Counter(op["op_name"] for op in runner.interpreter._get_ops_details())
        diff, agreement = compare_outputs(reference, runner.run, [torch.randn(2, *input_shape[1:])], images)
    check_close(diff, atol, "LiteRT")
    write_cfg_sidecar(tflite, getattr(model, "pretrained_cfg", None))
    atomic_write(tflite, lambda t: t.write_bytes(data))
    return ExportResult(tflite, diff, dict(ops), f"litert_torch ({form})", agreement)
