"""ncnn export with verification: ``MODEL.ncnn.param`` + ``MODEL.ncnn.bin`` (+ ``MODEL.ncnn.json``, the
model's ``pretrained_cfg``, which ncnn's format has no room for), written only if ncnn reproduces PyTorch.

The net is converted by pnnx, ncnn's own PyTorch converter, from our eager model: pnnx folds BN
into the convolutions and writes our channel shuffle as two Reshapes around a permute-free view,
which ran 1.09x faster in ncnn than torchvision's graph, where pnnx writes ncnn's own
ShuffleChannel layer (``docs/results/deployment.md``, "ncnn").
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
from shufflenet.export.verify import verify_artifact
from shufflenet.runtimes.ncnn import NCNN_SUFFIX, NcnnRunner
from shufflenet.runtimes.sidecar import write_cfg_sidecar
from shufflenet.utils.files import atomic_write, check_output_file
from shufflenet.utils.optional import require
from shufflenet.utils.quiet import quiet_fds

__all__ = ["export_ncnn"]


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
            pnnx.export(reference, str(Path(tmp) / "m.pt"), torch.randn(1, *input_shape[1:]), fp16=False)  # f32 weights
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
