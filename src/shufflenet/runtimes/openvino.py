"""OpenVINO: compiled models on the CPU, with the thread count and precision said, not guessed.

OpenVINO picks bfloat16 by itself on CPUs that have it (AVX-512 BF16, AMX), which changes the
logits by ~1e-3; ``precision="f32"`` (the default here) keeps the float32 the other runtimes
compute, so their speeds and results compare. ``"bf16"`` or ``"f16"`` ask for the faster forms.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

import numpy as np

from shufflenet.utils.optional import require

__all__ = ["OV_PRECISIONS", "OV_RT_INFO", "OpenVinoRunner", "ov_compile", "ov_core", "read_ov_cfg"]

OV_PRECISIONS = ("f32", "bf16", "f16")

#: where in an IR's ``rt_info`` our export keeps the model's ``pretrained_cfg`` (JSON)
OV_RT_INFO = ["shufflenet", "pretrained_cfg"]


def read_ov_cfg(model: Any) -> dict | None:
    """The ``pretrained_cfg`` an IR carries (see :data:`OV_RT_INFO`), or None."""
    if not model.has_rt_info(OV_RT_INFO):
        return None
    return json.loads(model.get_rt_info(OV_RT_INFO).astype(str))


@functools.cache
def ov_core() -> Any:
    """The process's one ``openvino.Core``, never released.

    Each Core's CPU plugin gives the thread that loads it an alternate signal stack and, when released,
    puts back the one it found and unmaps its own. Two Cores released in the order they were made leave
    the thread's signal stack pointing at unmapped memory, and the next signal a Python handler takes
    (Python installs them on that stack) kills the process: in CI, two compiled models, then a DataLoader
    with workers (its SIGCHLD handler), then any child process's exit. One Core sets it up once.
    """
    return require("openvino", "openvino").Core()


def ov_compile(model: Any, threads: int | None = None, *, precision: str = "f32", profile: bool = False) -> Any:
    """``model`` (an ``openvino.Model`` or the path of an IR ``.xml``/ONNX file) compiled for the CPU,
    optimised for latency, on ``threads`` threads (OpenVINO's choice when None); with ``profile`` its
    requests count each node's time (``get_profiling_info``)."""
    if precision not in OV_PRECISIONS:
        raise ValueError(f"unknown OpenVINO precision {precision!r}; choose from {', '.join(OV_PRECISIONS)}")
    config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY"}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    if profile:
        config["PERF_COUNT"] = True
    core = ov_core()
    if isinstance(model, str | os.PathLike):
        model = core.read_model(str(model))
    return core.compile_model(model, "CPU", config)


class OpenVinoRunner:
    """One infer request of a compiled model: ``run(x) -> logits`` on float32 NumPy batches."""

    def __init__(self, compiled: Any) -> None:
        self.compiled = compiled
        self.request = compiled.create_infer_request()

    def run(self, x: np.ndarray) -> np.ndarray:
        self.request.infer([x])
        return np.array(self.request.get_output_tensor(0).data)  # a copy: the request reuses its buffer
