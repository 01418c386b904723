"""A detector as one ONNX file (torchvision's detectors export with the TorchScript exporter),
verified in ONNX Runtime against PyTorch before it is kept."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from shufflenet.export.onnx import load_onnx, set_onnx_metadata
from shufflenet.export.predictor import DETECTOR_METADATA_KEY
from shufflenet.utils.files import atomic_path, check_artifact_name
from shufflenet.utils.optional import require

__all__ = ["export_detector", "read_detector_metadata"]


def export_detector(
    model: nn.Module,
    path: str | os.PathLike[str],
    images: list[Tensor],
    *,
    metadata: Mapping[str, Any] | None = None,
    opset: int = 17,
    atol: float = 1e-2,
) -> Path:
    """Write ``model`` to ``path``: input ``image`` (3, H, W) in [0, 1], any size; outputs ``boxes``
    (x0, y0, x1, y1 in the input's pixels), ``scores``, ``labels``. Each of ``images`` (real ones,
    so there are boxes to compare) must give the same detections in ONNX Runtime as in PyTorch
    (boxes within ``atol`` pixels), else nothing is written. ``metadata`` (e.g. ``class_names``,
    which ``labels`` index from 1) is stored in the file under ``DETECTOR_METADATA_KEY``, with
    the detector's class name."""
    check_artifact_name(path, ".onnx", "an ONNX model")
    ort = require("onnxruntime", "onnx")
    model = model.eval()
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on shape arithmetic in torchvision's transform
        torch.onnx.export(model, ([images[0]],), str(tmp), opset_version=opset, dynamo=False,
                          input_names=["image"], output_names=["boxes", "scores", "labels"],
                          dynamic_axes={"image": {1: "height", 2: "width"}})  # fmt: skip
        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        for i, image in enumerate(images):
            boxes, scores, labels = session.run(None, {"image": image.numpy()})
            with torch.no_grad():
                ref = model([image])[0]
            if len(boxes) != len(ref["boxes"]) or not np.array_equal(labels, ref["labels"].numpy()):
                raise ValueError(f"the ONNX detector finds {len(boxes)} boxes in image {i}, PyTorch "
                                 f"{len(ref['boxes'])}; nothing written")  # fmt: skip
            diff = float(np.abs(boxes - ref["boxes"].numpy()).max(initial=0.0))
            if diff > atol:
                raise ValueError(f"the ONNX detector's boxes differ from PyTorch's by {diff:.3g} px in image {i} "
                                 f"(tolerance {atol}); nothing written")  # fmt: skip
        set_onnx_metadata(
            tmp, {DETECTOR_METADATA_KEY: json.dumps({"detector": type(model).__name__, **(metadata or {})})}
        )
    return Path(path)


def read_detector_metadata(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """What :func:`export_detector` stored in the ONNX file at ``path``, or None if it is not a detector."""
    props = {p.key: p.value for p in load_onnx(path, external_data=False).metadata_props}
    return json.loads(props[DETECTOR_METADATA_KEY]) if DETECTOR_METADATA_KEY in props else None
