"""ncnn (Tencent's mobile inference engine) on this CPU, in float32.

ncnn stores weights and computes in float16 or bfloat16 where the CPU allows it (F16C is enough on
x86), which moves logits by ~1e-2; here those options are off by default so results compare with
the other runtimes, and ``low_precision=True`` turns them back on (the phone setting). ncnn runs one
image per call (a blob has no batch axis): a batch is a loop over its images.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from shufflenet.utils.optional import require
from shufflenet.utils.quiet import quiet_fds

__all__ = ["NCNN_SUFFIX", "NcnnRunner"]

NCNN_SUFFIX = ".ncnn.param"


_LOW_PRECISION = ("use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic", "use_bf16_storage", "use_bf16_packed")


class NcnnRunner:
    """An ncnn net (``.param`` + ``.bin``): ``run(x) -> logits`` on float32 NumPy batches (N, C, H, W)."""

    def __init__(
        self,
        param: str | os.PathLike[str],
        threads: int | None = None,
        *,
        input_name: str = "in0",
        output_name: str = "out0",
        low_precision: bool = False,
    ) -> None:
        ncnn = require("ncnn", "ncnn")
        self.net: Any = ncnn.Net()
        opt = self.net.opt
        opt.use_vulkan_compute = False
        opt.num_threads = threads or os.cpu_count() or 1
        for name in _LOW_PRECISION:
            setattr(opt, name, low_precision)
        param = Path(param)
        weights = param.with_suffix(".bin")
        with quiet_fds():  # ncnn prints its parser's complaint ("parse layer_count failed") below Python
            status = self.net.load_param(str(param))
        if status != 0:
            raise ValueError(f"{param} is not a readable ncnn .param file")
        if not weights.is_file():
            raise FileNotFoundError(f"{param}'s weights {weights} are missing (an ncnn model is a .param and a .bin)")
        with quiet_fds():
            status = self.net.load_model(str(weights))
        if status != 0:
            raise ValueError(f"{weights} does not hold the weights {param.name} describes; is it truncated?")
        self._mat = ncnn.Mat
        self.input_name, self.output_name = input_name, output_name

    def extractor(self, image: np.ndarray) -> tuple[Any, np.ndarray]:
        """An ncnn Extractor fed one image (C, H, W), and the array it reads: ncnn's Mat borrows the array's
        memory, so the caller keeps it while extracting."""
        ex = self.net.create_extractor()
        data = np.ascontiguousarray(image, dtype=np.float32)
        ex.input(self.input_name, self._mat(data))
        return ex, data

    def run(self, x: np.ndarray) -> np.ndarray:
        outs = []
        for image in x:
            ex, _held = self.extractor(image)
            status, out = ex.extract(self.output_name)
            if status != 0:
                raise ValueError(f"ncnn could not run the net on an input of shape {tuple(image.shape)}")
            outs.append(np.array(out))  # (C, H, W) for a feature map, (K,) for logits: the model's own shape
        return np.stack(outs)
