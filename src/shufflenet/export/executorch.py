"""ExecuTorch export with verification: ``MODEL.pte`` (XNNPACK) + ``MODEL.json`` (the model's
``pretrained_cfg``), written only if ExecuTorch reproduces PyTorch.

The program comes from ``torch.export`` of our model lowered to XNNPACK, PyTorch's own mobile path, a
plain V2 in its shuffle-free form (:mod:`shufflenet.export.unshuffled`: XNNPACK computes in NHWC,
where the shuffle and split cost copies; ``docs/results/deployment.md``). It takes one image (a
batch is a loop, as on a phone). With calibration images it is int8:
PyTorch's post-training quantisation (PT2E) with XNNPACK's quantizer (int8 weights per output
channel, int8 activations per tensor), which XNNPACK runs as integer kernels on the phone's CPU.
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

from shufflenet.export.onnx import ExportResult
from shufflenet.export.quantize import observe_images
from shufflenet.export.unshuffled import nhwc_form
from shufflenet.export.verify import exportable, verify_artifact
from shufflenet.runtimes.executorch import ExecuTorchRunner, load_executorch
from shufflenet.runtimes.sidecar import write_cfg_sidecar
from shufflenet.utils.files import atomic_write, check_artifact_name, check_output_file
from shufflenet.utils.optional import require

__all__ = ["export_executorch"]


def export_executorch(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    input_shape: Sequence[int] = (1, 3, 224, 224),
    images: np.ndarray | None = None,
    atol: float = 1e-3,
    calibration: Sequence[np.ndarray] | None = None,
) -> ExportResult:
    """Export ``model`` to an ExecuTorch program (XNNPACK) at ``path`` (``.pte``), for one image of
    ``input_shape[1:]``. Verified against PyTorch as :func:`~shufflenet.export.openvino.export_openvino`.

    With ``calibration`` (batches of normalised real images) the program is int8, its activation
    ranges observed on those images; int8 is lossy, so its difference from float and its top-1
    agreement on the calibration images are reported, not bounded."""
    load_executorch()
    exir = require("executorch.exir", "executorch")
    xnnpack = require("executorch.backends.xnnpack.partition.xnnpack_partitioner", "executorch")
    pte = check_artifact_name(path, ".pte", "an ExecuTorch program")
    check_output_file(pte, "--out")
    reference = model = exportable(model, input_shape)
    example = torch.randn(1, *input_shape[1:])
    converted, form = nhwc_form(reference)
    exported = torch.export.export(converted, (example,))
    if calibration is not None:
        exported = torch.export.export(_quantize(exported, calibration), (example,))
    program = exir.to_edge_transform_and_lower(exported, partitioner=[xnnpack.XnnpackPartitioner()])
    ops = Counter(  # what is left outside XNNPACK's delegate (nothing, for our models)
        getattr(node.target, "__name__", str(node.target))
        for node in program.exported_program().graph.nodes
        if node.op == "call_function" and getattr(node.target, "__name__", "") != "getitem"
    )
    data = program.to_executorch().buffer
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "m.pte").write_bytes(data)
        runner = ExecuTorchRunner(Path(tmp) / "m.pte")
        diff, agreement = verify_artifact(reference, runner.run, [torch.randn(2, *input_shape[1:])], "ExecuTorch",
                                          images=images, calibration=calibration, atol=atol)  # fmt: skip
    write_cfg_sidecar(pte, getattr(model, "pretrained_cfg", None))
    atomic_write(pte, lambda t: t.write_bytes(data))
    writer = f"torch.export + XNNPACK ({form}" + (", int8 by PT2E)" if calibration is not None else ")")
    return ExportResult(pte, diff, dict(ops), writer, agreement)


def _quantize(exported: torch.export.ExportedProgram, calibration: Sequence[np.ndarray]) -> nn.Module:
    """The exported graph with XNNPACK's int8 quantize/dequantize pairs, ranges observed on ``calibration``
    (one image at a time: the graph was exported for one)."""
    quantizer = require("executorch.backends.xnnpack.quantizer.xnnpack_quantizer", "executorch")
    pt2e = require("torchao.quantization.pt2e.quantize_pt2e", "executorch")
    config = quantizer.get_symmetric_quantization_config(is_per_channel=True)
    prepared = pt2e.prepare_pt2e(exported.module(), quantizer.XNNPACKQuantizer().set_global(config))
    observe_images(prepared, calibration)
    return pt2e.convert_pt2e(prepared)
