"""LiteRT (formerly TensorFlow Lite: Google's on-device runtime) with its default XNNPACK delegate.

A ``.tflite`` model is converted for one input shape; ours are converted for a single image, so a
batch runs as a loop over its images (as ncnn and ExecuTorch run), the way an Android app calls it.
An int8 model takes and gives int8 tensors: the runner quantises the float image with the input's
scale and zero point and dequantises the logits, as an app does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from shufflenet.utils.optional import require
from shufflenet.utils.quiet import quiet_fds

__all__ = ["LiteRtRunner"]


class LiteRtRunner:
    """A ``.tflite`` model's signature: ``run(x) -> logits`` on float32 NumPy batches (N, C, H, W)."""

    def __init__(self, tflite: str | os.PathLike[str], threads: int | None = None) -> None:
        interpreter = require("ai_edge_litert.interpreter", "litert")
        tflite = Path(tflite)
        try:
            with quiet_fds():  # the delegate announces itself on stderr
                self.interpreter: Any = interpreter.Interpreter(
                    model_path=str(tflite), num_threads=threads or os.cpu_count() or 1
                )
                self.interpreter.allocate_tensors()
        except Exception as exc:  # LiteRT raises ValueError (or RuntimeError) for any bad file
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ValueError(f"{tflite} is not a loadable LiteRT model ({first[:160]}); is it truncated?") from None
        inputs, outputs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(f"{tflite} has {len(inputs)} inputs and {len(outputs)} outputs; a classifier has one each")
        self._in, self._out = inputs[0]["index"], outputs[0]["index"]
        self.input_shape = tuple(int(d) for d in inputs[0]["shape"])
        self._in_dtype = inputs[0]["dtype"]
        self._in_q, self._out_q = inputs[0]["quantization"], outputs[0]["quantization"]  # (scale, zero point)

    def run(self, x: np.ndarray) -> np.ndarray:
        outs = []
        for image in x:
            if image.shape != self.input_shape[1:]:
                raise ValueError(f"the LiteRT model takes images of shape {self.input_shape[1:]}, got {image.shape}")
            self.interpreter.set_tensor(self._in, self._quantise(image[None]))
            self.interpreter.invoke()
            outs.append(self.interpreter.get_tensor(self._out)[0])
        logits = np.stack(outs)
        scale, zero = self._out_q
        return (logits.astype(np.float32) - zero) * scale if scale else logits

    def _quantise(self, x: np.ndarray) -> np.ndarray:
        scale, zero = self._in_q
        if not scale:  # a float input
            return np.ascontiguousarray(x, dtype=np.float32)
        info = np.iinfo(self._in_dtype)
        return np.clip(np.round(x / scale) + zero, info.min, info.max).astype(self._in_dtype)
