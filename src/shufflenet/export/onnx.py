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
from typing import Any

import numpy as np
import torch
from torch import nn

from shufflenet.export.graph import OPSET, UnsupportedModel, channel_block, write_shuffle_graph
from shufflenet.export.predictor import METADATA_KEY, Predictor
from shufflenet.export.verify import check_close, exportable
from shufflenet.layers.fuse import fuse_conv_bn
from shufflenet.utils.deprecation import renamed_kwargs
from shufflenet.utils.files import atomic_path, check_artifact_name
from shufflenet.utils.optional import require

__all__ = [
    "ExportResult",
    "export_onnx",
    "export_onnx_file",
    "export_onnx_int8",
    "load_onnx",
    "onnx_predictor",
    "set_onnx_metadata",
]


def export_onnx_file(model: nn.Module, example: torch.Tensor, path: str | os.PathLike[str], opset: int = OPSET) -> None:
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
    """What every exporter returns: the file written and how it was checked against PyTorch."""

    path: Path
    max_abs_diff: float  # the runtime vs PyTorch on the verification inputs
    nodes: dict[str, int]  # the artifact's op (layer) type -> count, as its runtime names them
    writer: str  # how the graph was made: "shuffle-aware", "traced", "pnnx", "litert_torch (...)", ", int8" ...
    top1_agreement: float | None = None  # real images or int8: share whose top class matches PyTorch's


def load_onnx(path: str | os.PathLike[str], *, external_data: bool = True) -> Any:
    """The ``onnx.ModelProto`` in ``path``; a truncated or foreign file is a ValueError that names it, where onnx
    raises protobuf's ``DecodeError``. ``external_data=False`` skips weights kept beside the file (for the graph)."""
    onnx = require("onnx", "onnx")
    try:
        return onnx.load(str(path), load_external_data=external_data)
    except OSError:
        raise
    except Exception as exc:  # protobuf's DecodeError and whatever else a bad file makes onnx raise
        raise ValueError(f"{path} is not a valid ONNX model ({str(exc).strip()[:200]}); is it truncated?") from None


def set_onnx_metadata(path: str | os.PathLike[str], props: dict[str, str]) -> Counter[str]:
    """Store ``props`` in the ONNX file's ``metadata_props`` (none: the file is left as it is); return its op counts."""
    onnx = require("onnx", "onnx")
    proto = load_onnx(path)
    if props:
        onnx.helper.set_model_props(proto, props)
        onnx.save(proto, str(path))
    return Counter(n.op_type for n in proto.graph.node)


@renamed_kwargs(input_size="input_shape")
def export_onnx(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    input_shape: Sequence[int] = (1, 3, 224, 224),
    optimize: bool = True,
    verify: bool = True,
    opset: int = OPSET,
    atol: float = 1e-4,
    target: str = "portable",
    layout: str | None = None,
) -> ExportResult:
    """Export ``model`` (BN folded into convs when ``optimize``) and check it in ONNX Runtime.

    With ``optimize``, ShuffleNet V1/V2 are written as a shuffle-aware graph (no
    Transpose, see :mod:`shufflenet.export.graph`); other models, and
    ``optimize=False``, go through ``torch.onnx.export``.

    ``target``: the CPU class the V2 graph's channels are padded for (:data:`~shufflenet.export.graph.TARGETS`:
    ``portable``, the default, runs blocked on AVX2 and AVX-512 alike; ``avx2`` pads less). The file never
    depends on the CPU that writes it. ``layout``: plain V2 units ``paired`` or in ``pieces``; None, the
    default, takes the target's choice (paired for ``portable``; for a named CPU class pieces where most
    branches are not whole blocks, see :mod:`shufflenet.export.graph`; ``docs/deployment.md`` says when each is
    faster).

    Verification runs a random input and a batch of a different size (the batch
    axis is dynamic) through both; a difference above ``atol`` is an error and no
    file is left behind. The model's ``pretrained_cfg`` (normalisation, class
    names), when it has one, is stored in the file's metadata.
    """
    check_artifact_name(path, ".onnx", "an ONNX model")
    require("onnx", "onnx")
    newest = require("onnx", "onnx").defs.onnx_opset_version()
    if not 17 <= opset <= newest:
        raise ValueError(f"opset must be 17..{newest} (the newest this onnx knows), got {opset}")
    channel_block(target, layout)  # a bad target or layout fails before anything is written
    if len(input_shape) != 4 or any(int(d) < 1 for d in input_shape):
        raise ValueError(f"input_shape must be (N, C, H, W) with positive sizes, got {tuple(input_shape)}")
    reference = model = exportable(model, input_shape)
    exported = fuse_conv_bn(model) if optimize else reference
    example = torch.randn(*input_shape)
    diff = 0.0
    with atomic_path(path) as tmp:
        writer = "traced"
        if optimize:
            try:
                write_shuffle_graph(exported, tmp, input_shape, opset, target=target, layout=layout)
                writer = "shuffle-aware"
            except UnsupportedModel:  # not a plain ShuffleNet V1/V2: trace it
                pass
        if writer == "traced":
            export_onnx_file(exported, example, tmp, opset)
        if verify:
            from shufflenet.runtimes import ort_session

            session = ort_session(str(tmp), 1, torch.device("cpu"))
            for x in (example, torch.randn(input_shape[0] + 1, *input_shape[1:])):
                with torch.no_grad():
                    expected = reference(x).numpy()
                got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
                diff = max(diff, float(np.abs(got - expected).max()))
            check_close(diff, atol, "ONNX Runtime")
        cfg = getattr(model, "pretrained_cfg", None)  # the file describes itself (see METADATA_KEY)
        nodes = set_onnx_metadata(tmp, {METADATA_KEY: json.dumps(cfg)} if cfg else {})
    return ExportResult(Path(path), diff, dict(nodes), writer)


@renamed_kwargs(input_size="input_shape")
def onnx_predictor(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    threads: int | None = None,
    verify: bool = True,
    target: str = "portable",
) -> Predictor:
    """``model`` exported (optimised, for ``target``) to a temporary file and loaded in a :class:`Predictor`."""
    with tempfile.TemporaryDirectory() as tmp:
        result = export_onnx(model, Path(tmp) / "model.onnx", input_shape=input_shape, verify=verify, target=target)
        return Predictor(result.path, threads=threads)


@renamed_kwargs(input_size="input_shape")
def export_onnx_int8(
    model: nn.Module,
    path: str | os.PathLike[str],
    calibration: Sequence[np.ndarray],
    *,
    input_shape: Sequence[int] = (1, 3, 224, 224),
    opset: int = OPSET,
) -> ExportResult:
    """Verified float export, then int8 quantisation calibrated on ``calibration`` batches.

    The result reports how far int8 moved the logits from float and on what share
    of the calibration images the top class is unchanged (quantisation is lossy:
    that is measured, not bounded).
    """
    from shufflenet.export.quantize import quantize_onnx
    from shufflenet.runtimes import ort_session

    check_artifact_name(path, ".onnx", "an ONNX model")
    if not calibration:
        raise ValueError("int8 calibration needs at least one batch of images")
    with tempfile.TemporaryDirectory() as tmp:
        # paired, padded least: ONNX Runtime runs int8 convs in NHWC, not in the float blocks, so neither the
        # pieces nor a wider padding pay there (docs/results/deployment.md, "int8")
        fp32 = export_onnx(model, Path(tmp) / "fp32.onnx", input_shape=input_shape, opset=opset, target="avx2",
                           layout="paired")  # fmt: skip
        quantize_onnx(fp32.path, path, calibration)
        sessions = [ort_session(str(p), None, torch.device("cpu")) for p in (fp32.path, Path(path))]
        diff, same, total = 0.0, 0, 0
        for batch in calibration:
            a, b = (s.run(None, {s.get_inputs()[0].name: batch})[0] for s in sessions)
            diff = max(diff, float(np.abs(a - b).max()))
            same += int((a.argmax(1) == b.argmax(1)).sum())
            total += len(batch)
    nodes = Counter(n.op_type for n in load_onnx(path).graph.node)
    return ExportResult(Path(path), diff, dict(nodes), f"{fp32.writer}, int8", same / total)
