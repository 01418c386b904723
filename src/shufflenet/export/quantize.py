"""int8: post-training static quantisation of an exported model with ONNX Runtime's tools.

Weights are quantised per output channel (symmetric int8), activations per
tensor (asymmetric uint8) with ranges calibrated on real images; the graph is
written in QDQ form, which ONNX Runtime's CPU provider fuses into integer convs.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from shufflenet.utils.files import atomic_path

__all__ = ["quantize_onnx"]


def _reader(input_name: str, batches: Iterable[np.ndarray]):  # type: ignore[no-untyped-def]
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it: Iterator[np.ndarray] = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self._it, None)
            return None if batch is None else {input_name: np.ascontiguousarray(batch, dtype=np.float32)}

    return Reader()


def quantize_onnx(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    calibration: Iterable[np.ndarray],
    *,
    per_channel: bool = True,
) -> Path:
    """Quantise the float model ``src`` into ``dst`` (atomically), calibrating on ``calibration``.

    ``calibration`` yields float32 batches shaped like the model's input and
    normalised as in training; a few hundred images are enough for min/max ranges.
    """
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model = onnx.load(str(src))
    input_name = model.graph.input[0].name
    metadata = {p.key: p.value for p in model.metadata_props}
    with tempfile.TemporaryDirectory() as tmp, atomic_path(dst) as out:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(src), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared), str(out), _reader(input_name, calibration),
            quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            per_channel=per_channel,
        )  # fmt: skip
        if metadata:
            quantized = onnx.load(str(out))
            onnx.helper.set_model_props(quantized, metadata)
            onnx.save(quantized, str(out))
    return Path(dst)
