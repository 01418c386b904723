"""The artifact formats ``shufflenet export`` writes, in one table: the file each writes, the runtime
that runs it, and one call that writes any of them (verified against PyTorch)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import nn

from shufflenet.export.executorch import export_executorch
from shufflenet.export.graph import OPSET
from shufflenet.export.litert import export_litert
from shufflenet.export.ncnn import export_ncnn, is_int8_param
from shufflenet.export.onnx import ExportResult, export_onnx, export_onnx_int8, load_onnx
from shufflenet.export.openvino import export_openvino
from shufflenet.export.predictor import Predictor
from shufflenet.runtimes import LiteRtRunner

__all__ = ["FORMATS", "ArtifactFormat", "artifact_files", "artifact_precision", "export_artifact", "exported_predictor"]


@dataclass(frozen=True)
class ArtifactFormat:
    name: str  # the --format value
    runtime: str  # the runtime that runs it, as messages name it
    suffix: str  # the default file is MODEL + suffix
    companions: tuple[str, ...] = ()  # suffixes of the files written beside it (weights)
    int8: bool = False  # calibrated on real images

    def files(self, path: str | os.PathLike[str]) -> list[Path]:
        """The artifact at ``path`` and the files written beside it."""
        return [Path(path), *(Path(path).with_suffix(s) for s in self.companions)]


FORMATS: dict[str, ArtifactFormat] = {
    f.name: f
    for f in (
        ArtifactFormat("onnx", "ONNX Runtime", ".onnx"),
        ArtifactFormat("onnx-int8", "ONNX Runtime", "-int8.onnx", int8=True),
        ArtifactFormat("openvino", "OpenVINO", ".xml", (".bin",)),
        ArtifactFormat("openvino-int8", "OpenVINO", "-int8.xml", (".bin",), int8=True),
        ArtifactFormat("ncnn", "ncnn", ".ncnn.param", (".bin",)),
        ArtifactFormat("ncnn-int8", "ncnn", "-int8.ncnn.param", (".bin",), int8=True),
        ArtifactFormat("executorch", "ExecuTorch", ".pte"),
        ArtifactFormat("executorch-int8", "ExecuTorch", "-int8.pte", int8=True),
        ArtifactFormat("litert", "LiteRT", ".tflite"),
        ArtifactFormat("litert-int8", "LiteRT", "-int8.tflite", int8=True),
    )
}


def artifact_files(path: str | os.PathLike[str]) -> list[Path]:
    """An exported file and the files its runtime reads beside it (an IR's or a net's weights), by its suffix."""
    p = Path(path)
    fmt = next((f for f in FORMATS.values() if f.suffix.endswith(p.suffix)), None)
    return fmt.files(p) if fmt else [p]


def export_artifact(
    model: nn.Module,
    path: str | os.PathLike[str],
    fmt: str,
    *,
    input_shape: Sequence[int] = (1, 3, 224, 224),
    images: np.ndarray | None = None,
    calibration: Sequence[np.ndarray] | None = None,
    target: str = "portable",
    layout: str | None = None,
    opset: int = OPSET,
    optimize: bool = True,
) -> ExportResult:
    """Write ``model`` as a ``fmt`` artifact at ``path``, verified against PyTorch (on ``images`` too,
    when given). int8 formats need ``calibration`` (batches of normalised real images); ``target``,
    ``layout`` (None: each format's best; ONNX's is the target's, see ``export_onnx``), ``opset`` and
    ``optimize`` shape the ONNX graph (and the OpenVINO IR, when a layout is named: else a plain V2 goes to
    OpenVINO shuffle-free)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    if FORMATS[fmt].int8 and calibration is None:
        raise ValueError(f"{fmt} needs calibration images")
    calibration = calibration if FORMATS[fmt].int8 else None  # a float format is not calibrated
    shape = tuple(input_shape)
    if fmt == "onnx":
        return export_onnx(model, path, input_shape=shape, optimize=optimize, opset=opset, target=target,
                           layout=layout)  # fmt: skip
    if fmt == "onnx-int8":
        assert calibration is not None
        return export_onnx_int8(model, path, calibration, input_shape=shape, opset=opset)
    if fmt.startswith("openvino"):
        return export_openvino(model, path, input_shape=shape, images=images, target=target, layout=layout,
                               calibration=calibration)  # fmt: skip
    if fmt.startswith("executorch"):
        return export_executorch(model, path, input_shape=shape, images=images, calibration=calibration)
    if fmt.startswith("litert"):
        return export_litert(model, path, input_shape=shape, images=images, calibration=calibration)
    return export_ncnn(model, path, input_shape=shape, images=images, calibration=calibration)


def exported_predictor(
    model: nn.Module, fmt: str, input_shape: Sequence[int], *, threads: int | None = None
) -> Predictor:
    """``model`` exported to a float ``fmt`` artifact in a temporary folder (verified) and opened in a
    :class:`Predictor`, as a user would open the file."""
    with tempfile.TemporaryDirectory() as tmp:
        result = export_artifact(model, Path(tmp) / f"model{FORMATS[fmt].suffix}", fmt, input_shape=input_shape)
        return Predictor(result.path, threads=threads)  # loaded: the files can go


#: ONNX operators that only a quantised graph holds
_ONNX_INT8 = {"QuantizeLinear", "DynamicQuantizeLinear", "QLinearConv", "ConvInteger", "MatMulInteger"}


def artifact_precision(path: str | os.PathLike[str]) -> str | None:
    """``"int8"`` or ``"float32"``, as the artifact's own operators say (quantise ops, OpenVINO's
    ``FakeQuantize``, ncnn's int8 scale terms, LiteRT's int8 tensors); None for an ExecuTorch program,
    whose XNNPACK graph is an opaque blob."""
    p = Path(path)
    int8: bool
    if p.suffix == ".onnx":
        int8 = bool({n.op_type for n in load_onnx(p, external_data=False).graph.node} & _ONNX_INT8)
    elif p.suffix == ".xml":
        int8 = 'type="FakeQuantize"' in p.read_text(encoding="utf-8", errors="replace")
    elif p.suffix == ".param":
        int8 = is_int8_param(p.read_text(encoding="utf-8", errors="replace"))
    elif p.suffix == ".tflite":
        details = LiteRtRunner(p).interpreter.get_tensor_details()
        int8 = any(np.dtype(t["dtype"]) == np.int8 for t in details)
    else:
        return None
    return "int8" if int8 else "float32"
