"""ONNX export with verification: the file exists only if ONNX Runtime reproduces PyTorch."""

from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from shufflenet.export.fuse import fuse_conv_bn
from shufflenet.utils.files import atomic_path

__all__ = ["ExportResult", "export_onnx", "export_onnx_file"]


def export_onnx_file(model: nn.Module, example: torch.Tensor, path: str | os.PathLike[str], opset: int = 18) -> None:
    """TorchScript-based export with a dynamic batch axis (fast, no console output)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (example,), str(path), dynamo=False, opset_version=opset,
            input_names=["input"], output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        )  # fmt: skip


@dataclass(frozen=True)
class ExportResult:
    path: Path
    max_abs_diff: float  # ONNX Runtime vs PyTorch on the verification inputs
    nodes: dict[str, int]  # ONNX op type -> count


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    input_size: Sequence[int] = (1, 3, 224, 224),
    optimize: bool = True,
    verify: bool = True,
    opset: int = 18,
    atol: float = 1e-4,
) -> ExportResult:
    """Export ``model`` (BN folded into convs when ``optimize``) and check it in ONNX Runtime.

    Verification runs a random input and a batch of a different size (the batch
    axis is dynamic) through both; a difference above ``atol`` is an error and no
    file is left behind.
    """
    import onnx

    if opset < 17:
        raise ValueError(f"opset must be >= 17, got {opset}")
    if len(input_size) != 4 or any(int(d) < 1 for d in input_size):
        raise ValueError(f"input_size must be (N, C, H, W) with positive sizes, got {tuple(input_size)}")
    reference = model.eval()
    exported = fuse_conv_bn(model) if optimize else reference
    example = torch.randn(*input_size)
    diff = 0.0
    with atomic_path(path) as tmp:
        export_onnx_file(exported, example, tmp, opset)
        if verify:
            from shufflenet.bench.runtimes import ort_session

            session = ort_session(str(tmp), 1, torch.device("cpu"))
            for x in (example, torch.randn(input_size[0] + 1, *input_size[1:])):
                with torch.no_grad():
                    expected = reference(x).numpy()
                got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
                diff = max(diff, float(np.abs(got - expected).max()))
            if not diff <= atol:
                raise ValueError(f"ONNX Runtime differs from PyTorch by {diff:.3g} (> {atol:g}); nothing was written")
        nodes = Counter(n.op_type for n in onnx.load(str(tmp)).graph.node)
    return ExportResult(Path(path), diff, dict(nodes))
