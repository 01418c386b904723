"""ONNX export with verification: the file exists only if ONNX Runtime reproduces PyTorch."""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from shufflenet.export.fuse import fuse_conv_bn
from shufflenet.export.graph import UnsupportedModel, write_shuffle_graph
from shufflenet.export.predictor import METADATA_KEY, Predictor
from shufflenet.utils.files import atomic_path

__all__ = ["ExportResult", "export_onnx", "export_onnx_file", "export_onnx_int8", "onnx_predictor"]


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
    writer: str  # "shuffle-aware" (ShuffleNet V1/V2 written node by node) or "traced" (torch.onnx.export)
    top1_agreement: float | None = None  # int8: share of inputs whose top class matches the float model


def _set_metadata(path: Path, model: nn.Module) -> Counter[str]:
    """Store the model's ``pretrained_cfg`` in the file (see ``METADATA_KEY``); return the op counts."""
    import onnx

    proto = onnx.load(str(path))
    cfg = getattr(model, "pretrained_cfg", None)
    if cfg:
        onnx.helper.set_model_props(proto, {METADATA_KEY: json.dumps(cfg)})
        onnx.save(proto, str(path))
    return Counter(n.op_type for n in proto.graph.node)


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    input_size: Sequence[int] = (1, 3, 224, 224),
    optimize: bool = True,
    verify: bool = True,
    opset: int = 18,
    atol: float = 1e-4,
    channel_block: int | None = None,
    pieces: bool | None = None,
    blocks: bool | None = None,
) -> ExportResult:
    """Export ``model`` (BN folded into convs when ``optimize``) and check it in ONNX Runtime.

    With ``optimize``, ShuffleNet V1/V2 are written as a shuffle-aware graph (no
    Transpose, see :mod:`shufflenet.export.graph`); other models, and
    ``optimize=False``, go through ``torch.onnx.export``.

    ``channel_block``: the shuffle-aware V2 graph pads its channel pieces to multiples of it,
    for ONNX Runtime's blocked float kernels; by default this CPU's block (16 on AVX-512,
    8 on AVX2, see :func:`~shufflenet.export.graph.native_channel_block`); 1 writes them unpadded.
    ``pieces``: plain V2 units in pieces or in the paired layout (default: the faster for
    the block, see :func:`~shufflenet.export.graph.write_shuffle_graph`). ``blocks``: V2 stages
    in pieces whose channel lifetimes fit whole blocks are written as block rows instead
    (default: for blocks of 16), which :class:`~shufflenet.export.predictor.Predictor` runs on
    ONNX Runtime's blocked memory (:mod:`shufflenet.export.blocked`).

    Verification runs a random input and a batch of a different size (the batch
    axis is dynamic) through both; a difference above ``atol`` is an error and no
    file is left behind. The model's ``pretrained_cfg`` (normalisation, class
    names), when it has one, is stored in the file's metadata.
    """
    if opset < 17:
        raise ValueError(f"opset must be >= 17, got {opset}")
    if len(input_size) != 4 or any(int(d) < 1 for d in input_size):
        raise ValueError(f"input_size must be (N, C, H, W) with positive sizes, got {tuple(input_size)}")
    reference = model.eval()
    exported = fuse_conv_bn(model) if optimize else reference
    example = torch.randn(*input_size)
    diff = 0.0
    with atomic_path(path) as tmp:
        writer = "traced"
        if optimize:
            try:
                write_shuffle_graph(exported, tmp, input_size, opset, channel_block, pieces, blocks)
                writer = "shuffle-aware"
            except UnsupportedModel:  # not a plain ShuffleNet V1/V2: trace it
                pass
        if writer == "traced":
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
        nodes = _set_metadata(tmp, model)
    return ExportResult(Path(path), diff, dict(nodes), writer)


def onnx_predictor(
    model: nn.Module, input_size: Sequence[int], *, threads: int | None = None, verify: bool = True
) -> Predictor:
    """``model`` exported (optimised) to a temporary file and loaded in a :class:`Predictor`."""
    with tempfile.TemporaryDirectory() as tmp:
        result = export_onnx(model, Path(tmp) / "model.onnx", input_size=input_size, verify=verify)
        return Predictor(result.path, threads=threads)


def export_onnx_int8(
    model: nn.Module,
    path: str | os.PathLike[str],
    calibration: Sequence[np.ndarray],
    *,
    input_size: Sequence[int] = (1, 3, 224, 224),
    opset: int = 18,
) -> ExportResult:
    """Verified float export, then int8 quantisation calibrated on ``calibration`` batches.

    The result reports how far int8 moved the logits from float and on what share
    of the calibration images the top class is unchanged (quantisation is lossy:
    that is measured, not bounded).
    """
    import onnx

    from shufflenet.bench.runtimes import ort_session
    from shufflenet.export.quantize import quantize_onnx

    if not calibration:
        raise ValueError("int8 calibration needs at least one batch of images")
    with tempfile.TemporaryDirectory() as tmp:
        # V2 in the paired layout on every CPU: ONNX Runtime runs int8 convs in NHWC, not in the float blocks, so
        # neither the pieces' padding nor the block rows pay there. V2 1x at 28x28, 2 threads, AVX-512 host:
        # paired int8 0.66 / 14.1 ms (batch 1 / 64) against pieces padded to 8 1.05 / 15.3 ms and float (block
        # rows) 0.79 / 22.6 ms, 1.38 MB against 1.61 MB; on an AVX2 host paired int8 ran 0.85x / 1.02x of float
        # where pieces ran 0.60x / 0.95x
        fp32 = export_onnx(
            model, Path(tmp) / "fp32.onnx", input_size=input_size, opset=opset, channel_block=8, pieces=False,
            blocks=False,
        )  # fmt: skip
        quantize_onnx(fp32.path, path, calibration)
        sessions = [ort_session(str(p), None, torch.device("cpu")) for p in (fp32.path, Path(path))]
        diff, same, total = 0.0, 0, 0
        for batch in calibration:
            a, b = (s.run(None, {s.get_inputs()[0].name: batch})[0] for s in sessions)
            diff = max(diff, float(np.abs(a - b).max()))
            same += int((a.argmax(1) == b.argmax(1)).sum())
            total += len(batch)
    nodes = Counter(n.op_type for n in onnx.load(str(path)).graph.node)
    return ExportResult(Path(path), diff, dict(nodes), f"{fp32.writer}, int8", same / total)
